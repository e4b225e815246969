//! `obshell server`: the agent in the foreground. Exit codes follow upstream's
//! (20 agent start failed, 21 server listen failed, 33 base dir invalid).

use std::process::ExitCode;
use std::time::Duration;

use agent::{AgentError, Home, ServerConfig};

use crate::args::ServerArgs;

fn exit_code(e: &AgentError) -> u8 {
    match e {
        AgentError::Listen { .. } | AgentError::AlreadyRunning(_) => 21,
        AgentError::Config(_) => 33,
        AgentError::Io { .. } => 33,
        _ => 20,
    }
}

pub fn run(a: ServerArgs) -> ExitCode {
    let home = match Home::new(&a.base_dir) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("obshell: invalid --base-dir {}: {e}", a.base_dir.display());
            return ExitCode::from(33);
        }
    };
    let _log_guard = match agent::logging::init(&home) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("obshell: {e}");
            return ExitCode::from(20);
        }
    };
    let config = ServerConfig {
        ip: a.ip,
        port: a.port,
        sweep_interval: Duration::from_millis(a.sweep_interval_ms.max(10)),
        seekdb_bin: a.seekdb_bin.clone(),
        ..ServerConfig::new(home.root())
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("obshell: start runtime: {e}");
            return ExitCode::from(20);
        }
    };
    match runtime.block_on(agent::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("agent failed: {e}");
            eprintln!("obshell: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}
