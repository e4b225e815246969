//! Names that are part of the wire contract: DAG names and node names (spec §3.3 and
//! task-engine §12; clients match on them), the struct names kinds are registered under
//! (`subtask_instance.struct_name`; upstream's Go type names where upstream has the kind), and
//! the context keys the kinds read.

/// DAG names.
pub const DAG_DEPLOY: &str = "Deploy seekdb";
pub const DAG_START: &str = "Start seekdb";
pub const DAG_STOP: &str = "Stop seekdb";
pub const DAG_RESTART: &str = "Restart seekdb";
pub const DAG_START_LOCAL: &str = "Start local seekdb";
pub const DAG_STOP_LOCAL: &str = "Stop local seekdb";
/// Taking over an instance initialized outside the agent (spec §3.2).
pub const DAG_TAKE_OVER: &str = "Take over seekdb";

/// Every lifecycle DAG name: what a client checks to know "a lifecycle operation is running".
pub const LIFECYCLE_DAGS: &[&str] = &[
    DAG_DEPLOY,
    DAG_START,
    DAG_STOP,
    DAG_RESTART,
    DAG_START_LOCAL,
    DAG_STOP_LOCAL,
    DAG_TAKE_OVER,
];

/// Node names.
pub const NODE_START: &str = "Start seekdb";
pub const NODE_STOP: &str = "Stop seekdb";
pub const NODE_MINOR_FREEZE: &str = "Minor freeze before stop server";
pub const NODE_CHECK_DEPLOY: &str = "Check dirs and ports";
pub const NODE_INIT: &str = "Initialize and start seekdb";
pub const NODE_WAIT_READY: &str = "Wait for seekdb to accept SQL";
pub const NODE_SET_ROOT_PASSWORD: &str = "Set root password";
pub const NODE_TAKE_OVER: &str = "Take over seekdb";

/// Struct names. The first three are upstream's (seekdb/agent/executor/observer).
pub const STRUCT_START: &str = "StartObserverTask";
pub const STRUCT_STOP: &str = "StopObserverTask";
pub const STRUCT_MINOR_FREEZE: &str = "MinorFreezeTask";
/// Ours: upstream cannot deploy a seekdb.
pub const STRUCT_CHECK_DEPLOY: &str = "CheckSeekdbDeployTask";
pub const STRUCT_INIT: &str = "InitSeekdbTask";
pub const STRUCT_WAIT_READY: &str = "WaitSeekdbReadyTask";
pub const STRUCT_SET_ROOT_PASSWORD: &str = "SetSeekdbRootPasswordTask";
pub const STRUCT_TAKE_OVER: &str = "TakeOverSeekdbTask";

/// Context params (DAG level unless noted).
pub mod param {
    /// Absolute base directory of the instance (string).
    pub const BASE_DIR: &str = "base_dir";
    /// The seekdb pid when the DAG was created (number); stop is a no-op if it changed.
    pub const PID: &str = "pid";
    /// Minor freeze before stopping (bool).
    pub const TERMINATE: &str = "terminate";
    /// SQL host / port overrides; default from `store/sstable/meta.db`.
    pub const HOST: &str = "host";
    pub const MYSQL_PORT: &str = "mysql_port";
    /// Readiness bound in seconds (default 300).
    pub const READY_TIMEOUT: &str = "ready_timeout_secs";
    /// SIGTERM grace in seconds before SIGKILL (default 60).
    pub const STOP_GRACE: &str = "stop_grace_secs";
    /// Bound of the minor freeze wait in seconds (default 1200, upstream's 120 x 10 s).
    pub const FREEZE_TIMEOUT: &str = "minor_freeze_timeout_secs";
    /// Deploy: the [`crate::tasks::DeployOptions`] object.
    pub const DEPLOY: &str = "deploy";
}

/// Context data the kinds write.
pub mod data {
    /// The pid a start launched (number).
    pub const STARTED_PID: &str = "seekdb_pid";
    /// Whether this task launched it (bool); false when it was already running.
    pub const STARTED_BY_TASK: &str = "seekdb_started_by_task";
    /// Deploy: paths the deploy created, removed by its rollback (list of strings).
    pub const CREATED_PATHS: &str = "created_paths";
    /// Deploy: the length of seekdb.log before the first start (its lines come after).
    pub const LOG_OFFSET: &str = "seekdb_log_offset";
    /// Deploy: the executable used (string).
    pub const EXECUTABLE: &str = "executable";
    /// Per-kind timings: `{struct name: {exec_ms, seekdb_ms}}`.
    pub const TIMINGS: &str = "timings";
    /// Deploy: what was taken over.
    pub const TAKEOVER: &str = "takeover";
}
