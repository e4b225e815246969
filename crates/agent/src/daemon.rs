//! The daemon: the process `obshell agent start` leaves behind. It runs and guards the server
//! (spec agent-and-ops §1.5): it restarts the server whenever it exits, and gives up after more
//! than [`MAX_QUICK_EXITS`] runs in a row that lived less than [`QUICK_EXIT`], so a server
//! that cannot start (port taken, broken home) does not spin forever. SIGTERM/SIGINT stop the
//! server (SIGTERM, then SIGKILL after [`STOP_GRACE`]) and then the daemon, removing the pid
//! and socket files. The database process is never touched.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

use crate::error::AgentError;
use crate::home::Home;
use crate::pidfile;

/// A server run shorter than this counts as a quick exit.
pub const QUICK_EXIT: Duration = Duration::from_secs(3);
/// The daemon gives up after more quick exits in a row than this.
pub const MAX_QUICK_EXITS: u32 = 10;
/// How long a stopping server may take before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// What the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub home: Home,
    /// The obshell executable (the daemon's own).
    pub exe: PathBuf,
    /// Arguments after `server` (e.g. `--base-dir D --ip IP --port P`).
    pub server_args: Vec<OsString>,
}

pub fn daemon_pid_file(home: &Home) -> PathBuf {
    home.run_dir().join("daemon.pid")
}

/// Runs the daemon until it is told to stop or gives up.
pub async fn run(cfg: DaemonConfig) -> Result<(), AgentError> {
    let home = &cfg.home;
    home.prepare()?;
    let pid_path = daemon_pid_file(home);
    if let Some(pid) = pidfile::live(&pid_path, "daemon") {
        if pid != std::process::id() as i32 {
            return Err(AgentError::AlreadyRunning(pid_path));
        }
    }
    pidfile::write(&pid_path, std::process::id()).map_err(AgentError::io(&pid_path))?;
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::io("SIGTERM"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::io("SIGINT"))?;
    let mut quick_exits = 0u32;
    let result = loop {
        let started = Instant::now();
        let mut child = match spawn_server(&cfg) {
            Ok(c) => c,
            Err(e) => break Err(e),
        };
        tracing::info!(pid = child.id(), "daemon: server started");
        let status = tokio::select! {
            s = child.wait() => s,
            _ = term.recv() => { stop_server(&mut child).await; break Ok(()); }
            _ = int.recv() => { stop_server(&mut child).await; break Ok(()); }
        };
        let lived = started.elapsed();
        tracing::warn!(?status, ?lived, "daemon: server exited");
        if lived < QUICK_EXIT {
            quick_exits += 1;
        } else {
            quick_exits = 0;
        }
        if quick_exits > MAX_QUICK_EXITS {
            tracing::error!(
                "daemon: the server exited {quick_exits} times within {QUICK_EXIT:?} of starting; giving up (see log_obshell/obshell.out.log)"
            );
            break Err(AgentError::Config(format!(
                "server keeps exiting right after start ({quick_exits} times); see {}",
                home.log_dir().join("obshell.out.log").display()
            )));
        }
        // the server may have died without cleaning up after itself
        if pidfile::live(&home.pid_file(), "server").is_none() {
            pidfile::remove(&home.pid_file());
            pidfile::remove(&home.socket());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = term.recv() => break Ok(()),
            _ = int.recv() => break Ok(()),
        }
    };
    pidfile::remove(&pid_path);
    tracing::info!("daemon: stopped");
    result
}

fn spawn_server(cfg: &DaemonConfig) -> Result<Child, AgentError> {
    let out_path = cfg.home.log_dir().join("obshell.out.log");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out_path)
        .map_err(AgentError::io(&out_path))?;
    let err = out.try_clone().map_err(AgentError::io(&out_path))?;
    Command::new(&cfg.exe)
        .arg("server")
        .args(&cfg.server_args)
        .current_dir(cfg.home.root())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(AgentError::io(&cfg.exe))
}

/// SIGTERM, wait up to [`STOP_GRACE`], then SIGKILL; removes the server's files either way.
async fn stop_server(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(STOP_GRACE, child.wait())
            .await
            .is_err()
        {
            tracing::warn!(pid, "daemon: server ignored SIGTERM, killing it");
            let _ = child.kill().await;
        }
    }
}
