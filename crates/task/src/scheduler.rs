//! The scheduler: advances DAGs through their stages (spec/task-engine.md §6.1, §6.2).
//!
//! Unlike upstream's one-second poll, it is event-driven: DAG creation, operators and finished
//! sub-tasks send a wake-up, and the DAG is advanced at once, so a stage change costs a few
//! commits, not a tick. A slow periodic sweep only guards against lost wake-ups and enforces
//! timeouts of sub-tasks whose executor vanished. Each DAG is advanced by one task at a time;
//! different DAGs advance concurrently.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::mpsc;

use crate::context::TaskContext;
use crate::engine::{Core, SchedMsg};
use crate::error::{Result, TaskError};
use crate::model::{DagInstance, NodeInstance, SubTaskInstance};
use crate::state::{Operator, State};

pub(crate) async fn run(core: Arc<Core>, mut rx: mpsc::UnboundedReceiver<SchedMsg>) {
    let mut in_flight: HashSet<i64> = HashSet::new();
    let mut dirty: HashSet<i64> = HashSet::new();
    let mut sweep = tokio::time::interval(core.config.sweep_interval);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let msg = tokio::select! {
            _ = core.shutdown.cancelled() => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
            _ = sweep.tick() => {
                match core.store.unfinished_dag_ids().await {
                    Ok(ids) => for id in ids { core.wake(id) },
                    Err(e) => tracing::warn!("scheduler sweep failed: {e}"),
                }
                continue;
            }
        };
        let id = match msg {
            SchedMsg::Wake(id) => {
                if in_flight.contains(&id) {
                    dirty.insert(id);
                    continue;
                }
                id
            }
            SchedMsg::Done(id) => {
                in_flight.remove(&id);
                if !dirty.remove(&id) {
                    continue;
                }
                id
            }
        };
        in_flight.insert(id);
        let core2 = core.clone();
        tokio::spawn(async move {
            let slots = core2.advance_slots.clone();
            if let Ok(_permit) = slots.acquire().await {
                if let Err(e) = core2.advance_dag(id).await {
                    match e {
                        TaskError::NoRowAffected(_) => {
                            tracing::debug!(dag = id, "advance lost a race: {e}")
                        }
                        _ => tracing::warn!(dag = id, "advance failed: {e}"),
                    }
                }
            }
            let _ = core2.sched_tx.send(SchedMsg::Done(id));
        });
    }
}

/// What a node handler decided.
struct Outcome {
    ready: Vec<i64>,
    finished: bool,
    succeed: bool,
}

impl Core {
    /// Advances one DAG as far as it can go right now: stage after stage while nodes finish
    /// without waiting for an executor.
    pub(crate) async fn advance_dag(self: &Arc<Self>, dag_id: i64) -> Result<()> {
        loop {
            let Some(mut dag) = self.store.get_dag(&self.store.pool, dag_id).await? else {
                return Ok(());
            };
            if dag.state == State::Ready {
                self.store.start_dag(&dag).await?;
                if dag.operator == Operator::Rollback {
                    dag.stage = dag.stage.min(dag.max_stage);
                }
                dag.state = State::Running;
            }
            if dag.state != State::Running {
                return Ok(());
            }
            let stage = dag.current_stage();
            let Some(node) = self
                .store
                .node_by_stage(&self.store.pool, dag.id, stage)
                .await?
            else {
                return Err(TaskError::EngineUnexpected(format!(
                    "dag {} has no node at stage {stage}",
                    dag.id
                )));
            };
            let (node, outcome) = self.advance_node(&dag, node).await?;
            for id in &outcome.ready {
                self.submit(*id, dag.id, false);
            }
            if !outcome.finished {
                return Ok(());
            }
            if !outcome.succeed {
                let release = node.context.has_failure_exit_maintenance();
                self.store.finish_dag(&dag, false, release).await?;
                self.publish(&dag, dag.stage, State::Failed);
                tracing::info!(dag = dag.id, name = %dag.name, node = %node.name, "dag failed");
                return Ok(());
            }
            let next = if dag.operator == Operator::Rollback {
                dag.stage - 1
            } else {
                dag.stage + 1
            };
            if next < 1 || next > dag.max_stage {
                self.store.finish_dag(&dag, true, true).await?;
                self.publish(&dag, dag.stage, State::Succeed);
                tracing::info!(dag = dag.id, name = %dag.name, op = dag.operator.as_str(), "dag succeeded");
                return Ok(());
            }
            self.store.update_dag_stage(&dag, next).await?;
            self.publish(&dag, next, State::Running);
        }
    }

    fn publish(&self, dag: &DagInstance, stage: i64, state: State) {
        let _ = self.events.send(crate::engine::DagEvent {
            dag_id: dag.id,
            stage,
            state,
            operator: dag.operator,
        });
    }

    /// Starts the node if pending, runs its operator's handler and records a finished node.
    async fn advance_node(
        &self,
        dag: &DagInstance,
        mut node: NodeInstance,
    ) -> Result<(NodeInstance, Outcome)> {
        if node.state.is_finished() {
            let succeed = node.state == State::Succeed;
            return Ok((
                node,
                Outcome {
                    ready: vec![],
                    finished: true,
                    succeed,
                },
            ));
        }
        if node.state == State::Pending {
            let mut ctx = node.context.clone();
            if node.operator != Operator::Rollback && node.dag_stage > 1 {
                if let Some(up) = self
                    .store
                    .node_by_stage(&self.store.pool, dag.id, node.dag_stage - 1)
                    .await?
                {
                    for st in self.store.subtasks_of_node(&self.store.pool, up.id).await? {
                        ctx.merge_without_keywords(&st.context);
                    }
                }
            }
            node.start_time = self.store.start_node(&node, &ctx).await?;
            node.context = ctx;
            node.state = State::Running;
        }
        let subtasks = self
            .store
            .subtasks_of_node(&self.store.pool, node.id)
            .await?;
        let outcome = match node.operator {
            Operator::Run => self.run_handler(&node, &subtasks).await?,
            Operator::Retry => self.retry_handler(&node, &subtasks).await?,
            Operator::Rollback => self.rollback_handler(&node, &subtasks).await?,
            Operator::Cancel => self.cancel_handler(&subtasks).await?,
            Operator::Pass => {
                return Err(TaskError::NodeOperatorNotSupport("PASS".into()));
            }
        };
        if outcome.finished {
            self.store.finish_node(&node, outcome.succeed).await?;
            node.state = if outcome.succeed {
                State::Succeed
            } else {
                State::Failed
            };
        }
        Ok((node, outcome))
    }

