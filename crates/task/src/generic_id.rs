//! Generic ids: the public string ids of DAGs, nodes and sub-tasks (spec/task-engine.md §3).
//!
//! `1<id>` is a cluster task; `2<ip as %010d><port %05d><id>` a local task of an IPv4 agent;
//! `3<ip as %039d><port %05d><id>` a local task of an IPv6 agent (4/5: the obproxy variants).
//! Unlike upstream, decoding left-pads the address bytes, so `::1` and `0.x.x.x` round-trip.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::error::{Result, TaskError};

/// The agent that owns a local task (the `execute_agent` of the DTOs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct AgentInfo {
    pub ip: String,
    pub port: u16,
}

impl AgentInfo {
    pub fn new(ip: impl Into<String>, port: u16) -> AgentInfo {
        AgentInfo {
            ip: ip.into(),
            port,
        }
    }
}

impl fmt::Display for AgentInfo {
    /// `ip:port`, or `[ipv6]:port`: the key of `AgentData` and of sub-task executers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip.contains(':') {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

/// Which family of prefixes an id uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Cluster,
    Local,
    Obproxy,
}

/// Encodes a row id. `agent` is `None` for cluster tasks.
pub fn encode(kind: IdKind, id: i64, agent: Option<&AgentInfo>) -> Result<String> {
    let agent = match (kind, agent) {
        (IdKind::Cluster, _) => return Ok(format!("1{id}")),
        (_, Some(a)) => a,
        (_, None) => {
            return Err(TaskError::Unexpected(
                "a local task id needs its agent".into(),
            ))
        }
    };
    let ip: IpAddr = agent
        .ip
        .parse()
        .map_err(|_| TaskError::Unexpected(format!("invalid agent ip '{}'", agent.ip)))?;
    let obproxy = kind == IdKind::Obproxy;
    Ok(match ip {
        IpAddr::V4(v4) => format!(
            "{}{:010}{:05}{id}",
            if obproxy { '4' } else { '2' },
            u32::from(v4),
            agent.port
        ),
        IpAddr::V6(v6) => format!(
            "{}{:039}{:05}{id}",
            if obproxy { '5' } else { '3' },
            u128::from(v6),
            agent.port
        ),
    })
}

/// A decoded generic id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericId {
    pub kind: IdKind,
    pub id: i64,
    pub agent: Option<AgentInfo>,
}

/// Decodes a generic id; anything malformed is `Task.GenericID.Invalid`, never a panic.
pub fn decode(s: &str) -> Result<GenericId> {
    let invalid = || TaskError::GenericIdInvalid(s.to_string());
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let prefix = s.as_bytes().first().copied().ok_or_else(invalid)?;
    let (kind, ip_len) = match prefix {
        b'1' => (IdKind::Cluster, 0),
        b'2' => (IdKind::Local, 10),
        b'4' => (IdKind::Obproxy, 10),
        b'3' => (IdKind::Local, 39),
        b'5' => (IdKind::Obproxy, 39),
        _ => return Err(invalid()),
    };
    let min_len = 1 + ip_len + if ip_len == 0 { 0 } else { 5 };
    if s.len() <= min_len {
        return Err(invalid());
    }
    let id_part = &s[min_len..];
    let id: i64 = id_part.parse().map_err(|_| invalid())?;
    if kind == IdKind::Cluster {
        return Ok(GenericId {
            kind,
            id,
            agent: None,
        });
    }
    let ip_num: u128 = s[1..1 + ip_len].parse().map_err(|_| invalid())?;
    let port: u16 = s[1 + ip_len..min_len].parse().map_err(|_| invalid())?;
    let ip = if ip_len == 10 {
        let v = u32::try_from(ip_num).map_err(|_| invalid())?;
        Ipv4Addr::from(v).to_string()
    } else {
        Ipv6Addr::from(ip_num).to_string()
    };
    Ok(GenericId {
        kind,
        id,
        agent: Some(AgentInfo { ip, port }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(ip: &str, port: u16, id: i64) -> String {
        encode(IdKind::Local, id, Some(&AgentInfo::new(ip, port))).unwrap()
    }

    #[test]
    fn worked_examples_from_the_spec() {
        assert_eq!(local("127.0.0.1", 2886, 9), "22130706433028869");
        assert_eq!(local("192.168.1.10", 2886, 42), "232322357860288642");
        assert_eq!(local("10.0.0.5", 2886, 1234), "20167772165028861234");
        assert_eq!(
            local("fe80::1", 2886, 7),
            "3338288524927261089654018896841347694593028867"
        );
        assert_eq!(encode(IdKind::Cluster, 1, None).unwrap(), "11");
        assert_eq!(encode(IdKind::Cluster, 1234, None).unwrap(), "11234");
    }

    #[test]
    fn decode_round_trips_including_leading_zero_addresses() {
        for (ip, port, id) in [
            ("127.0.0.1", 2886, 9),
            ("0.1.2.3", 1, 77),
            ("::1", 2886, 5),
            ("fe80::1", 65535, 123456789),
        ] {
            let g = decode(&local(ip, port, id)).unwrap();
            assert_eq!(g.kind, IdKind::Local);
            assert_eq!(g.id, id);
            assert_eq!(g.agent, Some(AgentInfo::new(ip, port)));
        }
        let g = decode("11234").unwrap();
        assert_eq!((g.kind, g.id, g.agent), (IdKind::Cluster, 1234, None));
        let o = encode(IdKind::Obproxy, 3, Some(&AgentInfo::new("10.0.0.5", 2886))).unwrap();
        assert!(o.starts_with('4'));
        assert_eq!(decode(&o).unwrap().kind, IdKind::Obproxy);
    }

    #[test]
    fn invalid_ids_are_errors_not_panics() {
        for bad in [
            "",
            "1",
            "9123",
            "2213070643302886",
            "abc",
            "2x",
            "29999999999028869",
            "1999999999999999999999999",
            "3338288524927261089654018896841347694593",
            "-1",
            "1 2",
            "２",
        ] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.err_code(), "Task.GenericID.Invalid", "{bad}");
        }
    }

    #[test]
    fn agent_key_brackets_ipv6() {
        assert_eq!(AgentInfo::new("::1", 2886).to_string(), "[::1]:2886");
        assert_eq!(AgentInfo::new("127.0.0.1", 1).to_string(), "127.0.0.1:1");
    }
}
