//! Following a DAG live (`task watch` and every command that starts a DAG).
//!
//! On a terminal: a spinner with `<node name> [i/N]`, a green `[SUCCEED] <node name> [i/N]`
//! line per finished stage, and a final line. Elsewhere the same lines, plain, without
//! animation. A failure prints `[FAILED]` and, per failed sub-task, its agent and last log line.
//! Ctrl-C asks whether to cancel the DAG.
//!
//! The DAG is re-read whenever the agent's event stream (`GET /task/dag/:id/events`) says it
//! moved, so a stage change shows at once; with an agent that has no such route, or once the
//! stream broke, it is re-read every 100 ms instead.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use client::{Client, ClientError, Dag, DagEvents};
use console::style;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the DAG is re-read without an event stream: a stage change shows within this
/// delay.
const POLL: Duration = Duration::from_millis(100);

/// What wakes the follow loop to re-read the DAG: the agent's event stream, or a 100 ms timer
/// when the agent has no event route (older agents answer 404/405) or the stream broke.
struct Wakeup {
    events: Option<DagEvents>,
    /// Cleared for good once opening or reading a stream failed: poll from then on.
    streaming: bool,
}

impl Wakeup {
    fn new() -> Wakeup {
        Wakeup {
            events: None,
            streaming: true,
        }
    }

    /// Returns when the DAG may have changed. Cancel-safe (Ctrl-C interrupts it).
    async fn wait(&mut self, client: &Client, id: &str) {
        if self.streaming && self.events.is_none() {
            match client.dag_events(id).await {
                Ok(ev) => self.events = Some(ev),
                Err(e) => {
                    tracing::debug!("no event stream for task {id}, polling: {e}");
                    self.streaming = false;
                }
            }
        }
        let Some(ev) = self.events.as_mut() else {
            tokio::time::sleep(POLL).await;
            return;
        };
        match ev.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!("event stream of task {id} broke, polling: {e}");
                self.events = None;
                self.streaming = false;
            }
            None => {
                // The agent ended the stream (the DAG finished, or the agent is stopping): the
                // caller re-reads; if the DAG still runs (retried meanwhile), the next wait
                // opens a new stream. The pause keeps that from spinning.
                self.events = None;
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// What following ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    Succeeded,
    Failed,
    /// The user pressed Ctrl-C and chose not to cancel: the DAG keeps running.
    Detached,
}

struct Printer {
    tty: bool,
    spinner: Option<ProgressBar>,
}

impl Printer {
    fn new() -> Printer {
        let tty = std::io::stdout().is_terminal();
        let spinner = tty.then(|| {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            pb.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_chars("|/-\\ "),
            );
            pb.enable_steady_tick(Duration::from_millis(100));
            pb
        });
        Printer { tty, spinner }
    }

    fn line(&self, text: String) {
        match &self.spinner {
            Some(pb) => pb.println(text),
            None => {
                println!("{text}");
                let _ = std::io::stdout().flush();
            }
        }
    }

    fn tag(&self, tag: &str) -> String {
        if !self.tty {
            return format!("[{tag}]");
        }
        let t = format!("[{tag}]");
        match tag {
            "SUCCEED" => style(t).green().to_string(),
            "FAILED" | "ERROR" => style(t).red().to_string(),
            "WARNING" => style(t).yellow().to_string(),
            _ => style(t).blue().to_string(),
        }
    }

    fn running(&self, text: String) {
        match &self.spinner {
            Some(pb) => pb.set_message(text),
            None => self.line(text),
        }
    }

    fn done(&self) {
        if let Some(pb) = &self.spinner {
            pb.finish_and_clear();
        }
    }
}

fn stage_label(d: &Dag, names: &[String], stage: i64) -> String {
    let name = names
        .get((stage - 1).max(0) as usize)
        .cloned()
        .unwrap_or_default();
    if d.operator == "ROLLBACK" {
        format!("Rollback `{name}` [{stage}/{}]", d.max_stage)
    } else {
        format!("{name} [{stage}/{}]", d.max_stage)
    }
}

/// The stages `dag` has finished in its current direction (RUN forward, ROLLBACK backward).
fn finished_stages(dag: &Dag) -> Vec<i64> {
    let max = dag.max_stage.max(1);
    let current = dag.stage.clamp(1, max);
    let including_current = dag.state == "SUCCEED";
    if dag.operator == "ROLLBACK" {
        let from = if including_current {
            current
        } else {
            current + 1
        };
        (from..=max).rev().collect()
    } else {
        let to = if including_current {
            current
        } else {
            current - 1
        };
        (1..=to).collect()
    }
}

