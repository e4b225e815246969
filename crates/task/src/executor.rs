//! The executor: a bounded pool that runs sub-task attempts (spec/task-engine.md §6.3).
//!
//! Each attempt runs the kind's future under a cancellation token and the sub-task's timeout;
//! cancel and timeout drop the future (and with it any process group started through
//! `TaskRun::run_command`). Start failures are retried with backoff a bounded number of times,
//! then the sub-task fails with a log line saying why (upstream re-queues forever).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::engine::Core;
use crate::error::TaskError;
use crate::kind::{TaskFailure, TaskResult};
use crate::model::SubTaskInstance;
use crate::run::TaskRun;
use crate::state::{Operator, State};

/// Why an attempt ended other than by returning.
enum Interrupt {
    Cancelled,
    TimedOut(u64),
}

impl Core {
    /// Queues a sub-task for execution unless it is already queued or running here.
    /// `recovering` is set for rows found RUNNING at boot: they run in continue mode.
    pub(crate) fn submit(self: &Arc<Self>, id: i64, dag_id: i64, recovering: bool) {
        {
            let mut q = self.exec_queued.lock().unwrap_or_else(|e| e.into_inner());
            if !q.insert(id) {
                return;
            }
        }
        let core = self.clone();
        tokio::spawn(async move {
            if let Ok(_permit) = core.exec_slots.acquire().await {
                if let Err(e) = core.execute_subtask(id, recovering).await {
                    tracing::warn!(sub_task = id, "executor: {e}");
                }
            }
            core.exec_running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            core.exec_queued
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            core.wake(dag_id);
        });
    }

    /// Stops the attempt of `id` if it runs here.
    pub(crate) fn cancel_attempt(&self, id: i64) {
        if let Some(t) = self
            .exec_running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            t.cancel();
        }
    }

    async fn execute_subtask(&self, id: i64, recovering: bool) -> Result<(), TaskError> {
        let Some(st) = self.store.get_subtask(id).await? else {
            return Ok(());
        };
        // Register the token before the row turns RUNNING, so a cancel arriving in between
        // still reaches this attempt.
        let token = self.shutdown.child_token();
        self.exec_running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, token.clone());
        let is_continue = match st.state {
            State::Ready => {
                if !self.start_with_retries(&st).await? {
                    return Ok(());
                }
                false
            }
            State::Running if recovering => true,
            _ => return Ok(()),
        };
        let mut run = TaskRun {
            id,
            name: st.name.clone(),
            execute_times: st.execute_times,
            is_continue,
            operator: st.operator,
            agent: st.executer_agent.clone(),
            ctx: st.context.clone(),
            token: token.clone(),
            store: self.store.clone(),
        };
        let result = self.attempt(&st, &mut run, is_continue).await;
        if self.shutdown.is_cancelled() {
            // The agent is stopping: leave the row RUNNING; the next start resumes it.
            return Ok(());
        }
        let log = match &result {
            Ok(()) => None,
            Err(f) if f.wait_operator => Some(f.message.clone()),
            Err(f) => Some(format!("ERROR: {}", f.message)),
        };
        match self
            .store
            .finish_subtask(
                id,
                st.execute_times,
                result.is_ok(),
                &run.ctx,
                log.as_deref(),
            )
            .await
        {
            // The scheduler already failed it (cancel or timeout): its verdict stands.
            Ok(()) | Err(TaskError::NoRowAffected(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// READY -> RUNNING, retrying transient store errors with backoff. Returns false when
    /// the row is no longer ours to run.
    async fn start_with_retries(&self, st: &SubTaskInstance) -> Result<bool, TaskError> {
        let mut last = String::new();
        for attempt in 0..self.config.start_attempts.max(1) {
            match self.store.start_subtask(st.id, st.execute_times).await {
                Ok(()) => return Ok(true),
                Err(TaskError::NoRowAffected(_)) => return Ok(false),
                Err(e) => {
                    last = e.to_string();
                    tracing::warn!(sub_task = st.id, attempt, "failed to start sub task: {e}");
                    let backoff = Duration::from_millis(100u64 << attempt.min(6));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.shutdown.cancelled() => return Ok(false),
                    }
                }
            }
        }
        let msg = format!(
            "failed to start sub task after {} attempts: {last}",
            self.config.start_attempts.max(1)
        );
        match self.store.fail_subtask(st.id, st.execute_times, &msg).await {
            Ok(()) | Err(TaskError::NoRowAffected(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Runs one attempt to its end, racing it against cancel and timeout.
    async fn attempt(
        &self,
        st: &SubTaskInstance,
        run: &mut TaskRun,
        is_continue: bool,
    ) -> TaskResult {
        if is_continue && !st.caps.can_continue {
            return Err(TaskFailure::new(
                "task unexpectedly interrupted and cannot continue",
            ));
        }
        let kind = self.registry.get(&st.struct_name)?;
        let timeout = run.ctx.timeout_secs();
        let token: CancellationToken = run.token.clone();
        if is_continue {
            tracing::info!(
                sub_task = st.id,
                "resuming interrupted sub task in continue mode"
            );
        }
        let interrupt = {
            let work = async {
                if st.operator == Operator::Rollback {
                    kind.rollback(run).await
                } else {
                    kind.execute(run).await
                }
            };
            let work = AssertUnwindSafe(work).catch_unwind();
            tokio::select! {
                r = work => match r {
                    Ok(r) => return r,
                    Err(p) => return Err(TaskFailure::new(format!("task {} panic: {}", st.id, panic_text(&p)))),
                },
                _ = token.cancelled() => Interrupt::Cancelled,
                _ = tokio::time::sleep(Duration::from_secs(timeout)) => Interrupt::TimedOut(timeout),
            }
        };
        match interrupt {
            Interrupt::Cancelled => {
                if !self.shutdown.is_cancelled() {
                    let clean =
                        tokio::time::timeout(Duration::from_secs(timeout), kind.cancel(run));
                    let _ = clean.await;
                }
                Err(TaskFailure::new("sub task cancelled"))
            }
            Interrupt::TimedOut(secs) => {
                token.cancel();
                Err(TaskFailure::new(format!(
                    "task {} timeout after {secs} s",
                    st.id
                )))
            }
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
