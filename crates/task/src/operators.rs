//! Operators a user applies to a DAG or node: retry, rollback, cancel, pass, pass node
//! (spec/task-engine.md §6.9). Each checks upstream's preconditions, then prepares the rows in
//! one transaction whose updates are guarded by the state they read, so two operators racing on
//! one DAG leave exactly one effect and a `Gorm.NoRowAffected` error for the loser. The
//! scheduler is then woken to carry the operator out.

use chrono::Utc;
use sqlx::AnyConnection;

use crate::engine::Engine;
use crate::error::{Result, TaskError};
use crate::model::{epoch, Capabilities, DagInstance, NodeInstance};
use crate::state::{Operator, State};
use crate::store::Store;

/// How many times an operator is tried when its guarded write loses to a concurrent change.
const OPERATOR_ATTEMPTS: u32 = 5;

fn conflict(what: &str) -> impl FnOnce(TaskError) -> TaskError + '_ {
    move |e| match e {
        TaskError::NoRowAffected(_) => TaskError::NoRowAffected(format!(
            "{what}: the task was changed concurrently, reload it and try again"
        )),
        other => other,
    }
}

impl Store {
    async fn node_caps(&self, conn: &mut AnyConnection, node_id: i64) -> Result<Capabilities> {
        let subs = self.subtasks_of_node(&mut *conn, node_id).await?;
        Ok(subs
            .iter()
            .fold(Capabilities::ALL, |acc, s| acc.and(s.caps)))
    }

    /// Re-arms a DAG: state, operator, times to the epoch, unfinished. Guarded by the state,
    /// operator and stage the caller read.
    async fn rearm_dag(
        &self,
        conn: &mut AnyConnection,
        dag: &DagInstance,
        state: State,
        op: Operator,
    ) -> Result<()> {
        let e = self.ts(epoch());
        let r = sqlx::query(
            "UPDATE dag_instance SET state = ?, operator = ?, start_time = ?, end_time = ?, is_finished = 0
             WHERE id = ? AND state = ? AND operator = ? AND stage = ?",
        )
        .bind(state as i64)
        .bind(op as i64)
        .bind(e.clone())
        .bind(e)
        .bind(dag.id)
        .bind(dag.state as i64)
        .bind(dag.operator as i64)
        .bind(dag.stage)
        .execute(&mut *conn)
        .await?;
        if r.rows_affected() == 0 {
            return Err(TaskError::NoRowAffected("update dag".into()));
        }
        Ok(())
    }

    async fn rearm_node(
        &self,
        conn: &mut AnyConnection,
        node: &NodeInstance,
        op: Operator,
    ) -> Result<()> {
        let e = self.ts(epoch());
        let r = sqlx::query(
            "UPDATE node_instance SET state = ?, operator = ?, start_time = ?, end_time = ?
             WHERE id = ? AND state = ? AND operator = ?",
        )
        .bind(State::Pending as i64)
        .bind(op as i64)
        .bind(e.clone())
        .bind(e)
        .bind(node.id)
        .bind(node.state as i64)
        .bind(node.operator as i64)
        .execute(&mut *conn)
        .await?;
        if r.rows_affected() == 0 {
            return Err(TaskError::NoRowAffected("update node".into()));
        }
        Ok(())
    }

