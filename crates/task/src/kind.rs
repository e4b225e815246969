//! Task kinds: what a sub-task does. A kind is a stateless prototype; everything a run needs
//! (context, attempt number, logs, cancellation) comes through [`TaskRun`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::context::TaskContext;
use crate::error::TaskError;
use crate::model::Capabilities;
use crate::run::TaskRun;

/// Why a sub-task failed, as written to its last log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub message: String,
    /// Upstream's `ERR_WAIT_OPERATOR`: a deliberate stop that waits for an operator; logged as
    /// info, not as an error.
    pub wait_operator: bool,
}

impl TaskFailure {
    pub fn new(message: impl Into<String>) -> TaskFailure {
        TaskFailure {
            message: message.into(),
            wait_operator: false,
        }
    }

    pub fn wait_operator() -> TaskFailure {
        TaskFailure {
            message: "wait operator to advance".into(),
            wait_operator: true,
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<TaskError> for TaskFailure {
    fn from(e: TaskError) -> Self {
        TaskFailure::new(format!("[{}]: {}", e.err_code(), e))
    }
}

impl From<std::io::Error> for TaskFailure {
    fn from(e: std::io::Error) -> Self {
        TaskFailure::new(e.to_string())
    }
}

impl From<String> for TaskFailure {
    fn from(s: String) -> Self {
        TaskFailure::new(s)
    }
}

impl From<&str> for TaskFailure {
    fn from(s: &str) -> Self {
        TaskFailure::new(s)
    }
}

pub type TaskResult = Result<(), TaskFailure>;

/// A kind of sub-task. Implementations are registered under upstream's Go struct name so rows
/// written by obshell load here and vice versa.
#[async_trait]
pub trait TaskKind: Send + Sync + 'static {
    /// The persisted `struct_name` (e.g. `StartObserverTask`).
    fn struct_name(&self) -> &'static str;

    /// The default display name of nodes of this kind.
    fn name(&self) -> &str;

    /// What operators may do with sub-tasks of this kind.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    /// Does the work. Must stop promptly when `run.cancelled()` fires; long waits should use
    /// [`TaskRun::sleep`] or [`TaskRun::run_command`], which do.
    async fn execute(&self, run: &mut TaskRun) -> TaskResult;

    /// Undoes the work. The default succeeds: most kinds have nothing to undo.
    async fn rollback(&self, _run: &mut TaskRun) -> TaskResult {
        Ok(())
    }

    /// Called after a cancelled `execute` has been stopped, to clean up.
    async fn cancel(&self, _run: &mut TaskRun) {}

    /// Extra data shown in the DTOs (`additional_data`), computed from the stored context.
    fn additional_data(&self, _ctx: &TaskContext) -> Option<Map<String, Value>> {
        None
    }
}

/// Kinds by struct name. Loading a row whose kind is unknown is `task type X not register`.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: HashMap<String, Arc<dyn TaskKind>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, kind: Arc<dyn TaskKind>) -> &mut Self {
        self.kinds.insert(kind.struct_name().to_string(), kind);
        self
    }

    pub fn get(&self, struct_name: &str) -> Result<Arc<dyn TaskKind>, TaskError> {
        self.kinds
            .get(struct_name)
            .cloned()
            .ok_or_else(|| TaskError::KindNotRegistered(struct_name.to_string()))
    }

    pub fn contains(&self, struct_name: &str) -> bool {
        self.kinds.contains_key(struct_name)
    }
}
