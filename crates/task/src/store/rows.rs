//! Column lists and row decoding for the task tables.
//!
//! Integers and booleans are read as `col + 0` so every backend hands back a 64-bit integer
//! (MySQL returns INT/TINYINT otherwise); timestamps are read as text (see `Store::tcol`).

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{parse_ts, Store};
use crate::context::TaskContext;
use crate::error::{Result, TaskError};
use crate::generic_id::AgentInfo;
use crate::model::{Capabilities, DagInstance, NodeInstance, SubTaskInstance, SubTaskLog};
use crate::state::{MaintenanceType, NodeType, Operator, State};

fn int(col: &str) -> String {
    format!("({col} + 0) AS {col}")
}

fn cols(store: &Store, plain: &[&str], ints: &[&str], times: &[&str]) -> String {
    let mut v: Vec<String> = plain
        .iter()
        .map(|c| match *c {
            "context" | "log_content" => store.tcol(c),
            other => other.to_string(),
        })
        .collect();
    v.extend(ints.iter().map(|c| int(c)));
    v.extend(times.iter().map(|c| store.tcol(c)));
    v.join(", ")
}

/// Select lists, built once per store.
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    pub dag: String,
    pub node: String,
    pub subtask: String,
    pub log: String,
}

impl Columns {
    pub(crate) fn empty() -> Columns {
        Columns {
            dag: String::new(),
            node: String::new(),
            subtask: String::new(),
            log: String::new(),
        }
    }

    pub(crate) fn new(s: &Store) -> Columns {
        Columns {
            dag: cols(
                s,
                &["name", "type", "maintenance_key", "context"],
                &[
                    "id",
                    "stage",
                    "max_stage",
                    "state",
                    "operator",
                    "is_maintenance",
                    "maintenance_type",
                    "is_finished",
                ],
                &["start_time", "end_time", "gmt_create"],
            ),
            node: cols(
                s,
                &["name", "struct_name", "type", "context"],
                &[
                    "id",
                    "dag_id",
                    "dag_stage",
                    "state",
                    "operator",
                    "max_stage",
                ],
                &["start_time", "end_time"],
            ),
            subtask: cols(
                s,
                &["name", "struct_name", "executer_agent_ip", "context"],
                &[
                    "id",
                    "node_id",
                    "executer_agent_port",
                    "execute_times",
                    "can_cancel",
                    "can_continue",
                    "can_pass",
                    "can_retry",
                    "can_rollback",
                    "state",
                    "operator",
                ],
                &["start_time", "end_time"],
            ),
            log: cols(
                s,
                &["log_content"],
                &["id", "sub_task_id", "execute_times", "is_sync"],
                &["create_time", "update_time"],
            ),
        }
    }
}

fn i(row: &AnyRow, c: &str) -> Result<i64> {
    Ok(row.try_get::<i64, _>(c)?)
}

fn s(row: &AnyRow, c: &str) -> Result<String> {
    Ok(row.try_get::<Option<String>, _>(c)?.unwrap_or_default())
}

fn t(row: &AnyRow, c: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    Ok(parse_ts(&s(row, c)?))
}

fn state(row: &AnyRow) -> Result<State> {
    let v = i(row, "state")?;
    State::from_i64(v).ok_or(TaskError::DagStateInvalid(v))
}

fn operator(row: &AnyRow) -> Result<Operator> {
    let v = i(row, "operator")?;
    Operator::from_i64(v).ok_or_else(|| TaskError::DagOperatorNotSupport(v.to_string()))
}

fn context(row: &AnyRow) -> Result<TaskContext> {
    TaskContext::decode(row.try_get::<Option<String>, _>("context")?.as_deref())
}

pub(crate) fn dag(row: &AnyRow) -> Result<DagInstance> {
    let dag_type = s(row, "type")?;
    let is_maintenance = i(row, "is_maintenance")? != 0;
    let stored = MaintenanceType::from_i64(i(row, "maintenance_type")?)
        .unwrap_or(MaintenanceType::NotUnderMaintenance);
    // Legacy rows: is_maintenance=1 with type 1 means global (obproxy for obproxy DAGs).
    let maintenance_type = match (is_maintenance, stored) {
        (false, _) => MaintenanceType::NotUnderMaintenance,
        (true, MaintenanceType::NotUnderMaintenance) if dag_type == "obproxy" => {
            MaintenanceType::ObproxyMaintenance
        }
        (true, MaintenanceType::NotUnderMaintenance) => MaintenanceType::GlobalMaintenance,
        (true, m) => m,
    };
    Ok(DagInstance {
        id: i(row, "id")?,
        name: s(row, "name")?,
        dag_type,
        stage: i(row, "stage")?,
        max_stage: i(row, "max_stage")?,
        state: state(row)?,
        operator: operator(row)?,
        maintenance_type,
        maintenance_key: s(row, "maintenance_key")?,
        is_finished: i(row, "is_finished")? != 0,
        context: context(row)?,
        start_time: t(row, "start_time")?,
        end_time: t(row, "end_time")?,
        gmt_create: t(row, "gmt_create")?,
    })
}

pub(crate) fn node(row: &AnyRow) -> Result<NodeInstance> {
    Ok(NodeInstance {
        id: i(row, "id")?,
        name: s(row, "name")?,
        dag_id: i(row, "dag_id")?,
        dag_stage: i(row, "dag_stage")?,
        struct_name: s(row, "struct_name")?,
        node_type: NodeType::parse(&s(row, "type")?),
        state: state(row)?,
        operator: operator(row)?,
        max_stage: i(row, "max_stage")?,
        context: context(row)?,
        start_time: t(row, "start_time")?,
        end_time: t(row, "end_time")?,
    })
}

pub(crate) fn subtask(row: &AnyRow) -> Result<SubTaskInstance> {
    Ok(SubTaskInstance {
        id: i(row, "id")?,
        node_id: i(row, "node_id")?,
        name: s(row, "name")?,
        struct_name: s(row, "struct_name")?,
        executer_agent: AgentInfo {
            ip: s(row, "executer_agent_ip")?,
            port: u16::try_from(i(row, "executer_agent_port")?).unwrap_or(0),
        },
        execute_times: i(row, "execute_times")?,
        caps: Capabilities {
            can_cancel: i(row, "can_cancel")? != 0,
            can_continue: i(row, "can_continue")? != 0,
            can_pass: i(row, "can_pass")? != 0,
            can_retry: i(row, "can_retry")? != 0,
            can_rollback: i(row, "can_rollback")? != 0,
        },
        context: context(row)?,
        state: state(row)?,
        operator: operator(row)?,
        start_time: t(row, "start_time")?,
        end_time: t(row, "end_time")?,
    })
}

pub(crate) fn log(row: &AnyRow) -> Result<SubTaskLog> {
    Ok(SubTaskLog {
        id: i(row, "id")?,
        sub_task_id: i(row, "sub_task_id")?,
        execute_times: i(row, "execute_times")?,
        log_content: s(row, "log_content")?,
        is_sync: i(row, "is_sync")? != 0,
        create_time: t(row, "create_time")?,
        update_time: t(row, "update_time")?,
    })
}
