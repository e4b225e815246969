//! The agent side of seekdb management: [`SeekdbAgent`] implements the seekdb task kinds'
//! [`SeekdbHooks`] (root password, take-over) and the API's [`SeekdbService`], and keeps what
//! `/info` and `/status` show about the instance (`obVersion`, `obState`, `sqlPort`).
//!
//! At rest (spec agent-and-ops §1.4, seekdb): `ob_config` holds `base_dir`, `mysql_port`,
//! `rpc_port`, `rootPwd` (RSA-encrypted with the agent key), `type`=`seekdb`, `data_dir`,
//! `redo_dir`, `created_time`, `ob_version`, `user`; a deploy that has not taken over yet keeps
//! its target and password in `pending_base_dir` / `pendingRootPwd` (also encrypted), so a
//! deploy resumed after an agent restart still finds them. A take-over makes the agent a
//! CLUSTER AGENT (`ocs_info.identity`, `all_agent`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicU16, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use api::seekdb::SeekdbService;
use api::{ApiError, ApiResult, Identity};
use async_trait::async_trait;
use secure::AgentKeys;
use seekdb::layout::Layout;
use seekdb::meta::stored_config;
use seekdb::sql::{ob_state, ConnParams};
use seekdb::tasks::{SeekdbHooks, TakeoverFacts};
use seekdb::SeekdbError;
use zeroize::Zeroizing;

use crate::error::AgentError;
use crate::meta::{keys, AgentRow, MetaDb};
use crate::version;

/// Env var naming the seekdb executable (`--seekdb-bin` wins over it).
pub const ENV_SEEKDB_BIN: &str = "OBSHELL_SEEKDB_BIN";

/// `ob_config` names.
pub mod config {
    pub const BASE_DIR: &str = "base_dir";
    pub const MYSQL_PORT: &str = "mysql_port";
    pub const RPC_PORT: &str = "rpc_port";
    pub const ROOT_PWD: &str = "rootPwd";
    pub const TYPE: &str = "type";
    pub const DATA_DIR: &str = "data_dir";
    pub const REDO_DIR: &str = "redo_dir";
    pub const CREATED_TIME: &str = "created_time";
    pub const OB_VERSION: &str = "ob_version";
    pub const USER: &str = "user";
    pub const PENDING_BASE_DIR: &str = "pending_base_dir";
    pub const PENDING_ROOT_PWD: &str = "pendingRootPwd";
}

/// How this agent records itself in `all_agent` when it takes over.
#[derive(Debug, Clone)]
pub struct SelfRow {
    pub ip: String,
    pub port: u16,
    pub home_path: String,
    pub public_key: String,
}

#[derive(Default)]
struct Inner {
    /// The managed instance (after a take-over).
    base_dir: Option<PathBuf>,
    root_password: Option<Zeroizing<String>>,
    /// A deploy in progress: its base dir and the password it sets.
    pending: Option<(PathBuf, Zeroizing<String>)>,
    ob_version: String,
}

pub struct SeekdbAgent {
    meta: MetaDb,
    keys: Arc<AgentKeys>,
    me: SelfRow,
    inner: RwLock<Inner>,
    ob_state: AtomicI32,
    sql_port: AtomicU16,
}

/// Paths compared after resolving symlinks through their nearest existing ancestor, as the
/// seekdb kinds see them.
fn key(p: &Path) -> PathBuf {
    for anc in p.ancestors() {
        if let Ok(real) = std::fs::canonicalize(anc) {
            return match p.strip_prefix(anc) {
                Ok(rest) if !rest.as_os_str().is_empty() => real.join(rest),
                _ => real,
            };
        }
    }
    p.to_path_buf()
}

fn seekdb_err(e: AgentError) -> SeekdbError {
    SeekdbError::Unexpected(format!("agent metadata: {e}"))
}

impl SeekdbAgent {
    /// Loads what `.meta` recorded about the managed instance.
    pub async fn load(
        meta: MetaDb,
        keys: Arc<AgentKeys>,
        me: SelfRow,
    ) -> Result<SeekdbAgent, AgentError> {
        let decrypt = |v: Option<String>| -> Result<Option<Zeroizing<String>>, AgentError> {
            match v {
                Some(s) if !s.is_empty() => {
                    Ok(Some(Zeroizing::new(secure::decrypt_password(&keys, &s)?)))
                }
                _ => Ok(None),
            }
        };
        let base_dir = meta
            .ob_config(config::BASE_DIR)
            .await?
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let root_password = decrypt(meta.ob_config(config::ROOT_PWD).await?)?;
        let pending_dir = meta
            .ob_config(config::PENDING_BASE_DIR)
            .await?
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let pending_pw = decrypt(meta.ob_config(config::PENDING_ROOT_PWD).await?)?;
        let pending = pending_dir.map(|d| (d, pending_pw.unwrap_or_default()));
        let mysql_port = meta
            .ob_config(config::MYSQL_PORT)
            .await?
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Ok(SeekdbAgent {
            meta,
            keys: keys.clone(),
            me,
            inner: RwLock::new(Inner {
                base_dir,
                root_password,
                pending,
                ob_version: String::new(),
            }),
            ob_state: AtomicI32::new(0),
            sql_port: AtomicU16::new(mysql_port),
        })
    }

