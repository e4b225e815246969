//! Wire shapes of the agent's public endpoints (`/info`, `/status`, `/secret`) and the agent
//! identity. Field names and key order are upstream's (spec security-and-sdk §3.6, agent-and-ops
//! §1.2); the SDK reads them by name and rejects unknown identity strings.

use std::fmt;

use serde::{Serialize, Serializer};

/// The agent's role (spec agent-and-ops §1.1). The strings are persisted and sent as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    Unidentified,
    Single,
    Master,
    Follower,
    ClusterAgent,
    TakeOverMaster,
    TakeOverFollower,
    ScalingOut,
    ScalingIn,
}

impl Identity {
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Unidentified => "UNIDENTIFIED",
            Identity::Single => "SINGLE",
            Identity::Master => "MASTER",
            Identity::Follower => "FOLLOWER",
            Identity::ClusterAgent => "CLUSTER AGENT",
            Identity::TakeOverMaster => "TAKE OVER MASTER",
            Identity::TakeOverFollower => "TAKE OVER FOLLOWER",
            Identity::ScalingOut => "SCALING OUT",
            Identity::ScalingIn => "SCALING IN",
        }
    }

    /// Parses the exact upstream string.
    pub fn parse(s: &str) -> Option<Identity> {
        Some(match s {
            "UNIDENTIFIED" => Identity::Unidentified,
            "SINGLE" => Identity::Single,
            "MASTER" => Identity::Master,
            "FOLLOWER" => Identity::Follower,
            "CLUSTER AGENT" => Identity::ClusterAgent,
            "TAKE OVER MASTER" => Identity::TakeOverMaster,
            "TAKE OVER FOLLOWER" => Identity::TakeOverFollower,
            "SCALING OUT" => Identity::ScalingOut,
            "SCALING IN" => Identity::ScalingIn,
            _ => return None,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Identity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Agent process state of `/info` and `/status`: 0 unknown, 1 starting, 2 running,
/// 3 stopping, 4 stopped.
pub const AGENT_STATE_RUNNING: i32 = 2;

/// Everything the public endpoints show about the agent, as the agent crate knows it.
#[derive(Debug, Clone)]
pub struct AgentView {
    pub pid: u32,
    pub state: i32,
    /// Start time, Unix nanoseconds.
    pub start_at: i64,
    pub home_path: String,
    pub ob_version: String,
    pub architecture: String,
    pub ip: String,
    pub port: u16,
    pub zone: String,
    pub identity: Identity,
    /// `VERSION-RELEASE`, e.g. `4.5.0.0-0` (the SDK gates features on it).
    pub version: String,
    /// Whether an agent password is set.
    pub security: bool,
    /// 0 not running, 1 running without a connection, 2 restricted, 3 available.
    pub ob_state: i32,
    pub sql_port: u16,
}

/// `GET /api/v1/info` (Go `meta.AgentStatus`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoDto {
    pub pid: u32,
    pub state: i32,
    pub start_at: i64,
    pub home_path: String,
    pub ob_version: String,
    pub architecture: String,
    pub ip: String,
    pub port: u16,
    pub zone: String,
    pub identity: Identity,
    pub version: String,
    pub is_obproxy_agent: bool,
    pub security: bool,
    pub supported_auth: [&'static str; 1],
}

impl From<&AgentView> for InfoDto {
    fn from(v: &AgentView) -> Self {
        InfoDto {
            pid: v.pid,
            state: v.state,
            start_at: v.start_at,
            home_path: v.home_path.clone(),
            ob_version: v.ob_version.clone(),
            architecture: v.architecture.clone(),
            ip: v.ip.clone(),
            port: v.port,
            zone: v.zone.clone(),
            identity: v.identity,
            version: v.version.clone(),
            is_obproxy_agent: false,
            security: v.security,
            supported_auth: ["v2"],
        }
    }
}

/// `agent` of `/status`.
#[derive(Debug, Serialize)]
pub struct AgentRef {
    pub ip: String,
    pub port: u16,
    pub identity: Identity,
}

/// `GET /api/v1/status`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDto {
    pub agent: AgentRef,
    pub state: i32,
    pub version: String,
    pub pid: u32,
    pub start_at: i64,
    pub port: u16,
    pub ob_state: i32,
    pub sql_port: u16,
    pub under_maintenance: bool,
}

/// `GET /api/v1/secret`.
#[derive(Debug, Serialize)]
pub struct SecretDto {
    pub ip: String,
    pub port: u16,
    pub public_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_strings_round_trip() {
        for id in [
            Identity::Unidentified,
            Identity::Single,
            Identity::Master,
            Identity::Follower,
            Identity::ClusterAgent,
            Identity::TakeOverMaster,
            Identity::TakeOverFollower,
            Identity::ScalingOut,
            Identity::ScalingIn,
        ] {
            assert_eq!(Identity::parse(id.as_str()), Some(id));
        }
        assert_eq!(Identity::ClusterAgent.as_str(), "CLUSTER AGENT");
        assert_eq!(Identity::parse("single"), None);
    }
}
