//! The files seekdb keeps under its base directory (spec/agent-and-ops.md §1.3, §3.2). One place
//! names them so process control, tasks and the agent agree on where things are.

use std::path::{Path, PathBuf};

use crate::error::{Result, SeekdbError};

/// The base directory of one seekdb instance (`--base-dir`), always absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    base: PathBuf,
}

impl Layout {
    /// Takes `base` as given when absolute, else relative to the current directory. Symlinks
    /// are resolved when the directory exists, so comparisons with `/proc` paths hold.
    pub fn new(base: impl AsRef<Path>) -> Result<Layout> {
        let base = base.as_ref();
        if base.as_os_str().is_empty() {
            return Err(SeekdbError::invalid("the seekdb base directory is empty"));
        }
        let abs = if base.is_absolute() {
            base.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| SeekdbError::io("current directory", e))?
                .join(base)
        };
        let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
        Ok(Layout { base: abs })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `run/`: pid file, the executable link, sockets.
    pub fn run_dir(&self) -> PathBuf {
        self.base.join("run")
    }

    /// `run/seekdb.pid`, written by seekdb itself and left behind when it exits.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("seekdb.pid")
    }

    /// `run/seekdb`: the executable the agent starts (seekdb links itself there on start).
    pub fn executable(&self) -> PathBuf {
        self.run_dir().join("seekdb")
    }

    /// `run/sql.sock`: seekdb's local SQL socket.
    pub fn sql_socket(&self) -> PathBuf {
        self.run_dir().join("sql.sock")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.base.join("log")
    }

    /// `log/seekdb.log`: where seekdb explains failed starts (ERROR/EDIAG lines).
    pub fn log_file(&self) -> PathBuf {
        self.log_dir().join("seekdb.log")
    }

    /// `log/seekdb-launch.out`: stdout/stderr of the launcher (and of the daemon, which keeps
    /// the launcher's descriptors). Our scripts use the same name.
    pub fn launch_output(&self) -> PathBuf {
        self.log_dir().join("seekdb-launch.out")
    }

    pub fn etc_dir(&self) -> PathBuf {
        self.base.join("etc")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.base.join("store")
    }

    /// `store/sstable/meta.db`: its presence means "this instance has been initialized".
    pub fn meta_db(&self) -> PathBuf {
        self.store_dir().join("sstable").join("meta.db")
    }

    pub fn is_initialized(&self) -> bool {
        self.meta_db().is_file()
    }

    /// Fails with `NotInitialized` unless the instance has started at least once.
    pub fn require_initialized(&self) -> Result<()> {
        if self.is_initialized() {
            Ok(())
        } else {
            Err(SeekdbError::NotInitialized(self.base.clone()))
        }
    }

    /// The entries seekdb creates directly under the base directory.
    pub fn created_entries(&self) -> [PathBuf; 4] {
        [
            self.etc_dir(),
            self.log_dir(),
            self.run_dir(),
            self.store_dir(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let l = Layout::new("/nonexistent/sdb").unwrap();
        assert_eq!(
            l.pid_file(),
            PathBuf::from("/nonexistent/sdb/run/seekdb.pid")
        );
        assert_eq!(
            l.meta_db(),
            PathBuf::from("/nonexistent/sdb/store/sstable/meta.db")
        );
        assert!(!l.is_initialized());
        assert!(Layout::new("").is_err());
        assert!(Layout::new("rel").unwrap().base().is_absolute());
    }
}
