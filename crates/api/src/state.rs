//! [`AppState`]: what every handler and middleware can reach. The HTTP layer owns no agent
//! state itself: identity, metadata and the agent password come from the agent crate through
//! [`AgentService`], DAGs from the task [`Engine`], and the RSA key from the `secure` crate.

use std::sync::Arc;

use async_trait::async_trait;
use task::Engine;

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
        }
    }
}
