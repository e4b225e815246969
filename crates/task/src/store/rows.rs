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

/// The columns of one table: text columns, integer/boolean columns, timestamp columns.
struct Table {
    text: &'static [&'static str],
    ints: &'static [&'static str],
    times: &'static [&'static str],
}

const DAG: Table = Table {
    text: &["name", "type", "maintenance_key", "context"],
    ints: &[
        "id",
        "stage",
        "max_stage",
        "state",
        "operator",
        "is_maintenance",
        "maintenance_type",
        "is_finished",
    ],
    times: &["start_time", "end_time", "gmt_create"],
};

const NODE: Table = Table {
    text: &["name", "struct_name", "type", "context"],
    ints: &[
        "id",
        "dag_id",
        "dag_stage",
        "state",
        "operator",
        "max_stage",
    ],
    times: &["start_time", "end_time"],
};

/// Nodes as the DTOs need them: without their (possibly large) context.
const NODE_BRIEF: Table = Table {
    text: &["name", "struct_name", "type"],
    ints: NODE.ints,
    times: NODE.times,
};

const SUBTASK: Table = Table {
    text: &["name", "struct_name", "executer_agent_ip", "context"],
    ints: &[
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
    times: &["start_time", "end_time"],
};

const LOG: Table = Table {
    text: &["log_content"],
    ints: &["id", "sub_task_id", "execute_times", "is_sync"],
    times: &["create_time", "update_time"],
};

impl Table {
    /// `(column, expression)` pairs: integers as `col + 0` so every backend hands back a
    /// 64-bit integer (MySQL returns INT/TINYINT otherwise); TEXT and timestamps through
    /// `Store::tcol` (MySQL's `Any` driver returns TEXT as bytes and cannot decode TIMESTAMP).
    fn exprs(&self, store: &Store) -> Vec<(&'static str, String)> {
        let text = self.text.iter().map(|c| match *c {
            "context" | "log_content" => (*c, store.tcol_expr(c)),
            other => (other, other.to_string()),
        });
        let ints = self.ints.iter().map(|c| (*c, format!("({c} + 0)")));
        let times = self.times.iter().map(|c| (*c, store.tcol_expr(c)));
        text.chain(ints).chain(times).collect()
    }

    fn select_list(&self, store: &Store) -> String {
        self.exprs(store)
            .into_iter()
            .map(|(c, e)| if c == e { e } else { format!("{e} AS {c}") })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How to read many rows of one table at once (`Store::fetch_many`): the select list for
/// MySQL, and for SQLite the `json_array(...)` of a row with its column names in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ManyRead {
    pub select: String,
    pub json_array: String,
    pub names: Vec<&'static str>,
}

impl ManyRead {
    /// The names and the `json_array` come from one `Table::exprs`, so their order agrees.
    fn new(t: &Table, s: &Store) -> ManyRead {
        let (names, exprs): (Vec<&'static str>, Vec<String>) = t.exprs(s).into_iter().unzip();
        ManyRead {
            select: t.select_list(s),
            json_array: format!("json_array({})", exprs.join(", ")),
            names,
        }
    }
}

/// Select lists, built once per store: `x` for row reads, `x_many` for batched reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    pub dag: String,
    pub node: String,
    pub subtask: String,
    pub node_brief_many: ManyRead,
    pub subtask_many: ManyRead,
    pub log_many: ManyRead,
}

impl Columns {
    pub(crate) fn new(s: &Store) -> Columns {
        Columns {
            dag: DAG.select_list(s),
            node: NODE.select_list(s),
            subtask: SUBTASK.select_list(s),
            node_brief_many: ManyRead::new(&NODE_BRIEF, s),
            subtask_many: ManyRead::new(&SUBTASK, s),
            log_many: ManyRead::new(&LOG, s),
        }
    }
}

/// Named cells of one row: a database row, or one object of a JSON-array read.
pub(crate) trait Cells {
    fn int(&self, c: &str) -> Result<i64>;
    fn text(&self, c: &str) -> Result<Option<String>>;
}

impl Cells for AnyRow {
    fn int(&self, c: &str) -> Result<i64> {
        Ok(self.try_get::<i64, _>(c)?)
    }

    fn text(&self, c: &str) -> Result<Option<String>> {
        match self.try_get::<Option<String>, _>(c) {
            // a brief column list leaves some columns out on purpose
            Err(sqlx::Error::ColumnNotFound(_)) => Ok(None),
            other => Ok(other?),
        }
    }
}

/// One row of a JSON-array read: the values of a `json_array(...)` and their column names.
pub(crate) struct JsonRow<'a> {
    pub names: &'a [&'static str],
    pub values: Vec<serde_json::Value>,
}

impl JsonRow<'_> {
    fn get(&self, c: &str) -> Option<&serde_json::Value> {
        let at = self.names.iter().position(|n| *n == c)?;
        self.values.get(at)
    }
}

impl Cells for JsonRow<'_> {
    fn int(&self, c: &str) -> Result<i64> {
        self.get(c)
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| TaskError::Unexpected(format!("column {c} is not an integer")))
    }

    fn text(&self, c: &str) -> Result<Option<String>> {
        Ok(self.get(c).and_then(|v| v.as_str().map(str::to_string)))
    }
}

fn i(row: &dyn Cells, c: &str) -> Result<i64> {
    row.int(c)
}

fn s(row: &dyn Cells, c: &str) -> Result<String> {
    Ok(row.text(c)?.unwrap_or_default())
}

fn t(row: &dyn Cells, c: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    Ok(parse_ts(&s(row, c)?))
}

fn state(row: &dyn Cells) -> Result<State> {
    let v = i(row, "state")?;
    State::from_i64(v).ok_or(TaskError::DagStateInvalid(v))
}

fn operator(row: &dyn Cells) -> Result<Operator> {
    let v = i(row, "operator")?;
    Operator::from_i64(v).ok_or_else(|| TaskError::DagOperatorNotSupport(v.to_string()))
}

fn context(row: &dyn Cells) -> Result<TaskContext> {
    TaskContext::decode(row.text("context")?.as_deref())
}

pub(crate) fn dag(row: &dyn Cells) -> Result<DagInstance> {
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

pub(crate) fn node(row: &dyn Cells) -> Result<NodeInstance> {
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

pub(crate) fn subtask(row: &dyn Cells) -> Result<SubTaskInstance> {
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

pub(crate) fn log(row: &dyn Cells) -> Result<SubTaskLog> {
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
