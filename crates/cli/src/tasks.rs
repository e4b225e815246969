//! `obshell task show|watch|retry|rollback|cancel|pass`: talk to the local agent over its unix
//! socket (no password), or to any agent over TCP with `--host/--port/--password`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use client::{Client, ClientError, Target};

use crate::follow::{follow, Followed};
use crate::task_view::{render, Format};

/// Exit codes of the task commands.
pub mod exit {
    /// The operator was refused, the DAG failed, or the confirmation was declined.
    pub const FAILED: u8 = 1;
    /// The agent could not be reached.
    pub const UNREACHABLE: u8 = 3;
    /// Ctrl-C without cancelling: the DAG keeps running.
    pub const DETACHED: u8 = 130;
}

/// Where the commands send their requests.
pub fn target(home: &Path, host: Option<&str>, port: u16, password: Option<String>) -> Target {
    match host {
        Some(h) => Target::Tcp {
            host: h.trim_matches(['[', ']']).to_string(),
            port,
            password,
        },
        None => Target::Unix(home.join("run").join("obshell.sock")),
    }
}

/// Prints a client error the way a DBA can act on it, and returns the exit code.
pub fn report(e: &ClientError) -> u8 {
    match e {
        ClientError::Connect { target, reason } => {
            eprintln!("[ERROR] cannot reach the agent at {target}: {reason}");
            eprintln!(
                "        is it running? start it with `obshell agent start --base-dir <home>`"
            );
            exit::UNREACHABLE
        }
        other => {
            eprintln!("[ERROR] {other}");
            exit::FAILED
        }
    }
}

/// `task show`: one DAG with `-i`, else every unfinished DAG.
pub async fn show(
    c: &Client,
    id: Option<&str>,
    detail: bool,
    format: Format,
) -> Result<u8, ClientError> {
    let dags = match id {
        Some(id) => vec![c.get_dag(id, detail).await?],
        None => c.unfinished_dags(detail).await?,
    };
    if dags.is_empty() && format != Format::Json {
        println!(
            "[INFO] No unfinished task found. If you want to show a specific task, please use '-i'"
        );
        return Ok(0);
    }
    print!("{}", render(&dags, detail, format, id.is_some()));
    Ok(0)
}

/// `task watch`: follows the DAG; the exit code says how it ended.
pub async fn watch(c: &Client, id: &str) -> Result<u8, ClientError> {
    Ok(match follow(c, id).await? {
        Followed::Succeeded => 0,
        Followed::Failed => exit::FAILED,
        Followed::Detached => exit::DETACHED,
    })
}

/// The four operators, with upstream's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Retry,
    Rollback,
    Cancel,
    Pass,
}

impl Op {
    fn wire(self) -> &'static str {
        match self {
            Op::Retry => "RETRY",
            Op::Rollback => "ROLLBACK",
            Op::Cancel => "CANCEL",
            Op::Pass => "PASS",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Op::Retry => "retry",
            Op::Rollback => "rollback",
            Op::Cancel => "cancel",
            Op::Pass => "pass",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Op::Retry => "retried",
            Op::Rollback => "rolled back",
            Op::Cancel => "cancelled",
            Op::Pass => "passed",
        }
    }
}

/// `task retry|rollback|cancel|pass`. Unlike upstream, a refused operator exits non-zero.
/// Retry and rollback restart the DAG, which is then followed live.
pub async fn operate(c: &Client, id: &str, op: Op, yes: bool) -> Result<u8, ClientError> {
    let dag = c.get_dag(id, false).await?;
    print!(
        "{}",
        render(std::slice::from_ref(&dag), false, Format::Yaml, true)
    );
    if !yes
        && !confirm(&format!(
            "Please confirm if you need to {} the task with ID {id}",
            op.verb()
        ))
    {
        eprintln!("[INFO] Operation cancelled; nothing was changed (use -y to skip the question).");
        return Ok(exit::FAILED);
    }
    if let Err(e) = c.operate_dag(id, op.wire()).await {
        if matches!(e, ClientError::Connect { .. }) {
            return Err(e);
        }
        eprintln!(
            "Sorry! The {} of task (ID: {id}) has failed: {e}",
            op.verb()
        );
        return Ok(exit::FAILED);
    }
    println!(
        "Congratulations! Task with ID {id} has been successfully {}.",
        op.done()
    );
    if matches!(op, Op::Retry | Op::Rollback) {
        return watch(c, id).await;
    }
    Ok(0)
}

/// `[Y/N]` question; without a terminal on stdin the answer is no.
fn confirm(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        eprintln!("{question} [Y/N]: no terminal to ask, answering N");
        return false;
    }
    print!("{question} [Y/N]: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES")
}
