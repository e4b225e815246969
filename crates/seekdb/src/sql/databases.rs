//! Databases (`POST /database`, `GET /databases`, `GET|PUT|DELETE /database/:name`).
//!
//! DDL takes no placeholders: names and collations are validated and backquoted. The system
//! databases are refused for alter and drop: losing `oceanbase` or `mysql` breaks the instance.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{text, Client};
use crate::validate;

/// Databases the API never alters or drops.
pub const SYSTEM_DATABASES: &[&str] = &[
    "oceanbase",
    "mysql",
    "information_schema",
    "__recyclebin",
    "__public",
    "sys",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Database {
    pub db_name: String,
    pub collation: String,
    pub read_only: bool,
    pub comment: String,
}

/// `POST /database` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateDatabase {
    pub db_name: String,
    #[serde(default)]
    pub collation: Option<String>,
    #[serde(default)]
    pub read_only: bool,
}

/// `PUT /database/:name` body: what to change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AlterDatabase {
    #[serde(default)]
    pub collation: Option<String>,
    #[serde(default)]
    pub read_only: Option<bool>,
}

fn not_system(name: &str) -> Result<()> {
    if SYSTEM_DATABASES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
    {
        return Err(SeekdbError::invalid(format!(
            "{name} is a system database and cannot be changed"
        )));
    }
    Ok(())
}

impl Client {
    pub async fn create_database(&self, req: &CreateDatabase) -> Result<()> {
        validate::db_name(&req.db_name)?;
        let mut sql = format!("CREATE DATABASE {}", validate::quote_ident(&req.db_name));
        if let Some(c) = req.collation.as_deref().filter(|c| !c.is_empty()) {
            validate::collation(c)?;
            sql.push_str(&format!(" DEFAULT COLLATE = {c}"));
        }
        if req.read_only {
            sql.push_str(" READ ONLY");
        }
        match self.exec_text(&sql).await {
            Err(SeekdbError::Sql { code: 1007, .. }) => Err(SeekdbError::Conflict(format!(
                "database {} already exists",
                req.db_name
            ))),
            r => r.map(|_| ()),
        }
    }

    /// User databases and the visible system ones, by name.
    pub async fn databases(&self) -> Result<Vec<Database>> {
        let rows = sqlx::query(
            "SELECT DATABASE_NAME, COLLATION, READ_ONLY, COMMENT FROM oceanbase.DBA_OB_DATABASES WHERE IN_RECYCLEBIN = 'NO' ORDER BY DATABASE_NAME",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(db_from_row).collect())
    }

    pub async fn database(&self, name: &str) -> Result<Database> {
        validate::db_name(name)?;
        let row = sqlx::query(
            "SELECT DATABASE_NAME, COLLATION, READ_ONLY, COMMENT FROM oceanbase.DBA_OB_DATABASES WHERE DATABASE_NAME = ?",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        row.as_ref()
            .map(db_from_row)
            .ok_or_else(|| SeekdbError::NotFound {
                kind: "database",
                name: name.to_string(),
            })
    }

    pub async fn alter_database(&self, name: &str, req: &AlterDatabase) -> Result<()> {
        validate::db_name(name)?;
        not_system(name)?;
        self.database(name).await?;
        let mut parts = Vec::new();
        if let Some(c) = req.collation.as_deref().filter(|c| !c.is_empty()) {
            validate::collation(c)?;
            parts.push(format!("DEFAULT COLLATE = {c}"));
        }
        if let Some(ro) = req.read_only {
            parts.push(if ro { "READ ONLY" } else { "READ WRITE" }.to_string());
        }
        if parts.is_empty() {
            return Err(SeekdbError::invalid("nothing to change"));
        }
        for p in parts {
            self.exec_text(&format!(
                "ALTER DATABASE {} {p}",
                validate::quote_ident(name)
            ))
            .await?;
        }
        Ok(())
    }

    pub async fn drop_database(&self, name: &str) -> Result<()> {
        validate::db_name(name)?;
        not_system(name)?;
        match self
            .exec_text(&format!("DROP DATABASE {}", validate::quote_ident(name)))
            .await
        {
            Err(SeekdbError::Sql { code: 1008, .. }) => Err(SeekdbError::NotFound {
                kind: "database",
                name: name.to_string(),
            }),
            r => r.map(|_| ()),
        }
    }
}

fn db_from_row(r: &sqlx::mysql::MySqlRow) -> Database {
    Database {
        db_name: text(r, "DATABASE_NAME").unwrap_or_default(),
        collation: text(r, "COLLATION").unwrap_or_default(),
        read_only: text(r, "READ_ONLY").is_some_and(|v| v.eq_ignore_ascii_case("YES")),
        comment: text(r, "COMMENT").unwrap_or_default(),
    }
}
