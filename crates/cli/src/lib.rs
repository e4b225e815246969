//! The `obshell` command line: `agent start|stop|restart|status` (the process model), `task
//! show|watch|retry|rollback|cancel|pass`, `version`, and the hidden `server` / `daemon` roles
//! that `agent start` runs. `main` only parses and dispatches; each command lives in its own
//! module.

pub mod agent_cmd;
pub mod args;
pub mod follow;
pub mod seekdb_cmd;
pub mod server;
pub mod task_view;
pub mod tasks;

use std::process::ExitCode;

use clap::Parser;
use client::Client;

use args::{AgentCommand, Cli, Command, Remote, TaskCommand};

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    // Like any Unix tool, end quietly when the reader of our output goes away
    // (`obshell task show | head`), instead of panicking on EPIPE.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let cli = Cli::parse();
    let home_dir = cli.home_dir();
    match cli.command {
        Command::Server(a) => server::run(a),
        Command::Daemon(a) => daemon(a),
        Command::Version => {
            println!(
                "obshell-rs {} (wire-compatible with obshell {}), commit {}, built {}",
                env!("CARGO_PKG_VERSION"),
                agent::version::OBSHELL_VERSION,
                env!("OBSHELL_COMMIT"),
                env!("OBSHELL_BUILD_DATE")
            );
            ExitCode::SUCCESS
        }
        Command::Agent(cmd) => ExitCode::from(block_on(async move {
            let home = match agent_cmd::home(&home_dir) {
                Ok(h) => h,
                Err(code) => return code,
            };
            match cmd {
                AgentCommand::Start(l) => agent_cmd::start(&home, l.ip, l.port, &[]).await,
                AgentCommand::Stop => agent_cmd::stop(&home).await,
                AgentCommand::Restart(l) => match agent_cmd::stop(&home).await {
                    0 => agent_cmd::start(&home, l.ip, l.port, &[]).await,
                    code => code,
                },
                AgentCommand::Status => agent_cmd::status(&home).await,
            }
        })),
        Command::Task(cmd) => ExitCode::from(block_on(task(home_dir, cmd))),
        Command::Seekdb(cmd) => ExitCode::from(block_on(seekdb(home_dir, cmd))),
    }
}

fn block_on<F: std::future::Future<Output = u8>>(f: F) -> u8 {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(f),
        Err(e) => {
            eprintln!("[ERROR] cannot start the runtime: {e}");
            1
        }
    }
}

fn client(home_dir: &std::path::Path, r: &Remote) -> Client {
    let home = std::fs::canonicalize(home_dir).unwrap_or_else(|_| home_dir.to_path_buf());
    Client::new(tasks::target(
        &home,
        r.host.as_deref(),
        r.port,
        r.password.clone(),
    ))
    .verbose(r.verbose)
}

async fn task(home_dir: std::path::PathBuf, cmd: TaskCommand) -> u8 {
    let result = match &cmd {
        TaskCommand::Show(a) => {
            let c = client(&home_dir, &a.remote);
            tasks::show(&c, a.id.as_deref(), a.detail, a.format).await
        }
        TaskCommand::Watch(a) => tasks::watch(&client(&home_dir, &a.remote), &a.id).await,
        TaskCommand::Retry(a) => op(&home_dir, a, tasks::Op::Retry).await,
        TaskCommand::Rollback(a) => op(&home_dir, a, tasks::Op::Rollback).await,
        TaskCommand::Cancel(a) => op(&home_dir, a, tasks::Op::Cancel).await,
        TaskCommand::Pass(a) => op(&home_dir, a, tasks::Op::Pass).await,
    };
    result.unwrap_or_else(|e| tasks::report(&e))
}

async fn op(
    home_dir: &std::path::Path,
    a: &args::OperateArgs,
    op: tasks::Op,
) -> Result<u8, client::ClientError> {
    tasks::operate(&client(home_dir, &a.remote), &a.id, op, a.yes).await
}

async fn seekdb(home_dir: std::path::PathBuf, cmd: seekdb_cmd::SeekdbCommand) -> u8 {
    use seekdb_cmd::SeekdbCommand as S;
    let result = match &cmd {
        S::Deploy(a) => {
            let local = args::Remote {
                host: None,
                port: 0,
                password: None,
                verbose: a.verbose,
            };
            seekdb_cmd::deploy(&client(&home_dir, &local), a).await
        }
        S::Takeover(a) => {
            let local = args::Remote {
                host: None,
                port: 0,
                password: None,
                verbose: a.verbose,
            };
            seekdb_cmd::takeover(&client(&home_dir, &local), a).await
        }
        S::Start(a) => seekdb_cmd::start(&client(&home_dir, &a.remote), a).await,
        S::Stop(a) => seekdb_cmd::stop(&client(&home_dir, &a.remote), a).await,
        S::Restart(a) => seekdb_cmd::restart(&client(&home_dir, &a.remote), a.terminate).await,
        S::Show(a) => seekdb_cmd::show(&client(&home_dir, &a.remote), a.detail).await,
    };
    result.unwrap_or_else(|e| tasks::report(&e))
}

/// `obshell daemon`: runs and guards `obshell server` with the same flags.
fn daemon(a: args::ServerArgs) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let home = match agent::Home::new(&a.base_dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("obshell daemon: {e}");
            return ExitCode::from(agent_cmd::exit::BASE_DIR_INVALID);
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("obshell daemon: {e}");
            return ExitCode::from(agent_cmd::exit::DAEMON_START_FAILED);
        }
    };
    let mut server_args: Vec<std::ffi::OsString> = vec![
        "--base-dir".into(),
        home.root().as_os_str().to_owned(),
        "--ip".into(),
        a.ip.to_string().into(),
        "--port".into(),
        a.port.to_string().into(),
        "--sweep-interval-ms".into(),
        a.sweep_interval_ms.to_string().into(),
    ];
    if let Some(bin) = &a.seekdb_bin {
        server_args.push("--seekdb-bin".into());
        server_args.push(bin.as_os_str().to_owned());
    }
    let cfg = agent::daemon::DaemonConfig {
        home,
        exe,
        server_args,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("obshell daemon: {e}");
            return ExitCode::from(agent_cmd::exit::DAEMON_START_FAILED);
        }
    };
    match rt.block_on(agent::daemon::run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("obshell daemon: {e}");
            ExitCode::from(agent_cmd::exit::DAEMON_START_FAILED)
        }
    }
}
