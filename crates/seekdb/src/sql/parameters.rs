//! Parameters (`GET/PATCH /api/v1/seekdb/parameters`).
//!
//! seekdb has no `GV$OB_PARAMETERS` (OceanBase does), so reads use `V$OB_PARAMETERS`. Writes
//! check that every name exists first, so a typo is a clear "does not exist" instead of seekdb's
//! "System config unknown", then apply all of them in one `ALTER SYSTEM SET` (which takes no
//! placeholders: names and values are validated and quoted).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{text, Client};
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameter {
    pub name: String,
    pub value: String,
    pub data_type: String,
    pub info: String,
    pub edit_level: String,
}

impl Client {
    /// Parameters whose name is `LIKE filter` (all when `None` or empty).
    pub async fn parameters(&self, filter: Option<&str>) -> Result<Vec<Parameter>> {
        let filter = validate::like_pattern(filter)?;
        let rows = sqlx::query(
            "SELECT DISTINCT NAME, VALUE, DATA_TYPE, INFO, EDIT_LEVEL FROM oceanbase.V$OB_PARAMETERS WHERE NAME LIKE ? ORDER BY NAME",
        )
        .bind(filter)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Parameter {
                name: text(r, "NAME").unwrap_or_default(),
                value: text(r, "VALUE").unwrap_or_default(),
                data_type: text(r, "DATA_TYPE").unwrap_or_default(),
                info: text(r, "INFO").unwrap_or_default(),
                edit_level: text(r, "EDIT_LEVEL").unwrap_or_default(),
            })
            .collect())
    }

    /// The value of one parameter.
    pub async fn parameter(&self, name: &str) -> Result<String> {
        validate::config_name(name)?;
        let row = sqlx::query("SELECT VALUE FROM oceanbase.V$OB_PARAMETERS WHERE NAME = ? LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.and_then(|r| text(&r, "VALUE"))
            .ok_or_else(|| SeekdbError::NotFound {
                kind: "parameter",
                name: name.to_string(),
            })
    }

    /// Sets parameters in one statement after checking every name exists.
    pub async fn set_parameters(&self, params: &BTreeMap<String, String>) -> Result<()> {
        if params.is_empty() {
            return Err(SeekdbError::invalid("no parameters given"));
        }
        for (k, v) in params {
            validate::config_name(k)?;
            validate::config_value(v)?;
        }
        for k in params.keys() {
            let found =
                sqlx::query("SELECT 1 FROM oceanbase.V$OB_PARAMETERS WHERE NAME = ? LIMIT 1")
                    .bind(k)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| self.err(e))?;
            if found.is_none() {
                return Err(SeekdbError::NotFound {
                    kind: "parameter",
                    name: k.clone(),
                });
            }
        }
        let sets: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{} = {}", validate::quote_ident(k), validate::quote_str(v)))
            .collect();
        self.exec_text(&format!("ALTER SYSTEM SET {}", sets.join(", ")))
            .await?;
        Ok(())
    }
}
