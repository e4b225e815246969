//! Reading `log/seekdb.log` for what an operator needs: the ERROR/EDIAG lines that explain a
//! failed start (spec/seekdb-notes.md), and the `[server_start i/14]` progress markers seekdb
//! writes while it starts.
//!
//! The log grows by tens of MB per start, so only its tail is read; only lines of the latest
//! start are considered (from its last `[server_start 3/14]`, the first marker a run logs), so an
//! old failure does not explain a new one. `BACKTRACE:` address lists are dropped.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::layout::Layout;

/// How much of the log tail is searched for error lines.
const ERROR_TAIL_BYTES: u64 = 8 * 1024 * 1024;
/// How much of the tail is searched for the latest progress marker.
const PROGRESS_TAIL_BYTES: u64 = 512 * 1024;
/// At most this many lines are returned (the last ones: the final reason comes last).
pub const MAX_ERROR_LINES: usize = 20;
/// Longer lines are cut; a task log line should stay readable.
const MAX_LINE_CHARS: usize = 600;

const RUN_START_MARKER: &str = "[server_start 3/14]";

/// The ERROR/EDIAG lines of the latest start recorded in `<dir>/log/seekdb.log`, oldest first,
/// at most [`MAX_ERROR_LINES`]. Empty when the log is missing or has none.
pub fn error_lines(dir: &Path) -> Vec<String> {
    error_lines_since(dir, 0)
}

/// [`error_lines`] limited to what was written after byte `offset` (the log length taken
/// before a launch, see [`log_len`]), so a start that fails before logging anything is not
/// "explained" by an older failure.
pub fn error_lines_since(dir: &Path, offset: u64) -> Vec<String> {
    let Ok(layout) = Layout::new(dir) else {
        return Vec::new();
    };
    let Some(tail) = read_tail(&layout.log_file(), offset, ERROR_TAIL_BYTES) else {
        return Vec::new();
    };
    extract_error_lines(&tail)
}

