//! Waiting until a starting seekdb accepts SQL.
//!
//! A start is not done when the launcher returns: the daemon needs seconds (restart) to a
//! minute (first start) before a login works. The wait is bounded, notices at once when the
//! process dies (and then says why, from the log), reports progress — seekdb's own
//! `[server_start i/14]` markers — so a task log shows where a slow start is, and fails fast on
//! a refused login, which no amount of waiting fixes.

use std::time::{Duration, Instant};

use crate::error::{Result, SeekdbError};
use crate::layout::Layout;
use crate::process::errlog::{error_lines_since, last_progress_since, log_len};
use crate::process::pid::{find_pid, is_alive};
use crate::process::start::Launched;
use crate::sql::conn::{ping, ConnParams};

/// Bounds and pacing of a readiness wait.
#[derive(Debug, Clone, Copy)]
pub struct ReadyOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Pause between attempts.
    pub interval: Duration,
    /// Report progress at least this often even when nothing changed.
    pub report_every: Duration,
    /// Bound of one login attempt.
    pub attempt_timeout: Duration,
}

impl Default for ReadyOptions {
    fn default() -> Self {
        ReadyOptions {
            // upstream: 60 tries every 2 s; a first start here takes up to ~70 s
            timeout: Duration::from_secs(300),
            interval: Duration::from_millis(250),
            report_every: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(3),
        }
    }
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub elapsed: Duration,
    pub pid: Option<i32>,
    /// The latest `[server_start i/14] ...` line of the log, if any.
    pub stage: Option<String>,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "waiting for seekdb to accept SQL: {} s",
            self.elapsed.as_secs()
        )?;
        if let Some(pid) = self.pid {
            write!(f, ", pid {pid}")?;
        }
        if let Some(s) = &self.stage {
            write!(f, ", {s}")?;
        }
        Ok(())
    }
}

/// Where progress reports go: a task log, a CLI spinner, a test's vector.
#[async_trait::async_trait]
pub trait ProgressSink: Send + Sync {
    async fn progress(&self, p: &Progress);
}

/// Any `Fn(&Progress)` is a sink (for callers that need no `.await`).
#[async_trait::async_trait]
impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    async fn progress(&self, p: &Progress) {
        self(p)
    }
}

/// Waits until `params` can log in and run `SELECT 1`. `launched`, when known, names the
/// process that must stay alive meanwhile and where its log lines start; otherwise the pid
/// file of `layout` is watched and the log is read from its current end. `progress` is called
/// when seekdb reaches a new start stage and at least every `report_every`. Returns the time
/// it took.
pub async fn wait_ready(
    layout: &Layout,
    params: &ConnParams,
    launched: Option<Launched>,
    opts: ReadyOptions,
    progress: &dyn ProgressSink,
) -> Result<Duration> {
    let start = Instant::now();
    let pid = launched.map(|l| l.pid);
    let log_offset = launched.map_or_else(|| log_len(layout.base()), |l| l.log_offset);
    let error_lines = |dir: &std::path::Path| error_lines_since(dir, log_offset);
    let attempt = params.clone().connect_timeout(opts.attempt_timeout);
    let mut last_stage: Option<String> = None;
    let mut last_report = Instant::now();
    let mut seen_pid = pid;
    loop {
        let elapsed = start.elapsed();
        // the process must be alive: a dead one never becomes ready
        let current = match seen_pid {
            Some(p) if is_alive(p) => Some(p),
            Some(p) => {
                return Err(SeekdbError::StartFailed {
                    dir: layout.base().to_path_buf(),
                    reason: format!("seekdb (pid {p}) exited while starting"),
                    lines: error_lines(layout.base()),
                })
            }
            None => find_pid(layout),
        };
        if seen_pid.is_none() {
            seen_pid = current;
        }
        match ping(&attempt).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e @ SeekdbError::AccessDenied { .. }) => return Err(e),
            Err(_) => {}
        }
        if seen_pid.is_none() && elapsed > Duration::from_secs(20) {
            return Err(SeekdbError::StartFailed {
                dir: layout.base().to_path_buf(),
                reason: "no seekdb process is running".into(),
                lines: error_lines(layout.base()),
            });
        }
        if elapsed >= opts.timeout {
            return Err(SeekdbError::ReadyTimeout {
                dir: layout.base().to_path_buf(),
                secs: opts.timeout.as_secs(),
                lines: error_lines(layout.base()),
            });
        }
        // the marker can scroll out of the tail read; keep the last one seen
        let stage = last_progress_since(layout.base(), log_offset).or_else(|| last_stage.clone());
        if stage != last_stage || last_report.elapsed() >= opts.report_every {
            let p = Progress {
                elapsed,
                pid: seen_pid,
                stage: stage.clone(),
            };
            progress.progress(&p).await;
            last_stage = stage;
            last_report = Instant::now();
        }
        tokio::time::sleep(opts.interval).await;
    }
}
