//! The agent home directory (spec agent-and-ops §1.3). One agent serves one home; every path
//! the agent touches is named here so the layout stays in one place.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::AgentError;

/// Paths under an agent home.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `root` must exist (upstream's seekdb flavour refuses a missing `--base-dir`); it is made
    /// absolute so `/info` reports a usable `homePath`.
    pub fn new(root: &Path) -> Result<Home, AgentError> {
        let root = std::fs::canonicalize(root).map_err(AgentError::io(root))?;
        if !root.is_dir() {
            return Err(AgentError::Config(format!(
                "base dir {} is not a directory",
                root.display()
            )));
        }
        Ok(Home { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// SQLite metadata: identity, keys, passwords and the local task tables.
    pub fn meta_db(&self) -> PathBuf {
        self.root.join(".meta")
    }

    pub fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    /// The full API for local callers (the CLI), authenticated by peer uid.
    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("obshell.sock")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("obshell.pid")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log_obshell")
    }

    pub fn etc_dir(&self) -> PathBuf {
        self.root.join("etc")
    }

    /// Creates `run/`, `log_obshell/` and `etc/` if missing.
    pub fn prepare(&self) -> Result<(), AgentError> {
        for dir in [self.run_dir(), self.log_dir(), self.etc_dir()] {
            std::fs::create_dir_all(&dir).map_err(AgentError::io(&dir))?;
        }
        Ok(())
    }

    /// Owner of `<home>/etc`: besides root and the agent's own user, the one allowed on the
    /// unix socket (upstream: the user the database runs as).
    pub fn etc_owner(&self) -> Option<u32> {
        std::fs::metadata(self.etc_dir()).ok().map(|m| m.uid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_upstreams() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path()).unwrap();
        home.prepare().unwrap();
        assert!(home.socket().ends_with("run/obshell.sock"));
        assert!(home.meta_db().ends_with(".meta"));
        assert!(home.log_dir().is_dir() && home.etc_dir().is_dir());
        assert!(Home::new(&dir.path().join("missing")).is_err());
    }
}
