//! What SQL says about the instance, for `/api/v1/seekdb/info` and for take-over.
//!
//! The process-side facts (pid, user, bin path, base/log dirs) come from
//! [`crate::process::pid`] and [`crate::layout`]; the API layer joins them with this.

use serde::Serialize;

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{int, text, Client};
use crate::version::SeekdbVersion;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerInfo {
    /// `1.4.0.0`, from `select version()`.
    pub version: String,
    /// The full `select version()` string, `5.7.25-OceanBase seekdb-v1.4.0.0`.
    pub full_version: String,
    pub svr_ip: String,
    pub sql_port: i64,
    pub rpc_port: i64,
    /// `PRIMARY` or `STANDBY`.
    pub role: String,
    /// When the instance was created (server local time, as seekdb prints it).
    pub create_time: String,
    /// When it last started serving, in microseconds since the epoch.
    pub start_service_time: i64,
    pub cpu_count: i64,
    pub memory_size: i64,
    pub log_disk_size: i64,
    pub data_disk_size: i64,
    /// `data_dir` / `redo_dir` parameters (relative ones are relative to the base dir).
    pub data_dir: String,
    pub redo_dir: String,
    pub whitelist: String,
    pub database_count: i64,
    pub user_count: i64,
}

impl Client {
    pub async fn server_info(&self) -> Result<ServerInfo> {
        let full_version: String = {
            let row = sqlx::query("SELECT version() AS V")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
            text(&row, "V").unwrap_or_default()
        };
        let stat = sqlx::query(
            "SELECT SVR_IP, SVR_PORT, SQL_PORT, ROLE, CAST(CREATE_TIME AS CHAR) AS CREATE_TIME, \
             CAST(START_SERVICE_TIME AS SIGNED) AS START_SERVICE_TIME, CAST(CPU_CAPACITY AS SIGNED) AS CPU, \
             CAST(MEM_CAPACITY AS SIGNED) AS MEM, CAST(LOG_DISK_CAPACITY AS SIGNED) AS LOG_DISK, \
             CAST(DATA_DISK_CAPACITY AS SIGNED) AS DATA_DISK FROM oceanbase.V$OB_SERVER_STAT LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| SeekdbError::Unexpected("V$OB_SERVER_STAT is empty".into()))?;
        let params = sqlx::query(
            "SELECT NAME, VALUE FROM oceanbase.V$OB_PARAMETERS WHERE NAME IN ('data_dir', 'redo_dir')",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let param = |n: &str| {
            params
                .iter()
                .find(|r| text(r, "NAME").as_deref() == Some(n))
                .and_then(|r| text(r, "VALUE"))
                .unwrap_or_default()
        };
        let count = |sql: &'static str| async move {
            sqlx::query(sql)
                .fetch_one(&self.pool)
                .await
                .map(|r| int(&r, "N").unwrap_or(0))
                .map_err(|e| self.err(e))
        };
        let database_count = count(
            "SELECT COUNT(*) AS N FROM oceanbase.DBA_OB_DATABASES WHERE IN_RECYCLEBIN = 'NO' AND DATABASE_NAME NOT LIKE '\\_\\_%'",
        )
        .await?;
        let user_count = count("SELECT COUNT(*) AS N FROM oceanbase.DBA_OB_USERS").await?;
        Ok(ServerInfo {
            version: SeekdbVersion::from_sql_version(&full_version).unwrap_or_default(),
            full_version,
            svr_ip: text(&stat, "SVR_IP").unwrap_or_default(),
            sql_port: int(&stat, "SQL_PORT").unwrap_or(0),
            rpc_port: int(&stat, "SVR_PORT").unwrap_or(0),
            role: text(&stat, "ROLE").unwrap_or_default(),
            create_time: text(&stat, "CREATE_TIME").unwrap_or_default(),
            start_service_time: int(&stat, "START_SERVICE_TIME").unwrap_or(0),
            cpu_count: int(&stat, "CPU").unwrap_or(0),
            memory_size: int(&stat, "MEM").unwrap_or(0),
            log_disk_size: int(&stat, "LOG_DISK").unwrap_or(0),
            data_disk_size: int(&stat, "DATA_DISK").unwrap_or(0),
            data_dir: param("data_dir"),
            redo_dir: param("redo_dir"),
            whitelist: self.whitelist().await.unwrap_or_default(),
            database_count,
            user_count,
        })
    }
}
