//! Which process is the seekdb of a base directory.
//!
//! seekdb writes `run/seekdb.pid` and leaves it behind when it exits, and pids are reused, so
//! the file alone proves nothing. A pid counts only when `/proc/<pid>` is a live (not zombie)
//! process whose executable name is seekdb's and whose `--base-dir` (or, without one, its
//! working directory) is this base directory. Signalling anything else would be a disaster.

use std::path::{Path, PathBuf};

use crate::layout::Layout;

/// The pid in `run/seekdb.pid` when it is this instance's live seekdb.
pub fn find_pid(layout: &Layout) -> Option<i32> {
    let pid = read_pid_file(layout)?;
    is_seekdb_of(pid, layout).then_some(pid)
}

/// The number in `run/seekdb.pid`, alive or not.
pub fn read_pid_file(layout: &Layout) -> Option<i32> {
    let text = std::fs::read_to_string(layout.pid_file()).ok()?;
    text.trim().parse::<i32>().ok().filter(|p| *p > 1)
}

/// True when `pid` is alive. A zombie counts as gone only once its last thread is: seekdb's
/// main thread exits first on SIGTERM, leaving the leader a zombie (`Z` in `/proc/<pid>/stat`)
/// while other threads still hold its sockets for a second or so; a port is free only after
/// those are gone. A fully dead zombie (one task left: itself) is gone even if nobody reaps it.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 1 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // the state follows the parenthesised command name, which may hold spaces
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .unwrap_or("");
    match state {
        "" => false,
        "Z" | "X" => std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count() > 1)
            .unwrap_or(false),
        _ => true,
    }
}

/// True when `pid` is alive and is the seekdb of `layout`.
pub fn is_seekdb_of(pid: i32, layout: &Layout) -> bool {
    if !is_alive(pid) {
        return false;
    }
    let Some(raw) = cmdline(pid) else {
        return false;
    };
    let args: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Some(argv0) = args.first() else {
        return false;
    };
    let exe_name = Path::new(argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !exe_name.contains("seekdb") {
        return false;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    let base_arg = args
        .iter()
        .position(|a| a == "--base-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| {
            args.iter()
                .find_map(|a| a.strip_prefix("--base-dir=").map(PathBuf::from))
        });
    let dir = match (base_arg, cwd) {
        (Some(b), _) if b.is_absolute() => b,
        (Some(b), Some(cwd)) => cwd.join(b),
        (Some(_), None) => return false,
        (None, Some(cwd)) => cwd,
        (None, None) => return false,
    };
    same_dir(&dir, layout.base())
}

/// The command line of `pid`. A zombie leader whose other threads still run has an empty
/// `/proc/<pid>/cmdline`; any live thread's copy is the same.
fn cmdline(pid: i32) -> Option<Vec<u8>> {
    let own = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if !own.is_empty() {
        return Some(own);
    }
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read(t.path().join("cmdline")).ok())
        .find(|c| !c.is_empty())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let ca = std::fs::canonicalize(a).unwrap_or_else(|_| a.to_path_buf());
    let cb = std::fs::canonicalize(b).unwrap_or_else(|_| b.to_path_buf());
    ca == cb
}

/// The OS user name owning `pid` (upstream records it as `ob_config.user`).
pub fn process_user(pid: i32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => Some(u.name),
        _ => Some(uid.to_string()),
    }
}

/// The executable of `pid` (`/proc/<pid>/exe`), shown as the instance's bin path.
pub fn process_exe(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// The systemd service unit supervising `pid`, if any. Upstream refuses to stop such a seekdb:
/// systemd would start it again behind the agent's back.
pub fn systemd_unit(pid: i32) -> Option<String> {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    unit_from_cgroup(&cgroup)
}

/// The pure part of [`systemd_unit`]: the last `*.service` path component, ignoring the
/// per-user manager and session scopes.
pub fn unit_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|l| {
        let path = l.splitn(3, ':').nth(2)?;
        path.split('/')
            .rev()
            .find(|c| c.ends_with(".service") && !c.starts_with("user@"))
            .map(str::to_string)
    })
}

/// Seconds since `pid` started, from `/proc/<pid>/stat` and the boot time.
pub fn process_start_time(pid: i32) -> Option<chrono::DateTime<chrono::Utc>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // field 22 (1-based) is starttime; after the `)` the first field is #3
    let ticks: u64 = fields.get(19)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)? as u64;
    let btime: i64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let ms = btime * 1000 + (ticks * 1000 / hz) as i64;
    chrono::DateTime::from_timestamp_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_units() {
        assert_eq!(
            unit_from_cgroup("0::/system.slice/seekdb.service\n").as_deref(),
            Some("seekdb.service")
        );
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-0.slice/user@0.service/app.slice/x.scope\n"),
            None
        );
        assert_eq!(unit_from_cgroup("0::/\n"), None);
    }

    #[test]
    fn our_own_process_is_not_a_seekdb() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path()).unwrap();
        std::fs::create_dir_all(l.run_dir()).unwrap();
        std::fs::write(l.pid_file(), std::process::id().to_string()).unwrap();
        assert_eq!(read_pid_file(&l), Some(std::process::id() as i32));
        assert!(is_alive(std::process::id() as i32));
        assert_eq!(find_pid(&l), None);
        assert!(!is_alive(i32::MAX));
        assert!(process_start_time(std::process::id() as i32).is_some());
        assert!(process_user(std::process::id() as i32).is_some());
    }
}
