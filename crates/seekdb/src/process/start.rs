//! Launching seekdb: the first start that initializes an instance, and later starts that need
//! only `--base-dir` (seekdb keeps its config in `store/`).
//!
//! seekdb daemonizes: the launcher returns at once and the daemon (its own session) keeps the
//! launcher's stdout/stderr. Those therefore go to a file (`log/seekdb-launch.out`), never to a
//! pipe, which the daemon would hold open for its whole life. The launcher runs in its own
//! process group so a signal to ours never reaches it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::error::{Result, SeekdbError};
use crate::layout::Layout;
use crate::process::errlog::{error_lines_since, log_len};
use crate::process::pid::{find_pid, read_pid_file};
use crate::validate;

/// Parameters that keep one instance small enough for several per host (spec/seekdb-notes.md:
/// about 250 MB RSS after start). Explicit parameters override them.
pub const SMALL_FOOTPRINT: [(&str, &str); 3] = [
    ("memory_limit", "3G"),
    ("datafile_size", "1G"),
    ("log_disk_size", "2G"),
];

/// How long the launcher may take before it has forked the daemon.
const LAUNCHER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to write a pid file naming a live process.
const PID_WAIT: Duration = Duration::from_secs(15);

/// What a first start (initialize mode) is given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InitOptions {
    /// SQL port (`--port`).
    pub port: u16,
    /// RPC port (`--parameter rpc_port=N`); must differ per instance on a host.
    pub rpc_port: u16,
    /// Extra `--parameter k=v` (the CLI's `-o k=v,...`); they override [`SMALL_FOOTPRINT`].
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// `--variable k=v`, applied at initialization only.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub redo_dir: Option<PathBuf>,
    #[serde(default)]
    pub log_level: Option<String>,
    /// Leave out [`SMALL_FOOTPRINT`] (use seekdb's own defaults).
    #[serde(default)]
    pub no_small_footprint: bool,
}

impl InitOptions {
    pub fn new(port: u16, rpc_port: u16) -> InitOptions {
        InitOptions {
            port,
            rpc_port,
            ..InitOptions::default()
        }
    }

    /// Checks everything that becomes an argument, so a bad value is refused before anything
    /// runs (arguments go to `exec` directly, but a value with `=` or a newline would still
    /// change its meaning).
    pub fn validate(&self) -> Result<()> {
        validate::port(self.port, "port")?;
        validate::port(self.rpc_port, "rpc_port")?;
        if self.port == self.rpc_port {
            return Err(SeekdbError::invalid("port and rpc_port must differ"));
        }
        for (k, v) in self.parameters.iter().chain(self.variables.iter()) {
            validate::config_name(k)?;
            validate::config_value(v)?;
        }
        if self.parameters.contains_key("rpc_port") {
            return Err(SeekdbError::invalid(
                "give rpc_port as its own option, not as a parameter",
            ));
        }
        for d in [&self.data_dir, &self.redo_dir].into_iter().flatten() {
            if !d.is_absolute() {
                return Err(SeekdbError::invalid(format!(
                    "{} must be an absolute path",
                    d.display()
                )));
            }
        }
        if let Some(l) = &self.log_level {
            const LEVELS: [&str; 7] = ["ERROR", "WARN", "INFO", "EDIAG", "WDIAG", "TRACE", "DEBUG"];
            if !LEVELS.contains(&l.to_ascii_uppercase().as_str()) {
                return Err(SeekdbError::invalid(format!(
                    "log level {l} is not one of {LEVELS:?}"
                )));
            }
        }
        Ok(())
    }

    /// The command-line arguments of the first start, after `--base-dir DIR`.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["--port".to_string(), self.port.to_string()];
        let mut params: BTreeMap<&str, &str> = BTreeMap::new();
        if !self.no_small_footprint {
            params.extend(SMALL_FOOTPRINT);
        }
        for (k, v) in &self.parameters {
            params.insert(k, v);
        }
        a.push("--parameter".into());
        a.push(format!("rpc_port={}", self.rpc_port));
        for (k, v) in params {
            a.push("--parameter".into());
            a.push(format!("{k}={v}"));
        }
        for (k, v) in &self.variables {
            a.push("--variable".into());
            a.push(format!("{k}={v}"));
        }
        if let Some(d) = &self.data_dir {
            a.push("--data-dir".into());
            a.push(d.display().to_string());
        }
        if let Some(d) = &self.redo_dir {
            a.push("--redo-dir".into());
            a.push(d.display().to_string());
        }
        if let Some(l) = &self.log_level {
            a.push("--log-level".into());
            a.push(l.to_ascii_uppercase());
        }
        a
    }
}

/// The result of a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Launched {
    /// The daemon's pid (verified as this instance's seekdb).
    pub pid: i32,
    /// The length of `log/seekdb.log` before the launch: this start's lines come after it.
    pub log_offset: u64,
}

/// First start of a new instance in `layout`: `exe --base-dir DIR --port ... --parameter ...`.
/// Refuses an already-initialized directory (that is [`start_existing`]'s job).
pub async fn initialize(exe: &Path, layout: &Layout, opts: &InitOptions) -> Result<Launched> {
    opts.validate()?;
    if layout.is_initialized() {
        return Err(SeekdbError::DeployCheck(format!(
            "{} already holds an initialized seekdb",
            layout.base().display()
        )));
    }
    launch(exe, layout, &opts.args()).await
}

