//! Persistence of the task tables behind one [`Store`], on SQLite (the embedded default) or on a
//! MySQL-protocol database (the `ocs` database on seekdb / OceanBase / MySQL).
//!
//! Both backends run the same SQL through sqlx's `Any` driver; the few dialect differences
//! (DDL, how timestamps are read back) live in [`Dialect`]. Every state transition is one
//! committed statement or transaction guarded by optimistic checks, so a crash at any point
//! leaves rows the engine can resume from.

pub(crate) mod queries;
mod transitions;

pub(crate) use transitions::Write;
mod rows;
mod schema;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

use crate::error::{Result, TaskError};

pub use queries::DagFilter;

/// Which SQL dialect a store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Mysql,
}

/// Handle to the task tables. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    pub(crate) cols: Arc<rows::Columns>,
}

impl Store {
    /// Opens (creating if needed) the SQLite file `path` in WAL mode with full fsync on commit:
    /// a DBA's operation must not be lost to a power cut.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let opts = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA journal_mode=WAL").await?;
                    conn.execute("PRAGMA synchronous=FULL").await?;
                    conn.execute("PRAGMA busy_timeout=5000").await?;
                    conn.execute("PRAGMA foreign_keys=ON").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let store = Store::new(pool, Dialect::Sqlite);
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to a MySQL-protocol server, e.g. `mysql://root@127.0.0.1:2881/ocs`. The database
    /// in the URL (default `ocs`) is created if missing. Sessions run in UTC.
    pub async fn open_mysql(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (server_url, db, mut opts_suffix) = split_database(url);
        // seekdb/OceanBase lack sqlx's default collation (utf8mb4_unicode_ci).
        if !opts_suffix.contains("collation=") {
            let sep = if opts_suffix.is_empty() { '?' } else { '&' };
            opts_suffix.push_str(&format!("{sep}collation=utf8mb4_general_ci"));
        }
        if !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || db.is_empty() {
            return Err(TaskError::Unexpected(format!(
                "invalid database name '{db}'"
            )));
        }
        {
            let opts = AnyConnectOptions::from_str(&format!("{server_url}{opts_suffix}"))?
                .disable_statement_logging();
            let mut conn = opts.connect().await?;
            conn.execute(format!("CREATE DATABASE IF NOT EXISTS {db}").as_str())
                .await?;
        }
        let opts = AnyConnectOptions::from_str(&format!("{server_url}/{db}{opts_suffix}"))?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET time_zone = '+00:00'").await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        let store = Store::new(pool, Dialect::Mysql);
        store.migrate().await?;
        Ok(store)
    }

