//! Persisted enumerations: task state, operator, maintenance type and node type.
//!
//! The integer values are written to `dag_instance`, `node_instance` and `subtask_instance` and are
//! shared with upstream obshell databases, so they must never change (spec/task-engine.md §2.1).

use serde::{Deserialize, Serialize};

/// The state of a DAG, node or sub-task. `PENDING` is never used for DAGs, `READY` never for nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    Pending = 1,
    Ready = 2,
    Running = 3,
    Failed = 4,
    Succeed = 5,
}

impl State {
    pub fn from_i64(v: i64) -> Option<State> {
        Some(match v {
            1 => State::Pending,
            2 => State::Ready,
            3 => State::Running,
            4 => State::Failed,
            5 => State::Succeed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "PENDING",
            State::Ready => "READY",
            State::Running => "RUNNING",
            State::Failed => "FAILED",
            State::Succeed => "SUCCEED",
        }
    }

    /// SUCCEED or FAILED.
    pub fn is_finished(self) -> bool {
        matches!(self, State::Succeed | State::Failed)
    }
}

/// What the engine is doing with a task: running it forward, retrying, rolling back,
/// cancelling or passing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operator {
    Run = 1,
    Retry = 2,
    Rollback = 3,
    Cancel = 4,
    Pass = 5,
}

impl Operator {
    pub fn from_i64(v: i64) -> Option<Operator> {
        Some(match v {
            1 => Operator::Run,
            2 => Operator::Retry,
            3 => Operator::Rollback,
            4 => Operator::Cancel,
            5 => Operator::Pass,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Run => "RUN",
            Operator::Retry => "RETRY",
            Operator::Rollback => "ROLLBACK",
            Operator::Cancel => "CANCEL",
            Operator::Pass => "PASS",
        }
    }

    /// Parses an operator the way upstream does: case-insensitively.
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s.to_ascii_uppercase().as_str() {
            "RUN" => Operator::Run,
            "RETRY" => Operator::Retry,
            "ROLLBACK" => Operator::Rollback,
            "CANCEL" => Operator::Cancel,
            "PASS" => Operator::Pass,
            _ => return None,
        })
    }
}

/// The lock a DAG holds while it runs (spec §7). The misspelt upstream name of 4 is kept in
/// [`MaintenanceType::as_upstream_str`] only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MaintenanceType {
    NotBootstrap = 0,
    NotUnderMaintenance = 1,
    GlobalMaintenance = 2,
    TenantMaintenance = 3,
    ObproxyMaintenance = 4,
}

impl MaintenanceType {
    pub fn from_i64(v: i64) -> Option<MaintenanceType> {
        Some(match v {
            0 => MaintenanceType::NotBootstrap,
            1 => MaintenanceType::NotUnderMaintenance,
            2 => MaintenanceType::GlobalMaintenance,
            3 => MaintenanceType::TenantMaintenance,
            4 => MaintenanceType::ObproxyMaintenance,
            _ => return None,
        })
    }

    pub fn as_upstream_str(self) -> &'static str {
        match self {
            MaintenanceType::NotBootstrap => "NOT_BOOTSTRAP",
            MaintenanceType::NotUnderMaintenance => "NOT_UNDER_MAINTENANCE",
            MaintenanceType::GlobalMaintenance => "GLOBAL_MAINTENANCE",
            MaintenanceType::TenantMaintenance => "TENANT_MAINTENANCE",
            MaintenanceType::ObproxyMaintenance => "OBPROXY_MAINTENACE",
        }
    }

    /// Whether a DAG of this type takes a lock.
    pub fn is_maintenance(self) -> bool {
        !matches!(
            self,
            MaintenanceType::NotUnderMaintenance | MaintenanceType::NotBootstrap
        )
    }
}

/// `node_instance.type`: one sub-task (`normal`) or one sub-task per execute agent (`parallel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeType {
    Normal,
    Parallel,
}

impl NodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeType::Normal => "normal",
            NodeType::Parallel => "parallel",
        }
    }

    pub fn parse(s: &str) -> NodeType {
        if s == "parallel" {
            NodeType::Parallel
        } else {
            NodeType::Normal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_integers_are_upstream_values() {
        assert_eq!(State::Pending as i64, 1);
        assert_eq!(State::Succeed as i64, 5);
        assert_eq!(Operator::Run as i64, 1);
        assert_eq!(Operator::Pass as i64, 5);
        assert_eq!(MaintenanceType::GlobalMaintenance as i64, 2);
        for v in 1..=5 {
            assert_eq!(State::from_i64(v).unwrap() as i64, v);
            assert_eq!(Operator::from_i64(v).unwrap() as i64, v);
        }
        assert_eq!(State::from_i64(0), None);
        assert_eq!(Operator::from_i64(6), None);
    }

    #[test]
    fn operator_parse_is_case_insensitive() {
        assert_eq!(Operator::parse("rollback"), Some(Operator::Rollback));
        assert_eq!(Operator::parse("Pass"), Some(Operator::Pass));
        assert_eq!(Operator::parse("explode"), None);
    }

    #[test]
    fn json_forms_are_upper_case_names() {
        assert_eq!(
            serde_json::to_string(&State::Running).unwrap(),
            "\"RUNNING\""
        );
        assert_eq!(
            serde_json::to_string(&Operator::Cancel).unwrap(),
            "\"CANCEL\""
        );
    }
}
