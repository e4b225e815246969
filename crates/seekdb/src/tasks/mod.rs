//! The seekdb task kinds and the lifecycle DAGs built from them (spec §3.3, task-engine §12).
//!
//! Kinds are registered under upstream's struct names where upstream has the kind
//! (`StartObserverTask`, `StopObserverTask`, `MinorFreezeTask`), so rows written by obshell
//! load here; the deploy kinds are ours. Each kind documents its capability flags. Every
//! failure writes seekdb's own ERROR/EDIAG lines into the task log before its one-line reason.

pub mod common;
pub mod deploy;
pub mod hooks;
pub mod minor_freeze;
pub mod names;
pub mod start;
pub mod stop;
pub mod templates;

use std::sync::Arc;

pub use deploy::take_over::takeover_facts;
pub use deploy::DeployOptions;
pub use hooks::{default_hooks, MemoryHooks, SeekdbHooks, TakeoverFacts};
pub use templates::{Plan, Planner};

use deploy::check::CheckSeekdbDeployTask;
use deploy::init::InitSeekdbTask;
use deploy::root_password::SetSeekdbRootPasswordTask;
use deploy::take_over::TakeOverSeekdbTask;
use deploy::wait::WaitSeekdbReadyTask;
use minor_freeze::MinorFreezeTask;
use start::StartObserverTask;
use stop::StopObserverTask;

/// Registers every seekdb kind with the process-wide [`default_hooks`] (in-memory root
/// passwords and take-overs). An agent that keeps passwords elsewhere uses [`register_with`].
pub fn register(registry: &mut task::Registry) {
    register_with(registry, default_hooks());
}

/// Registers every seekdb kind with the agent's hooks.
pub fn register_with(registry: &mut task::Registry, hooks: Arc<dyn SeekdbHooks>) {
    registry
        .register(Arc::new(StartObserverTask::new(hooks.clone())))
        .register(Arc::new(StopObserverTask))
        .register(Arc::new(MinorFreezeTask::new(hooks.clone())))
        .register(Arc::new(CheckSeekdbDeployTask))
        .register(Arc::new(InitSeekdbTask))
        .register(Arc::new(WaitSeekdbReadyTask::new(hooks.clone())))
        .register(Arc::new(SetSeekdbRootPasswordTask::new(hooks.clone())))
        .register(Arc::new(TakeOverSeekdbTask::new(hooks)));
}

#[cfg(test)]
mod tests {
    use super::names::*;

    #[test]
    fn every_kind_is_registered() {
        let mut r = task::Registry::new();
        super::register(&mut r);
        for s in [
            STRUCT_START,
            STRUCT_STOP,
            STRUCT_MINOR_FREEZE,
            STRUCT_CHECK_DEPLOY,
            STRUCT_INIT,
            STRUCT_WAIT_READY,
            STRUCT_SET_ROOT_PASSWORD,
            STRUCT_TAKE_OVER,
        ] {
            assert!(r.contains(s), "{s}");
        }
    }
}
