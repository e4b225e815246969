//! Sessions to a seekdb over the MySQL protocol, through sqlx's MySQL driver.
//!
//! Two seekdb quirks shape this: seekdb lacks sqlx's default collation (utf8mb4_unicode_ci), so
//! every session asks for `utf8mb4_general_ci`; and text comes back as bytes through sqlx's
//! `Any` driver, so the MySQL driver is used directly. Connects are bounded: a seekdb that is
//! starting accepts TCP long before it answers the handshake.

use std::time::Duration;

use sqlx::mysql::{
    MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions, MySqlRow, MySqlSslMode,
};
use sqlx::{Connection, Row};

use crate::error::{from_sqlx, Result, SeekdbError};

/// The collation every session uses (seekdb has no utf8mb4_unicode_ci).
pub const COLLATION: &str = "utf8mb4_general_ci";

/// Where and as whom to connect.
#[derive(Clone)]
pub struct ConnParams {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    /// Bound on opening one session (TCP + handshake + login).
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for ConnParams {
    // never print the password
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl ConnParams {
    /// `root@127.0.0.1:<port>` with an empty password (a fresh instance) and database
    /// `oceanbase`, where the management views live.
    pub fn root(port: u16) -> ConnParams {
        ConnParams {
            host: "127.0.0.1".into(),
            port,
            user: "root".into(),
            password: String::new(),
            database: Some("oceanbase".into()),
            connect_timeout: Duration::from_secs(5),
        }
    }

    pub fn password(mut self, password: impl Into<String>) -> ConnParams {
        self.password = password.into();
        self
    }

    pub fn host(mut self, host: impl Into<String>) -> ConnParams {
        self.host = host.into();
        self
    }

    pub fn user(mut self, user: impl Into<String>) -> ConnParams {
        self.user = user.into();
        self
    }

    pub fn database(mut self, db: Option<String>) -> ConnParams {
        self.database = db;
        self
    }

    pub fn connect_timeout(mut self, d: Duration) -> ConnParams {
        self.connect_timeout = d;
        self
    }

    /// `host:port` as shown in errors.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn options(&self) -> MySqlConnectOptions {
        let mut o = MySqlConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .collation(COLLATION)
            .ssl_mode(MySqlSslMode::Disabled)
            // loopback management traffic: keep the prepared-statement cache small
            .statement_cache_capacity(16);
        // An empty password must be sent as no password at all (sqlx would scramble "").
        if !self.password.is_empty() {
            o = o.password(&self.password);
        }
        if let Some(db) = &self.database {
            o = o.database(db);
        }
        o
    }

    pub(crate) fn map_err(&self, e: sqlx::Error) -> SeekdbError {
        from_sqlx(&self.addr(), &self.user, e)
    }
}

/// Opens one session, bounded by `connect_timeout`.
pub async fn connect(p: &ConnParams) -> Result<MySqlConnection> {
    match tokio::time::timeout(
        p.connect_timeout,
        MySqlConnection::connect_with(&p.options()),
    )
    .await
    {
        Ok(r) => r.map_err(|e| p.map_err(e)),
        Err(_) => Err(SeekdbError::Connect {
            addr: p.addr(),
            reason: format!("timed out after {} ms", p.connect_timeout.as_millis()),
        }),
    }
}

/// Opens a session and runs `SELECT 1`: "does it accept SQL as this user".
pub async fn ping(p: &ConnParams) -> Result<()> {
    let mut c = connect(p).await?;
    sqlx::query("SELECT 1")
        .execute(&mut c)
        .await
        .map_err(|e| p.map_err(e))?;
    let _ = c.close().await;
    Ok(())
}

/// A small pool for the synchronous management operations of one instance. Lazy: building it
/// never fails; each operation reports its own connection error. Pooled sessions are tested
/// before use, so a restarted seekdb is reconnected transparently.
#[derive(Clone)]
pub struct Client {
    pub(crate) pool: MySqlPool,
    pub(crate) params: ConnParams,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("params", &self.params)
            .finish()
    }
}

impl Client {
    pub fn new(params: ConnParams) -> Client {
        let pool = MySqlPoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(params.connect_timeout)
            .idle_timeout(Some(Duration::from_secs(60)))
            .test_before_acquire(true)
            .connect_lazy_with(params.options());
        Client { pool, params }
    }

    pub fn params(&self) -> &ConnParams {
        &self.params
    }

    /// Closes the pooled sessions.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> SeekdbError {
        self.params.map_err(e)
    }

    /// Runs a statement that cannot be prepared (DDL, `ALTER SYSTEM`) through the text
    /// protocol. Only ever called with validated, quoted pieces.
    pub(crate) async fn exec_text(&self, sql: &str) -> Result<u64> {
        tracing::debug!(target: "seekdb::sql", "{sql}");
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| self.err(e))
    }
}

/// Reads a text column whatever its wire type (seekdb's views mix VARCHAR, TEXT and binary
/// strings). `None` for NULL. Dates and decimals are `CAST(... AS CHAR)` in the queries.
pub(crate) fn text(row: &MySqlRow, col: &str) -> Option<String> {
    if let Ok(v) = row.try_get::<Option<String>, _>(col) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(col) {
        return v.map(|b| String::from_utf8_lossy(&b).into_owned());
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(col) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<u64>, _>(col) {
        return v.map(|n| n.to_string());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(col) {
        return v.map(|n| n.to_string());
    }
    None
}

/// Reads an integer column whatever its wire type.
pub(crate) fn int(row: &MySqlRow, col: &str) -> Option<i64> {
    if let Ok(v) = row.try_get::<Option<i64>, _>(col) {
        return v;
    }
    if let Ok(v) = row.try_get::<Option<u64>, _>(col) {
        return v.map(|n| n as i64);
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(col) {
        return v.map(i64::from);
    }
    if let Ok(Some(d)) = row.try_get::<Option<f64>, _>(col) {
        return Some(d as i64);
    }
    text(row, col).and_then(|s| s.trim().parse().ok())
}
