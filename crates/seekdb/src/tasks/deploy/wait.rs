//! `WaitSeekdbReadyTask` ("Wait for seekdb to accept SQL"): a first start takes up to a
//! minute here; this node makes that wait visible (seekdb's `[server_start i/14]` stages in
//! the task log) and bounded, and fails at once, with seekdb's error lines, if the process dies.
//!
//! A fresh instance has root without a password. When that login is refused the password was
//! already set (a re-run after the next node ran), so the agent's password is tried.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::process::start::Launched;
use crate::sql::ConnParams;
use crate::tasks::common::{param_u64, report, timings_additional_data, Timer};
use crate::tasks::deploy::options;
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::names::{data, param, NODE_WAIT_READY, STRUCT_WAIT_READY};
use crate::tasks::start::{wait_logged, DEFAULT_READY_TIMEOUT_SECS};

pub struct WaitSeekdbReadyTask {
    hooks: Arc<dyn SeekdbHooks>,
}

impl WaitSeekdbReadyTask {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> WaitSeekdbReadyTask {
        WaitSeekdbReadyTask { hooks }
    }
}

#[async_trait]
impl TaskKind for WaitSeekdbReadyTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_WAIT_READY
    }

    fn name(&self) -> &str {
        NODE_WAIT_READY
    }

    /// All: waiting changes nothing.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let opts = options(run)?;
        let layout = Layout::new(&opts.base_dir).map_err(|e| TaskFailure::new(e.to_string()))?;
        let log_offset = run.get_data::<u64>(data::LOG_OFFSET).unwrap_or(0);
        let launched = run
            .get_data::<i32>(data::STARTED_PID)
            .ok()
            .map(|pid| Launched { pid, log_offset });
        let timeout = param_u64(run, param::READY_TIMEOUT, DEFAULT_READY_TIMEOUT_SECS);
        let mut t = Timer::start();
        let fresh = ConnParams::root(opts.init.port);
        let r = match wait_logged(run, &layout, &fresh, launched, timeout).await {
            Err(SeekdbError::AccessDenied { .. }) => {
                run.info("root has a password already; trying the agent's")
                    .await;
                match self.hooks.root_password(layout.base()).await {
                    Ok(pw) => {
                        wait_logged(run, &layout, &fresh.password(pw), launched, timeout).await
                    }
                    Err(e) => Err(e),
                }
            }
            r => r,
        };
        if let Ok(d) = &r {
            t.seekdb(*d);
        }
        t.record(run, STRUCT_WAIT_READY);
        match r {
            Ok(_) => Ok(()),
            Err(e) => Err(report(run, &layout, log_offset, e).await),
        }
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_WAIT_READY)
    }
}
