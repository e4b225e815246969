//! obshell-rs HTTP layer: the router, the response envelope, error codes, extractors and the
//! auth middleware, wire-compatible with obshell clients (the Python SDK `obshell==0.0.9`).
//!
//! A request's way: socket -> envelope middleware -> auth pipeline (body limit, decrypt header,
//! decrypt body) -> route -> Verify (protected routes) -> handler -> one engine call. The agent
//! crate supplies identity and passwords through [`AgentService`] and serves the router on TCP
//! and on the unix socket with [`serve`].

pub mod auth;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod model;
pub mod reply;
mod routes;
pub mod seekdb;
pub mod serve;
pub mod state;

pub use auth::peer::Peer;
pub use error::{ApiError, ApiResult};
pub use model::{AgentView, Identity};
pub use routes::router;
pub use state::{AgentService, ApiConfig, AppState};