/// Starts an initialized instance: `exe --base-dir DIR` (port and config come from `store/`).
pub async fn start_existing(exe: &Path, layout: &Layout) -> Result<Launched> {
    layout.require_initialized()?;
    launch(exe, layout, &[]).await
}

async fn launch(exe: &Path, layout: &Layout, extra: &[String]) -> Result<Launched> {
    if let Some(pid) = find_pid(layout) {
        return Err(SeekdbError::AlreadyRunning {
            dir: layout.base().to_path_buf(),
            pid,
        });
    }
    let base = layout.base();
    std::fs::create_dir_all(base)
        .map_err(|e| SeekdbError::io(format!("create {}", base.display()), e))?;
    std::fs::create_dir_all(layout.log_dir())
        .map_err(|e| SeekdbError::io(format!("create {}", layout.log_dir().display()), e))?;
    // A stale pid file would name a dead (or, worse, reused) pid while we wait for the new one.
    if read_pid_file(layout).is_some() {
        let _ = std::fs::remove_file(layout.pid_file());
    }
    let mut args = vec!["--base-dir".to_string(), base.display().to_string()];
    args.extend_from_slice(extra);

    let out_path = layout.launch_output();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&out_path)
        .map_err(|e| SeekdbError::io(format!("open {}", out_path.display()), e))?;
    let _ = writeln!(
        out,
        "== {} {} {}",
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
        exe.display(),
        args.join(" ")
    );
    let out_len = out.metadata().map(|m| m.len()).unwrap_or(0);
    let err = out
        .try_clone()
        .map_err(|e| SeekdbError::io("duplicate the launch output", e))?;

    let log_offset = log_len(base);
    let fail = |reason: String| SeekdbError::StartFailed {
        dir: base.to_path_buf(),
        reason,
        lines: error_lines_since(base, log_offset),
    };
    let mut cmd = Command::new(exe);
    cmd.args(&args)
        .current_dir(base)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true);
    // "Text file busy" is transient: another thread's fork briefly holds the write handle of
    // a just-written executable (a freshly copied binary, a wrapper script) until its exec
    let mut tries = 0;
    let mut child = loop {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 10 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => break other,
        }
    }
    .map_err(|e| fail(format!("cannot execute {}: {e}", exe.display())))?;
    let status = match tokio::time::timeout(LAUNCHER_TIMEOUT, child.wait()).await {
        Ok(s) => s.map_err(|e| fail(format!("waiting for {}: {e}", exe.display())))?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(fail(format!(
                "{} did not return within {} s",
                exe.display(),
                LAUNCHER_TIMEOUT.as_secs()
            )));
        }
    };
    if !status.success() {
        return Err(fail(format!(
            "{} exited with {status}{}",
            exe.display(),
            launch_output_tail(&out_path, out_len)
        )));
    }
    let deadline = Instant::now() + PID_WAIT;
    loop {
        if let Some(pid) = find_pid(layout) {
            return Ok(Launched { pid, log_offset });
        }
        if Instant::now() >= deadline {
            return Err(fail(format!(
                "no live seekdb process after {} s (pid file {}){}",
                PID_WAIT.as_secs(),
                layout.pid_file().display(),
                launch_output_tail(&out_path, out_len)
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The launcher's own words from this launch (after byte `from`), as `: line; line`.
fn launch_output_tail(path: &Path, from: u64) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return String::new();
    };
    let start = (from as usize).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = &lines[lines.len().saturating_sub(5)..];
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", tail.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_with_defaults_and_overrides() {
        let mut o = InitOptions::new(3000, 3001);
        o.parameters.insert("memory_limit".into(), "4G".into());
        o.parameters.insert("cpu_count".into(), "2".into());
        o.validate().unwrap();
        let a = o.args().join(" ");
        assert!(
            a.starts_with("--port 3000 --parameter rpc_port=3001"),
            "{a}"
        );
        assert!(a.contains("memory_limit=4G"));
        assert!(!a.contains("memory_limit=3G"));
        assert!(a.contains("datafile_size=1G"));
        assert!(a.contains("cpu_count=2"));
    }

    #[test]
    fn bad_options_are_refused() {
        let mut o = InitOptions::new(3000, 3000);
        assert!(o.validate().is_err());
        o.rpc_port = 3001;
        o.parameters.insert("x\ny".into(), "1".into());
        assert!(o.validate().is_err());
        o.parameters.clear();
        o.parameters.insert("ok".into(), "a'b".into());
        assert!(o.validate().is_err());
        o.parameters.clear();
        o.data_dir = Some("rel".into());
        assert!(o.validate().is_err());
        o.data_dir = None;
        o.log_level = Some("LOUD".into());
        assert!(o.validate().is_err());
        o.log_level = Some("info".into());
        o.validate().unwrap();
    }

    #[tokio::test]
    async fn a_broken_executable_is_a_start_failure() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path()).unwrap();
        let exe = dir.path().join("fake-seekdb");
        std::fs::write(&exe, "#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = initialize(&exe, &layout, &InitOptions::new(3000, 3001))
            .await
            .unwrap_err();
        assert_eq!(e.err_code(), "Seekdb.StartFailed");
        let msg = e.to_string();
        assert!(msg.contains("boom: cannot start"), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
    }
}
