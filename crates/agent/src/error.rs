//! [`AgentError`]: why the agent could not start or serve. These end the process with a
//! message; request-level errors belong to the api crate.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("another agent is already serving {0}")]
    AlreadyRunning(PathBuf),
    #[error("metadata database: {0}")]
    Meta(#[from] sqlx::Error),
    #[error("task engine: {0}")]
    Task(#[from] task::TaskError),
    #[error("security: {0}")]
    Secure(#[from] secure::SecureError),
    #[error("invalid metadata: {0}")]
    InvalidMeta(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl AgentError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AgentError {
        let path = path.into();
        move |source| AgentError::Io { path, source }
    }
}