    /// Finds the seekdb executable (`explicit`, else env [`ENV_SEEKDB_BIN`], else PATH, else
    /// the `pylibseekdb` wheel) and records its version for `/info`. Failures are logged only:
    /// an agent without seekdb still serves.
    pub async fn probe_version(&self, explicit: Option<PathBuf>) {
        let explicit = explicit.or_else(|| {
            std::env::var_os(ENV_SEEKDB_BIN)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let found = match seekdb::locate::locate(explicit.as_deref()).await {
            Ok(exe) => seekdb::locate::version(&exe).await.map(|v| (exe, v)),
            Err(e) => Err(e),
        };
        match found {
            Ok((exe, v)) => {
                tracing::info!(exe = %exe.display(), version = %v.ob_version(), "seekdb found");
                self.write().ob_version = v.ob_version();
            }
            Err(e) => tracing::warn!("no seekdb version for /info: {e}"),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// CLUSTER AGENT once it manages an instance.
    pub fn identity(&self) -> Option<Identity> {
        self.read()
            .base_dir
            .as_ref()
            .map(|_| Identity::ClusterAgent)
    }

    pub fn ob_version(&self) -> String {
        self.read().ob_version.clone()
    }

    /// The last probed `obState` (0-3).
    pub fn ob_state(&self) -> i32 {
        self.ob_state.load(Ordering::Relaxed)
    }

    pub fn sql_port(&self) -> u16 {
        self.sql_port.load(Ordering::Relaxed)
    }

    pub fn managed_root_password(&self) -> Option<String> {
        let g = self.read();
        g.base_dir.as_ref()?;
        Some(
            g.root_password
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        )
    }

    /// Probes the managed instance now (0 when there is none) and remembers the answer.
    pub async fn refresh_state(&self) -> i32 {
        let (base, pw) = {
            let g = self.read();
            (
                g.base_dir.clone(),
                g.root_password
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            )
        };
        let state = match base {
            None => 0,
            Some(base) => match Layout::new(&base) {
                Err(_) => 0,
                Ok(layout) => match stored_config(&layout).await {
                    Err(_) => 0,
                    Ok(c) => {
                        self.sql_port.store(c.mysql_port, Ordering::Relaxed);
                        let params = ConnParams::root(c.mysql_port)
                            .host(c.sql_host())
                            .password(pw)
                            .connect_timeout(Duration::from_secs(2));
                        ob_state(&params, Some(&layout)).await.as_i64() as i32
                    }
                },
            },
        };
        self.ob_state.store(state, Ordering::Relaxed);
        state
    }
}

#[async_trait]
impl SeekdbHooks for SeekdbAgent {
    async fn root_password(&self, base_dir: &Path) -> seekdb::Result<String> {
        let k = key(base_dir);
        let g = self.read();
        if let Some((dir, pw)) = &g.pending {
            if key(dir) == k {
                return Ok(pw.to_string());
            }
        }
        if let Some(dir) = &g.base_dir {
            if key(dir) == k {
                return Ok(g
                    .root_password
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default());
            }
        }
        Ok(String::new())
    }

    async fn take_over(&self, facts: &TakeoverFacts) -> seekdb::Result<()> {
        let password = self.root_password(&facts.base_dir).await?;
        let encrypted = secure::encrypt_password(&self.keys, &password)
            .map_err(|e| SeekdbError::Unexpected(format!("encrypt root password: {e}")))?;
        let base = facts.base_dir.display().to_string();
        let mysql_port = facts.mysql_port.to_string();
        let rpc_port = facts.rpc_port.to_string();
        let data_dir = facts.data_dir.display().to_string();
        let redo_dir = facts.redo_dir.display().to_string();
        self.meta
            .set_ob_config(&[
                (config::BASE_DIR, &base),
                (config::MYSQL_PORT, &mysql_port),
                (config::RPC_PORT, &rpc_port),
                (config::ROOT_PWD, &encrypted),
                (config::TYPE, "seekdb"),
                (config::DATA_DIR, &data_dir),
                (config::REDO_DIR, &redo_dir),
                (config::CREATED_TIME, &facts.created_time),
                (config::OB_VERSION, &facts.ob_version),
                (config::USER, &facts.user),
                (config::PENDING_BASE_DIR, ""),
                (config::PENDING_ROOT_PWD, ""),
            ])
            .await
            .map_err(seekdb_err)?;
        let identity = Identity::ClusterAgent.as_str();
        self.meta
            .set(keys::IDENTITY, identity)
            .await
            .map_err(seekdb_err)?;
        self.meta
            .replace_agents(&AgentRow {
                ip: self.me.ip.clone(),
                port: self.me.port,
                identity: identity.to_string(),
                version: version::OBSHELL_VERSION.to_string(),
                os: version::os().to_string(),
                architecture: version::architecture().to_string(),
                home_path: self.me.home_path.clone(),
                public_key: self.me.public_key.clone(),
            })
            .await
            .map_err(seekdb_err)?;
        {
            let mut g = self.write();
            g.base_dir = Some(facts.base_dir.clone());
            g.root_password = Some(Zeroizing::new(password));
            g.pending = None;
            if let Some(v) = seekdb::SeekdbVersion::from_sql_version(&facts.ob_version) {
                if g.ob_version.is_empty() {
                    g.ob_version = v;
                }
            }
        }
        self.sql_port.store(facts.mysql_port, Ordering::Relaxed);
        tracing::info!(base_dir = %base, "took over seekdb; identity CLUSTER AGENT");
        Ok(())
    }
}

impl SeekdbAgent {
    /// The managed instance's base dir.
    pub fn base_dir(&self) -> Option<PathBuf> {
        self.read().base_dir.clone()
    }

    /// Records (encrypted, in `.meta`) the root password a deploy into `base_dir` will set.
    pub async fn prepare_deploy(&self, base_dir: &Path, root_password: &str) -> ApiResult<()> {
        let encrypted = secure::encrypt_password(&self.keys, root_password)?;
        let dir = base_dir.display().to_string();
        self.meta
            .set_ob_config(&[
                (config::PENDING_BASE_DIR, &dir),
                (config::PENDING_ROOT_PWD, &encrypted),
            ])
            .await
            .map_err(|e| ApiError::Unexpected(format!("record the deploy: {e}")))?;
        self.write().pending = Some((
            base_dir.to_path_buf(),
            Zeroizing::new(root_password.to_string()),
        ));
        Ok(())
    }
}

/// Env vars of the agent naming the root password of an instance to take over (spec §3.2).
pub const ENV_ROOT_PASSWORD: [&str; 2] = ["OB_ROOT_PASSWORD", "OBSHELL_SEEKDB_ROOT_PASSWORD"];

impl SeekdbAgent {
    /// Records the root password a take-over (or emergency start) of `base_dir` logs in with:
    /// `given`, else env [`ENV_ROOT_PASSWORD`], else the password already stored for that
    /// instance (a pending one for the same dir, else `rootPwd`), else empty.
    pub async fn prepare_takeover(&self, base_dir: &Path, given: Option<&str>) -> ApiResult<()> {
        let password = match given {
            Some(p) => p.to_string(),
            None => match ENV_ROOT_PASSWORD
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            {
                Some(p) => p,
                None => {
                    let g = self.read();
                    let k = key(base_dir);
                    match &g.pending {
                        Some((dir, pw)) if key(dir) == k => pw.to_string(),
                        _ => g
                            .root_password
                            .as_ref()
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                    }
                }
            },
        };
        self.prepare_deploy(base_dir, &password).await
    }
}

/// The `Arc` the API holds: [`SeekdbService`] with `hooks()` answering the same agent.
pub struct SeekdbHandle(pub Arc<SeekdbAgent>);

#[async_trait]
impl SeekdbService for SeekdbHandle {
    fn hooks(&self) -> Arc<dyn SeekdbHooks> {
        self.0.clone()
    }

    fn base_dir(&self) -> Option<PathBuf> {
        self.0.base_dir()
    }

    async fn root_password(&self) -> String {
        self.0.managed_root_password().unwrap_or_default()
    }

    async fn prepare_deploy(&self, base_dir: &Path, root_password: &str) -> ApiResult<()> {
        self.0.prepare_deploy(base_dir, root_password).await
    }

    async fn prepare_takeover(
        &self,
        base_dir: &Path,
        root_password: Option<&str>,
    ) -> ApiResult<()> {
        self.0.prepare_takeover(base_dir, root_password).await
    }
}
