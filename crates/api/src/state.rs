//! [`AppState`]: what every handler and middleware can reach. The HTTP layer owns no agent
//! state itself: identity, metadata and the agent password come from the agent crate through
//! [`AgentService`], DAGs from the task [`Engine`], and the RSA key from the `secure` crate.

use std::sync::Arc;

use async_trait::async_trait;
use task::Engine;
use tokio_util::sync::CancellationToken;

use crate::error::ApiResult;
use crate::model::AgentView;

/// The agent behind the API, implemented by the agent crate.
#[async_trait]
pub trait AgentService: Send + Sync + 'static {
    /// The current facts shown by `/info` and `/status` (identity included).
    fn view(&self) -> AgentView;

    /// The agent password, if one is set (then TCP callers must present it).
    fn agent_password(&self) -> Option<String>;

    /// Sets (or changes) the agent password and persists it.
    async fn set_agent_password(&self, password: &str) -> ApiResult<()>;

    /// The facts of `/info` and `/status` with the live parts (the seekdb `obState`) probed
    /// now; by default the same as [`AgentService::view`].
    async fn view_fresh(&self) -> AgentView {
        self.view()
    }

    /// The root password of the database this agent manages (a CLUSTER AGENT's callers may
    /// authenticate with it, spec agent-and-ops §3.8); `None` when it manages none.
    fn ob_root_password(&self) -> Option<String> {
        None
    }
}

/// Limits and access rules of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Request bodies larger than this are refused with 413 before any decryption.
    pub max_body_bytes: usize,
    /// Unix-socket peers allowed besides root: the agent's own uid and the owner of
    /// `<home>/etc` (spec task-engine §8.3).
    pub socket_uids: Vec<u32>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 1024 * 1024,
            socket_uids: vec![nix::unistd::geteuid().as_raw()],
        }
    }
}

/// Shared state of the router. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub agent: Arc<dyn AgentService>,
    pub keys: Arc<secure::AgentKeys>,
    pub config: Arc<ApiConfig>,
    /// Cancelled when the agent stops serving: long-lived answers (event streams) end then,
    /// so a graceful shutdown does not wait for them.
    pub shutdown: CancellationToken,
    /// The seekdb instance this agent manages (routes under `/api/v1/seekdb`); `None` on an
    /// agent built without it.
    pub seekdb: Option<Arc<dyn crate::seekdb::SeekdbService>>,
}

impl AppState {
    pub fn new(
        engine: Engine,
        agent: Arc<dyn AgentService>,
        keys: Arc<secure::AgentKeys>,
        config: ApiConfig,
    ) -> AppState {
        AppState {
            engine,
            agent,
            keys,
            config: Arc::new(config),
            shutdown: CancellationToken::new(),
            seekdb: None,
        }
    }

    /// Serves the `/api/v1/seekdb` routes through `service`.
    pub fn with_seekdb(mut self, service: Arc<dyn crate::seekdb::SeekdbService>) -> AppState {
        self.seekdb = Some(service);
        self
    }

    /// Ends event streams when `token` is cancelled (the server's shutdown signal).
    pub fn with_shutdown(mut self, token: CancellationToken) -> AppState {
        self.shutdown = token;
        self
    }
}
