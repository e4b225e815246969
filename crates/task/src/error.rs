//! The task engine's error enum. Every variant carries upstream's stable `errCode` string and
//! HTTP status (spec/task-engine.md §8.4), so the API layer can render it without a mapping table.

use thiserror::Error;

pub type Result<T, E = TaskError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum TaskError {
    #[error("Task not found: {0}")]
    NotFound(String),
    #[error("Invalid ID: {0}")]
    GenericIdInvalid(String),
    #[error("Create task '{name}' failed: {cause}")]
    CreateFailed { name: String, cause: Box<TaskError> },
    #[error("Task template is empty")]
    TemplateEmpty,
    #[error("Parameter '{0}' is not set")]
    ParamNotSet(String),
    #[error("Convert '{0}' failed: {1}")]
    ParamConvertFailed(String, String),
    #[error("Data '{0}' is not set")]
    DataNotSet(String),
    #[error("Convert '{0}' failed: {1}")]
    DataConvertFailed(String, String),
    #[error("Agent {0} data {1} not set")]
    AgentDataNotSet(String, String),
    #[error("Convert agent {0} data '{1}' failed: {2}")]
    AgentDataConvertFailed(String, String, String),
    #[error("Invalid DAG state '{0}'")]
    DagStateInvalid(i64),
    #[error("Operator {0} is not supported")]
    DagOperatorNotSupport(String),
    #[error("Failed to set DAG retry: DAG state is not failed")]
    RetryNotFailedDag,
    #[error("Failed to set DAG retry: node {0} cannot retry")]
    RetryNotAllowed(String),
    #[error("Failed to set DAG rollback: DAG state is not failed")]
    RollbackNotFailedDag,
    #[error("Failed to set DAG rollback: node {0} cannot rollback")]
    RollbackNotAllowed(String),
    #[error("Failed to cancel DAG: DAG is finished")]
    CancelFinishedDag,
    #[error("Failed to cancel DAG: node {0} cannot cancel")]
    CancelNotAllowed(String),
    #[error("Failed to pass DAG: DAG is not failed")]
    PassNotFailedDag,
    #[error("Failed to pass DAG: node {0} cannot pass")]
    PassNotAllowed(String),
    #[error("Operator {0} is not supported")]
    NodeOperatorNotSupport(String),
    #[error("Failed to pass node: assigned DAG is not failed")]
    NodePassNotFailedDag,
    #[error("Failed to pass node: node {0} is not failed")]
    NodePassNotFailedNode(String),
    #[error("Failed to pass node: node {0} cannot pass")]
    NodePassNotAllowed(String),
    /// The agent-scope lock is held. Unlike upstream, the message names the DAG that holds it.
    #[error("{scope} is under maintenance by DAG: {dag}, please try again later")]
    AgentUnderMaintenanceDag { scope: String, dag: String },
    #[error("{0} is under maintenance")]
    AgentUnderMaintenance(String),
    #[error("Unexpected error occurred in task engine: {0}")]
    EngineUnexpected(String),
    /// An optimistic-concurrency check lost: somebody else changed the row first.
    #[error("{0}: no row affected")]
    NoRowAffected(String),
    #[error("task type {0} not register")]
    KindNotRegistered(String),
    #[error("Unexpected error: {0}")]
    Unexpected(String),
    #[error("storage error: {0}")]
    Store(#[from] sqlx::Error),
}

impl TaskError {
    /// Upstream's `errCode` string.
    pub fn err_code(&self) -> &'static str {
        use TaskError::*;
        match self {
            NotFound(_) => "Task.NotFound",
            GenericIdInvalid(_) => "Task.GenericID.Invalid",
            CreateFailed { .. } => "Task.CreateFailed",
            TemplateEmpty => "Task.Template.Empty",
            ParamNotSet(_) => "Task.Param.NotSet",
            ParamConvertFailed(..) => "Task.Param.ConvertFailed",
            DataNotSet(_) => "Task.Data.NotSet",
            DataConvertFailed(..) => "Task.Data.ConvertFailed",
            AgentDataNotSet(..) => "Task.AgentData.NotSet",
            AgentDataConvertFailed(..) => "Task.AgentData.ConvertFailed",
            DagStateInvalid(_) => "Task.Dag.State.Invalid",
            DagOperatorNotSupport(_) => "Task.Dag.Operator.NotSupport",
            RetryNotFailedDag => "Task.Dag.Operator.RetryNotFailedDag",
            RetryNotAllowed(_) => "Task.Dag.Operator.RetryNotAllowed",
            RollbackNotFailedDag => "Task.Dag.Operator.RollbackNotFailedDag",
            RollbackNotAllowed(_) => "Task.Dag.Operator.RollbackNotAllowed",
            CancelFinishedDag => "Task.Dag.Operator.CancelFinishedDag",
            CancelNotAllowed(_) => "Task.Dag.Operator.CancelNotAllowed",
            PassNotFailedDag => "Task.Dag.Operator.PassNotFailedDag",
            PassNotAllowed(_) => "Task.Dag.Operator.PassNotAllowed",
            NodeOperatorNotSupport(_) => "Task.Node.Operator.NotSupport",
            NodePassNotFailedDag => "Task.Node.Operator.PassNotFailedDag",
            NodePassNotFailedNode(_) => "Task.Node.Operator.PassNotFailedNode",
            NodePassNotAllowed(_) => "Task.Node.Operator.PassNotAllowed",
            AgentUnderMaintenanceDag { .. } => "Agent.UnderMaintenanceDag",
            AgentUnderMaintenance(_) => "Agent.UnderMaintenance",
            EngineUnexpected(_) | KindNotRegistered(_) => "Task.Engine.Unexpected",
            NoRowAffected(_) => "Gorm.NoRowAffected",
            Unexpected(_) | Store(_) => "Common.Unexpected",
        }
    }

    /// The HTTP status upstream sends with this error.
    pub fn http_status(&self) -> u16 {
        use TaskError::*;
        match self {
            NotFound(_) => 404,
            GenericIdInvalid(_)
            | DagStateInvalid(_)
            | DagOperatorNotSupport(_)
            | RetryNotFailedDag
            | RetryNotAllowed(_)
            | RollbackNotFailedDag
            | RollbackNotAllowed(_)
            | CancelFinishedDag
            | CancelNotAllowed(_)
            | PassNotFailedDag
            | PassNotAllowed(_)
            | NodeOperatorNotSupport(_)
            | NodePassNotFailedDag
            | NodePassNotFailedNode(_)
            | NodePassNotAllowed(_) => 400,
            _ => 500,
        }
    }

    /// Wraps an error raised while creating DAG `name`, as upstream's `Task.CreateFailed` does.
    pub fn create_failed(name: &str, cause: TaskError) -> TaskError {
        TaskError::CreateFailed {
            name: name.to_string(),
            cause: Box::new(cause),
        }
    }

    /// The innermost error: `CreateFailed` wraps the real reason (e.g. a maintenance conflict).
    pub fn root(&self) -> &TaskError {
        match self {
            TaskError::CreateFailed { cause, .. } => cause.root(),
            other => other,
        }
    }
}
