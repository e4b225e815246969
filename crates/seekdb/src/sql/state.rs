//! `obState` of `/api/v1/status` (spec §1.2, §3.2): 0 no process, 1 process without a
//! connection, 2 restricted, 3 available, decided by real checks, cheapest first.
//!
//! "Restricted" is where seekdb answers the MySQL protocol but cannot be used for management:
//! the login is refused (wrong or changed root password, locked account) or the session opens
//! but the management views fail (the instance is still bootstrapping). Both need an operator
//! or more time, not a start.

use std::time::Duration;

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::process::pid::find_pid;
use crate::sql::conn::{connect, ConnParams};

/// The health of an instance as `/api/v1/status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObState {
    NotRunning = 0,
    NoConnection = 1,
    Restricted = 2,
    Available = 3,
}

impl ObState {
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    /// The words the CLI shows while it waits ("OB connection status: ...").
    pub fn describe(self) -> &'static str {
        match self {
            ObState::NotRunning => "OB process not running",
            ObState::NoConnection => "running with no connection",
            ObState::Restricted => "restricted",
            ObState::Available => "available",
        }
    }
}

/// Serialized as its integer, the wire form of `obState`.
impl serde::Serialize for ObState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.as_i64())
    }
}

/// Checks the instance: with a `layout`, "is there a process" is its verified pid; without
/// one, whether anything accepts TCP on the SQL port. Then a login with `params` and a read of
/// `V$OB_SERVER_STAT` decide between 1, 2 and 3.
pub async fn ob_state(params: &ConnParams, layout: Option<&Layout>) -> ObState {
    let process = match layout {
        Some(l) => find_pid(l).is_some(),
        None => tcp_open(params).await,
    };
    if !process {
        return ObState::NotRunning;
    }
    let mut conn = match connect(params).await {
        Ok(c) => c,
        Err(SeekdbError::AccessDenied { .. }) => return ObState::Restricted,
        Err(_) => return ObState::NoConnection,
    };
    let probe = tokio::time::timeout(
        params.connect_timeout,
        sqlx::query("SELECT SQL_PORT FROM oceanbase.V$OB_SERVER_STAT LIMIT 1")
            .fetch_optional(&mut conn),
    )
    .await;
    let _ = sqlx::Connection::close(conn).await;
    match probe {
        Ok(Ok(Some(_))) => ObState::Available,
        _ => ObState::Restricted,
    }
}

async fn tcp_open(params: &ConnParams) -> bool {
    let addr = (params.host.as_str(), params.port);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_listening_is_not_running() {
        // a port from the ephemeral range that nobody listens on
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let p = ConnParams::root(port).connect_timeout(Duration::from_millis(500));
        assert_eq!(ob_state(&p, None).await, ObState::NotRunning);
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path()).unwrap();
        assert_eq!(ob_state(&p, Some(&layout)).await, ObState::NotRunning);
        assert_eq!(serde_json::to_string(&ObState::Available).unwrap(), "3");
    }
}
