//! Finding the seekdb executable and reading its version.
//!
//! seekdb reaches hosts in two ways: as a `seekdb` binary on the PATH (packages, manual
//! installs) or inside the PyPI wheel `pylibseekdb` (spec/seekdb-notes.md), whose location only
//! its Python knows. So the search is: an explicit path (never second-guessed), then `seekdb` on
//! the PATH, then `pylibseekdb/seekdb` as reported by a Python (env `OBSHELL_PYTHON`, else the
//! nearest `.venv/bin/python` at or above the current directory, else `python3`). Failing all
//! three, the error names every place tried, which is what an operator needs to fix it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::error::{Result, SeekdbError};
use crate::version::SeekdbVersion;

/// Env var naming the Python that has `pylibseekdb` installed.
pub const ENV_PYTHON: &str = "OBSHELL_PYTHON";

const PY_LOCATE: &str =
    "import os, pylibseekdb; print(os.path.join(os.path.dirname(pylibseekdb.__file__), 'seekdb'))";

/// Bound on one helper process (`python -c`, `seekdb -V`): a hung helper must not hang a task.
const HELPER_TIMEOUT: Duration = Duration::from_secs(20);

/// Finds the seekdb executable. `explicit`, when given, is the answer or an error: a wrong
/// explicit path is a mistake to report, not a reason to pick some other seekdb.
pub async fn locate(explicit: Option<&Path>) -> Result<PathBuf> {
    locate_in(explicit, std::env::var_os("PATH").as_deref(), &python()).await
}

/// [`locate`] with the PATH value and the Python given, so it can be checked without touching
/// the process environment.
pub async fn locate_in(
    explicit: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
    python: &Path,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if is_executable(p) {
            Ok(absolute(p))
        } else {
            Err(SeekdbError::ExecutableNotFound {
                tried: vec![format!(
                    "explicit path {} (missing or not executable)",
                    p.display()
                )],
            })
        };
    }
    let mut tried = vec!["explicit path (none given)".to_string()];
    match path_var.and_then(|v| find_on_path(v, "seekdb")) {
        Some(p) => return Ok(p),
        None => tried.push("`seekdb` on PATH (not found)".to_string()),
    }
    match from_pylibseekdb(python).await {
        Ok(p) => Ok(p),
        Err(why) => {
            tried.push(format!(
                "pylibseekdb via {} ({why}; set {ENV_PYTHON} or install with `pip install pylibseekdb`)",
                python.display()
            ));
            Err(SeekdbError::ExecutableNotFound { tried })
        }
    }
}

/// The Python used to find `pylibseekdb`: `$OBSHELL_PYTHON`, else the nearest
/// `.venv/bin/python` at or above the current directory (the repo's venv when run from any
/// crate), else `python3`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_PYTHON).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let p = dir.join(".venv").join("bin").join("python");
            if is_executable(&p) {
                return p;
            }
        }
    }
    PathBuf::from("python3")
}

/// Asks `python` where `pylibseekdb/seekdb` is. The error is a short reason.
async fn from_pylibseekdb(python: &Path) -> std::result::Result<PathBuf, String> {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(PY_LOCATE).kill_on_drop(true);
    let out = tokio::time::timeout(HELPER_TIMEOUT, cmd.output())
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(if last.is_empty() {
            format!("exited with {}", out.status)
        } else {
            last
        });
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(format!("{} is missing or not executable", path.display()))
    }
}

fn find_on_path(path_var: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path_var)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .map(|p| absolute(&p))
}

/// A regular file (after symlinks) with an execute bit.
pub fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Runs `<exe> -V` and parses it.
pub async fn version(exe: &Path) -> Result<SeekdbVersion> {
    let unreadable = |reason: String| SeekdbError::VersionUnreadable {
        path: exe.to_path_buf(),
        reason,
    };
    let mut cmd = Command::new(exe);
    cmd.arg("-V")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(HELPER_TIMEOUT, cmd.output())
        .await
        .map_err(|_| unreadable("timed out".into()))?
        .map_err(|e| unreadable(e.to_string()))?;
    // seekdb prints the banner on stdout and the details on stderr; read both.
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    SeekdbVersion::parse_v_output(&text).ok_or_else(|| {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        unreadable(format!(
            "no `(OceanBase seekdb x.y.z)` in the output (exit {}): {first}",
            out.status
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_path_must_exist() {
        let e = locate(Some(Path::new("/nonexistent/seekdb")))
            .await
            .unwrap_err();
        assert_eq!(e.err_code(), "Seekdb.Executable.NotFound");
        assert!(e.to_string().contains("/nonexistent/seekdb"));
    }

    #[tokio::test]
    async fn nothing_found_names_all_three_places() {
        let e = locate_in(
            None,
            Some(std::ffi::OsStr::new("/nonexistent")),
            Path::new("/nonexistent/python"),
        )
        .await
        .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("explicit path (none given)"), "{msg}");
        assert!(msg.contains("on PATH"), "{msg}");
        assert!(msg.contains("pylibseekdb via /nonexistent/python"), "{msg}");
        assert!(msg.contains(ENV_PYTHON), "{msg}");
    }

    #[tokio::test]
    async fn version_of_non_seekdb_is_an_error() {
        let e = version(Path::new("/bin/true")).await.unwrap_err();
        assert_eq!(e.err_code(), "Seekdb.Version.Unreadable");
    }
}
