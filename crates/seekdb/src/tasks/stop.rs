//! `StopObserverTask` ("Stop seekdb"): SIGTERM, SIGKILL after a grace period, verified gone.
//!
//! The pid is captured when the DAG is created (param `pid`, spec §3.3): if another pid runs
//! there by the time the node executes, somebody restarted seekdb meanwhile and this stop is a
//! no-op rather than a kill of a process nobody asked to stop. Not running is success. A pid
//! that systemd supervises is refused: systemd would restart it.

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::time::Duration;
use task::{Capabilities, TaskContext, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::process::pid::{find_pid, systemd_unit};
use crate::process::stop::{stop, Stopped};
use crate::tasks::common::{layout, param_u64, timings_additional_data, Attempt, Timer};
use crate::tasks::names::{param, NODE_STOP, STRUCT_STOP};

/// Default SIGTERM grace (seconds).
pub const DEFAULT_STOP_GRACE_SECS: u64 = 60;

#[derive(Default)]
pub struct StopObserverTask;

impl StopObserverTask {
    async fn run_stop(
        &self,
        run: &mut TaskRun,
        layout: &Layout,
        t: &mut Timer,
    ) -> Result<(), SeekdbError> {
        let Some(current) = find_pid(layout) else {
            run.info(format!(
                "seekdb of {} is not running; nothing to stop",
                layout.base().display()
            ))
            .await;
            return Ok(());
        };
        let pid = match run.get_param::<i32>(param::PID) {
            Ok(p) if p != current => {
                run.info(format!(
                    "seekdb pid changed from {p} to {current} since this task was created; not stopping the new process"
                ))
                .await;
                return Ok(());
            }
            Ok(p) => p,
            Err(_) => {
                run.warn(format!(
                    "no pid given; stopping the running seekdb (pid {current})"
                ))
                .await;
                current
            }
        };
        if let Some(unit) = systemd_unit(pid) {
            return Err(SeekdbError::ManagedBySystemd { pid, unit });
        }
        let grace = Duration::from_secs(param_u64(run, param::STOP_GRACE, DEFAULT_STOP_GRACE_SECS));
        run.info(format!(
            "stopping seekdb pid {pid} (SIGTERM, SIGKILL after {} s)",
            grace.as_secs()
        ))
        .await;
        let outcome = stop(layout, pid, grace).await?;
        match outcome {
            Stopped::NotRunning => run.info(format!("seekdb pid {pid} was already gone")).await,
            Stopped::Terminated { after } => {
                t.seekdb(after);
                run.info(format!(
                    "seekdb pid {pid} exited after {:.1} s",
                    after.as_secs_f64()
                ))
                .await
            }
            Stopped::Killed { after } => {
                t.seekdb(after);
                run.warn(format!(
                    "seekdb pid {pid} ignored SIGTERM and was killed ({:.1} s)",
                    after.as_secs_f64()
                ))
                .await
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TaskKind for StopObserverTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_STOP
    }

    fn name(&self) -> &str {
        NODE_STOP
    }

    /// All: stopping is idempotent (not running is success) and rollback has nothing to undo
    /// (a stopped instance is started by a start, not by undoing a stop).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let mut a = Attempt::begin(layout(run)?);
        let r = self.run_stop(run, &a.layout, &mut a.timer).await;
        a.end(run, STRUCT_STOP, r).await
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_STOP)
    }
}
