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

use crate::engine::{Core, SchedMsg};
use crate::error::{Result, TaskError};
use crate::model::{DagInstance, NodeInstance, SubTaskInstance};
use crate::state::{Operator, State};
use crate::store::Write;

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

/// What a node handler decided: writes for the step, and what that means for the node.
struct Outcome {
    writes: Vec<Write>,
    /// Sub-tasks to hand to the executor once the step is committed.
    ready: Vec<i64>,
    /// Attempts to stop once the step is committed (cancel, timeout).
    cancel: Vec<i64>,
    finished: bool,
    succeed: bool,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            writes: vec![],
            ready: vec![],
            cancel: vec![],
            finished: true,
            succeed: true,
        }
    }
}

impl Core {
    /// Advances one DAG as far as it can go right now. Stages whose node finishes without
    /// waiting for an executor are chained into the same step, which is committed once.
    pub(crate) async fn advance_dag(self: &Arc<Self>, dag_id: i64) -> Result<()> {
        let pool = &self.store.pool;
        let Some(mut dag) = self.store.get_dag(pool, dag_id).await? else {
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
        let mut node = self.node_at(&dag, dag.current_stage()).await?;
        let mut subs = self.store.subtasks_of_node(pool, node.id).await?;
        let mut step = Outcome::new();
        let mut events = Vec::new();
        // whether `node.context` already holds its upstream sub-tasks' contexts
        let mut merged = false;
        loop {
            if node.state == State::Pending {
                self.plan_node_start(&dag, &mut node, merged, &mut step)
                    .await?;
            }
            let out = if node.state.is_finished() {
                Outcome {
                    succeed: node.state == State::Succeed,
                    ..Outcome::new()
                }
            } else {
                self.handle(&node, &subs)
            };
            step.writes.extend(out.writes);
            step.ready.extend(out.ready);
            step.cancel.extend(out.cancel);
            if !out.finished {
                break;
            }
            if !node.state.is_finished() {
                step.writes.push(Write::FinishNode {
                    node_id: node.id,
                    operator: node.operator,
                    succeed: out.succeed,
                });
            }
            let next = if dag.operator == Operator::Rollback {
                dag.stage - 1
            } else {
                dag.stage + 1
            };
            if !out.succeed || next < 1 || next > dag.max_stage {
                step.writes.push(Write::FinishDag {
                    dag_id: dag.id,
                    operator: dag.operator,
                    stage: dag.stage,
                    succeed: out.succeed,
                    maintenance: dag.is_maintenance(),
                    release_lock: node.context.has_failure_exit_maintenance(),
                });
                let state = if out.succeed {
                    State::Succeed
                } else {
                    State::Failed
                };
                events.push((dag.stage, state));
                tracing::info!(dag = dag.id, name = %dag.name, node = %node.name,
                    op = dag.operator.as_str(), "dag {}", state.as_str());
                break;
            }
            step.writes.push(Write::Stage {
                dag_id: dag.id,
                operator: dag.operator,
                from: dag.stage,
                to: next,
            });
            events.push((next, State::Running));
            dag.stage = next;
            let upstream = std::mem::take(&mut subs);
            node = self.node_at(&dag, next).await?;
            subs = self.store.subtasks_of_node(pool, node.id).await?;
            merged = node.state == State::Pending && dag.operator != Operator::Rollback;
            if merged {
                // the finished node's sub-tasks feed the next node's context
                for st in &upstream {
                    node.context.merge_without_keywords(&st.context);
                }
            }
        }
        self.store.apply(&step.writes).await?;
        for (stage, state) in events {
            self.publish(&dag, stage, state);
        }
        for id in step.cancel {
            self.cancel_attempt(id);
        }
        for id in step.ready {
            self.submit(id, dag.id, false);
        }
        Ok(())
    }

    async fn node_at(&self, dag: &DagInstance, stage: i64) -> Result<NodeInstance> {
        self.store
            .node_by_stage(&self.store.pool, dag.id, stage)
            .await?
            .ok_or_else(|| {
                TaskError::EngineUnexpected(format!("dag {} has no node at stage {stage}", dag.id))
            })
    }

    /// Plans PENDING -> RUNNING: the node's context is merged with every sub-task context of
    /// the previous node (forward directions only).
    async fn plan_node_start(
        &self,
        dag: &DagInstance,
        node: &mut NodeInstance,
        merged: bool,
        step: &mut Outcome,
    ) -> Result<()> {
        if !merged && node.operator != Operator::Rollback && node.dag_stage > 1 {
            let up = self.node_at(dag, node.dag_stage - 1).await?;
            for st in self.store.subtasks_of_node(&self.store.pool, up.id).await? {
                node.context.merge_without_keywords(&st.context);
            }
        }
        let at = crate::store::parse_ts(&self.store.ts(Utc::now()));
        step.writes.push(Write::StartNode {
            node_id: node.id,
            operator: node.operator,
            ctx: node.context.clone(),
            at,
        });
        node.state = State::Running;
        node.start_time = at;
        Ok(())
    }

    fn publish(&self, dag: &DagInstance, stage: i64, state: State) {
        let _ = self.events.send(crate::engine::DagEvent {
            dag_id: dag.id,
            stage,
            state,
            operator: dag.operator,
        });
    }

    /// Runs the handler of the node's operator (spec §6.2). Pure: it only plans writes.
    fn handle(&self, node: &NodeInstance, subs: &[SubTaskInstance]) -> Outcome {
        let mut out = Outcome::new();
        for st in subs {
            match node.operator {
                Operator::Run | Operator::Pass => self.run_state(node, st, &mut out),
                Operator::Retry => self.retry_state(node, st, &mut out),
                Operator::Rollback => self.rollback_state(node, st, &mut out),
                Operator::Cancel => {
                    if matches!(st.state, State::Ready | State::Running) {
                        self.fail(st, "sub task cancelled", &mut out);
                    }
                }
            }
        }
        if node.operator == Operator::Cancel {
            // a cancelled node always ends FAILED, and so does its DAG
            out.finished = true;
            out.succeed = false;
        }
        out
    }

    fn ready(&self, node: &NodeInstance, st: &SubTaskInstance, op: Operator, out: &mut Outcome) {
        // A forward run gets the node's context; a rollback keeps what the attempt produced.
        let ctx = if op == Operator::Rollback {
            st.context.clone()
        } else {
            node.context.clone()
        };
        let agent = if st.executer_agent.ip.is_empty() {
            self.config.agent.clone()
        } else {
            st.executer_agent.clone()
        };
        out.writes.push(Write::Ready {
            id: st.id,
            execute_times: st.execute_times,
            operator: op,
            ctx,
            agent,
        });
        out.ready.push(st.id);
        out.finished = false;
    }

    fn fail(&self, st: &SubTaskInstance, log: &'static str, out: &mut Outcome) {
        out.writes.push(Write::FailSub {
            id: st.id,
            execute_times: st.execute_times,
            log,
        });
        out.cancel.push(st.id);
    }

    /// The RUN handler's view of one sub-task; the other handlers fall back to it.
    fn run_state(&self, node: &NodeInstance, st: &SubTaskInstance, out: &mut Outcome) {
        match st.state {
            State::Pending => self.ready(node, st, Operator::Run, out),
            State::Ready => {
                out.ready.push(st.id);
                out.finished = false;
            }
            State::Running => {
                // the executor enforces the timeout; this catches attempts it lost track of
                let timeout = st.context.timeout_secs() as i64;
                if (Utc::now() - st.start_time).num_seconds() > timeout {
                    self.fail(st, "sub task timeout", out);
                    out.succeed = false;
                } else {
                    out.finished = false;
                }
            }
            State::Failed => out.succeed = false,
            State::Succeed => {}
        }
    }

    /// Retry: roll back each failed sub-task, then run it again; siblings that succeeded stay.
    fn retry_state(&self, node: &NodeInstance, st: &SubTaskInstance, out: &mut Outcome) {
        let this_run = st.start_time >= node.start_time;
        match st.state {
            State::Succeed if st.operator == Operator::Rollback && this_run => {
                self.ready(node, st, Operator::Run, out)
            }
            State::Succeed => {}
            State::Failed if this_run => out.succeed = false,
            State::Failed => self.ready(node, st, Operator::Rollback, out),
            _ => self.run_state(node, st, out),
        }
    }

    /// Rollback: every sub-task that ran gets its `rollback` once in this pass; those that
    /// never ran are skipped.
    fn rollback_state(&self, node: &NodeInstance, st: &SubTaskInstance, out: &mut Outcome) {
        let never_ran =
            st.operator == Operator::Run && matches!(st.state, State::Pending | State::Ready);
        if never_ran {
            return;
        }
        let this_pass = st.operator == Operator::Rollback && st.start_time >= node.start_time;
        match st.state {
            State::Ready | State::Running => self.run_state(node, st, out),
            _ if !this_pass => self.ready(node, st, Operator::Rollback, out),
            _ => self.run_state(node, st, out),
        }
    }
}
