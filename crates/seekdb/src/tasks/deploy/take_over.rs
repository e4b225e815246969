//! `TakeOverSeekdbTask` ("Take over seekdb"): reads what the agent must record about the new
//! instance (upstream's take-over, spec §3.2 step 4: ports, dirs, creation time, version, OS
//! user) and hands it to the agent through [`SeekdbHooks::take_over`]. The facts also go into
//! the context (`Data.takeover`) so the DAG shows what was recorded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::meta::stored_config;
use crate::process::pid::{find_pid, process_user};
use crate::sql::{Client, ConnParams};
use crate::tasks::common::{layout, report, timings_additional_data, Timer};
use crate::tasks::deploy::options;
use crate::tasks::hooks::{SeekdbHooks, TakeoverFacts};
use crate::tasks::names::{data, param, NODE_TAKE_OVER, STRUCT_TAKE_OVER};

pub struct TakeOverSeekdbTask {
    hooks: Arc<dyn SeekdbHooks>,
}

impl TakeOverSeekdbTask {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> TakeOverSeekdbTask {
        TakeOverSeekdbTask { hooks }
    }

    async fn take_over(
        &self,
        layout: &Layout,
        port: Option<u16>,
    ) -> Result<TakeoverFacts, SeekdbError> {
        let password = self.hooks.root_password(layout.base()).await?;
        let params = match port {
            Some(port) => ConnParams::root(port),
            // a take-over of an existing instance: where it listens is in its meta.db
            None => {
                let c = stored_config(layout).await?;
                ConnParams::root(c.mysql_port).host(c.sql_host())
            }
        };
        if port.is_none() {
            check_uid(layout)?;
        }
        let facts = takeover_facts(layout, &params.password(password)).await?;
        self.hooks.take_over(&facts).await?;
        Ok(facts)
    }
}

/// Spec §3.2 step 2: the agent's uid must be root or the uid running seekdb.
fn check_uid(layout: &Layout) -> Result<(), SeekdbError> {
    use std::os::unix::fs::MetadataExt;
    let Some(pid) = find_pid(layout) else {
        return Err(SeekdbError::NotRunning(layout.base().to_path_buf()));
    };
    let me = nix::unistd::geteuid().as_raw();
    match std::fs::metadata(format!("/proc/{pid}")).map(|m| m.uid()) {
        Ok(uid) if me != 0 && uid != me => Err(SeekdbError::Conflict(format!(
            "seekdb pid {pid} runs as uid {uid}; the agent (uid {me}) must run as root or as that user"
        ))),
        _ => Ok(()),
    }
}

/// Gathers what a take-over records about the running instance of `layout`, logging in with
/// `params`. Public for the agent's own take-over at startup (spec §3.2, UNIDENTIFIED start).
pub async fn takeover_facts(
    layout: &Layout,
    params: &ConnParams,
) -> Result<TakeoverFacts, SeekdbError> {
    let pid =
        find_pid(layout).ok_or_else(|| SeekdbError::NotRunning(layout.base().to_path_buf()))?;
    let client = Client::new(params.clone());
    let info = client.server_info().await;
    client.close().await;
    let info = info?;
    let abs = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            layout.base().join(p)
        }
    };
    Ok(TakeoverFacts {
        base_dir: layout.base().to_path_buf(),
        mysql_port: u16::try_from(info.sql_port).unwrap_or(params.port),
        rpc_port: u16::try_from(info.rpc_port).unwrap_or(0),
        data_dir: abs(&info.data_dir),
        redo_dir: abs(&info.redo_dir),
        created_time: info.create_time,
        ob_version: info.full_version,
        user: process_user(pid).unwrap_or_default(),
        pid,
        executable: layout.executable(),
    })
}

#[async_trait]
impl TaskKind for TakeOverSeekdbTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_TAKE_OVER
    }

    fn name(&self) -> &str {
        NODE_TAKE_OVER
    }

    /// All: recording is idempotent (the hook must accept a repeat) and undoing it is the
    /// agent's business, not seekdb's.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        // in a deploy the options name the instance and its port; in "Take over seekdb" the
        // base dir is a param and the rest comes from the instance's meta.db
        let (layout, port) = if run.get_param::<Value>(param::DEPLOY).is_ok() {
            let opts = options(run)?;
            let layout =
                Layout::new(&opts.base_dir).map_err(|e| TaskFailure::new(e.to_string()))?;
            (layout, Some(opts.init.port))
        } else {
            (layout(run)?, None)
        };
        let offset = crate::process::errlog::log_len(layout.base());
        let mut t = Timer::start();
        let t0 = Instant::now();
        let r = self.take_over(&layout, port).await;
        t.seekdb(t0.elapsed());
        t.record(run, STRUCT_TAKE_OVER);
        match r {
            Ok(facts) => {
                run.info(format!(
                    "took over seekdb in {} (pid {}, sql port {}, rpc port {}, {}, user {})",
                    facts.base_dir.display(),
                    facts.pid,
                    facts.mysql_port,
                    facts.rpc_port,
                    facts.ob_version,
                    facts.user
                ))
                .await;
                run.set_data(data::TAKEOVER, &facts);
                Ok(())
            }
            Err(e) => Err(report(run, &layout, offset, e).await),
        }
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_TAKE_OVER)
    }
}
