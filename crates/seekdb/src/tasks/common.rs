//! Pieces every seekdb kind shares: reading its params, reaching the instance over SQL,
//! reporting a failure with seekdb's own explanation, and recording timings.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use task::{TaskContext, TaskFailure, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::meta::stored_config;
use crate::process::errlog::{error_lines_since, last_lines_since};

/// Log lines shown when a failed start left no ERROR/EDIAG line.
const LAST_LINES: usize = 5;
use crate::sql::ConnParams;
use crate::tasks::hooks::SeekdbHooks;
use crate::tasks::names::{data, param};

/// The instance a task works on (param `base_dir`).
pub(crate) fn layout(run: &TaskRun) -> Result<Layout, TaskFailure> {
    let dir: PathBuf = run.get_param(param::BASE_DIR)?;
    Layout::new(dir).map_err(|e| TaskFailure::new(e.to_string()))
}

/// A numeric param with a default.
pub(crate) fn param_u64(run: &TaskRun, key: &str, default: u64) -> u64 {
    run.get_param::<u64>(key).unwrap_or(default)
}

/// How to log in as root: host/port from params when given, else from what seekdb stored in
/// `meta.db`; the password from the agent.
pub(crate) async fn root_params(
    run: &TaskRun,
    layout: &Layout,
    hooks: &dyn SeekdbHooks,
) -> Result<ConnParams, SeekdbError> {
    let (host, port) = match (
        run.get_param::<String>(param::HOST).ok(),
        run.get_param::<u16>(param::MYSQL_PORT).ok(),
    ) {
        (h, Some(p)) => (h.unwrap_or_else(|| "127.0.0.1".into()), p),
        (h, None) => {
            let c = stored_config(layout).await?;
            (h.unwrap_or_else(|| c.sql_host()), c.mysql_port)
        }
    };
    let password = hooks.root_password(layout.base()).await?;
    Ok(ConnParams::root(port).host(host).password(password))
}

/// Turns an error into the task's failure, first writing seekdb's ERROR/EDIAG lines to the
/// task log: the lines the error carries, else those logged since byte `log_offset` (taken when
/// the task began). The failure message stays one line (the CLI shows the last log line).
pub(crate) async fn report(
    run: &TaskRun,
    layout: &Layout,
    log_offset: u64,
    e: SeekdbError,
) -> TaskFailure {
    let lines = if e.log_lines().is_empty() {
        error_lines_since(layout.base(), log_offset)
    } else {
        e.log_lines().to_vec()
    };
    if !lines.is_empty() {
        run.warn(format!(
            "{} error line(s) from {}:",
            lines.len(),
            layout.log_file().display()
        ))
        .await;
        for l in &lines {
            run.warn(format!("seekdb.log: {l}")).await;
        }
    } else if matches!(
        e,
        SeekdbError::StartFailed { .. } | SeekdbError::ReadyTimeout { .. }
    ) {
        // seekdb can die before its logger flushes the reason; its last lines still tell
        // how far it got
        let last = last_lines_since(layout.base(), log_offset, LAST_LINES);
        if !last.is_empty() {
            run.warn(format!(
                "no ERROR/EDIAG line in {}; its last lines:",
                layout.log_file().display()
            ))
            .await;
            for l in &last {
                run.warn(format!("seekdb.log: {l}")).await;
            }
        }
    }
    let text = e.to_string();
    let headline = text.lines().next().unwrap_or_default();
    TaskFailure::new(format!("[{}]: {headline}", e.err_code()))
}

/// What every seekdb execute does around its work: remember where the instance's log ended
/// (so a failure reports the lines it added), time the work, record the split, and turn a
/// failure into the task's report.
pub(crate) struct Attempt {
    pub layout: Layout,
    pub timer: Timer,
    log_offset: u64,
}

impl Attempt {
    pub fn begin(layout: Layout) -> Attempt {
        let log_offset = crate::process::errlog::log_len(layout.base());
        Attempt {
            layout,
            timer: Timer::start(),
            log_offset,
        }
    }

    /// Records the timings under `struct_name` and reports a failure.
    pub async fn end<T>(
        self,
        run: &mut TaskRun,
        struct_name: &str,
        r: Result<T, SeekdbError>,
    ) -> Result<T, TaskFailure> {
        self.timer.record(run, struct_name);
        match r {
            Ok(v) => Ok(v),
            Err(e) => Err(report(run, &self.layout, self.log_offset, e).await),
        }
    }
}

/// Measures one execute: the whole of it and the part spent waiting on seekdb itself.
pub(crate) struct Timer {
    start: Instant,
    seekdb: Duration,
}

impl Timer {
    pub fn start() -> Timer {
        Timer {
            start: Instant::now(),
            seekdb: Duration::ZERO,
        }
    }

    /// Adds time spent in seekdb (launching, waiting for readiness, waiting for exit, SQL).
    pub fn seekdb(&mut self, d: Duration) {
        self.seekdb += d;
    }

    /// Writes `Data.timings.<struct_name> = {exec_ms, seekdb_ms}`.
    pub fn record(&self, run: &mut TaskRun, struct_name: &str) {
        let mut timings: Map<String, Value> = run.get_data(data::TIMINGS).unwrap_or_default();
        timings.insert(
            struct_name.to_string(),
            json!({
                "exec_ms": self.start.elapsed().as_millis() as u64,
                "seekdb_ms": self.seekdb.as_millis() as u64,
            }),
        );
        run.set_data(data::TIMINGS, timings);
    }
}

/// `additional_data` of a kind: its own timings, so a DAG's detail shows where time went.
pub(crate) fn timings_additional_data(
    ctx: &TaskContext,
    struct_name: &str,
) -> Option<Map<String, Value>> {
    let own = ctx.data.get(data::TIMINGS)?.get(struct_name)?.clone();
    let mut inner = Map::new();
    inner.insert(struct_name.to_string(), own);
    let mut m = Map::new();
    m.insert(data::TIMINGS.to_string(), Value::Object(inner));
    Some(m)
}
