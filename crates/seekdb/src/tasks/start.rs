//! `StartObserverTask` ("Start seekdb"): starts an initialized instance with
//! `<base>/run/seekdb --base-dir <base>` and waits until root can log in (spec §3.3).
//!
//! Already running: the launch is skipped, but the readiness wait still runs, so the node only
//! succeeds on a usable instance (and a re-run after an agent crash mid-start finishes the
//! job). The pid it launched goes into the context at once, so rollback — "kill what this start
//! started" — knows it even when the wait failed; upstream's rollback had no pid (spec §3.3).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::locate::is_executable;
use crate::process::pid::find_pid;
use crate::process::ready::{wait_ready, Progress, ProgressSink, ReadyOptions};
use crate::process::start::{start_existing, Launched};
use crate::process::stop::{kill_now, Stopped};
use crate::sql::ConnParams;
use crate::tasks::common::{
    layout, param_u64, root_params, timings_additional_data, Attempt, Timer,
};
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::names::{data, param, NODE_START, STRUCT_START};

/// Default readiness bound (seconds).
pub const DEFAULT_READY_TIMEOUT_SECS: u64 = 300;

pub struct StartObserverTask {
    hooks: Arc<dyn SeekdbHooks>,
}

impl StartObserverTask {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> StartObserverTask {
        StartObserverTask { hooks }
    }

    async fn run_start(
        &self,
        run: &mut TaskRun,
        layout: &Layout,
        t: &mut Timer,
    ) -> Result<(), SeekdbError> {
        layout.require_initialized()?;
        let launched = match find_pid(layout) {
            Some(pid) => {
                run.info(format!(
                    "seekdb is already running (pid {pid}); start skipped"
                ))
                .await;
                run.set_data(data::STARTED_BY_TASK, false);
                None
            }
            None => {
                let exe = layout.executable();
                if !is_executable(&exe) {
                    return Err(SeekdbError::StartFailed {
                        dir: layout.base().to_path_buf(),
                        reason: format!(
                            "{} is missing or not executable (it must point at the seekdb binary)",
                            exe.display()
                        ),
                        lines: Vec::new(),
                    });
                }
                run.info(format!(
                    "starting {} --base-dir {}",
                    exe.display(),
                    layout.base().display()
                ))
                .await;
                let t0 = Instant::now();
                let launched = start_existing(&exe, layout).await?;
                t.seekdb(t0.elapsed());
                run.set_data(data::STARTED_PID, launched.pid);
                run.set_data(data::STARTED_BY_TASK, true);
                run.info(format!("seekdb launched (pid {})", launched.pid))
                    .await;
                Some(launched)
            }
        };
        let params = root_params(run, layout, self.hooks.as_ref()).await?;
        let timeout = param_u64(run, param::READY_TIMEOUT, DEFAULT_READY_TIMEOUT_SECS);
        let took = wait_logged(run, layout, &params, launched, timeout).await?;
        t.seekdb(took);
        Ok(())
    }
}

/// Waits for readiness, writing progress to the task log; returns the wait's duration.
pub(crate) async fn wait_logged(
    run: &TaskRun,
    layout: &Layout,
    params: &ConnParams,
    launched: Option<Launched>,
    timeout_secs: u64,
) -> Result<Duration, SeekdbError> {
    let opts = ReadyOptions {
        timeout: Duration::from_secs(timeout_secs),
        ..ReadyOptions::default()
    };
    let took = wait_ready(layout, params, launched, opts, &TaskLogSink(run)).await?;
    run.info(format!(
        "seekdb accepts SQL on {} after {:.1} s",
        params.addr(),
        took.as_secs_f64()
    ))
    .await;
    Ok(took)
}

/// Progress reports into the task log.
struct TaskLogSink<'a>(&'a TaskRun);

#[async_trait]
impl ProgressSink for TaskLogSink<'_> {
    async fn progress(&self, p: &Progress) {
        self.0.info(p.to_string()).await;
    }
}

/// Rollback of a start: kill the process this task launched, if it still runs.
pub(crate) async fn kill_started(run: &TaskRun, layout: &Layout) -> TaskResult {
    let ours = run.get_data::<bool>(data::STARTED_BY_TASK).unwrap_or(false);
    let pid = run.get_data::<i32>(data::STARTED_PID).ok();
    match (ours, pid) {
        (true, Some(pid)) => match kill_now(layout, pid).await {
            Ok(Stopped::NotRunning) => {
                run.info(format!("seekdb pid {pid} is not running; nothing to undo"))
                    .await;
                Ok(())
            }
            Ok(_) => {
                run.info(format!("killed seekdb pid {pid} started by this task"))
                    .await;
                Ok(())
            }
            Err(e) => Err(TaskFailure::new(format!("[{}]: {e}", e.err_code()))),
        },
        _ => {
            run.info("this task started no seekdb process; nothing to undo")
                .await;
            Ok(())
        }
    }
}

#[async_trait]
impl TaskKind for StartObserverTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_START
    }

    fn name(&self) -> &str {
        NODE_START
    }

    /// All: starting is idempotent (a running instance is only waited for), cancel drops the
    /// wait (rollback then kills what was launched), and rollback kills only its own launch.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let mut a = Attempt::begin(layout(run)?);
        let r = self.run_start(run, &a.layout, &mut a.timer).await;
        a.end(run, STRUCT_START, r).await
    }

    async fn rollback(&self, run: &mut TaskRun) -> TaskResult {
        let layout = layout(run)?;
        kill_started(run, &layout).await
    }

    /// A cancelled start must not leave a half-started seekdb behind, and the attempt's
    /// context (with the pid) is not saved on cancel, so the kill happens here.
    async fn cancel(&self, run: &mut TaskRun) {
        if let Ok(layout) = layout(run) {
            let _ = kill_started(run, &layout).await;
        }
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_START)
    }
}
