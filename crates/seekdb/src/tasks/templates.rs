//! The lifecycle DAGs as (template, context) pairs ready for `Engine::create_dag`, with the
//! checks upstream makes before creating them (spec §3.3, task-engine §12):
//!
//! | DAG | lock | nodes |
//! |---|---|---|
//! | Deploy seekdb | global | Check dirs and ports -> Initialize and start seekdb -> Wait for seekdb to accept SQL -> Set root password -> Take over seekdb |
//! | Start seekdb | global, failure releases | Start seekdb |
//! | Stop seekdb | global, failure releases | [Minor freeze before stop server] -> Stop seekdb |
//! | Restart seekdb | global, failure releases | [Minor freeze before stop server] -> [Stop seekdb] -> Start seekdb |
//! | Start local seekdb | none | Start seekdb |
//! | Stop local seekdb | none | Stop seekdb |
//! | Take over seekdb | global, failure releases | [Start seekdb] -> Take over seekdb |
//!
//! Stop, restart and the emergency stop carry the pid seen at creation (param `pid`): upstream's
//! emergency stop had none and always failed. Failure releases the lock on the lifecycle DAGs
//! (upstream does so for start and restart; we also do for stop) so a failed operation never
//! wedges the agent; a failed *deploy* keeps it, because a half-made instance must be retried
//! or rolled back before anything else touches it.

use std::path::Path;
use std::sync::Arc;

use task::context::PARAM_FAILURE_EXIT_MAINTENANCE;
use task::{NodeSpec, TaskContext, Template};

use crate::error::{Result, SeekdbError};
use crate::layout::Layout;
use crate::meta::stored_config;
use crate::process::pid::{find_pid, systemd_unit};
use crate::sql::{ob_state, ConnParams, ObState};
use crate::tasks::deploy::check::CheckSeekdbDeployTask;
use crate::tasks::deploy::init::InitSeekdbTask;
use crate::tasks::deploy::root_password::SetSeekdbRootPasswordTask;
use crate::tasks::deploy::take_over::TakeOverSeekdbTask;
use crate::tasks::deploy::wait::WaitSeekdbReadyTask;
use crate::tasks::deploy::DeployOptions;
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::minor_freeze::MinorFreezeTask;
use crate::tasks::names::*;
use crate::tasks::start::StartObserverTask;
use crate::tasks::stop::StopObserverTask;

/// A DAG to create: pass both to `Engine::create_dag`.
#[derive(Clone)]
pub struct Plan {
    pub template: Template,
    pub context: TaskContext,
}

