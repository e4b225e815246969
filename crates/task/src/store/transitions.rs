//! The scheduler's writes. A scheduling step (finish a node, move the stage, start the next
//! node, make its sub-tasks READY, fail timed-out ones, finish the DAG) is planned in memory
//! and committed as ONE transaction, each statement guarded by the state it was planned from.
//! If any guard loses a race, nothing of the step is applied and the DAG is simply advanced
//! again on its next wake-up. One commit per step keeps the scheduling overhead per stage a
//! small multiple of a single commit (design.md §6).

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use super::queries::affected;
use super::Store;
use crate::context::TaskContext;
use crate::error::Result;
use crate::generic_id::AgentInfo;
use crate::state::{Operator, State};

/// One guarded write of a scheduling step.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    /// Node PENDING -> RUNNING with its merged context.
    StartNode {
        node_id: i64,
        operator: Operator,
        ctx: TaskContext,
        at: DateTime<Utc>,
    },
    /// Sub-task (any state but READY) -> READY for a new attempt.
    Ready {
        id: i64,
        execute_times: i64,
        operator: Operator,
        ctx: TaskContext,
        agent: AgentInfo,
    },
    /// Sub-task READY/RUNNING -> FAILED with a log line (timeout, cancel).
    FailSub {
        id: i64,
        execute_times: i64,
        log: &'static str,
    },
    /// Node RUNNING -> SUCCEED/FAILED.
    FinishNode {
        node_id: i64,
        operator: Operator,
        succeed: bool,
    },
    /// DAG stage k -> k±1.
    Stage {
        dag_id: i64,
        operator: Operator,
        from: i64,
        to: i64,
    },
    /// DAG RUNNING -> SUCCEED/FAILED; a failed maintenance DAG stays unfinished (holding the
    /// lock until an operator acts) unless the lock is released.
    FinishDag {
        dag_id: i64,
        operator: Operator,
        stage: i64,
        succeed: bool,
        maintenance: bool,
        release_lock: bool,
    },
}

impl Store {
    /// Commits a scheduling step.
    pub(crate) async fn apply(&self, writes: &[Write]) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for w in writes {
            self.apply_one(&mut tx, w).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn apply_one(&self, conn: &mut AnyConnection, w: &Write) -> Result<()> {
        match w {
            Write::StartNode {
                node_id,
                operator,
                ctx,
                at,
            } => {
                let at = self.ts(*at);
                let r = sqlx::query(
                    "UPDATE node_instance SET state = ?, context = ?, start_time = ?, end_time = ?
                     WHERE id = ? AND state = ? AND operator = ?",
                )
                .bind(State::Running as i64)
                .bind(ctx.encode())
                .bind(at.clone())
                .bind(at)
                .bind(*node_id)
                .bind(State::Pending as i64)
                .bind(*operator as i64)
                .execute(&mut *conn)
                .await?;
                affected(r, "start node")
            }
            Write::Ready {
                id,
                execute_times,
                operator,
                ctx,
                agent,
            } => {
                let r = sqlx::query(
                    "UPDATE subtask_instance SET state = ?, operator = ?,
                       execute_times = execute_times + 1, context = ?,
                       executer_agent_ip = ?, executer_agent_port = ?
                     WHERE id = ? AND execute_times = ? AND state <> ?",
                )
                .bind(State::Ready as i64)
                .bind(*operator as i64)
                .bind(ctx.encode())
                .bind(agent.ip.clone())
                .bind(agent.port as i64)
                .bind(*id)
                .bind(*execute_times)
                .bind(State::Ready as i64)
                .execute(&mut *conn)
                .await?;
                affected(r, "set sub task ready")
            }
            Write::FailSub {
                id,
                execute_times,
                log,
            } => self.fail_subtask_on(conn, *id, *execute_times, log).await,
            Write::FinishNode {
                node_id,
                operator,
                succeed,
            } => {
                let r = sqlx::query(
                    "UPDATE node_instance SET state = ?, end_time = ?
                     WHERE id = ? AND state = ? AND operator = ?",
                )
                .bind(final_state(*succeed))
                .bind(self.ts(Utc::now()))
                .bind(*node_id)
                .bind(State::Running as i64)
                .bind(*operator as i64)
                .execute(&mut *conn)
                .await?;
                affected(r, "finish node")
            }
            Write::Stage {
                dag_id,
                operator,
                from,
                to,
            } => {
                let r = sqlx::query(
                    "UPDATE dag_instance SET stage = ?
                     WHERE id = ? AND stage = ? AND state = ? AND operator = ?",
                )
                .bind(*to)
                .bind(*dag_id)
                .bind(*from)
                .bind(State::Running as i64)
                .bind(*operator as i64)
                .execute(&mut *conn)
                .await?;
                affected(r, "update dag stage")
            }
            Write::FinishDag {
                dag_id,
                operator,
                stage,
                succeed,
                maintenance,
                release_lock,
            } => {
                let r = sqlx::query(
                    "UPDATE dag_instance SET state = ?, is_finished = ?, end_time = ?
                     WHERE id = ? AND state = ? AND operator = ? AND stage = ?",
                )
                .bind(final_state(*succeed))
                .bind(*succeed || !*maintenance)
                .bind(self.ts(Utc::now()))
                .bind(*dag_id)
                .bind(State::Running as i64)
                .bind(*operator as i64)
                .bind(*stage)
                .execute(&mut *conn)
                .await?;
                affected(r, "finish dag")?;
                if *maintenance && (*succeed || *release_lock) {
                    self.stop_maintenance(conn).await?;
                }
                Ok(())
            }
        }
    }

    /// READY/RUNNING -> FAILED with a log line, on the caller's connection.
    pub(crate) async fn fail_subtask_on(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        execute_times: i64,
        log: &str,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE subtask_instance SET state = ?, end_time = ?
             WHERE id = ? AND execute_times = ? AND state IN (?, ?)",
        )
        .bind(State::Failed as i64)
        .bind(self.ts(Utc::now()))
        .bind(id)
        .bind(execute_times)
        .bind(State::Ready as i64)
        .bind(State::Running as i64)
        .execute(&mut *conn)
        .await?;
        affected(r, "set sub task failed")?;
        self.insert_log_on(conn, id, execute_times, log).await
    }
}

fn final_state(succeed: bool) -> i64 {
    if succeed {
        State::Succeed as i64
    } else {
        State::Failed as i64
    }
}
