//! `ScriptedTask`: a task kind whose behaviour is set by node parameters. The engine demo, the
//! engine test suite, the crash test and the benchmarks build their DAGs from it. It does real
//! work (files, sleeps, child processes), so tests observe effects rather than trust the engine.
//!
//! Its settings live in the node-level param `script` (an object). Params fill gaps when
//! contexts merge (spec §2.2), so a node with its own `script` never inherits another node's.
//! Settings (all optional):
//! - `record`: file to append `"<exec|rollback> <name> times=<n> continue=<bool>"` to;
//! - `fail_unless`: fail execute with "precondition file ... missing" unless this file exists
//!   (`{agent}` in the path is replaced by the executing agent, `ip:port`);
//! - `rollback_fail_unless`: the same for rollback;
//! - `sleep_ms`: sleep (cancellable) before finishing;
//! - `command`: a shell command to run in its own process group (`sh -c`); non-zero fails;
//! - `log_output`: write the command's stdout lines to the task log;
//! - `set_data`: object merged into `Data` (flows to later nodes);
//! - `expect_data`: key that must be present in `Data` (proves the context flowed);
//! - `log`: a line written to the task log;
//! - `additional`: an object shown as the sub-task's `additional_data`.

use std::io::Write;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::context::TaskContext;
use crate::kind::{TaskFailure, TaskKind, TaskResult};
use crate::model::Capabilities;
use crate::run::TaskRun;

/// See the module documentation.
pub struct ScriptedTask;

impl ScriptedTask {
    pub const STRUCT_NAME: &'static str = "ScriptedTask";
}

/// A setting of this node's script.
fn setting<T: serde::de::DeserializeOwned>(run: &TaskRun, key: &str) -> Option<T> {
    let v = run.context().param("script")?.get(key)?;
    serde_json::from_value(v.clone()).ok()
}

fn record(run: &TaskRun, what: &str) -> TaskResult {
    if let Some(path) = setting::<String>(run, "record") {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        // one write(2) per line: `writeln!` on a File writes each formatted piece on its own,
        // and siblings appending at once interleaved pieces of their lines
        let line = format!(
            "{what} {} times={} continue={}\n",
            run.name(),
            run.execute_times(),
            run.is_continue()
        );
        f.write_all(line.as_bytes())?;
        f.sync_all()?;
    }
    Ok(())
}

fn require_file(run: &TaskRun, param: &str) -> TaskResult {
    if let Some(path) = setting::<String>(run, param) {
        let path = path.replace("{agent}", &run.execute_agent().to_string());
        if !std::path::Path::new(&path).exists() {
            return Err(TaskFailure::new(format!(
                "precondition file {path} missing"
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl TaskKind for ScriptedTask {
    fn struct_name(&self) -> &'static str {
        Self::STRUCT_NAME
    }

    fn name(&self) -> &str {
        "Scripted task"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        record(run, "exec")?;
        if let Some(line) = setting::<String>(run, "log") {
            run.info(line).await;
        }
        if let Some(key) = setting::<String>(run, "expect_data") {
            if run.context().data.get(&key).is_none() {
                return Err(TaskFailure::new(format!("data {key} did not flow here")));
            }
        }
        if let Some(ms) = setting::<u64>(run, "sleep_ms") {
            run.sleep(Duration::from_millis(ms)).await?;
        }
        if let Some(cmd) = setting::<String>(run, "command") {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(&cmd);
            let out = run.run_command(c).await?;
            if out.status.success() && setting::<bool>(run, "log_output").unwrap_or(false) {
                for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
                    run.info(line.trim()).await;
                }
            }
            if !out.status.success() {
                return Err(TaskFailure::new(format!(
                    "command `{cmd}` failed ({}): {}",
                    out.status,
                    out.stderr.trim()
                )));
            }
        }
        require_file(run, "fail_unless")?;
        if let Some(Value::Object(m)) = setting::<Value>(run, "set_data") {
            for (k, v) in m {
                run.set_data(&k, v);
            }
        }
        Ok(())
    }

    async fn rollback(&self, run: &mut TaskRun) -> TaskResult {
        record(run, "rollback")?;
        require_file(run, "rollback_fail_unless")
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        ctx.param("script")?
            .get("additional")
            .and_then(|v| v.as_object().cloned())
    }
}
