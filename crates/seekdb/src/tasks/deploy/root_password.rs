//! `SetSeekdbRootPasswordTask` ("Set root password"): gives root the password the agent holds
//! for this instance (the deploy request's, stored by the agent before the DAG was created;
//! it never travels through the task context, which is persisted in plain text).
//!
//! Idempotent: when the empty-password login is refused, the password is already set, and a
//! login with it proves that.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::sql::{ping, Client, ConnParams};
use crate::tasks::common::{timings_additional_data, Attempt};
use crate::tasks::deploy::options;
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::names::{NODE_SET_ROOT_PASSWORD, STRUCT_SET_ROOT_PASSWORD};

pub struct SetSeekdbRootPasswordTask {
    hooks: Arc<dyn SeekdbHooks>,
}

impl SetSeekdbRootPasswordTask {
    pub fn new(hooks: Arc<dyn SeekdbHooks>) -> SetSeekdbRootPasswordTask {
        SetSeekdbRootPasswordTask { hooks }
    }

    async fn set(&self, run: &TaskRun, layout: &Layout, port: u16) -> Result<(), SeekdbError> {
        let wanted = self.hooks.root_password(layout.base()).await?;
        if wanted.is_empty() {
            run.warn("no root password was given: root keeps an empty password")
                .await;
            return Ok(());
        }
        let fresh = ConnParams::root(port);
        match ping(&fresh).await {
            Ok(()) => {
                let client = Client::new(fresh);
                let r = client.set_root_password(&wanted).await;
                client.close().await;
                r?;
                ping(&ConnParams::root(port).password(wanted)).await?;
                run.info("root password set and verified").await;
                Ok(())
            }
            Err(SeekdbError::AccessDenied { .. }) => {
                ping(&ConnParams::root(port).password(wanted)).await?;
                run.info("root password was already set").await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl TaskKind for SetSeekdbRootPasswordTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_SET_ROOT_PASSWORD
    }

    fn name(&self) -> &str {
        NODE_SET_ROOT_PASSWORD
    }

    /// Cancel, continue, retry, rollback (nothing to undo: the deploy's rollback removes the
    /// instance). Not pass: an instance whose root password is not what the agent holds
    /// cannot be managed.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_pass: false,
            ..Capabilities::ALL
        }
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let opts = options(run)?;
        let layout = Layout::new(&opts.base_dir).map_err(|e| TaskFailure::new(e.to_string()))?;
        let mut a = Attempt::begin(layout);
        let t0 = Instant::now();
        let r = self.set(run, &a.layout, opts.init.port).await;
        a.timer.seekdb(t0.elapsed());
        a.end(run, STRUCT_SET_ROOT_PASSWORD, r).await
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_SET_ROOT_PASSWORD)
    }
}
