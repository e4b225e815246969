//! Global system variables (`GET/PATCH /api/v1/seekdb/variables`) and the whitelist
//! (`PUT /api/v1/seekdb/whitelist`), which is the variable `ob_tcp_invited_nodes`.
//!
//! `SET GLOBAL name = ?` takes a placeholder, so values are bound; seekdb type-checks the
//! bound value, so JSON numbers are bound as numbers and strings as strings (upstream sends
//! numbers raw and quotes strings, the same split).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{text, Client};
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variable {
    pub name: String,
    pub value: String,
    pub info: String,
    pub scope: String,
    pub default_value: String,
}

/// The variable that holds the IP whitelist.
pub const WHITELIST_VARIABLE: &str = "ob_tcp_invited_nodes";

impl Client {
    /// Global variables whose name is `LIKE filter` (all when `None` or empty).
    pub async fn variables(&self, filter: Option<&str>) -> Result<Vec<Variable>> {
        let filter = validate::like_pattern(filter)?;
        let rows = sqlx::query(
            "SELECT NAME, VALUE, INFO, SCOPE, DEFAULT_VALUE FROM oceanbase.DBA_OB_SYS_VARIABLES WHERE NAME LIKE ? ORDER BY NAME",
        )
        .bind(filter)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Variable {
                name: text(r, "NAME").unwrap_or_default(),
                value: text(r, "VALUE").unwrap_or_default(),
                info: text(r, "INFO").unwrap_or_default(),
                scope: text(r, "SCOPE").unwrap_or_default(),
                default_value: text(r, "DEFAULT_VALUE").unwrap_or_default(),
            })
            .collect())
    }

    /// The global value of one variable.
    pub async fn variable(&self, name: &str) -> Result<String> {
        validate::config_name(name)?;
        let row =
            sqlx::query("SELECT VALUE FROM oceanbase.DBA_OB_SYS_VARIABLES WHERE NAME = ? LIMIT 1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        row.and_then(|r| text(&r, "VALUE"))
            .ok_or_else(|| SeekdbError::NotFound {
                kind: "variable",
                name: name.to_string(),
            })
    }

    /// Sets global variables, checking first that each exists. One statement per variable, in
    /// name order, on one session: seekdb's multi-assignment `SET` takes no placeholders.
    pub async fn set_variables(&self, vars: &BTreeMap<String, Value>) -> Result<()> {
        if vars.is_empty() {
            return Err(SeekdbError::invalid("no variables given"));
        }
        for (k, v) in vars {
            validate::config_name(k)?;
            match v {
                Value::String(s) if s.chars().count() > 4096 || s.chars().any(char::is_control) => {
                    return Err(SeekdbError::invalid(format!("invalid value for {k}")));
                }
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {}
                _ => {
                    return Err(SeekdbError::invalid(format!(
                        "the value of {k} must be a string, number or boolean"
                    )))
                }
            }
        }
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        for k in vars.keys() {
            let found =
                sqlx::query("SELECT 1 FROM oceanbase.DBA_OB_SYS_VARIABLES WHERE NAME = ? LIMIT 1")
                    .bind(k)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.err(e))?;
            if found.is_none() {
                return Err(SeekdbError::NotFound {
                    kind: "variable",
                    name: k.clone(),
                });
            }
        }
        for (k, v) in vars {
            let sql = format!("SET GLOBAL {} = ?", validate::quote_ident(k));
            let q = sqlx::query(&sql);
            let q = match v {
                Value::Number(n) if n.is_i64() => q.bind(n.as_i64()),
                Value::Number(n) if n.is_u64() => q.bind(n.as_u64()),
                Value::Number(n) => q.bind(n.as_f64()),
                Value::Bool(b) => q.bind(i64::from(*b)),
                Value::String(s) => q.bind(s.as_str()),
                _ => continue,
            };
            match q.execute(&mut *conn).await.map_err(|e| self.err(e)) {
                Ok(_) => {}
                // 1232 "Incorrect argument type": a numeric variable given as a string
                // ("100"); retry with the number it spells.
                Err(SeekdbError::Sql { code: 1232, .. })
                    if v.as_str()
                        .and_then(|s| s.trim().parse::<i64>().ok())
                        .is_some() =>
                {
                    let n = v.as_str().and_then(|s| s.trim().parse::<i64>().ok());
                    sqlx::query(&sql)
                        .bind(n)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.err(e))?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The current whitelist (`ob_tcp_invited_nodes`).
    pub async fn whitelist(&self) -> Result<String> {
        self.variable(WHITELIST_VARIABLE).await
    }

    /// Sets the whitelist. Like upstream, `127.0.0.1` is always kept (the agent connects
    /// through it) and `%` wins over everything. Returns the value written.
    pub async fn set_whitelist(&self, whitelist: &str) -> Result<String> {
        let value = merge_whitelist(whitelist)?;
        sqlx::query("SET GLOBAL ob_tcp_invited_nodes = ?")
            .bind(&value)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(value)
    }
}

/// The pure part of [`Client::set_whitelist`]: validates the comma-separated entries, adds
/// `127.0.0.1`, drops duplicates, and collapses to `%` when `%` is present.
pub fn merge_whitelist(whitelist: &str) -> Result<String> {
    let mut entries: Vec<String> = Vec::new();
    for e in whitelist
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        validate::whitelist_entry(e)?;
        if !entries.iter().any(|x| x == e) {
            entries.push(e.to_string());
        }
    }
    if entries.iter().any(|e| e == "%") {
        return Ok("%".into());
    }
    if !entries.iter().any(|e| e == "127.0.0.1") {
        entries.insert(0, "127.0.0.1".into());
    }
    Ok(entries.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_merge() {
        assert_eq!(merge_whitelist("").unwrap(), "127.0.0.1");
        assert_eq!(
            merge_whitelist("10.0.0.1, 10.0.0.1,10.0.%").unwrap(),
            "127.0.0.1,10.0.0.1,10.0.%"
        );
        assert_eq!(merge_whitelist("10.0.0.1,%").unwrap(), "%");
        assert!(merge_whitelist("1.2.3.4'; drop").is_err());
    }
}
