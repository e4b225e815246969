//! The obshell-rs agent: the home directory layout, the agent's identity and metadata in
//! `.meta`, its secrets at rest, and the server that wires the task engine to the HTTP API on
//! TCP and on the local unix socket.
//!
//! Start order (upstream's, spec agent-and-ops §1.5, minus the database takeover): home dirs ->
//! TCP bind (so port 0 resolves early) -> task store and agent metadata -> RSA key -> identity
//! -> agent password -> task engine -> unix socket and TCP serving.

pub mod daemon;
pub mod error;
pub mod home;
pub mod identity;
pub mod logging;
pub mod meta;
pub mod pidfile;
pub mod secrets;
pub mod seekdb_hooks;
pub mod server;
pub mod service;
pub mod version;

pub use error::AgentError;
pub use home::Home;
pub use server::{run, Server, ServerConfig};
