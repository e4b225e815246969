//! The agent's own rows in the SQLite `.meta` (spec agent-and-ops §1.4): the key/value table
//! `ocs_info` (identity, address, version, keys, agent password) and `all_agent` (the agents
//! this one knows; a SINGLE agent knows itself). The task tables, and the `ocs_info` row
//! `name='status'` that is the agent maintenance lock, belong to the task crate and are never
//! written here.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::AgentError;

/// `ocs_info` keys (upstream's names).
pub mod keys {
    pub const IP: &str = "ip";
    pub const PORT: &str = "port";
    pub const IDENTITY: &str = "identity";
    pub const VERSION: &str = "version";
    pub const OS: &str = "os";
    pub const ARCHITECTURE: &str = "architecture";
    pub const PRIVATE_KEY: &str = "private_key";
    pub const AGENT_PASSWORD: &str = "agentRootPwd";
}

/// One `all_agent` row.
#[derive(Debug, Clone)]
pub struct AgentRow {
    pub ip: String,
    pub port: u16,
    pub identity: String,
    pub version: String,
    pub os: String,
    pub architecture: String,
    pub home_path: String,
    pub public_key: String,
}

/// Handle to the agent metadata in `.meta`. Cheap to clone.
#[derive(Clone)]
pub struct MetaDb {
    pool: SqlitePool,
}

impl MetaDb {
    /// Opens `.meta` (WAL, like the task store sharing the file) and creates the agent tables.
    pub async fn open(path: &Path) -> Result<MetaDb, AgentError> {
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        let db = MetaDb { pool };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), AgentError> {
        // Same definition as the task crate's, so whichever opens the file first wins harmlessly.
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ocs_info (
                name VARCHAR(128) NOT NULL UNIQUE,
                value VARCHAR(65536),
                info TEXT
            )",
        )
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS all_agent (
                ip VARCHAR(64) NOT NULL,
                port INTEGER NOT NULL,
                identity VARCHAR(32) NOT NULL,
                version VARCHAR(64) NOT NULL DEFAULT '',
                os VARCHAR(32) NOT NULL DEFAULT '',
                architecture VARCHAR(32) NOT NULL DEFAULT '',
                zone VARCHAR(128) NOT NULL DEFAULT '',
                mysql_port INTEGER NOT NULL DEFAULT 0,
                rpc_port INTEGER NOT NULL DEFAULT 0,
                home_path TEXT NOT NULL DEFAULT '',
                public_key TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (ip, port)
            )",
        )
        .execute(&self.pool)
        .await?;
        // Upstream's `ob_config`: what the agent recorded about the database it manages
        // (seekdb: mysql_port, rootPwd encrypted, type, dirs, created_time, ob_version, user).
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ob_config (
                name VARCHAR(128) NOT NULL UNIQUE,
                value VARCHAR(65536),
                info TEXT
            )",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The value of an `ob_config` row.
    pub async fn ob_config(&self, name: &str) -> Result<Option<String>, AgentError> {
        self.kv_get("ob_config", name).await
    }

    /// Writes several `ob_config` rows in one transaction.
    pub async fn set_ob_config(&self, pairs: &[(&str, &str)]) -> Result<(), AgentError> {
        self.kv_set("ob_config", pairs).await
    }

    /// The value of an `ocs_info` row.
    pub async fn get(&self, name: &str) -> Result<Option<String>, AgentError> {
        self.kv_get("ocs_info", name).await
    }

    /// Writes several `ocs_info` rows in one transaction.
    pub async fn set_many(&self, pairs: &[(&str, &str)]) -> Result<(), AgentError> {
        debug_assert!(
            pairs.iter().all(|(name, _)| *name != "status"),
            "the lock row belongs to the task crate"
        );
        self.kv_set("ocs_info", pairs).await
    }

    /// `ocs_info` and `ob_config` are both `(name UNIQUE, value, info)` key/value tables.
    async fn kv_get(&self, table: &'static str, name: &str) -> Result<Option<String>, AgentError> {
        let sql = format!("SELECT value FROM {table} WHERE name = ?");
        let row: Option<(Option<String>,)> = sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|(v,)| v))
    }

    async fn kv_set(&self, table: &'static str, pairs: &[(&str, &str)]) -> Result<(), AgentError> {
        let sql = format!(
            "INSERT INTO {table} (name, value, info) VALUES (?, ?, '')
             ON CONFLICT(name) DO UPDATE SET value = excluded.value"
        );
        let mut tx = self.pool.begin().await?;
        for (name, value) in pairs {
            sqlx::query(&sql)
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set(&self, name: &str, value: &str) -> Result<(), AgentError> {
        self.set_many(&[(name, value)]).await
    }

    /// Makes `row` the only `all_agent` row: a SINGLE agent knows no other agent, and its own
    /// address may have changed since the last start.
    pub async fn replace_agents(&self, row: &AgentRow) -> Result<(), AgentError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM all_agent")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO all_agent (ip, port, identity, version, os, architecture, home_path, public_key)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.ip)
        .bind(i64::from(row.port))
        .bind(&row.identity)
        .bind(&row.version)
        .bind(&row.os)
        .bind(&row.architecture)
        .bind(&row.home_path)
        .bind(&row.public_key)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// All `all_agent` rows as (ip, port, identity).
    pub async fn agents(&self) -> Result<Vec<(String, u16, String)>, AgentError> {
        let rows: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT ip, port, identity FROM all_agent ORDER BY ip, port")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(ip, port, id)| (ip, u16::try_from(port).unwrap_or(0), id))
            .collect())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_round_trip_and_keep_the_lock_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".meta");
        // The task store creates ocs_info first and owns name='status'.
        let store = task::Store::open_sqlite(&path).await.unwrap();
        let db = MetaDb::open(&path).await.unwrap();
        db.set_many(&[(keys::IDENTITY, "SINGLE"), (keys::PORT, "2886")])
            .await
            .unwrap();
        db.set(keys::PORT, "2887").await.unwrap();
        assert_eq!(
            db.get(keys::IDENTITY).await.unwrap().as_deref(),
            Some("SINGLE")
        );
        assert_eq!(db.get(keys::PORT).await.unwrap().as_deref(), Some("2887"));
        assert_eq!(db.get("status").await.unwrap().as_deref(), Some("1"));
        assert!(store.is_lock_free().await.unwrap());
        let row = AgentRow {
            ip: "127.0.0.1".into(),
            port: 2886,
            identity: "SINGLE".into(),
            version: "v".into(),
            os: "linux".into(),
            architecture: "x86_64".into(),
            home_path: "/h".into(),
            public_key: "pk".into(),
        };
        db.replace_agents(&row).await.unwrap();
        db.replace_agents(&AgentRow { port: 2887, ..row })
            .await
            .unwrap();
        assert_eq!(
            db.agents().await.unwrap(),
            vec![("127.0.0.1".to_string(), 2887, "SINGLE".to_string())]
        );
    }
}
