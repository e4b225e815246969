//! `obshell agent start|stop|restart|status`: the admin side of the process model
//! (spec agent-and-ops §1.5). `start` spawns a detached daemon that runs and guards the
//! server, and returns once the server answers `/api/v1/status`; `stop` ends both and cleans
//! their pid and socket files. Neither ever touches the database process.

use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent::daemon::daemon_pid_file;
use agent::{pidfile, Home};
use client::{Client, Target};

/// Upstream's exit codes (iota + 16).
pub mod exit {
    pub const AGENT_START_FAILED: u8 = 20;
    pub const SERVER_LISTEN: u8 = 21;
    pub const DAEMON_START_FAILED: u8 = 29;
    pub const ADMIN_START_FAILED: u8 = 30;
    pub const BASE_DIR_INVALID: u8 = 33;
}

/// How long `start` waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop` waits for the daemon before killing.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent home for a command: created if missing.
pub fn home(base_dir: &Path) -> Result<Home, u8> {
    if let Err(e) = std::fs::create_dir_all(base_dir) {
        eprintln!("[ERROR] cannot create base dir {}: {e}", base_dir.display());
        return Err(exit::BASE_DIR_INVALID);
    }
    Home::new(base_dir).map_err(|e| {
        eprintln!("[ERROR] invalid base dir {}: {e}", base_dir.display());
        exit::BASE_DIR_INVALID
    })
}

async fn server_answers(home: &Home) -> Option<serde_json::Value> {
    Client::new(Target::Unix(home.socket())).status().await.ok()
}

