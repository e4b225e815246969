//! The statements of the task engine. Reads take any executor (the pool or an open
//! transaction); every write that changes a state carries an optimistic guard in its WHERE
//! clause and reports `Gorm.NoRowAffected` when it loses a race.

use chrono::{DateTime, Utc};
use sqlx::any::AnyQueryResult;
use sqlx::{AnyConnection, AnyExecutor};

use super::{rows, Dialect, Store};
use crate::context::TaskContext;
use crate::error::{Result, TaskError};
use crate::generic_id::AgentInfo;
use crate::model::{Capabilities, DagInstance, NodeInstance, SubTaskInstance, SubTaskLog};
use crate::state::{NodeType, Operator, State};
use crate::template::Maintenance;

/// Filters of the DAG list endpoints (our extension: upstream returns everything).
#[derive(Debug, Clone, Default)]
pub struct DagFilter {
    pub unfinished_only: bool,
    pub state: Option<State>,
    pub name: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A DAG ready to be inserted by `insert_dag`.
pub(crate) struct NewDag<'a> {
    pub name: &'a str,
    pub dag_type: &'a str,
    pub maintenance: &'a Maintenance,
    pub ctx: &'a TaskContext,
    pub nodes: &'a [NewNode],
}

/// A node ready to be inserted by `insert_dag`.
pub(crate) struct NewNode {
    pub name: String,
    pub struct_name: String,
    pub node_type: NodeType,
    pub context: TaskContext,
    pub caps: Capabilities,
    /// One sub-task per entry; empty means one sub-task for the local agent.
    pub agents: Vec<AgentInfo>,
}

pub(crate) fn affected(r: AnyQueryResult, what: &str) -> Result<()> {
    if r.rows_affected() == 0 {
        Err(TaskError::NoRowAffected(what.to_string()))
    } else {
        Ok(())
    }
}

impl Store {
    // ---------------------------------------------------------------- reads

