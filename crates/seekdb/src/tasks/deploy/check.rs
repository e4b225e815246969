//! `CheckSeekdbDeployTask` ("Check dirs and ports"): refuses a deploy that would clobber data
//! or collide with another instance, before anything is created. Also finds the executable and
//! its version, so a missing seekdb fails here with the list of places searched.

use async_trait::async_trait;
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::locate::{locate, version};
use crate::tasks::common::{timings_additional_data, Timer};
use crate::tasks::deploy::options;
use crate::tasks::names::{data, NODE_CHECK_DEPLOY, STRUCT_CHECK_DEPLOY};

#[derive(Default)]
pub struct CheckSeekdbDeployTask;

/// A directory a deploy may use: absent, or an empty directory, and creatable/writable.
fn check_dir(p: &std::path::Path) -> Result<(), SeekdbError> {
    match std::fs::read_dir(p) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(SeekdbError::DeployCheck(format!(
                    "{} is not empty",
                    p.display()
                )));
            }
            writable(p)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // the nearest existing ancestor must be a writable directory
            let parent =
                p.ancestors().skip(1).find(|a| a.exists()).ok_or_else(|| {
                    SeekdbError::DeployCheck(format!("no parent of {}", p.display()))
                })?;
            if !parent.is_dir() {
                return Err(SeekdbError::DeployCheck(format!(
                    "{} is not a directory",
                    parent.display()
                )));
            }
            writable(parent)
        }
        Err(e) if p.exists() && !p.is_dir() => Err(SeekdbError::DeployCheck(format!(
            "{} exists and is not a directory ({e})",
            p.display()
        ))),
        Err(e) => Err(SeekdbError::DeployCheck(format!(
            "cannot read {}: {e}",
            p.display()
        ))),
    }
}

fn writable(p: &std::path::Path) -> Result<(), SeekdbError> {
    match nix::unistd::access(
        p,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    ) {
        Ok(()) => Ok(()),
        Err(e) => Err(SeekdbError::DeployCheck(format!(
            "{} is not writable: {e}",
            p.display()
        ))),
    }
}

/// Free when nothing listens on it, on any address.
fn check_port(port: u16, what: &str) -> Result<(), SeekdbError> {
    std::net::TcpListener::bind(("0.0.0.0", port))
        .map(drop)
        .map_err(|e| SeekdbError::DeployCheck(format!("{what} {port} is not available: {e}")))
}

#[async_trait]
impl TaskKind for CheckSeekdbDeployTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_CHECK_DEPLOY
    }

    fn name(&self) -> &str {
        NODE_CHECK_DEPLOY
    }

    /// All: a check changes nothing.
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let t = Timer::start();
        let r = self.check(run).await;
        t.record(run, STRUCT_CHECK_DEPLOY);
        r
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_CHECK_DEPLOY)
    }
}

impl CheckSeekdbDeployTask {
    async fn check(&self, run: &mut TaskRun) -> TaskResult {
        let fail = |e: SeekdbError| TaskFailure::new(format!("[{}]: {e}", e.err_code()));
        let opts = options(run)?;
        opts.validate().map_err(fail)?;
        for d in opts.dirs() {
            check_dir(&d).map_err(fail)?;
            run.info(format!("{} is usable", d.display())).await;
        }
        check_port(opts.init.port, "port").map_err(fail)?;
        check_port(opts.init.rpc_port, "rpc_port").map_err(fail)?;
        run.info(format!(
            "ports {} (sql) and {} (rpc) are free",
            opts.init.port, opts.init.rpc_port
        ))
        .await;
        let exe = locate(opts.executable.as_deref()).await.map_err(fail)?;
        let v = version(&exe).await.map_err(fail)?;
        run.info(format!(
            "using seekdb {} at {}",
            v.ob_version(),
            exe.display()
        ))
        .await;
        run.set_data(data::EXECUTABLE, exe.display().to_string());
        Ok(())
    }
}
