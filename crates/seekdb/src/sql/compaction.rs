//! Compaction (`GET /compaction`, `POST /compact`, `DELETE /compaction-error`) and the minor
//! freeze that precedes a terminating stop.
//!
//! seekdb has no `CDB_OB_MAJOR_COMPACTION` (OceanBase's tenant-wide view); its single-tenant
//! `DBA_OB_MAJOR_COMPACTION` has the same columns.

use serde::Serialize;

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{int, text, Client};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompactionStatus {
    pub frozen_scn: i64,
    pub frozen_time: String,
    pub global_broadcast_scn: i64,
    pub last_scn: i64,
    pub last_finish_time: String,
    pub start_time: String,
    /// `IDLE`, `COMPACTING`, `CHECKSUM_CHECKING`, ...
    pub status: String,
    pub is_error: bool,
    pub is_suspended: bool,
    pub info: String,
}

impl Client {
    pub async fn compaction_status(&self) -> Result<CompactionStatus> {
        let row = sqlx::query(
            "SELECT CAST(FROZEN_SCN AS SIGNED) AS FROZEN_SCN, CAST(FROZEN_TIME AS CHAR) AS FROZEN_TIME, \
             CAST(GLOBAL_BROADCAST_SCN AS SIGNED) AS GLOBAL_BROADCAST_SCN, CAST(LAST_SCN AS SIGNED) AS LAST_SCN, \
             CAST(LAST_FINISH_TIME AS CHAR) AS LAST_FINISH_TIME, CAST(START_TIME AS CHAR) AS START_TIME, \
             STATUS, IS_ERROR, IS_SUSPENDED, INFO FROM oceanbase.DBA_OB_MAJOR_COMPACTION",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| SeekdbError::Unexpected("DBA_OB_MAJOR_COMPACTION is empty".into()))?;
        let yes = |c: &str| text(&row, c).is_some_and(|v| v.eq_ignore_ascii_case("YES"));
        Ok(CompactionStatus {
            frozen_scn: int(&row, "FROZEN_SCN").unwrap_or(0),
            frozen_time: text(&row, "FROZEN_TIME").unwrap_or_default(),
            global_broadcast_scn: int(&row, "GLOBAL_BROADCAST_SCN").unwrap_or(0),
            last_scn: int(&row, "LAST_SCN").unwrap_or(0),
            last_finish_time: text(&row, "LAST_FINISH_TIME").unwrap_or_default(),
            start_time: text(&row, "START_TIME").unwrap_or_default(),
            status: text(&row, "STATUS").unwrap_or_default(),
            is_error: yes("IS_ERROR"),
            is_suspended: yes("IS_SUSPENDED"),
            info: text(&row, "INFO").unwrap_or_default(),
        })
    }

    /// Triggers a major compaction; refused (`Seekdb.Conflict`) unless the status is IDLE, as
    /// upstream does: a second freeze while one runs only queues confusion.
    pub async fn major_compaction(&self) -> Result<()> {
        let s = self.compaction_status().await?;
        if !s.status.eq_ignore_ascii_case("IDLE") {
            return Err(SeekdbError::Conflict(format!(
                "a major compaction is already in progress (status {})",
                s.status
            )));
        }
        self.exec_text("ALTER SYSTEM MAJOR FREEZE")
            .await
            .map(|_| ())
    }

    pub async fn clear_compaction_error(&self) -> Result<()> {
        self.exec_text("ALTER SYSTEM CLEAR MERGE ERROR")
            .await
            .map(|_| ())
    }

    /// `ALTER SYSTEM MINOR FREEZE`: dumps memtables so a stop loses no replay work.
    pub async fn minor_freeze(&self) -> Result<()> {
        self.exec_text("ALTER SYSTEM MINOR FREEZE")
            .await
            .map(|_| ())
    }

    /// The lowest log-stream checkpoint SCN; it rises once a minor freeze has finished.
    pub async fn checkpoint_scn(&self) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(checkpoint_scn AS SIGNED) AS SCN FROM oceanbase.__all_virtual_ls_info ORDER BY 1 LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.and_then(|r| int(&r, "SCN"))
            .ok_or_else(|| SeekdbError::Unexpected("no log stream checkpoint found".into()))
    }
}
