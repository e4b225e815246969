//! `MinorFreezeTask` ("Minor freeze before stop server"): before a terminating stop, dump
//! memtables so the next start replays less. `ALTER SYSTEM MINOR FREEZE`, then wait until the
//! lowest log-stream checkpoint SCN rises (spec §3.3: upstream polls every 10 s, 120 times; we
//! poll every second within the same bound).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::sql::Client;
use crate::tasks::common::{
    layout, param_u64, root_params, timings_additional_data, Attempt, Timer,
};
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::names::{param, NODE_MINOR_FREEZE, STRUCT_MINOR_FREEZE};

pub const DEFAULT_FREEZE_TIMEOUT_SECS: u64 = 1200;
const POLL: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(10);

pub struct MinorFreezeTask {
    hooks: Arc<dyn SeekdbHooks>,
}

impl MinorFreezeTask {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> MinorFreezeTask {
        MinorFreezeTask { hooks }
    }

    async fn freeze(
        &self,
        run: &mut TaskRun,
        layout: &Layout,
        t: &mut Timer,
    ) -> Result<(), SeekdbError> {
        let client = Client::new(root_params(run, layout, self.hooks.as_ref()).await?);
        let r = async {
            let t0 = Instant::now();
            let before = client.checkpoint_scn().await?;
            client.minor_freeze().await?;
            run.info(format!(
                "minor freeze issued; waiting for checkpoint scn to pass {before}"
            ))
            .await;
            let limit = Duration::from_secs(param_u64(
                run,
                param::FREEZE_TIMEOUT,
                DEFAULT_FREEZE_TIMEOUT_SECS,
            ));
            let mut last_report = Instant::now();
            loop {
                let now = client.checkpoint_scn().await?;
                if now > before {
                    run.info(format!(
                        "minor freeze done after {:.1} s (checkpoint scn {now})",
                        t0.elapsed().as_secs_f64()
                    ))
                    .await;
                    return Ok(t0.elapsed());
                }
                if t0.elapsed() >= limit {
                    return Err(SeekdbError::Unexpected(format!(
                        "minor freeze did not finish within {} s (checkpoint scn still {now})",
                        limit.as_secs()
                    )));
                }
                if last_report.elapsed() >= REPORT_EVERY {
                    run.info(format!(
                        "waiting for minor freeze: {} s",
                        t0.elapsed().as_secs()
                    ))
                    .await;
                    last_report = Instant::now();
                }
                tokio::time::sleep(POLL).await;
            }
        }
        .await;
        client.close().await;
        t.seekdb(r?);
        Ok(())
    }
}

#[async_trait]
impl TaskKind for MinorFreezeTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_MINOR_FREEZE
    }

    fn name(&self) -> &str {
        NODE_MINOR_FREEZE
    }

    /// All: a freeze is harmless to repeat and has nothing to undo.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let mut a = Attempt::begin(layout(run)?);
        let r = self.freeze(run, &a.layout, &mut a.timer).await;
        a.end(run, STRUCT_MINOR_FREEZE, r).await
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_MINOR_FREEZE)
    }
}
