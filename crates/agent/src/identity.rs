//! The agent's identity and address (spec agent-and-ops §1.1-1.2). A fresh `.meta` is
//! UNIDENTIFIED; with no database to take over, the agent becomes SINGLE, which is what this
//! agent is until cluster operations exist. The identity, address, version and platform are
//! written to `ocs_info`, and the agent itself to `all_agent`, at every start.

use std::net::IpAddr;

use api::Identity;
use task::AgentInfo;

use crate::error::AgentError;
use crate::home::Home;
use crate::meta::{keys, AgentRow, MetaDb};
use crate::version;

/// The address this agent is known by (generic ids, `/info`): the listen address, or loopback
/// when listening on every address (upstream's seekdb flavour falls back the same way).
pub fn agent_address(listen: IpAddr, port: u16) -> AgentInfo {
    let ip = match listen {
        IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() => "::1".to_string(),
        other => other.to_string(),
    };
    AgentInfo::new(ip, port)
}

/// Reads the stored identity (UNIDENTIFIED becomes SINGLE) and records this start's facts.
pub async fn establish(
    meta: &MetaDb,
    home: &Home,
    agent: &AgentInfo,
    public_key: &str,
) -> Result<Identity, AgentError> {
    let identity = match meta.get(keys::IDENTITY).await?.as_deref() {
        None | Some("") | Some("UNIDENTIFIED") => Identity::Single,
        Some(s) => Identity::parse(s)
            .ok_or_else(|| AgentError::InvalidMeta(format!("unknown identity '{s}'")))?,
    };
    match identity {
        Identity::Single => {}
        // set by taking over a seekdb: the agent manages that instance
        Identity::ClusterAgent => tracing::info!(%identity, "stored identity kept"),
        other => tracing::warn!(
            identity = %other,
            "stored identity kept; multi-agent identities are not supported yet, acting as a single agent"
        ),
    }
    let port = agent.port.to_string();
    meta.set_many(&[
        (keys::IDENTITY, identity.as_str()),
        (keys::IP, &agent.ip),
        (keys::PORT, &port),
        (keys::VERSION, version::OBSHELL_VERSION),
        (keys::OS, version::os()),
        (keys::ARCHITECTURE, version::architecture()),
    ])
    .await?;
    if identity == Identity::Single {
        meta.replace_agents(&AgentRow {
            ip: agent.ip.clone(),
            port: agent.port,
            identity: identity.as_str().to_string(),
            version: version::OBSHELL_VERSION.to_string(),
            os: version::os().to_string(),
            architecture: version::architecture().to_string(),
            home_path: home.root().display().to_string(),
            public_key: public_key.to_string(),
        })
        .await?;
    }
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_listen_addresses_fall_back_to_loopback() {
        assert_eq!(agent_address("0.0.0.0".parse().unwrap(), 1).ip, "127.0.0.1");
        assert_eq!(agent_address("::".parse().unwrap(), 1).ip, "::1");
        assert_eq!(agent_address("10.0.0.5".parse().unwrap(), 1).ip, "10.0.0.5");
    }

    #[tokio::test]
    async fn fresh_meta_becomes_single_and_lists_itself() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path()).unwrap();
        let meta = MetaDb::open(&home.meta_db()).await.unwrap();
        let me = AgentInfo::new("127.0.0.1", 2886);
        assert_eq!(
            establish(&meta, &home, &me, "pk").await.unwrap(),
            Identity::Single
        );
        assert_eq!(
            meta.get(keys::IDENTITY).await.unwrap().as_deref(),
            Some("SINGLE")
        );
        assert_eq!(meta.agents().await.unwrap().len(), 1);
        meta.set(keys::IDENTITY, "BOGUS").await.unwrap();
        assert!(establish(&meta, &home, &me, "pk").await.is_err());
    }
}