    /// Marks a node and its unfinished sub-tasks SUCCEED/PASS.
    async fn pass_node_rows(
        &self,
        conn: &mut AnyConnection,
        node: &NodeInstance,
        now: &str,
    ) -> Result<()> {
        let r = sqlx::query(
            "UPDATE node_instance SET state = ?, operator = ?, end_time = ? WHERE id = ? AND state = ?",
        )
        .bind(State::Succeed as i64)
        .bind(Operator::Pass as i64)
        .bind(now.to_string())
        .bind(node.id)
        .bind(node.state as i64)
        .execute(&mut *conn)
        .await?;
        if r.rows_affected() == 0 {
            return Err(TaskError::NoRowAffected("pass node".into()));
        }
        sqlx::query(
            "UPDATE subtask_instance SET state = ?, operator = ?, end_time = ? WHERE node_id = ? AND state <> ?",
        )
        .bind(State::Succeed as i64)
        .bind(Operator::Pass as i64)
        .bind(now.to_string())
        .bind(node.id)
        .bind(State::Succeed as i64)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

impl Engine {
    /// Applies `op` (RETRY, ROLLBACK, CANCEL or PASS) to DAG `dag_id`.
    ///
    /// A guarded write that lost to a concurrent change is tried again on fresh rows, because
    /// the winner may be the scheduler moving a running DAG on (a cancel right after creation
    /// races the first stage; on MySQL the reads are not locking). Preconditions are checked
    /// again on every attempt, so a competing operator still leaves exactly one effect: the
    /// loser either fails its precondition or, when the same operator already won, gets the
    /// conflict error.
    pub async fn operate_dag(&self, dag_id: i64, op: Operator) -> Result<()> {
        let mut attempt = 1;
        let r = loop {
            let r = self.operate_dag_once(dag_id, op).await;
            let Err(TaskError::NoRowAffected(_)) = &r else {
                break r;
            };
            let same_op_won = matches!(
                self.store().get_dag(&self.store().pool, dag_id).await,
                Ok(Some(d)) if d.operator == op
            );
            if same_op_won || attempt >= OPERATOR_ATTEMPTS {
                break r;
            }
            tracing::debug!(
                dag = dag_id,
                op = op.as_str(),
                attempt,
                "operator lost a race; trying again"
            );
            attempt += 1;
            tokio::time::sleep(std::time::Duration::from_millis(10 * attempt as u64)).await;
        };
        if r.is_ok() {
            tracing::info!(dag = dag_id, op = op.as_str(), "operator applied");
            self.core.wake(dag_id);
            self.publish_current(dag_id).await;
        }
        r
    }

    async fn operate_dag_once(&self, dag_id: i64, op: Operator) -> Result<()> {
        match op {
            Operator::Retry => self.retry_dag(dag_id).await,
            Operator::Rollback => self.rollback_dag(dag_id).await,
            Operator::Cancel => self.cancel_dag(dag_id).await,
            Operator::Pass => self.pass_dag(dag_id).await,
            Operator::Run => Err(TaskError::DagOperatorNotSupport("RUN".into())),
        }
    }

    /// Tells progress followers (`Engine::subscribe`) that an operator changed the DAG; the
    /// scheduler only publishes stage changes and finishes. Skipped when nobody listens.
    async fn publish_current(&self, dag_id: i64) {
        if self.core.events.receiver_count() == 0 {
            return;
        }
        if let Ok(Some(dag)) = self.store().get_dag(&self.store().pool, dag_id).await {
            let _ = self.core.events.send(crate::engine::DagEvent {
                dag_id,
                stage: dag.stage,
                state: dag.state,
                operator: dag.operator,
            });
        }
    }

    async fn load_dag(&self, conn: &mut AnyConnection, id: i64) -> Result<DagInstance> {
        self.store()
            .get_dag(&mut *conn, id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("dag {id} not found")))
    }

    async fn retry_dag(&self, id: i64) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin_write().await?;
        let dag = self.load_dag(&mut tx, id).await?;
        if dag.state != State::Failed {
            return Err(TaskError::RetryNotFailedDag);
        }
        let node = store
            .node_by_stage(&mut *tx, dag.id, dag.current_stage())
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("node of dag {id}")))?;
        if !store.node_caps(&mut tx, node.id).await?.can_retry {
            return Err(TaskError::RetryNotAllowed(node.name));
        }
        if dag.is_maintenance() && node.context.has_failure_exit_maintenance() {
            store
                .start_maintenance(&mut tx, &self.core.scope_label())
                .await?;
        }
        store
            .rearm_dag(&mut tx, &dag, State::Ready, Operator::Run)
            .await
            .map_err(conflict("Failed to set DAG retry"))?;
        store
            .rearm_node(&mut tx, &node, Operator::Retry)
            .await
            .map_err(conflict("Failed to set DAG retry"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn rollback_dag(&self, id: i64) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin_write().await?;
        let dag = self.load_dag(&mut tx, id).await?;
        if dag.state != State::Failed {
            return Err(TaskError::RollbackNotFailedDag);
        }
        let mut chosen = Vec::new();
        for node in store.nodes_of_dag(&mut *tx, dag.id).await? {
            if node.state == State::Pending && node.operator != Operator::Rollback {
                break;
            }
            if !store.node_caps(&mut tx, node.id).await?.can_rollback {
                return Err(TaskError::RollbackNotAllowed(node.name));
            }
            let failed = node.state == State::Failed;
            chosen.push(node);
            if failed {
                break;
            }
        }
        let Some(last) = chosen.last() else {
            return Err(TaskError::Unexpected(
                "failed to set dag rollback: no node failed".into(),
            ));
        };
        if dag.is_maintenance() && last.context.has_failure_exit_maintenance() {
            store
                .start_maintenance(&mut tx, &self.core.scope_label())
                .await?;
        }
        let mut rearmed = dag.clone();
        rearmed.stage = last.dag_stage;
        store
            .rearm_dag(&mut tx, &dag, State::Ready, Operator::Rollback)
            .await
            .map_err(conflict("Failed to set DAG rollback"))?;
        if rearmed.stage != dag.stage {
            sqlx::query("UPDATE dag_instance SET stage = ? WHERE id = ?")
                .bind(rearmed.stage)
                .bind(dag.id)
                .execute(&mut *tx)
                .await?;
        }
        for node in chosen.iter().filter(|n| n.state.is_finished()) {
            store
                .rearm_node(&mut tx, node, Operator::Rollback)
                .await
                .map_err(conflict("Failed to set DAG rollback"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cancel_dag(&self, id: i64) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin_write().await?;
        let dag = self.load_dag(&mut tx, id).await?;
        if dag.state.is_finished() {
            return Err(TaskError::CancelFinishedDag);
        }
        let mut target = None;
        for node in store.nodes_of_dag(&mut *tx, dag.id).await? {
            if !store.node_caps(&mut tx, node.id).await?.can_cancel {
                return Err(TaskError::CancelNotAllowed(node.name));
            }
            if !node.state.is_finished() {
                target = Some(node);
                break;
            }
        }
        let node = match target {
            Some(n) => n,
            None => store
                .node_by_stage(&mut *tx, dag.id, dag.current_stage())
                .await?
                .ok_or_else(|| TaskError::NotFound(format!("node of dag {id}")))?,
        };
        let r = sqlx::query(
            "UPDATE dag_instance SET state = ?, operator = ?, start_time = ?, end_time = ?, is_finished = 0
             WHERE id = ? AND state = ? AND operator = ?",
        )
        .bind(State::Ready as i64)
        .bind(Operator::Cancel as i64)
        .bind(store.ts(epoch()))
        .bind(store.ts(epoch()))
        .bind(dag.id)
        .bind(dag.state as i64)
        .bind(dag.operator as i64)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(TaskError::NoRowAffected(
                "Failed to cancel DAG: the task was changed concurrently, reload it and try again"
                    .into(),
            ));
        }
        store
            .rearm_node(&mut tx, &node, Operator::Cancel)
            .await
            .map_err(conflict("Failed to cancel DAG"))?;
        tx.commit().await?;
        Ok(())
    }

    async fn pass_dag(&self, id: i64) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin_write().await?;
        let dag = self.load_dag(&mut tx, id).await?;
        if dag.state != State::Failed {
            return Err(TaskError::PassNotFailedDag);
        }
        let nodes = store.nodes_of_dag(&mut *tx, dag.id).await?;
        let first = nodes
            .iter()
            .position(|n| n.state == State::Failed)
            .unwrap_or((dag.current_stage() - 1).max(0) as usize);
        for node in &nodes[first.min(nodes.len())..] {
            if !store.node_caps(&mut tx, node.id).await?.can_pass {
                return Err(TaskError::PassNotAllowed(node.name.clone()));
            }
        }
        let now = store.ts(Utc::now());
        let r = sqlx::query(
            "UPDATE dag_instance SET state = ?, operator = ?, end_time = ?, is_finished = 1
             WHERE id = ? AND state = ? AND operator = ? AND stage = ?",
        )
        .bind(State::Succeed as i64)
        .bind(Operator::Pass as i64)
        .bind(now.clone())
        .bind(dag.id)
        .bind(State::Failed as i64)
        .bind(dag.operator as i64)
        .bind(dag.stage)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 0 {
            return Err(TaskError::NoRowAffected(
                "Failed to pass DAG: the task was changed concurrently, reload it and try again"
                    .into(),
            ));
        }
        for node in &nodes[first.min(nodes.len())..] {
            store.pass_node_rows(&mut tx, node, &now).await?;
        }
        if dag.is_maintenance() {
            store.stop_maintenance(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Passes one failed node; the DAG then continues with the next stage.
    pub async fn pass_node(&self, node_id: i64) -> Result<()> {
        let store = self.store();
        let mut tx = store.begin_write().await?;
        let node = store
            .get_node(&mut *tx, node_id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("node {node_id} not found")))?;
        let dag = self.load_dag(&mut tx, node.dag_id).await?;
        if dag.state != State::Failed {
            return Err(TaskError::NodePassNotFailedDag);
        }
        if node.state != State::Failed {
            return Err(TaskError::NodePassNotFailedNode(node.name));
        }
        if !store.node_caps(&mut tx, node.id).await?.can_pass {
            return Err(TaskError::NodePassNotAllowed(node.name));
        }
        if dag.is_maintenance() && node.context.has_failure_exit_maintenance() {
            store
                .start_maintenance(&mut tx, &self.core.scope_label())
                .await?;
        }
        let now = store.ts(Utc::now());
        store
            .pass_node_rows(&mut tx, &node, &now)
            .await
            .map_err(conflict("Failed to pass node"))?;
        store
            .rearm_dag(&mut tx, &dag, State::Ready, Operator::Run)
            .await
            .map_err(conflict("Failed to pass node"))?;
        tx.commit().await?;
        tracing::info!(dag = dag.id, node = node_id, "node passed");
        self.core.wake(dag.id);
        self.publish_current(dag.id).await;
        Ok(())
    }
}