    /// Opens a store from a URL: `sqlite://PATH` / a bare path, or `mysql://...`.
    pub async fn open(url: &str) -> Result<Store> {
        if url.starts_with("mysql://") {
            Store::open_mysql(url).await
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(url);
            Store::open_sqlite(std::path::Path::new(path)).await
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    async fn migrate(&self) -> Result<()> {
        for stmt in schema::create_statements(self.dialect) {
            self.pool.execute(stmt.as_str()).await?;
        }
        for (table, name, cols) in schema::INDEXES {
            let sql = match self.dialect {
                Dialect::Sqlite => {
                    format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({cols})")
                }
                Dialect::Mysql => format!("CREATE INDEX {name} ON {table} ({cols})"),
            };
            if let Err(e) = self.pool.execute(sql.as_str()).await {
                // MySQL: 1061 duplicate key name means the index is already there.
                let dup = e
                    .as_database_error()
                    .is_some_and(|d| d.message().contains("Duplicate key name"));
                if !dup {
                    return Err(e.into());
                }
            }
        }
        let init = match self.dialect {
            Dialect::Sqlite => {
                "INSERT OR IGNORE INTO ocs_info (name, value, info) VALUES ('status', '1', '')"
            }
            Dialect::Mysql => "INSERT IGNORE INTO cluster_status (id, status) VALUES (1, 1)",
        };
        self.pool.execute(init).await?;
        Ok(())
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// One small committed write that really changes a row: the unit the scheduling
    /// overhead is measured in (design.md §6). On SQLite it stamps the lock row's `info`
    /// column with the probe time; on MySQL it rewrites the lock row's status in place.
    pub async fn commit_probe(&self) -> Result<()> {
        match self.dialect {
            Dialect::Sqlite => {
                sqlx::query("UPDATE ocs_info SET info = ? WHERE name = 'status'")
                    .bind(format!("probe {}", self.ts(chrono::Utc::now())))
                    .execute(&self.pool)
                    .await?;
            }
            Dialect::Mysql => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("UPDATE cluster_status SET status = status + 0 WHERE id = 1")
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// A timestamp as a bind parameter in this dialect's column format.
    pub(crate) fn ts(&self, t: DateTime<Utc>) -> String {
        match self.dialect {
            Dialect::Sqlite => t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string(),
            Dialect::Mysql => t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        }
    }

    /// Begins a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads, then writes, fails at once with a busy
    /// snapshot when another connection committed in between, instead of waiting.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Mysql => self.pool.begin().await?,
        })
    }

    /// An expression reading a TEXT or TIMESTAMP column back as a string (the MySQL `Any`
    /// driver returns TEXT as bytes and cannot decode TIMESTAMP at all).
    pub(crate) fn tcol_expr(&self, col: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => col.to_string(),
            Dialect::Mysql => format!("CAST({col} AS CHAR)"),
        }
    }

    fn new(pool: AnyPool, dialect: Dialect) -> Store {
        let mut store = Store {
            pool,
            dialect,
            cols: Arc::new(rows::Columns::default()),
        };
        store.cols = Arc::new(rows::Columns::new(&store));
        store
    }
}

/// Parses the timestamp text forms the stores hold (ours, and upstream GORM's with an offset).
pub(crate) fn parse_ts(s: &str) -> DateTime<Utc> {
    let s = s.trim();
    if let Some(t) = parse_utc_fast(s) {
        return t;
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return t.with_timezone(&Utc);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return t.with_timezone(&Utc);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        return t.and_utc();
    }
    crate::model::epoch()
}

/// The form this store writes (`YYYY-MM-DD HH:MM:SS[.ffffff][+00:00]`), parsed without
/// chrono's format interpreter: the detailed list endpoints parse thousands per request.
fn parse_utc_fast(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.parse().ok() };
    let (mut rest, mut micros) = (&s[19..], 0u32);
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: u32 = frac[..digits].parse().ok()?;
        micros = if digits <= 6 {
            value * 10u32.pow(6 - digits as u32)
        } else {
            value / 10u32.pow(digits as u32 - 6)
        };
        rest = &frac[digits..];
    }
    if !(rest.is_empty() || rest == "+00:00" || rest == "Z") {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let time =
        chrono::NaiveTime::from_hms_micro_opt(num(11..13)?, num(14..16)?, num(17..19)?, micros)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

/// Splits `mysql://user@host:port/db?opts` into the server URL (with options) and the database
/// name (default `ocs`). Returns (server URL, database, options suffix).
fn split_database(url: &str) -> (String, String, String) {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let rest = base.trim_start_matches("mysql://");
    let (server, db) = match rest.split_once('/') {
        Some((s, d)) if !d.is_empty() => (s, d.to_string()),
        Some((s, _)) => (s, "ocs".to_string()),
        None => (rest, "ocs".to_string()),
    };
    (format!("mysql://{server}"), db, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_defaults_to_ocs() {
        let (server, db, q) = split_database("mysql://root@127.0.0.1:2881");
        assert_eq!(
            (server.as_str(), db.as_str(), q.as_str()),
            ("mysql://root@127.0.0.1:2881", "ocs", "")
        );
        let (server, db, q) = split_database("mysql://u:p@h:1/meta?ssl-mode=disabled");
        assert_eq!(
            (server.as_str(), db.as_str(), q.as_str()),
            ("mysql://u:p@h:1", "meta", "?ssl-mode=disabled")
        );
    }

    #[test]
    fn timestamps_parse_in_every_stored_form() {
        let t = parse_ts("2024-01-10 11:34:22.556477+08:00");
        assert_eq!(t.to_rfc3339(), "2024-01-10T03:34:22.556477+00:00");
        let u = parse_ts("2024-01-10 03:34:22.556477");
        assert_eq!(t, u);
        assert_eq!(parse_ts("garbage"), crate::model::epoch());
        let ours = parse_ts("2024-01-10 03:34:22.556477+00:00");
        assert_eq!(ours, t);
        assert_eq!(
            parse_ts("2024-01-10 03:34:22.5+00:00").timestamp_subsec_micros(),
            500_000
        );
        assert_eq!(parse_ts("2024-01-10 03:34:22").timestamp_subsec_micros(), 0);
        assert_eq!(parse_ts("2024-13-10 03:34:22"), crate::model::epoch());
    }
}
