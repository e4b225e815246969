//! Server logs go to `<home>/log_obshell/obshell.log` (spec agent-and-ops §1.3), written by a
//! background thread so a slow disk never stalls a request. `RUST_LOG` overrides the level.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

use crate::error::AgentError;
use crate::home::Home;

/// Installs the global subscriber. Keep the guard alive until exit: dropping it flushes.
pub fn init(home: &Home) -> Result<WorkerGuard, AgentError> {
    let dir = home.log_dir();
    std::fs::create_dir_all(&dir).map_err(AgentError::io(&dir))?;
    let appender = tracing_appender::rolling::never(&dir, "obshell.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| AgentError::Config(format!("logging: {e}")))?;
    Ok(guard)
}
