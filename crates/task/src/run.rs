//! [`TaskRun`]: what a task kind sees while it executes one attempt of a sub-task.
//!
//! Besides the context and logging it owns the attempt's cancellation token. Cancel and timeout
//! drop the kind's future; child processes started through [`TaskRun::run_command`] live in their
//! own process group, which is killed when the command's future is dropped or cancelled, so
//! cancelling a task really stops its work (upstream only stops at the next log call).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::context::TaskContext;
use crate::error::Result;
use crate::generic_id::AgentInfo;
use crate::kind::TaskFailure;
use crate::state::Operator;
use crate::store::Store;

pub struct TaskRun {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) execute_times: i64,
    pub(crate) is_continue: bool,
    pub(crate) operator: Operator,
    pub(crate) agent: AgentInfo,
    pub(crate) ctx: TaskContext,
    pub(crate) token: CancellationToken,
    pub(crate) store: Store,
}

impl TaskRun {
    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The attempt number (1 on the first run); stamped on every log line.
    pub fn execute_times(&self) -> i64 {
        self.execute_times
    }

    /// True when the agent restarted while this attempt was RUNNING and the kind declared
    /// `can_continue`: the attempt starts again from the beginning and should detect re-entry.
    pub fn is_continue(&self) -> bool {
        self.is_continue
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The agent this sub-task is assigned to (its `execute_agent`).
    pub fn execute_agent(&self) -> &AgentInfo {
        &self.agent
    }

    pub fn context(&self) -> &TaskContext {
        &self.ctx
    }

    pub fn context_mut(&mut self) -> &mut TaskContext {
        &mut self.ctx
    }

    pub fn get_param<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        self.ctx.get_param(key)
    }

    pub fn get_data<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        self.ctx.get_data(key)
    }

    pub fn set_data(&mut self, key: &str, value: impl Serialize) {
        self.ctx.set_data(key, value);
    }

    /// `AgentData[<own agent>][key]`.
    pub fn get_local_data<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        self.ctx.get_agent_data(&self.agent, key)
    }

    pub fn set_local_data(&mut self, key: &str, value: impl Serialize) {
        let agent = self.agent.clone();
        self.ctx.set_agent_data(&agent, key, value);
    }

    /// The token that fires when the sub-task is cancelled or times out.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.token
    }

    pub fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Writes a task log line (also to the agent log).
    pub async fn info(&self, msg: impl AsRef<str>) {
        self.log(msg.as_ref().to_string()).await;
    }

    pub async fn warn(&self, msg: impl AsRef<str>) {
        self.log(format!("WARN: {}", msg.as_ref())).await;
    }

    pub async fn error(&self, msg: impl AsRef<str>) {
        self.log(format!("ERROR: {}", msg.as_ref())).await;
    }

    async fn log(&self, text: String) {
        tracing::info!(task = self.id, name = %self.name, "task execute log: {text}");
        if let Err(e) = self
            .store
            .insert_log(self.id, self.execute_times, &text)
            .await
        {
            tracing::warn!(task = self.id, "failed to store task log: {e}");
        }
    }

    /// Sleeps, returning early with an error when the task is cancelled.
    pub async fn sleep(&self, d: Duration) -> std::result::Result<(), TaskFailure> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.token.cancelled() => Err(TaskFailure::new("sub task cancelled")),
        }
    }

    /// Runs a command in its own process group and waits for it. On cancel, timeout, or when
    /// this future is dropped, the whole group is killed with SIGKILL.
    pub async fn run_command(
        &self,
        mut cmd: Command,
    ) -> std::result::Result<CommandOutput, TaskFailure> {
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| TaskFailure::new(format!("failed to start command: {e}")))?;
        let mut guard = GroupGuard(child.id());
        let out = tokio::select! {
            r = child.wait_with_output() => r.map_err(|e| TaskFailure::new(format!("command failed: {e}")))?,
            _ = self.token.cancelled() => {
                return Err(TaskFailure::new("sub task cancelled"));
            }
        };
        // the command ended by itself: its group needs no killing
        guard.0 = None;
        Ok(CommandOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// The result of [`TaskRun::run_command`].
#[derive(Debug)]
pub struct CommandOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Kills a process group when dropped (a command's future was abandoned).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let pgid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}
