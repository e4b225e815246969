//! Users and privileges (`POST /user`, `GET /users`, `GET|DELETE /user/:user`,
//! `PUT /user/:user/{global,db}-privileges`, `PUT /user/:user/password`,
//! `POST|DELETE /user/:user/lock`, `GET /user/:user/stats`).
//!
//! Account statements take no placeholders in seekdb (`IDENTIFIED BY ?` is a syntax error), so
//! names, hosts and privileges are validated against strict sets and passwords are validated
//! and quoted. `root` is the agent's own account: it is never dropped or locked here, and its
//! password changes only through [`Client::set_root_password`], which the agent must pair with
//! recording the new password.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sqlx::{Column, Row};

use crate::error::{Result, SeekdbError};
use crate::sql::conn::{text, Client};
use crate::validate;

/// The agent's account.
pub const ROOT: &str = "root";

/// `POST /user` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateUser {
    pub user_name: String,
    pub password: String,
    #[serde(default)]
    pub host_name: Option<String>,
    #[serde(default)]
    pub global_privileges: Vec<String>,
    #[serde(default)]
    pub db_privileges: Vec<DbPrivilege>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbPrivilege {
    pub db_name: String,
    pub privileges: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub user_name: String,
    pub host_name: String,
    pub is_locked: bool,
    pub global_privileges: Vec<String>,
    pub db_privileges: Vec<DbPrivilege>,
}

/// Session counts of a user by state (`GET /user/:user/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserStats {
    pub total: i64,
    pub active: i64,
    pub by_state: BTreeMap<String, i64>,
}

/// `PRIV_X_Y` column -> privilege name.
fn privilege_of_column(col: &str) -> Option<String> {
    let p = col.strip_prefix("PRIV_")?;
    Some(match p {
        "SHOW_DB" => "SHOW DATABASES".into(),
        "REPL_SLAVE" => "REPLICATION SLAVE".into(),
        "REPL_CLIENT" => "REPLICATION CLIENT".into(),
        "LOCK_TABLE" => "LOCK TABLES".into(),
        "GRANT_OPTION" => return None,
        other => other.replace('_', " "),
    })
}

fn privileges_of_row(r: &sqlx::mysql::MySqlRow) -> Vec<String> {
    r.columns()
        .iter()
        .filter_map(|c| {
            let p = privilege_of_column(c.name())?;
            text(r, c.name())
                .is_some_and(|v| v.eq_ignore_ascii_case("YES"))
                .then_some(p)
        })
        .collect()
}

fn account(user: &str, host: &str) -> String {
    format!(
        "{}@{}",
        validate::quote_str(user),
        validate::quote_str(host)
    )
}

fn not_root(user: &str, what: &str) -> Result<()> {
    if user.eq_ignore_ascii_case(ROOT) {
        return Err(SeekdbError::invalid(format!(
            "{what} of {ROOT} is not allowed: it is the agent's account"
        )));
    }
    Ok(())
}

fn normalize(privs: &[String], allowed: &[&str]) -> Result<BTreeSet<String>> {
    privs
        .iter()
        .map(|p| validate::privilege(p, allowed))
        .collect()
}

impl Client {
    /// Creates a user and grants its privileges. A grant that fails drops the new user again,
    /// so a half-made account is never left behind.
    pub async fn create_user(&self, req: &CreateUser) -> Result<()> {
        validate::user_name(&req.user_name)?;
        not_root(&req.user_name, "creating")?;
        validate::password(&req.password)?;
        let host = req.host_name.as_deref().unwrap_or("%");
        validate::host_name(host)?;
        let global = normalize(&req.global_privileges, validate::PRIVILEGES)?;
        let mut per_db = Vec::new();
        for d in &req.db_privileges {
            validate::db_name(&d.db_name)?;
            per_db.push((
                d.db_name.clone(),
                normalize(&d.privileges, validate::DB_PRIVILEGES)?,
            ));
        }
        let acct = account(&req.user_name, host);
        match self
            .exec_text(&format!(
                "CREATE USER {acct} IDENTIFIED BY {}",
                validate::quote_str(&req.password)
            ))
            .await
        {
            Err(SeekdbError::Sql { code: 1396, .. }) => {
                return Err(SeekdbError::Conflict(format!(
                    "user {} already exists",
                    req.user_name
                )))
            }
            r => r?,
        };
        let grants = async {
            if !global.is_empty() {
                self.grant(&global, "*.*", &acct).await?;
            }
            for (db, privs) in &per_db {
                if !privs.is_empty() {
                    self.grant(privs, &format!("{}.*", validate::quote_ident(db)), &acct)
                        .await?;
                }
            }
            Ok::<(), SeekdbError>(())
        };
        if let Err(e) = grants.await {
            let _ = self.exec_text(&format!("DROP USER {acct}")).await;
            return Err(e);
        }
        Ok(())
    }