impl Plan {
    /// The node names, in order.
    pub fn node_names(&self) -> Vec<String> {
        self.template.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// Builds lifecycle plans. Holds the agent hooks for the checks that need a login (terminate
/// requires an available instance). The kinds inside a template only name their struct; the
/// kinds registered with the engine are the ones that run.
#[derive(Clone)]
pub struct Planner {
    hooks: Arc<dyn SeekdbHooks>,
}

impl Planner {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> Planner {
        Planner { hooks }
    }

    fn node_start(&self) -> NodeSpec {
        NodeSpec::new(Arc::new(StartObserverTask::new(self.hooks.clone())))
    }

    fn node_stop(&self) -> NodeSpec {
        NodeSpec::new(Arc::new(StopObserverTask))
    }

    fn node_freeze(&self) -> NodeSpec {
        NodeSpec::new(Arc::new(MinorFreezeTask::new(self.hooks.clone())))
    }

    /// "Deploy seekdb". The root password must already be stored where the hooks find it.
    pub fn deploy(&self, opts: &DeployOptions) -> Result<Plan> {
        opts.validate()?;
        let layout = Layout::new(&opts.base_dir)?;
        if layout.is_initialized() {
            return Err(SeekdbError::DeployCheck(format!(
                "{} already holds an initialized seekdb",
                layout.base().display()
            )));
        }
        let h = self.hooks.clone();
        let template = Template::new(DAG_DEPLOY)
            .global_maintenance()
            .node(NodeSpec::new(Arc::new(CheckSeekdbDeployTask)))
            .node(NodeSpec::new(Arc::new(InitSeekdbTask)))
            .node(NodeSpec::new(Arc::new(WaitSeekdbReadyTask::new(h.clone()))))
            .node(NodeSpec::new(Arc::new(SetSeekdbRootPasswordTask::new(
                h.clone(),
            ))))
            .node(NodeSpec::new(Arc::new(TakeOverSeekdbTask::new(h))));
        let mut ctx = TaskContext::new();
        ctx.set_param(param::BASE_DIR, layout.base().display().to_string());
        ctx.set_param(param::DEPLOY, opts);
        Ok(Plan {
            template,
            context: ctx,
        })
    }

    /// "Take over seekdb" (global lock, released on failure, spec §3.2): an instance that was
    /// initialized outside the agent; [Start seekdb] when it is not running, then [Take over
    /// seekdb], which reads the ports and dirs from its meta.db, logs in as root with the
    /// password the hooks hold and hands the facts to the agent. Refused when the instance was
    /// never initialized.
    pub fn takeover(&self, base_dir: &Path) -> Result<Plan> {
        let layout = Layout::new(base_dir)?;
        layout.require_initialized()?;
        let mut template = Template::new(DAG_TAKE_OVER).global_maintenance();
        if find_pid(&layout).is_none() {
            template = template.node(self.node_start());
        }
        template = template.node(NodeSpec::new(Arc::new(TakeOverSeekdbTask::new(
            self.hooks.clone(),
        ))));
        Ok(Plan {
            template,
            context: base_ctx(&layout, true),
        })
    }

    /// "Start seekdb" (global lock, released on failure). Refused when the instance was
    /// never initialized.
    pub fn start(&self, base_dir: &Path) -> Result<Plan> {
        self.start_plan(base_dir, false)
    }

    /// The emergency "Start local seekdb" (no lock), for an agent that is not managing the
    /// instance yet.
    pub fn start_local(&self, base_dir: &Path) -> Result<Plan> {
        self.start_plan(base_dir, true)
    }

    fn start_plan(&self, base_dir: &Path, local: bool) -> Result<Plan> {
        let layout = Layout::new(base_dir)?;
        layout.require_initialized()?;
        let template = if local {
            Template::new(DAG_START_LOCAL)
        } else {
            Template::new(DAG_START).global_maintenance()
        }
        .node(self.node_start());
        Ok(Plan {
            template,
            context: base_ctx(&layout, !local),
        })
    }

    /// "Stop seekdb" (global lock, released on failure); `None` when the instance is not
    /// running (upstream answers "no content"). `terminate` adds the minor freeze and requires
    /// an available instance.
    pub async fn stop(&self, base_dir: &Path, terminate: bool) -> Result<Option<Plan>> {
        self.stop_plan(base_dir, terminate, false).await
    }

    /// The emergency "Stop local seekdb" (no lock); `None` when not running.
    pub async fn stop_local(&self, base_dir: &Path) -> Result<Option<Plan>> {
        self.stop_plan(base_dir, false, true).await
    }

    async fn stop_plan(
        &self,
        base_dir: &Path,
        terminate: bool,
        local: bool,
    ) -> Result<Option<Plan>> {
        let layout = Layout::new(base_dir)?;
        let Some(pid) = find_pid(&layout) else {
            return Ok(None);
        };
        self.stop_checks(&layout, pid, terminate).await?;
        let mut template = if local {
            Template::new(DAG_STOP_LOCAL)
        } else {
            Template::new(DAG_STOP).global_maintenance()
        };
        if terminate {
            template = template.node(self.node_freeze());
        }
        template = template.node(self.node_stop());
        let mut ctx = base_ctx(&layout, !local);
        ctx.set_param(param::PID, pid);
        ctx.set_param(param::TERMINATE, terminate);
        Ok(Some(Plan {
            template,
            context: ctx,
        }))
    }

    /// "Restart seekdb": the stop part only when it is running.
    pub async fn restart(&self, base_dir: &Path, terminate: bool) -> Result<Plan> {
        let layout = Layout::new(base_dir)?;
        layout.require_initialized()?;
        let mut template = Template::new(DAG_RESTART).global_maintenance();
        let mut ctx = base_ctx(&layout, true);
        if let Some(pid) = find_pid(&layout) {
            self.stop_checks(&layout, pid, terminate).await?;
            if terminate {
                template = template.node(self.node_freeze());
            }
            template = template.node(self.node_stop());
            ctx.set_param(param::PID, pid);
            ctx.set_param(param::TERMINATE, terminate);
        }
        template = template.node(self.node_start());
        Ok(Plan {
            template,
            context: ctx,
        })
    }

    async fn stop_checks(&self, layout: &Layout, pid: i32, terminate: bool) -> Result<()> {
        if let Some(unit) = systemd_unit(pid) {
            return Err(SeekdbError::ManagedBySystemd { pid, unit });
        }
        if terminate {
            let c = stored_config(layout).await?;
            let params = ConnParams::root(c.mysql_port)
                .host(c.sql_host())
                .password(self.hooks.root_password(layout.base()).await?);
            let state = ob_state(&params, Some(layout)).await;
            if state != ObState::Available {
                return Err(SeekdbError::Conflict(format!(
                    "terminate needs an available seekdb (obState 3) for its minor freeze; it is {} ({})",
                    state.as_i64(),
                    state.describe()
                )));
            }
        }
        Ok(())
    }
}

fn base_ctx(layout: &Layout, failure_exit_maintenance: bool) -> TaskContext {
    let mut ctx = TaskContext::new();
    ctx.set_param(param::BASE_DIR, layout.base().display().to_string());
    if failure_exit_maintenance {
        ctx.set_param(PARAM_FAILURE_EXIT_MAINTENANCE, true);
    }
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::hooks::MemoryHooks;

    fn planner() -> Planner {
        Planner::new(Arc::new(MemoryHooks::new()))
    }

    #[tokio::test]
    async fn plans_refuse_what_upstream_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let p = planner();
        let e = p.start(dir.path()).err().map(|e| e.err_code());
        assert_eq!(e, Some("Seekdb.NotInitialized"));
        assert_eq!(
            p.takeover(dir.path()).err().map(|e| e.err_code()),
            Some("Seekdb.NotInitialized")
        );
        assert_eq!(
            p.restart(dir.path(), false)
                .await
                .err()
                .map(|e| e.err_code()),
            Some("Seekdb.NotInitialized")
        );
        // not running: no stop DAG at all
        assert!(p.stop(dir.path(), true).await.unwrap().is_none());
        assert!(p.stop_local(dir.path()).await.unwrap().is_none());
        let mut bad = DeployOptions::new("relative/dir", 3000, 3001);
        assert_eq!(
            p.deploy(&bad).err().map(|e| e.err_code()),
            Some("Common.BadRequest")
        );
        bad.base_dir = dir.path().join("x");
        bad.init.rpc_port = 3000;
        assert_eq!(
            p.deploy(&bad).err().map(|e| e.err_code()),
            Some("Common.BadRequest")
        );
    }

    #[test]
    fn takeover_plan_shape() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("store/sstable")).unwrap();
        std::fs::write(dir.path().join("store/sstable/meta.db"), b"").unwrap();
        let plan = planner().takeover(dir.path()).unwrap();
        assert_eq!(plan.template.name, DAG_TAKE_OVER);
        assert!(plan.template.maintenance.kind.is_maintenance());
        // not running: started first
        assert_eq!(plan.node_names(), vec![NODE_START, NODE_TAKE_OVER]);
        // a failed take-over (wrong password) must not wedge the agent
        assert!(plan.context.has_failure_exit_maintenance());
        assert!(!plan.context.encode().to_lowercase().contains("password"));
    }

    #[test]
    fn deploy_plan_shape() {
        let dir = tempfile::tempdir().unwrap();
        let plan = planner()
            .deploy(&DeployOptions::new(dir.path().join("sdb"), 3000, 3001))
            .unwrap();
        assert_eq!(plan.template.name, DAG_DEPLOY);
        assert!(plan.template.maintenance.kind.is_maintenance());
        assert_eq!(
            plan.node_names(),
            vec![
                NODE_CHECK_DEPLOY,
                NODE_INIT,
                NODE_WAIT_READY,
                NODE_SET_ROOT_PASSWORD,
                NODE_TAKE_OVER
            ]
        );
        // a failed deploy keeps the lock; the root password never enters the context
        assert!(!plan.context.has_failure_exit_maintenance());
        assert!(!plan.context.encode().to_lowercase().contains("password"));
    }
}
