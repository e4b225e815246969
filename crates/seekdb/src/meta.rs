//! What an initialized seekdb recorded about itself in `store/sstable/meta.db` (a SQLite file,
//! table `__all_sys_parameter`). Upstream's agent reads `mysql_port`, `local_ip` and `use_ipv6`
//! there (spec §1.3) so it can reach an instance that is not running yet; we also read
//! `rpc_port`. Opened read-only: seekdb owns the file.

use std::collections::HashMap;
use std::str::FromStr;

use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};

use crate::error::{Result, SeekdbError};
use crate::layout::Layout;

/// The stored settings an agent needs before it can talk SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredConfig {
    pub mysql_port: u16,
    pub rpc_port: Option<u16>,
    pub local_ip: Option<String>,
    pub use_ipv6: bool,
}

impl StoredConfig {
    /// The host to connect to: `local_ip` when set, else loopback of the right family.
    pub fn sql_host(&self) -> String {
        match &self.local_ip {
            Some(ip) if !ip.is_empty() => ip.clone(),
            _ if self.use_ipv6 => "::1".into(),
            _ => "127.0.0.1".into(),
        }
    }
}

/// Reads the stored config of the instance in `layout`.
pub async fn stored_config(layout: &Layout) -> Result<StoredConfig> {
    layout.require_initialized()?;
    let path = layout.meta_db();
    let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .map_err(|e| SeekdbError::Unexpected(format!("meta.db path: {e}")))?
        .read_only(true)
        .disable_statement_logging();
    let unreadable =
        |e: sqlx::Error| SeekdbError::Unexpected(format!("read {}: {e}", path.display()));
    let mut conn: SqliteConnection = opts.connect().await.map_err(unreadable)?;
    let rows = sqlx::query(
        "SELECT name, value FROM __all_sys_parameter WHERE name IN ('mysql_port', 'rpc_port', 'local_ip', 'use_ipv6')",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(unreadable)?;
    let _ = conn.close().await;
    let mut m = HashMap::new();
    for r in rows {
        let name: String = r.try_get(0).map_err(unreadable)?;
        let value: String = r.try_get(1).map_err(unreadable)?;
        m.insert(name, value);
    }
    let mysql_port = m
        .get("mysql_port")
        .and_then(|v| v.trim().parse::<u16>().ok())
        .ok_or_else(|| SeekdbError::Unexpected(format!("no mysql_port in {}", path.display())))?;
    Ok(StoredConfig {
        mysql_port,
        rpc_port: m.get("rpc_port").and_then(|v| v.trim().parse().ok()),
        local_ip: m
            .get("local_ip")
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
        use_ipv6: m
            .get("use_ipv6")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1"),
    })
}