    /// Moves a sub-task to READY for a new attempt with operator `op`.
    async fn ready(
        &self,
        node: &NodeInstance,
        st: &SubTaskInstance,
        op: Operator,
        out: &mut Outcome,
    ) -> Result<()> {
        // A forward run gets the node's context; a rollback keeps what the attempt produced.
        let ctx: &TaskContext = if op == Operator::Rollback {
            &st.context
        } else {
            &node.context
        };
        let agent = if st.executer_agent.ip.is_empty() {
            self.config.agent.clone()
        } else {
            st.executer_agent.clone()
        };
        self.store.set_subtask_ready(st, op, ctx, &agent).await?;
        out.ready.push(st.id);
        out.finished = false;
        Ok(())
    }

    /// RUNNING sub-task: fail it if it outlived its timeout, else it is still running.
    async fn check_running(&self, st: &SubTaskInstance, out: &mut Outcome) -> Result<()> {
        let timeout = st.context.timeout_secs() as i64;
        let elapsed = (Utc::now() - st.start_time).num_seconds();
        if elapsed > timeout {
            match self
                .store
                .fail_subtask(st.id, st.execute_times, "sub task timeout")
                .await
            {
                Ok(()) | Err(TaskError::NoRowAffected(_)) => {}
                Err(e) => return Err(e),
            }
            self.cancel_attempt(st.id);
            out.succeed = false;
        } else {
            out.finished = false;
        }
        Ok(())
    }

    async fn run_handler(&self, node: &NodeInstance, subs: &[SubTaskInstance]) -> Result<Outcome> {
        let mut out = Outcome {
            ready: vec![],
            finished: true,
            succeed: true,
        };
        for st in subs {
            self.run_state(node, st, &mut out).await?;
        }
        Ok(out)
    }

    async fn run_state(
        &self,
        node: &NodeInstance,
        st: &SubTaskInstance,
        out: &mut Outcome,
    ) -> Result<()> {
        match st.state {
            State::Pending => self.ready(node, st, Operator::Run, out).await?,
            State::Ready => {
                out.ready.push(st.id);
                out.finished = false;
            }
            State::Running => self.check_running(st, out).await?,
            State::Failed => out.succeed = false,
            State::Succeed => {}
        }
        Ok(())
    }

    /// Retry: roll back each failed sub-task, then run it again; siblings that succeeded stay.
    async fn retry_handler(
        &self,
        node: &NodeInstance,
        subs: &[SubTaskInstance],
    ) -> Result<Outcome> {
        let mut out = Outcome {
            ready: vec![],
            finished: true,
            succeed: true,
        };
        for st in subs {
            let this_run = st.start_time >= node.start_time;
            match st.state {
                State::Succeed if st.operator == Operator::Rollback && this_run => {
                    self.ready(node, st, Operator::Run, &mut out).await?
                }
                State::Succeed => {}
                State::Failed if this_run => out.succeed = false,
                State::Failed => self.ready(node, st, Operator::Rollback, &mut out).await?,
                _ => self.run_state(node, st, &mut out).await?,
            }
        }
        Ok(out)
    }

    /// Rollback: every sub-task that ran gets its `rollback` once in this pass.
    async fn rollback_handler(
        &self,
        node: &NodeInstance,
        subs: &[SubTaskInstance],
    ) -> Result<Outcome> {
        let mut out = Outcome {
            ready: vec![],
            finished: true,
            succeed: true,
        };
        for st in subs {
            let never_ran =
                st.operator == Operator::Run && matches!(st.state, State::Pending | State::Ready);
            if never_ran {
                continue;
            }
            if st.operator != Operator::Rollback || st.start_time < node.start_time {
                if st.state == State::Ready || st.state == State::Running {
                    // an attempt of this rollback pass is already under way
                    self.run_state(node, st, &mut out).await?;
                } else {
                    self.ready(node, st, Operator::Rollback, &mut out).await?;
                }
                continue;
            }
            if st.state == State::Pending {
                return Err(TaskError::EngineUnexpected(format!(
                    "sub task {} is pending",
                    st.id
                )));
            }
            self.run_state(node, st, &mut out).await?;
        }
        Ok(out)
    }

    /// Cancel: ready and running sub-tasks fail with "sub task cancelled" and their attempts
    /// are stopped; the node (and so the DAG) fails.
    async fn cancel_handler(&self, subs: &[SubTaskInstance]) -> Result<Outcome> {
        for st in subs {
            if matches!(st.state, State::Ready | State::Running) {
                match self
                    .store
                    .fail_subtask(st.id, st.execute_times, "sub task cancelled")
                    .await
                {
                    Ok(()) | Err(TaskError::NoRowAffected(_)) => {}
                    Err(e) => return Err(e),
                }
                self.cancel_attempt(st.id);
            }
        }
        Ok(Outcome {
            ready: vec![],
            finished: true,
            succeed: false,
        })
    }
}