/// `agent start`.
pub async fn start(home: &Home, ip: IpAddr, port: u16, extra: &[String]) -> u8 {
    if let Err(code) = home.prepare().map_err(|e| {
        eprintln!("[ERROR] {e}");
        exit::BASE_DIR_INVALID
    }) {
        return code;
    }
    if let Some(pid) = pidfile::live(&daemon_pid_file(home), "daemon") {
        // A live daemon is in charge even while its server restarts (e.g. right after a
        // crash): wait for that server instead of starting a second daemon.
        let began = Instant::now();
        while began.elapsed() < START_TIMEOUT && pidfile::alive_with_role(pid, "daemon") {
            if server_answers(home).await.is_some() {
                println!(
                    "[INFO] obshell agent is already running for {} (daemon pid {pid}); nothing to do.",
                    home.root().display()
                );
                return 0;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if pidfile::alive_with_role(pid, "daemon") {
            eprintln!(
                "[ERROR] daemon {pid} runs for {} but its server does not answer; see {} and stop it with `obshell agent stop`",
                home.root().display(),
                home.log_dir().join("obshell.out.log").display()
            );
            return exit::AGENT_START_FAILED;
        }
    }
    // A taken port would only show as a server that keeps exiting: say it at once.
    if let Err(e) = TcpListener::bind(SocketAddr::new(ip, port)) {
        eprintln!(
            "[ERROR] cannot listen on {}: {e}",
            SocketAddr::new(ip, port)
        );
        eprintln!("        port {port} is in use or not allowed; pick another one with --port");
        return exit::SERVER_LISTEN;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("[ERROR] cannot find the obshell executable: {e}");
            return exit::DAEMON_START_FAILED;
        }
    };
    let log = home.log_dir().join("daemon.log");
    let out = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("[ERROR] cannot open {}: {e}", log.display());
            return exit::DAEMON_START_FAILED;
        }
    };
    let err = match out.try_clone() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            return exit::DAEMON_START_FAILED;
        }
    };
    let mut cmd = Command::new(&exe);
    cmd.arg("daemon")
        .arg("--base-dir")
        .arg(home.root())
        .arg("--ip")
        .arg(ip.to_string())
        .arg("--port")
        .arg(port.to_string())
        .args(extra)
        .current_dir(home.root())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal and
    // process group so Ctrl-C on this shell does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[ERROR] cannot start the daemon: {e}");
            return exit::DAEMON_START_FAILED;
        }
    };
    let began = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!("[ERROR] the obshell daemon exited during start ({status})");
            print_tail(&home.log_dir().join("obshell.out.log"));
            print_tail(&log);
            return exit::ADMIN_START_FAILED;
        }
        if let Some(status) = server_answers(home).await {
            let pid = status.get("pid").cloned().unwrap_or_default();
            println!(
                "[SUCCEED] obshell agent started in {} ms: home {}, port {port}, daemon pid {}, server pid {pid}",
                began.elapsed().as_millis(),
                home.root().display(),
                child.id()
            );
            return 0;
        }
        if began.elapsed() > START_TIMEOUT {
            eprintln!(
                "[ERROR] the agent did not answer within {} s; stopping it",
                START_TIMEOUT.as_secs()
            );
            print_tail(&home.log_dir().join("obshell.out.log"));
            stop(home).await;
            return exit::AGENT_START_FAILED;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn print_tail(path: &PathBuf) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(10);
        if from < lines.len() {
            eprintln!("--- last lines of {}", path.display());
            for l in &lines[from..] {
                eprintln!("{l}");
            }
        }
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

async fn wait_gone(pid: i32, role: &str, limit: Duration) -> bool {
    let began = Instant::now();
    while pidfile::alive_with_role(pid, role) {
        if began.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// `agent stop`: SIGTERM the daemon (it stops the server), SIGKILL after a bound, then remove
/// stale files. Returns the exit code.
pub async fn stop(home: &Home) -> u8 {
    use nix::sys::signal::Signal;
    let daemon = pidfile::live(&daemon_pid_file(home), "daemon");
    let server = pidfile::live(&home.pid_file(), "server");
    if daemon.is_none() && server.is_none() {
        let stale: Vec<_> = [daemon_pid_file(home), home.pid_file(), home.socket()]
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        for p in &stale {
            pidfile::remove(p);
        }
        println!(
            "[INFO] obshell agent is not running for {}{}",
            home.root().display(),
            if stale.is_empty() {
                ""
            } else {
                " (removed stale pid/socket files)"
            }
        );
        return 0;
    }
    if let Some(pid) = daemon {
        signal(pid, Signal::SIGTERM);
        if !wait_gone(pid, "daemon", STOP_TIMEOUT).await {
            eprintln!("[WARNING] daemon {pid} did not stop in time; killing it");
            signal(pid, Signal::SIGKILL);
        }
    }
    if let Some(pid) = server.filter(|p| pidfile::alive_with_role(*p, "server")) {
        signal(pid, Signal::SIGTERM);
        if !wait_gone(pid, "server", STOP_TIMEOUT).await {
            eprintln!("[WARNING] server {pid} did not stop in time; killing it");
            signal(pid, Signal::SIGKILL);
            wait_gone(pid, "server", Duration::from_secs(5)).await;
        }
    }
    for p in [daemon_pid_file(home), home.pid_file(), home.socket()] {
        pidfile::remove(&p);
    }
    println!(
        "[SUCCEED] obshell agent stopped for {}",
        home.root().display()
    );
    0
}

/// `agent status`: 0 when the server answers, 3 otherwise.
pub async fn status(home: &Home) -> u8 {
    let daemon = pidfile::live(&daemon_pid_file(home), "daemon");
    let server = pidfile::live(&home.pid_file(), "server");
    match server_answers(home).await {
        Some(s) => {
            println!("home:     {}", home.root().display());
            println!(
                "daemon:   {}",
                daemon.map_or("not running".into(), |p| format!("pid {p}"))
            );
            println!(
                "server:   {}",
                server.map_or("unknown".into(), |p| format!("pid {p}"))
            );
            for key in ["state", "version", "port", "obState", "underMaintenance"] {
                if let Some(v) = s.get(key) {
                    println!("{:<9} {v}", format!("{key}:"));
                }
            }
            if let Some(agent) = s.get("agent") {
                println!("agent:    {agent}");
            }
            0
        }
        None => {
            println!(
                "[INFO] obshell agent is not running for {} (daemon: {}, server: {})",
                home.root().display(),
                daemon.map_or("none".into(), |p| format!("pid {p}")),
                server.map_or("none".into(), |p| format!("pid {p}"))
            );
            3
        }
    }
}
