//! Stopping seekdb: SIGTERM, then SIGKILL after a bound, then proof that it is gone.
//!
//! Upstream kills with `-9` straight away. seekdb shuts down cleanly on SIGTERM in about two
//! seconds here, so we ask first and only force when it does not comply. Before every signal
//! the pid is re-verified as this instance's seekdb, so a pid reused by another process is
//! never signalled.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::error::{Result, SeekdbError};
use crate::layout::Layout;
use crate::process::pid::{is_alive, is_seekdb_of};

/// How long seekdb may take to exit after SIGTERM before it is killed.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60);
/// How long a SIGKILLed process may take to disappear before we call it a failure.
const KILL_WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running (or `pid` is no longer this instance's seekdb): nothing was sent.
    NotRunning,
    /// It exited after SIGTERM.
    Terminated { after: Duration },
    /// It ignored SIGTERM for `grace` and was killed.
    Killed { after: Duration },
}

/// Stops `pid`, which must be the seekdb of `layout`: SIGTERM, wait up to `grace`, SIGKILL,
/// wait until it is gone.
pub async fn stop(layout: &Layout, pid: i32, grace: Duration) -> Result<Stopped> {
    let start = Instant::now();
    if !is_seekdb_of(pid, layout) {
        return Ok(Stopped::NotRunning);
    }
    signal(pid, Signal::SIGTERM)?;
    if wait_gone(pid, grace).await {
        return Ok(Stopped::Terminated {
            after: start.elapsed(),
        });
    }
    if is_seekdb_of(pid, layout) {
        tracing::warn!(pid, "seekdb ignored SIGTERM for {grace:?}; sending SIGKILL");
        signal(pid, Signal::SIGKILL)?;
    }
    if wait_gone(pid, KILL_WAIT).await {
        return Ok(Stopped::Killed {
            after: start.elapsed(),
        });
    }
    Err(SeekdbError::StopFailed {
        pid,
        reason: format!("still alive {} s after SIGKILL", KILL_WAIT.as_secs()),
    })
}

/// Kills `pid` at once (SIGKILL) when it is the seekdb of `layout`, and waits until it is gone.
/// For rollbacks and emergencies, where a clean shutdown is not the point.
pub async fn kill_now(layout: &Layout, pid: i32) -> Result<Stopped> {
    let start = Instant::now();
    if !is_seekdb_of(pid, layout) {
        return Ok(Stopped::NotRunning);
    }
    signal(pid, Signal::SIGKILL)?;
    if wait_gone(pid, KILL_WAIT).await {
        return Ok(Stopped::Killed {
            after: start.elapsed(),
        });
    }
    Err(SeekdbError::StopFailed {
        pid,
        reason: format!("still alive {} s after SIGKILL", KILL_WAIT.as_secs()),
    })
}

fn signal(pid: i32, sig: Signal) -> Result<()> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(SeekdbError::StopFailed {
            pid,
            reason: format!("cannot send {sig}: {e}"),
        }),
    }
}

/// Polls until `pid` is gone; false when it outlives `limit`.
pub async fn wait_gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
