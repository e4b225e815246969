//! [`AgentState`]: the agent as the HTTP layer sees it (`api::AgentService`): the facts shown by
//! `/info` and `/status`, and the agent password, held in memory and persisted in `.meta`.

use std::sync::{Arc, RwLock};

use api::model::{AgentView, AGENT_STATE_RUNNING};
use api::{AgentService, ApiError, ApiResult, Identity};
use async_trait::async_trait;
use secure::AgentKeys;
use task::AgentInfo;
use zeroize::Zeroizing;

use crate::home::Home;
use crate::meta::MetaDb;
use crate::secrets;
use crate::seekdb_hooks::SeekdbAgent;
use crate::version;

pub struct AgentState {
    agent: AgentInfo,
    home_path: String,
    pid: u32,
    start_at: i64,
    identity: RwLock<Identity>,
    password: RwLock<Option<Zeroizing<String>>>,
    meta: MetaDb,
    keys: Arc<AgentKeys>,
    seekdb: Option<Arc<SeekdbAgent>>,
}

impl AgentState {
    pub fn new(
        agent: AgentInfo,
        home: &Home,
        identity: Identity,
        password: Option<Zeroizing<String>>,
        meta: MetaDb,
        keys: Arc<AgentKeys>,
    ) -> AgentState {
        AgentState {
            agent,
            home_path: home.root().display().to_string(),
            pid: std::process::id(),
            start_at: chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            identity: RwLock::new(identity),
            password: RwLock::new(password),
            meta,
            keys,
            seekdb: None,
        }
    }

    /// Shows (and authenticates with) the seekdb instance `seekdb` manages.
    pub fn with_seekdb(mut self, seekdb: Arc<SeekdbAgent>) -> AgentState {
        self.seekdb = Some(seekdb);
        self
    }

    /// The stored identity, or CLUSTER AGENT once a seekdb was taken over.
    pub fn identity(&self) -> Identity {
        if let Some(id) = self.seekdb.as_ref().and_then(|s| s.identity()) {
            return id;
        }
        *self.identity.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl AgentService for AgentState {
    fn view(&self) -> AgentView {
        AgentView {
            pid: self.pid,
            state: AGENT_STATE_RUNNING,
            start_at: self.start_at,
            home_path: self.home_path.clone(),
            ob_version: self
                .seekdb
                .as_ref()
                .map(|s| s.ob_version())
                .unwrap_or_default(),
            architecture: version::architecture().to_string(),
            ip: self.agent.ip.clone(),
            port: self.agent.port,
            zone: String::new(),
            identity: self.identity(),
            version: version::OBSHELL_VERSION.to_string(),
            security: self.agent_password().is_some(),
            ob_state: self.seekdb.as_ref().map_or(0, |s| s.ob_state()),
            sql_port: self.seekdb.as_ref().map_or(0, |s| s.sql_port()),
        }
    }

    async fn view_fresh(&self) -> AgentView {
        if let Some(s) = &self.seekdb {
            s.refresh_state().await;
        }
        self.view()
    }

    fn ob_root_password(&self) -> Option<String> {
        self.seekdb.as_ref().and_then(|s| s.managed_root_password())
    }

    fn agent_password(&self) -> Option<String> {
        self.password
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|p| p.to_string())
    }

    /// Persists first, then switches the in-memory password, so memory never claims a
    /// password the next start would not have.
    async fn set_agent_password(&self, password: &str) -> ApiResult<()> {
        secrets::store_agent_password(&self.meta, &self.keys, password)
            .await
            .map_err(|e| ApiError::Unexpected(format!("store agent password: {e}")))?;
        *self.password.write().unwrap_or_else(|e| e.into_inner()) =
            Some(Zeroizing::new(password.to_string()));
        Ok(())
    }
}