/// The last `n` lines (any level) written after byte `offset`, cleaned like error lines. For
/// when seekdb dies without an ERROR line (it sometimes exits before its logger flushes): the
/// last thing it did is the next best explanation.
pub fn last_lines_since(dir: &Path, offset: u64, n: usize) -> Vec<String> {
    let Ok(layout) = Layout::new(dir) else {
        return Vec::new();
    };
    let Some(tail) = read_tail(&layout.log_file(), offset, PROGRESS_TAIL_BYTES) else {
        return Vec::new();
    };
    let lines: Vec<String> = tail
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(clean)
        .collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// The current length of the log (0 when missing): the offset for the `*_since` readers.
pub fn log_len(dir: &Path) -> u64 {
    Layout::new(dir)
        .ok()
        .and_then(|l| std::fs::metadata(l.log_file()).ok())
        .map_or(0, |m| m.len())
}

/// The latest `[server_start i/14] ...` marker of the log, e.g.
/// `[server_start 9/14] observer instance start success.`
pub fn last_progress(dir: &Path) -> Option<String> {
    last_progress_since(dir, 0)
}

/// [`last_progress`] among the lines written after byte `offset`.
pub fn last_progress_since(dir: &Path, offset: u64) -> Option<String> {
    let layout = Layout::new(dir).ok()?;
    let tail = read_tail(&layout.log_file(), offset, PROGRESS_TAIL_BYTES)?;
    tail.lines().rev().find_map(|l| {
        let start = l.find("[server_start ")?;
        Some(l[start..].trim().to_string())
    })
}

/// The pure part of [`error_lines`].
pub fn extract_error_lines(log: &str) -> Vec<String> {
    let from = log.rfind(RUN_START_MARKER).map_or(0, |i| {
        // back to the start of that line
        log[..i].rfind('\n').map_or(0, |n| n + 1)
    });
    let mut lines: Vec<String> = log[from..]
        .lines()
        .filter(|l| is_error_line(l))
        .map(clean)
        .collect();
    if lines.len() > MAX_ERROR_LINES {
        lines.drain(..lines.len() - MAX_ERROR_LINES);
    }
    lines
}

/// `[timestamp] ERROR ...` or `[timestamp] EDIAG ...`.
fn is_error_line(l: &str) -> bool {
    let Some(rest) = l.strip_prefix('[') else {
        return false;
    };
    let Some(i) = rest.find("] ") else {
        return false;
    };
    let level = &rest[i + 2..];
    level.starts_with("ERROR ") || level.starts_with("EDIAG ")
}

fn clean(l: &str) -> String {
    let l = match l.find(" BACKTRACE:") {
        Some(i) => &l[..i],
        None => l,
    };
    let l = l.trim_end();
    if l.chars().count() > MAX_LINE_CHARS {
        let cut: String = l.chars().take(MAX_LINE_CHARS).collect();
        format!("{cut}...")
    } else {
        l.to_string()
    }
}

/// The text after byte `from` (from 0 when the file is now shorter: it was rotated), at most
/// the last `max` bytes of it.
fn read_tail(path: &Path, from: u64, max: u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = if from > len { 0 } else { from };
    let start = len.saturating_sub(max).max(from);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    // drop the partial first line of a tail cut mid-line
    Some(if start > from {
        match text.find('\n') {
            Some(i) => text[i + 1..].to_string(),
            None => String::new(),
        }
    } else {
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[2026-11-29 20:20:34.574840] INFO  [LIB] init (ob_log.cpp:1426) [1][seekdb][Y0] [lt=4] [server_start 3/14] observer syslog service init success.
[2026-11-29 20:20:34.671655] ERROR [OLD] old failure BACKTRACE:0x1 0x2
[2026-11-29 20:20:50.574840] INFO  [LIB] init (ob_log.cpp:1426) [2][seekdb][Y0] [lt=4] [server_start 3/14] observer syslog service init success.
[2026-11-29 20:20:53.219306] EDIAG [STORAGE] start (ob_server.cpp:1285) [2][seekdb][Y0] [lt=2][errcode=-4016] fail to start net frame(ret=-4016) BACKTRACE:0x64e6e15 0x64d8ae2
[2026-11-29 20:20:53.219310] WDIAG [STORAGE] a warning
[2026-11-29 20:20:53.219375] ERROR [STORAGE] start (ob_server.cpp:1300) [2][seekdb][Y0] [lt=21][errcode=-4016] [server_start 14/14] observer start fail
";

    #[test]
    fn only_the_latest_run_and_no_backtraces() {
        let lines = extract_error_lines(LOG);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("fail to start net frame(ret=-4016)"));
        assert!(!lines[0].contains("BACKTRACE"));
        assert!(lines[1].contains("observer start fail"));
    }

    #[test]
    fn no_marker_means_whole_text() {
        let lines = extract_error_lines("[t] ERROR a\n[t] INFO b\n[t] EDIAG c\nplain ERROR d\n");
        assert_eq!(lines, vec!["[t] ERROR a", "[t] EDIAG c"]);
    }

    #[test]
    fn progress_and_missing_log() {
        let dir = tempfile::tempdir().unwrap();
        assert!(error_lines(dir.path()).is_empty());
        assert!(last_progress(dir.path()).is_none());
        std::fs::create_dir_all(dir.path().join("log")).unwrap();
        std::fs::write(dir.path().join("log/seekdb.log"), LOG).unwrap();
        assert_eq!(
            last_progress(dir.path()).as_deref(),
            Some("[server_start 14/14] observer start fail")
        );
        assert_eq!(error_lines(dir.path()).len(), 2);
        let len = log_len(dir.path());
        assert_eq!(len, LOG.len() as u64);
        assert!(error_lines_since(dir.path(), len).is_empty());
        assert!(last_progress_since(dir.path(), len).is_none());
        // an older failure is not blamed for a start that logged nothing
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("log/seekdb.log"))
            .unwrap();
        use std::io::Write;
        writeln!(f, "[t] ERROR new failure").unwrap();
        assert_eq!(
            error_lines_since(dir.path(), len),
            vec!["[t] ERROR new failure"]
        );
    }
}