    async fn grant(&self, privs: &BTreeSet<String>, on: &str, acct: &str) -> Result<()> {
        let list: Vec<&str> = privs.iter().map(String::as_str).collect();
        self.exec_text(&format!("GRANT {} ON {on} TO {acct}", list.join(", ")))
            .await
            .map(|_| ())
    }

    async fn revoke(&self, privs: &BTreeSet<String>, on: &str, acct: &str) -> Result<()> {
        let list: Vec<&str> = privs.iter().map(String::as_str).collect();
        self.exec_text(&format!("REVOKE {} ON {on} FROM {acct}", list.join(", ")))
            .await
            .map(|_| ())
    }

    /// All users, with their global and per-database privileges.
    pub async fn users(&self) -> Result<Vec<User>> {
        self.load_users(None).await
    }

    /// One user (its first host when it has several).
    pub async fn user(&self, name: &str) -> Result<User> {
        validate::user_name(name).or_else(|e| {
            if name.eq_ignore_ascii_case(ROOT) {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        self.load_users(Some(name))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| SeekdbError::NotFound {
                kind: "user",
                name: name.to_string(),
            })
    }

    async fn load_users(&self, only: Option<&str>) -> Result<Vec<User>> {
        let rows = match only {
            Some(n) => sqlx::query(
                "SELECT * FROM oceanbase.DBA_OB_USERS WHERE USER_NAME = ? ORDER BY USER_NAME, HOST",
            )
            .bind(n)
            .fetch_all(&self.pool)
            .await,
            None => {
                sqlx::query("SELECT * FROM oceanbase.DBA_OB_USERS ORDER BY USER_NAME, HOST")
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(|e| self.err(e))?;
        let db_rows = match only {
            Some(n) => {
                sqlx::query("SELECT * FROM oceanbase.DBA_OB_DATABASE_PRIVILEGE WHERE USERNAME = ? ORDER BY DATABASE_NAME")
                    .bind(n)
                    .fetch_all(&self.pool)
                    .await
            }
            None => {
                sqlx::query("SELECT * FROM oceanbase.DBA_OB_DATABASE_PRIVILEGE ORDER BY DATABASE_NAME")
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(|e| self.err(e))?;
        let mut db_privs: BTreeMap<String, Vec<DbPrivilege>> = BTreeMap::new();
        for r in &db_rows {
            let user = text(r, "USERNAME").unwrap_or_default();
            let privileges = privileges_of_row(r);
            if privileges.is_empty() {
                continue;
            }
            db_privs.entry(user).or_default().push(DbPrivilege {
                db_name: text(r, "DATABASE_NAME").unwrap_or_default(),
                privileges,
            });
        }
        Ok(rows
            .iter()
            .map(|r| {
                let user_name = text(r, "USER_NAME").unwrap_or_default();
                User {
                    host_name: text(r, "HOST").unwrap_or_default(),
                    is_locked: text(r, "IS_LOCKED").is_some_and(|v| v.eq_ignore_ascii_case("YES")),
                    global_privileges: privileges_of_row(r),
                    db_privileges: db_privs.get(&user_name).cloned().unwrap_or_default(),
                    user_name,
                }
            })
            .collect())
    }

    /// The accounts (`'user'@'host'`) of a user name; `NotFound` when there are none.
    async fn accounts(&self, name: &str) -> Result<Vec<String>> {
        validate::user_name(name)?;
        let rows = sqlx::query("SELECT HOST FROM oceanbase.DBA_OB_USERS WHERE USER_NAME = ?")
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let hosts: Vec<String> = rows.iter().filter_map(|r| text(r, "HOST")).collect();
        if hosts.is_empty() {
            return Err(SeekdbError::NotFound {
                kind: "user",
                name: name.to_string(),
            });
        }
        let mut accts = Vec::new();
        for h in hosts {
            validate::host_name(&h)?;
            accts.push(account(name, &h));
        }
        Ok(accts)
    }

    pub async fn drop_user(&self, name: &str) -> Result<()> {
        not_root(name, "dropping")?;
        for acct in self.accounts(name).await? {
            self.exec_text(&format!("DROP USER {acct}")).await?;
        }
        Ok(())
    }

    /// `ACCOUNT LOCK` (`lock = true`) or `ACCOUNT UNLOCK`.
    pub async fn lock_user(&self, name: &str, lock: bool) -> Result<()> {
        not_root(name, "locking")?;
        let what = if lock { "LOCK" } else { "UNLOCK" };
        for acct in self.accounts(name).await? {
            self.exec_text(&format!("ALTER USER {acct} ACCOUNT {what}"))
                .await?;
        }
        Ok(())
    }

    pub async fn set_user_password(&self, name: &str, password: &str) -> Result<()> {
        not_root(name, "changing the password")?;
        validate::password(password)?;
        for acct in self.accounts(name).await? {
            self.exec_text(&format!(
                "ALTER USER {acct} IDENTIFIED BY {}",
                validate::quote_str(password)
            ))
            .await?;
        }
        Ok(())
    }

    /// Changes root's password. The caller (deploy, or the agent's password route) must record
    /// the new password where the agent keeps it, or the agent locks itself out.
    pub async fn set_root_password(&self, password: &str) -> Result<()> {
        validate::password(password)?;
        self.exec_text(&format!(
            "ALTER USER {} IDENTIFIED BY {}",
            account(ROOT, "%"),
            validate::quote_str(password)
        ))
        .await
        .map(|_| ())
    }

    /// Makes the user's global privileges exactly `privileges` (grants the missing ones,
    /// revokes the extra ones).
    pub async fn set_global_privileges(&self, name: &str, privileges: &[String]) -> Result<()> {
        not_root(name, "changing the privileges")?;
        let want = normalize(privileges, validate::PRIVILEGES)?;
        let accts = self.accounts(name).await?;
        let have: BTreeSet<String> = self
            .user(name)
            .await?
            .global_privileges
            .into_iter()
            .collect();
        let add: BTreeSet<String> = want.difference(&have).cloned().collect();
        let del: BTreeSet<String> = have.difference(&want).cloned().collect();
        for acct in &accts {
            if !add.is_empty() {
                self.grant(&add, "*.*", acct).await?;
            }
            if !del.is_empty() {
                self.revoke(&del, "*.*", acct).await?;
            }
        }
        Ok(())
    }

    /// Makes the user's privileges on each listed database exactly the given ones; databases
    /// not listed keep theirs, and an empty list revokes everything on that database.
    pub async fn set_db_privileges(&self, name: &str, dbs: &[DbPrivilege]) -> Result<()> {
        not_root(name, "changing the privileges")?;
        let mut wanted = Vec::new();
        for d in dbs {
            validate::db_name(&d.db_name)?;
            wanted.push((
                d.db_name.clone(),
                normalize(&d.privileges, validate::DB_PRIVILEGES)?,
            ));
        }
        let accts = self.accounts(name).await?;
        let current = self.user(name).await?.db_privileges;
        for (db, want) in wanted {
            let have: BTreeSet<String> = current
                .iter()
                .find(|d| d.db_name == db)
                .map(|d| d.privileges.iter().cloned().collect())
                .unwrap_or_default();
            let add: BTreeSet<String> = want.difference(&have).cloned().collect();
            let del: BTreeSet<String> = have.difference(&want).cloned().collect();
            let on = format!("{}.*", validate::quote_ident(&db));
            for acct in &accts {
                if !add.is_empty() {
                    self.grant(&add, &on, acct).await?;
                }
                if !del.is_empty() {
                    self.revoke(&del, &on, acct).await?;
                }
            }
        }
        Ok(())
    }

    /// The user's sessions by state.
    pub async fn user_stats(&self, name: &str) -> Result<UserStats> {
        self.accounts(name).await?;
        let rows = sqlx::query(
            "SELECT STATE, COUNT(*) AS N FROM information_schema.PROCESSLIST WHERE USER = ? GROUP BY STATE",
        )
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut s = UserStats {
            total: 0,
            active: 0,
            by_state: BTreeMap::new(),
        };
        for r in &rows {
            let state = text(r, "STATE").unwrap_or_default();
            let n: i64 = r.try_get::<i64, _>("N").unwrap_or(0);
            s.total += n;
            if state.eq_ignore_ascii_case("ACTIVE") {
                s.active += n;
            }
            s.by_state.insert(state, n);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_columns() {
        for (col, p) in [
            ("PRIV_CREATE_VIEW", "CREATE VIEW"),
            ("PRIV_SHOW_DB", "SHOW DATABASES"),
            ("PRIV_REPL_CLIENT", "REPLICATION CLIENT"),
            ("PRIV_LOCK_TABLE", "LOCK TABLES"),
            ("PRIV_ALTER_SYSTEM", "ALTER SYSTEM"),
        ] {
            let got = privilege_of_column(col).unwrap();
            assert_eq!(got, p);
            // what is read back can be granted again
            assert!(validate::privilege(&got, validate::PRIVILEGES).is_ok());
        }
        assert_eq!(privilege_of_column("PRIV_GRANT_OPTION"), None);
        assert_eq!(privilege_of_column("USER_NAME"), None);
    }

    #[test]
    fn root_is_protected() {
        assert!(not_root("ROOT", "dropping").is_err());
        assert!(not_root("alice", "dropping").is_ok());
        assert_eq!(account("a", "%"), "'a'@'%'");
    }
}