/// Follows DAG `id` until it finishes.
pub async fn follow(client: &Client, id: &str) -> Result<Followed, ClientError> {
    let first = client.get_dag(id, true).await?;
    let names: Vec<String> = first
        .nodes
        .iter()
        .flatten()
        .map(|n| n.name.clone())
        .collect();
    let p = Printer::new();
    // stages already reported as done, per operator (a retry or rollback starts afresh)
    let mut reported: std::collections::HashSet<(String, i64)> = Default::default();
    let mut shown: Option<(i64, String)> = None;
    let mut dag = first;
    let mut wakeup = Wakeup::new();
    loop {
        for stage in finished_stages(&dag) {
            if reported.insert((dag.operator.clone(), stage)) {
                p.line(format!(
                    "{} {}",
                    p.tag("SUCCEED"),
                    stage_label(&dag, &names, stage)
                ));
            }
        }
        if dag.is_finished_state() {
            p.done();
            return report_end(&p, client, &dag).await;
        }
        let key = (dag.stage, dag.operator.clone());
        if shown.as_ref() != Some(&key) {
            p.running(stage_label(&dag, &names, dag.stage));
            shown = Some(key);
        }
        tokio::select! {
            _ = wakeup.wait(client, id) => {}
            _ = tokio::signal::ctrl_c() => {
                p.done();
                if confirm_cancel(id) {
                    client.operate_dag(id, "CANCEL").await?;
                    p.line(format!("{} cancelling task {id} ...", p.tag("INFO")));
                } else {
                    println!("The task keeps running; follow it again with `obshell task watch -i {id}`.");
                    return Ok(Followed::Detached);
                }
            }
        }
        dag = reread(client, id, &p).await?;
    }
}

/// How long following tolerates an unreachable agent: its daemon restarts a crashed server
/// in about a second, and the DAG goes on meanwhile.
const REACH_GRACE: Duration = Duration::from_secs(30);

/// Re-reads the DAG, riding out a restart of the agent's server.
async fn reread(client: &Client, id: &str, p: &Printer) -> Result<Dag, ClientError> {
    let began = std::time::Instant::now();
    let mut warned = false;
    loop {
        match client.get_dag(id, false).await {
            Err(ClientError::Connect { target, reason }) if began.elapsed() < REACH_GRACE => {
                if !warned {
                    p.line(format!(
                        "{} the agent at {target} is not answering ({reason}); waiting for it to come back",
                        p.tag("WARNING")
                    ));
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

async fn report_end(p: &Printer, client: &Client, dag: &Dag) -> Result<Followed, ClientError> {
    if dag.state == "SUCCEED" {
        p.line(format!(
            "{} Congratulations! {} '{}' task completed successfully.",
            p.tag("SUCCEED"),
            dag.operator,
            dag.name
        ));
        return Ok(Followed::Succeeded);
    }
    let full = client.get_dag(&dag.id, true).await?;
    let nodes = full.nodes.clone().unwrap_or_default();
    let stage = full.stage.clamp(1, full.max_stage.max(1));
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    p.line(format!(
        "{} {}",
        p.tag("FAILED"),
        stage_label(&full, &names, stage)
    ));
    if let Some(node) = nodes.iter().find(|n| n.state == "FAILED") {
        if node.operator == "CANCEL" {
            p.line(format!("Sorry, Task '{}' was cancelled", full.name));
        } else {
            for s in node
                .sub_tasks
                .iter()
                .flatten()
                .filter(|s| s.state == "FAILED")
            {
                let last = s
                    .task_logs
                    .as_ref()
                    .and_then(|l| l.last().cloned())
                    .unwrap_or_else(|| "(no log)".into());
                p.line(format!("{} {} {last}", p.tag("ERROR"), s.execute_agent));
            }
            p.line(format!("Sorry, task '{}' failed", full.name));
        }
    } else {
        p.line(format!("Sorry, task '{}' failed", full.name));
    }
    Ok(Followed::Failed)
}

/// Asks whether to cancel after Ctrl-C; without a terminal the answer is no.
fn confirm_cancel(id: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("\nDo you want to cancel task {id}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}