    pub async fn get_dag<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        id: i64,
    ) -> Result<Option<DagInstance>> {
        let sql = format!("SELECT {} FROM dag_instance WHERE id = ?", self.cols.dag);
        let row = sqlx::query(&sql).bind(id).fetch_optional(ex).await?;
        row.as_ref().map(|r| rows::dag(r)).transpose()
    }

    pub async fn unfinished_dag_ids(&self) -> Result<Vec<i64>> {
        let ids: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM dag_instance WHERE is_finished = 0 ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(ids.into_iter().map(|(i,)| i).collect())
    }

    pub async fn list_dags(&self, f: &DagFilter) -> Result<Vec<DagInstance>> {
        let mut sql = format!("SELECT {} FROM dag_instance WHERE 1 = 1", self.cols.dag);
        if f.unfinished_only {
            sql.push_str(" AND is_finished = 0");
        }
        if f.state.is_some() {
            sql.push_str(" AND state = ?");
        }
        if f.name.is_some() {
            sql.push_str(" AND name = ?");
        }
        sql.push_str(" ORDER BY id");
        if f.limit.is_some() || f.offset.is_some() {
            sql.push_str(" LIMIT ? OFFSET ?");
        }
        let mut q = sqlx::query(&sql);
        if let Some(s) = f.state {
            q = q.bind(s as i64);
        }
        if let Some(n) = &f.name {
            q = q.bind(n.clone());
        }
        if f.limit.is_some() || f.offset.is_some() {
            q = q
                .bind(f.limit.unwrap_or(i64::MAX).max(0))
                .bind(f.offset.unwrap_or(0).max(0));
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| rows::dag(r))
            .collect()
    }

    /// The newest maintenance DAG, unfinished ones first (upstream may name a finished one).
    pub async fn last_maintenance_dag<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
    ) -> Result<Option<DagInstance>> {
        let sql = format!(
            "SELECT {} FROM dag_instance WHERE is_maintenance = 1 ORDER BY is_finished, id DESC LIMIT 1",
            self.cols.dag
        );
        let row = sqlx::query(&sql).fetch_optional(ex).await?;
        row.as_ref().map(|r| rows::dag(r)).transpose()
    }

    pub async fn node_by_stage<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        dag_id: i64,
        stage: i64,
    ) -> Result<Option<NodeInstance>> {
        let sql = format!(
            "SELECT {} FROM node_instance WHERE dag_id = ? AND dag_stage = ?",
            self.cols.node
        );
        let row = sqlx::query(&sql)
            .bind(dag_id)
            .bind(stage)
            .fetch_optional(ex)
            .await?;
        row.as_ref().map(|r| rows::node(r)).transpose()
    }

    pub async fn nodes_of_dag<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        dag_id: i64,
    ) -> Result<Vec<NodeInstance>> {
        let sql = format!(
            "SELECT {} FROM node_instance WHERE dag_id = ? ORDER BY dag_stage",
            self.cols.node
        );
        let rs = sqlx::query(&sql).bind(dag_id).fetch_all(ex).await?;
        rs.iter().map(|r| rows::node(r)).collect()
    }

    /// Nodes of many DAGs at once (list endpoints), ordered by DAG then stage, WITHOUT their
    /// context (the DTOs do not show it; it is left empty).
    pub async fn nodes_of_dags(&self, dag_ids: &[i64]) -> Result<Vec<NodeInstance>> {
        let filter = format!(
            "node_instance WHERE dag_id IN ({})",
            placeholders(dag_ids.len())
        );
        self.fetch_many(
            &self.cols.node_brief_many,
            &filter,
            "dag_id, dag_stage",
            dag_ids,
            rows::node,
        )
        .await
    }

    pub async fn get_node<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        id: i64,
    ) -> Result<Option<NodeInstance>> {
        let sql = format!("SELECT {} FROM node_instance WHERE id = ?", self.cols.node);
        let row = sqlx::query(&sql).bind(id).fetch_optional(ex).await?;
        row.as_ref().map(|r| rows::node(r)).transpose()
    }

    pub async fn subtasks_of_node<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        node_id: i64,
    ) -> Result<Vec<SubTaskInstance>> {
        let sql = format!(
            "SELECT {} FROM subtask_instance WHERE node_id = ? ORDER BY id",
            self.cols.subtask
        );
        let rs = sqlx::query(&sql).bind(node_id).fetch_all(ex).await?;
        rs.iter().map(|r| rows::subtask(r)).collect()
    }

    /// Sub-tasks of many DAGs at once, ordered by node then id. Keyed by the DAG ids: binding
    /// the node ids instead meant ten times the placeholders.
    pub async fn subtasks_of_dags(&self, dag_ids: &[i64]) -> Result<Vec<SubTaskInstance>> {
        let filter = format!(
            "subtask_instance WHERE node_id IN (SELECT id FROM node_instance WHERE dag_id IN ({}))",
            placeholders(dag_ids.len())
        );
        self.fetch_many(
            &self.cols.subtask_many,
            &filter,
            "node_id, id",
            dag_ids,
            rows::subtask,
        )
        .await
    }

    pub async fn get_subtask(&self, id: i64) -> Result<Option<SubTaskInstance>> {
        let sql = format!(
            "SELECT {} FROM subtask_instance WHERE id = ?",
            self.cols.subtask
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| rows::subtask(r)).transpose()
    }

    /// Log rows of the given sub-tasks, oldest first.
    pub async fn logs_of_subtasks(&self, ids: &[i64]) -> Result<Vec<SubTaskLog>> {
        let filter = format!(
            "sub_task_log WHERE sub_task_id IN ({})",
            placeholders(ids.len())
        );
        self.fetch_many(
            &self.cols.log_many,
            &filter,
            "sub_task_id, id",
            ids,
            rows::log,
        )
        .await
    }

    /// Log rows of every sub-task of many DAGs, oldest first per sub-task; keyed by the DAG
    /// ids like `subtasks_of_dags`.
    pub async fn logs_of_dags(&self, dag_ids: &[i64]) -> Result<Vec<SubTaskLog>> {
        let filter = format!(
            "sub_task_log WHERE sub_task_id IN (SELECT s.id FROM subtask_instance s \
             JOIN node_instance n ON s.node_id = n.id WHERE n.dag_id IN ({}))",
            placeholders(dag_ids.len())
        );
        self.fetch_many(
            &self.cols.log_many,
            &filter,
            "sub_task_id, id",
            dag_ids,
            rows::log,
        )
        .await
    }

    /// Reads `SELECT <cols> FROM <filter> ORDER BY <order>` with `ids` bound in order. On
    /// SQLite the rows come back as ONE JSON array (`json_group_array`): the driver hands rows
    /// across threads one at a time, which dominated the detailed list endpoints (about 10 us
    /// per row, 2,000 rows for 100 DAGs x 10 nodes). Each row is a positional `json_array`,
    /// not an object: no key is written, parsed or looked up (p50 of the detailed list 12 ->
    /// 8 ms). MySQL reads rows as usual.
    async fn fetch_many<T>(
        &self,
        read: &rows::ManyRead,
        filter: &str,
        order: &str,
        ids: &[i64],
        decode: fn(&dyn rows::Cells) -> Result<T>,
    ) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = match self.dialect {
            Dialect::Sqlite => {
                format!(
                    "SELECT json_group_array({} ORDER BY {order}) FROM {filter}",
                    read.json_array
                )
            }
            Dialect::Mysql => format!("SELECT {} FROM {filter} ORDER BY {order}", read.select),
        };
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        match self.dialect {
            Dialect::Sqlite => {
                let row = q.fetch_one(&self.pool).await?;
                let text: String = sqlx::Row::try_get(&row, 0)?;
                let rows: Vec<Vec<serde_json::Value>> =
                    serde_json::from_str(&text).map_err(|e| {
                        TaskError::Unexpected(format!("bad JSON rows from SQLite: {e}"))
                    })?;
                rows.into_iter()
                    .map(|values| {
                        decode(&rows::JsonRow {
                            names: &read.names,
                            values,
                        })
                    })
                    .collect()
            }
            Dialect::Mysql => q
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| decode(r))
                .collect(),
        }
    }

    /// `(sub-task id, DAG id)` of every sub-task an executor must pick up after a restart.
    pub async fn recoverable_subtasks(&self) -> Result<Vec<(i64, i64)>> {
        let v: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT s.id, n.dag_id FROM subtask_instance s JOIN node_instance n ON s.node_id = n.id
             WHERE s.state IN (2, 3) ORDER BY s.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(v)
    }

    // ---------------------------------------------------------------- creation

    /// Inserts a DAG with its nodes and sub-tasks inside the caller's transaction.
    pub(crate) async fn insert_dag(
        &self,
        conn: &mut AnyConnection,
        dag: &NewDag<'_>,
        local: &AgentInfo,
    ) -> Result<i64> {
        let epoch = self.ts(crate::model::epoch());
        let now = self.ts(Utc::now());
        sqlx::query(
            "INSERT INTO dag_instance (name, type, stage, max_stage, state, is_maintenance,
               maintenance_type, maintenance_key, is_finished, context, operator, start_time,
               end_time, gmt_create, gmt_modify)
             VALUES (?, ?, 1, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
        )
        .bind(dag.name.to_string())
        .bind(dag.dag_type.to_string())
        .bind(dag.nodes.len() as i64)
        .bind(State::Ready as i64)
        .bind(dag.maintenance.kind.is_maintenance())
        .bind(dag.maintenance.kind as i64)
        .bind(dag.maintenance.key.clone())
        .bind(dag.ctx.encode())
        .bind(Operator::Run as i64)
        .bind(epoch.clone())
        .bind(epoch.clone())
        .bind(now.clone())
        .bind(now.clone())
        .execute(&mut *conn)
        .await?;
        let dag_id = self.last_id(&mut *conn).await?;
        for (i, n) in dag.nodes.iter().enumerate() {
            let sub_count = n.agents.len().max(1) as i64;
            let encoded = n.context.encode();
            sqlx::query(
                "INSERT INTO node_instance (name, dag_id, dag_stage, struct_name, type, state,
                   max_stage, context, operator, start_time, end_time, gmt_create, gmt_modify)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(n.name.clone())
            .bind(dag_id)
            .bind(i as i64 + 1)
            .bind(n.struct_name.clone())
            .bind(n.node_type.as_str())
            .bind(State::Pending as i64)
            .bind(sub_count)
            .bind(encoded.clone())
            .bind(Operator::Run as i64)
            .bind(epoch.clone())
            .bind(epoch.clone())
            .bind(now.clone())
            .bind(now.clone())
            .execute(&mut *conn)
            .await?;
            let node_id = self.last_id(&mut *conn).await?;
            let agents: Vec<AgentInfo> = if n.agents.is_empty() {
                vec![local.clone()]
            } else {
                n.agents.clone()
            };
            for a in agents {
                sqlx::query(
                    "INSERT INTO subtask_instance (node_id, name, struct_name, executer_agent_ip,
                       executer_agent_port, execute_times, can_cancel, can_continue, can_pass,
                       can_retry, can_rollback, context, state, operator, start_time, end_time,
                       gmt_create, gmt_modify)
                     VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(node_id)
                .bind(n.name.clone())
                .bind(n.struct_name.clone())
                .bind(a.ip.clone())
                .bind(a.port as i64)
                .bind(n.caps.can_cancel)
                .bind(n.caps.can_continue)
                .bind(n.caps.can_pass)
                .bind(n.caps.can_retry)
                .bind(n.caps.can_rollback)
                .bind(encoded.clone())
                .bind(State::Pending as i64)
                .bind(Operator::Run as i64)
                .bind(epoch.clone())
                .bind(epoch.clone())
                .bind(now.clone())
                .bind(now.clone())
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(dag_id)
    }

    // ---------------------------------------------------------------- maintenance lock

    /// Takes this store's global lock (the agent lock on SQLite, the cluster lock on MySQL).
    /// On conflict the error names the DAG holding it.
    pub(crate) async fn start_maintenance(
        &self,
        conn: &mut AnyConnection,
        scope: &str,
    ) -> Result<()> {
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "UPDATE ocs_info SET value = '2' WHERE name = 'status' AND value = '1'"
            }
            Dialect::Mysql => "UPDATE cluster_status SET status = 2 WHERE id = 1 AND status = 1",
        };
        let r = sqlx::query(sql).execute(&mut *conn).await?;
        if r.rows_affected() > 0 {
            return Ok(());
        }
        Err(self.maintenance_conflict(&mut *conn, scope).await?)
    }

    /// The error for a lock that is held: it names the DAG holding it when there is one.
    pub(crate) async fn maintenance_conflict<'c>(
        &self,
        ex: impl AnyExecutor<'c>,
        scope: &str,
    ) -> Result<TaskError> {
        Ok(match self.last_maintenance_dag(ex).await? {
            Some(d) => TaskError::AgentUnderMaintenanceDag {
                scope: scope.to_string(),
                dag: d.name,
            },
            None => TaskError::AgentUnderMaintenance(scope.to_string()),
        })
    }

    /// Releases the global lock. Already free counts as success.
    pub(crate) async fn stop_maintenance(&self, conn: &mut AnyConnection) -> Result<()> {
        let sql = match self.dialect {
            Dialect::Sqlite => "UPDATE ocs_info SET value = '1' WHERE name = 'status'",
            Dialect::Mysql => "UPDATE cluster_status SET status = 1 WHERE id = 1",
        };
        sqlx::query(sql).execute(&mut *conn).await?;
        Ok(())
    }

    /// True when nobody holds the global lock (`/api/v1/status` `under_maintenance` is the
    /// opposite).
    pub async fn is_lock_free(&self) -> Result<bool> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT (value + 0) FROM ocs_info WHERE name = 'status'",
            Dialect::Mysql => "SELECT (status + 0) FROM cluster_status WHERE id = 1",
        };
        let v: Option<(i64,)> = sqlx::query_as(sql).fetch_optional(&self.pool).await?;
        Ok(v.map(|(s,)| s == 1).unwrap_or(true))
    }

    // ---------------------------------------------------------------- DAG transitions

    /// READY -> RUNNING. A rollback clamps the stage to `max_stage`.
    pub(crate) async fn start_dag(&self, dag: &DagInstance) -> Result<()> {
        let stage = if dag.operator == Operator::Rollback {
            dag.stage.min(dag.max_stage)
        } else {
            dag.stage
        };
        let r = sqlx::query(
            "UPDATE dag_instance SET state = ?, start_time = ?, stage = ?
             WHERE id = ? AND state = ? AND operator = ?",
        )
        .bind(State::Running as i64)
        .bind(self.ts(Utc::now()))
        .bind(stage)
        .bind(dag.id)
        .bind(State::Ready as i64)
        .bind(dag.operator as i64)
        .execute(&self.pool)
        .await?;
        affected(r, "start dag")
    }

    /// READY -> RUNNING, done by the executor that runs it.
    pub(crate) async fn start_subtask(&self, id: i64, execute_times: i64) -> Result<()> {
        let r = sqlx::query(
            "UPDATE subtask_instance SET state = ?, start_time = ?
             WHERE id = ? AND execute_times = ? AND state = ?",
        )
        .bind(State::Running as i64)
        .bind(self.ts(Utc::now()))
        .bind(id)
        .bind(execute_times)
        .bind(State::Ready as i64)
        .execute(&self.pool)
        .await?;
        affected(r, "start sub task")
    }

    /// RUNNING -> SUCCEED/FAILED with the final context and, optionally, a last log line, in
    /// one transaction.
    pub(crate) async fn finish_subtask(
        &self,
        id: i64,
        execute_times: i64,
        succeed: bool,
        ctx: &TaskContext,
        log: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "UPDATE subtask_instance SET state = ?, context = ?, end_time = ?
             WHERE id = ? AND execute_times = ? AND state = ?",
        )
        .bind(if succeed {
            State::Succeed
        } else {
            State::Failed
        } as i64)
        .bind(ctx.encode())
        .bind(self.ts(Utc::now()))
        .bind(id)
        .bind(execute_times)
        .bind(State::Running as i64)
        .execute(&mut *tx)
        .await?;
        affected(r, "finish sub task")?;
        if let Some(text) = log {
            self.insert_log_on(&mut tx, id, execute_times, text).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// READY/RUNNING -> FAILED outside the scheduler (the executor giving up on a start),
    /// with a log line.
    pub(crate) async fn fail_subtask(&self, id: i64, execute_times: i64, log: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        self.fail_subtask_on(&mut tx, id, execute_times, log)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_log(&self, id: i64, execute_times: i64, text: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.insert_log_on(&mut conn, id, execute_times, text).await
    }

    pub(crate) async fn insert_log_on(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        execute_times: i64,
        text: &str,
    ) -> Result<()> {
        let now = self.ts(Utc::now());
        sqlx::query(
            "INSERT INTO sub_task_log (sub_task_id, execute_times, log_content, is_sync, create_time, update_time)
             VALUES (?, ?, ?, 1, ?, ?)",
        )
        .bind(id)
        .bind(execute_times)
        .bind(text.to_string())
        .bind(now.clone())
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    // ---------------------------------------------------------------- retention

    /// Deletes finished DAGs that ended before `cutoff`, with their nodes, sub-tasks and logs,
    /// at most `batch` DAGs per call. Unfinished DAGs are never touched. Returns how many DAGs
    /// were removed.
    pub async fn purge_finished(&self, cutoff: DateTime<Utc>, batch: i64) -> Result<u64> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM dag_instance WHERE is_finished = 1 AND end_time < ? ORDER BY id LIMIT ?",
        )
        .bind(self.ts(cutoff))
        .bind(batch)
        .fetch_all(&self.pool)
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<i64> = ids.into_iter().map(|(i,)| i).collect();
        let ph = placeholders(ids.len());
        let nodes = format!("SELECT id FROM node_instance WHERE dag_id IN ({ph})");
        let subs = format!("SELECT id FROM subtask_instance WHERE node_id IN ({nodes})");
        let stmts = [
            format!("DELETE FROM sub_task_log WHERE sub_task_id IN ({subs})"),
            format!("DELETE FROM subtask_instance WHERE node_id IN ({nodes})"),
            format!("DELETE FROM node_instance WHERE dag_id IN ({ph})"),
            format!("DELETE FROM dag_instance WHERE is_finished = 1 AND id IN ({ph})"),
        ];
        let mut tx = self.begin_write().await?;
        let mut removed = 0;
        for sql in &stmts {
            let mut q = sqlx::query(sql);
            for id in &ids {
                q = q.bind(*id);
            }
            removed = q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl Store {
    /// The id of the row just inserted on `conn` (the Any driver reports none for SQLite).
    async fn last_id(&self, conn: &mut AnyConnection) -> Result<i64> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT last_insert_rowid()",
            Dialect::Mysql => "SELECT LAST_INSERT_ID() + 0",
        };
        let (id,): (i64,) = sqlx::query_as(sql).fetch_one(conn).await?;
        Ok(id)
    }
}
