//! What the seekdb task kinds need from the agent that runs them, as a trait.
//!
//! The kinds never see the root password in their task context: contexts are persisted in
//! plain text (`dag_instance.context`, `subtask_instance.context`) and shown by the task API.
//! Instead they ask the agent, which keeps it encrypted (upstream: `ob_config.rootPwd`). The
//! deploy DAG ends by handing the agent what it must record to manage the new instance
//! ("take over"). This crate cannot depend on the agent crate (the arrows point the other
//! way), hence the trait; [`MemoryHooks`] is the in-process implementation used by tools, tests
//! and [`crate::tasks::register`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What a take-over records about an instance (upstream's `ob_config` keys, §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeoverFacts {
    pub base_dir: PathBuf,
    pub mysql_port: u16,
    pub rpc_port: u16,
    /// `data_dir` / `redo_dir` parameters, made absolute against the base dir.
    pub data_dir: PathBuf,
    pub redo_dir: PathBuf,
    /// `V$OB_SERVER_STAT.CREATE_TIME`.
    pub created_time: String,
    /// `select version()`, e.g. `5.7.25-OceanBase seekdb-v1.4.0.0`.
    pub ob_version: String,
    /// The OS user running seekdb.
    pub user: String,
    pub pid: i32,
    /// The executable the agent starts (`run/seekdb`).
    pub executable: PathBuf,
}

/// The agent side of the seekdb task kinds.
#[async_trait]
pub trait SeekdbHooks: Send + Sync + 'static {
    /// The root password the agent holds for the instance in `base_dir` (empty: none).
    async fn root_password(&self, base_dir: &Path) -> Result<String>;

    /// The deploy's last node: record `facts` so the agent manages this instance from now on
    /// (identity, `ob_config`, ...). Must be idempotent: a retried node calls it again.
    async fn take_over(&self, facts: &TakeoverFacts) -> Result<()>;
}

/// Keeps passwords and take-overs in memory.
#[derive(Debug, Default)]
pub struct MemoryHooks {
    passwords: Mutex<HashMap<PathBuf, String>>,
    taken_over: Mutex<Vec<TakeoverFacts>>,
}

impl MemoryHooks {
    pub fn new() -> MemoryHooks {
        MemoryHooks::default()
    }

    /// Sets the root password of the instance in `base_dir` (before a deploy: the password
    /// the deploy will set).
    pub fn set_root_password(&self, base_dir: &Path, password: &str) {
        self.passwords
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key(base_dir), password.to_string());
    }

    /// The take-overs recorded so far.
    pub fn taken_over(&self) -> Vec<TakeoverFacts> {
        self.taken_over
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Paths are compared after resolving symlinks, as the kinds see them. A base dir that does
/// not exist yet (a password stored before its deploy) resolves through its nearest existing
/// ancestor, so the key does not change once the deploy creates it.
fn key(base_dir: &Path) -> PathBuf {
    for anc in base_dir.ancestors() {
        if let Ok(real) = std::fs::canonicalize(anc) {
            return match base_dir.strip_prefix(anc) {
                Ok(rest) if !rest.as_os_str().is_empty() => real.join(rest),
                _ => real,
            };
        }
    }
    base_dir.to_path_buf()
}

#[async_trait]
impl SeekdbHooks for MemoryHooks {
    async fn root_password(&self, base_dir: &Path) -> Result<String> {
        Ok(self
            .passwords
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key(base_dir))
            .cloned()
            .unwrap_or_default())
    }

    async fn take_over(&self, facts: &TakeoverFacts) -> Result<()> {
        let mut t = self.taken_over.lock().unwrap_or_else(|e| e.into_inner());
        t.retain(|f| f.base_dir != facts.base_dir);
        t.push(facts.clone());
        Ok(())
    }
}

/// The process-wide hooks behind [`crate::tasks::register`].
pub fn default_hooks() -> Arc<MemoryHooks> {
    static HOOKS: OnceLock<Arc<MemoryHooks>> = OnceLock::new();
    HOOKS.get_or_init(|| Arc::new(MemoryHooks::new())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_key_survives_creation_behind_a_symlink() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("real")).unwrap();
        std::os::unix::fs::symlink(root.path().join("real"), root.path().join("link")).unwrap();
        let h = MemoryHooks::new();
        let dir = root.path().join("link").join("sdb");
        h.set_root_password(&dir, "pw");
        std::fs::create_dir(&dir).unwrap();
        let seen_by_kinds = crate::layout::Layout::new(&dir).unwrap();
        assert_eq!(h.root_password(seen_by_kinds.base()).await.unwrap(), "pw");
        assert_eq!(h.root_password(&dir).await.unwrap(), "pw");
    }
}
