//! Rows of the task tables (spec/task-engine.md §2.3), as the engine sees them.

use chrono::{DateTime, TimeZone, Utc};

use crate::context::TaskContext;
use crate::generic_id::AgentInfo;
use crate::state::{MaintenanceType, NodeType, Operator, State};

/// Upstream resets times to the epoch when an operator re-arms a DAG or node.
pub fn epoch() -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().unwrap_or_default()
}

/// Capability flags of a sub-task (a node's are the AND over its sub-tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    pub can_cancel: bool,
    pub can_continue: bool,
    pub can_pass: bool,
    pub can_retry: bool,
    pub can_rollback: bool,
}

impl Capabilities {
    /// Every operator allowed: what most well-behaved, idempotent task kinds declare.
    pub const ALL: Capabilities = Capabilities {
        can_cancel: true,
        can_continue: true,
        can_pass: true,
        can_retry: true,
        can_rollback: true,
    };
    pub const NONE: Capabilities = Capabilities {
        can_cancel: false,
        can_continue: false,
        can_pass: false,
        can_retry: false,
        can_rollback: false,
    };

    pub fn and(self, o: Capabilities) -> Capabilities {
        Capabilities {
            can_cancel: self.can_cancel && o.can_cancel,
            can_continue: self.can_continue && o.can_continue,
            can_pass: self.can_pass && o.can_pass,
            can_retry: self.can_retry && o.can_retry,
            can_rollback: self.can_rollback && o.can_rollback,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DagInstance {
    pub id: i64,
    pub name: String,
    pub dag_type: String,
    pub stage: i64,
    pub max_stage: i64,
    pub state: State,
    pub operator: Operator,
    pub maintenance_type: MaintenanceType,
    pub maintenance_key: String,
    pub is_finished: bool,
    pub context: TaskContext,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub gmt_create: DateTime<Utc>,
}

impl DagInstance {
    pub fn is_maintenance(&self) -> bool {
        self.maintenance_type.is_maintenance()
    }

    /// `min(stage, max_stage)`: the node being worked on.
    pub fn current_stage(&self) -> i64 {
        self.stage.min(self.max_stage).max(1)
    }
}

#[derive(Debug, Clone)]
pub struct NodeInstance {
    pub id: i64,
    pub name: String,
    pub dag_id: i64,
    pub dag_stage: i64,
    pub struct_name: String,
    pub node_type: NodeType,
    pub state: State,
    pub operator: Operator,
    /// Number of sub-tasks.
    pub max_stage: i64,
    pub context: TaskContext,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct SubTaskInstance {
    pub id: i64,
    pub node_id: i64,
    pub name: String,
    pub struct_name: String,
    pub executer_agent: AgentInfo,
    pub execute_times: i64,
    pub caps: Capabilities,
    pub context: TaskContext,
    pub state: State,
    pub operator: Operator,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubTaskLog {
    pub id: i64,
    pub sub_task_id: i64,
    pub execute_times: i64,
    pub log_content: String,
    pub is_sync: bool,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}
