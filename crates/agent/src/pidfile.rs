//! Pid files under `<home>/run`, and whether the process they name is still ours.
//!
//! A pid alone can be reused by an unrelated process after a crash, so a pid only counts as
//! alive when `/proc/<pid>/cmdline` also shows our executable's role (`daemon` or `server`).

use std::path::Path;

/// Reads a pid file; missing or garbage gives `None`.
pub fn read(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes `pid` to `path` (atomically: temp file + rename).
pub fn write(path: &Path, pid: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{pid}\n"))?;
    std::fs::rename(&tmp, path)
}

/// True when `pid` runs and its command line contains `role` as an argument.
pub fn alive_with_role(pid: i32, role: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // a zombie has exited; it only waits to be reaped
        if stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            == Some("Z")
        {
            return false;
        }
    }
    raw.split(|b| *b == 0).any(|arg| arg == role.as_bytes())
}

/// The live process recorded in `path` for `role`, if any.
pub fn live(path: &Path, role: &str) -> Option<i32> {
    read(path).filter(|pid| alive_with_role(*pid, role))
}

/// Removes a file if present.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pid");
        assert_eq!(read(&p), None);
        write(&p, std::process::id()).unwrap();
        assert_eq!(read(&p), Some(std::process::id() as i32));
        // the test binary does not carry the role argument "daemon"
        assert!(!alive_with_role(std::process::id() as i32, "daemon"));
        assert!(!alive_with_role(-1, "daemon"));
        std::fs::write(&p, "junk").unwrap();
        assert_eq!(live(&p, "daemon"), None);
    }
}
