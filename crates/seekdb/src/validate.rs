//! Validation of everything that ends up inside SQL text or a command line.
//!
//! Values are bound as statement parameters wherever seekdb accepts a placeholder. DDL and
//! `ALTER SYSTEM` take none, so identifiers and values there are checked against strict
//! character sets *and* quoted: a name that passes cannot contain a quote, a backquote, a
//! backslash or a control character, so it cannot leave its quotes. Patterns follow upstream's
//! where the spec gives them (user and database names).

use crate::error::{Result, SeekdbError};

fn all(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

fn len_between(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.chars().count())
}

pub fn port(p: u16, what: &str) -> Result<()> {
    if p == 0 {
        return Err(SeekdbError::invalid(format!("{what} must be 1-65535")));
    }
    Ok(())
}

/// A seekdb parameter or system variable name: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
pub fn config_name(name: &str) -> Result<()> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && len_between(name, 1, 128) && all(name, |c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!(
            "invalid parameter or variable name {name:?}: letters, digits and '_' only, starting with a letter or '_', at most 128"
        )))
    }
}

/// A parameter/variable value that will be written as a quoted literal: at most 4096
/// characters, no quotes, backquotes, backslashes or control characters.
pub fn config_value(v: &str) -> Result<()> {
    let bad = |c: char| c.is_control() || matches!(c, '\'' | '"' | '`' | '\\');
    if v.chars().count() > 4096 || v.chars().any(bad) {
        return Err(SeekdbError::invalid(format!(
            "invalid value {v:?}: quotes, backquotes, backslashes and control characters are not allowed (max 4096)"
        )));
    }
    Ok(())
}

/// A user name (upstream: `^[a-zA-Z][a-zA-Z_0-9]{1,29}$`).
pub fn user_name(u: &str) -> Result<()> {
    let first_ok = u.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if first_ok && len_between(u, 2, 30) && all(u, |c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!(
            "invalid user name {u:?}: 2-30 letters, digits or '_', starting with a letter"
        )))
    }
}

/// A host of `'user'@'host'`: `%`, an IP (v4/v6, with `%`/`_` wildcards or a `/mask`) or a
/// host name.
pub fn host_name(h: &str) -> Result<()> {
    if len_between(h, 1, 255)
        && all(h, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '%' | '_' | ':' | '-' | '/')
        })
    {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!("invalid host name {h:?}")))
    }
}

/// A database name (upstream: `^[a-zA-Z_0-9-]{2,64}$`).
pub fn db_name(d: &str) -> Result<()> {
    if len_between(d, 2, 64) && all(d, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!(
            "invalid database name {d:?}: 2-64 letters, digits, '_' or '-'"
        )))
    }
}

/// A collation name such as `utf8mb4_bin`.
pub fn collation(c: &str) -> Result<()> {
    if len_between(c, 1, 64) && all(c, |ch| ch.is_ascii_alphanumeric() || ch == '_') {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!("invalid collation {c:?}")))
    }
}

/// A `LIKE` filter for parameter/variable lists: letters, digits, `_` and `%`.
pub fn like_filter(f: &str) -> Result<()> {
    if len_between(f, 0, 128) && all(f, |c| c.is_ascii_alphanumeric() || c == '_' || c == '%') {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!(
            "invalid filter {f:?}: letters, digits, '_' and '%' only"
        )))
    }
}

/// The `LIKE` pattern for an optional filter: everything (`%`) when absent or blank, else the
/// validated filter.
pub fn like_pattern(filter: Option<&str>) -> Result<&str> {
    match filter.map(str::trim) {
        None | Some("") => Ok("%"),
        Some(f) => {
            like_filter(f)?;
            Ok(f)
        }
    }
}

/// A password for `IDENTIFIED BY`: at most 128 characters, no backslash or control
/// character. `IDENTIFIED BY ?` is a syntax error in seekdb, so the password is quoted with
/// [`quote_str`]; doubling `'` means the same with and without `NO_BACKSLASH_ESCAPES`, a
/// backslash would not, hence its exclusion.
pub fn password(p: &str) -> Result<()> {
    if p.chars().count() > 128 || p.chars().any(|c| c.is_control() || c == '\\') {
        return Err(SeekdbError::invalid(
            "invalid password: at most 128 characters, no backslashes or control characters",
        ));
    }
    Ok(())
}

/// The privileges a user may be granted through the API, upper case.
pub const PRIVILEGES: &[&str] = &[
    "ALTER",
    "CREATE",
    "DELETE",
    "DROP",
    "INSERT",
    "UPDATE",
    "SELECT",
    "INDEX",
    "CREATE VIEW",
    "SHOW VIEW",
    "SHOW DATABASES",
    "CREATE USER",
    "PROCESS",
    "SUPER",
    "FILE",
    "ALTER SYSTEM",
    "REPLICATION SLAVE",
    "REPLICATION CLIENT",
    "EXECUTE",
    "ALTER ROUTINE",
    "CREATE ROUTINE",
    "CREATE TABLESPACE",
    "SHUTDOWN",
    "RELOAD",
    "REFERENCES",
    "CREATE ROLE",
    "DROP ROLE",
    "TRIGGER",
    "LOCK TABLES",
];

/// Privileges valid on a single database.
pub const DB_PRIVILEGES: &[&str] = &[
    "ALTER",
    "CREATE",
    "DELETE",
    "DROP",
    "INSERT",
    "UPDATE",
    "SELECT",
    "INDEX",
    "CREATE VIEW",
    "SHOW VIEW",
    "EXECUTE",
    "ALTER ROUTINE",
    "CREATE ROUTINE",
    "REFERENCES",
    "TRIGGER",
    "LOCK TABLES",
];

/// Normalizes (upper case, single spaces) and checks a privilege against `allowed`.
pub fn privilege(p: &str, allowed: &[&str]) -> Result<String> {
    let norm = p
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    if allowed.contains(&norm.as_str()) {
        Ok(norm)
    } else {
        Err(SeekdbError::invalid(format!(
            "unknown or not allowed privilege {p:?}"
        )))
    }
}

/// One whitelist entry: `%`, an IPv4/IPv6 address or pattern (`%`, `_` wildcards), or a
/// `/mask` network.
pub fn whitelist_entry(e: &str) -> Result<()> {
    if len_between(e, 1, 64)
        && all(e, |c| {
            c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '%' | '_' | '/')
        })
    {
        Ok(())
    } else {
        Err(SeekdbError::invalid(format!(
            "invalid whitelist entry {e:?}"
        )))
    }
}

/// Backquotes a validated identifier (doubling any backquote, which validation already
/// excludes, as a second line of defence).
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Single-quotes a validated value (escaping quotes and backslashes, which validation already
/// excludes, as a second line of defence).
pub fn quote_str(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(user_name("alice_1").is_ok());
        for bad in ["a", "1abc", "a-b", "a'b", "a b", "x`", &"a".repeat(31)] {
            assert!(user_name(bad).is_err(), "{bad}");
        }
        assert!(db_name("my-db_1").is_ok());
        for bad in ["a", "a`b", "a;drop", "a.b", "a b", &"d".repeat(65)] {
            assert!(db_name(bad).is_err(), "{bad}");
        }
        assert!(config_name("memory_limit").is_ok());
        assert!(config_name("x;y").is_err());
        assert!(config_name("").is_err());
        assert!(config_value("10G").is_ok());
        assert!(config_value("127.0.0.1:2882,a/b").is_ok());
        assert!(config_value("1'; drop database x; --").is_err());
        assert!(host_name("%").is_ok());
        assert!(host_name("10.0.0.%").is_ok());
        assert!(host_name("a'@'b").is_err());
        assert!(collation("utf8mb4_bin").is_ok());
        assert!(collation("utf8mb4 bin").is_err());
        assert!(like_filter("%memory%").is_ok());
        assert!(like_filter("a' or '1").is_err());
        assert!(password("S3cret!#$%^&*()").is_ok());
        assert!(password("a'b\"c`d").is_ok());
        assert!(password("a\\b").is_err());
        assert!(password("a\nb").is_err());
        assert!(whitelist_entry("192.168.1.0/24").is_ok());
        assert!(whitelist_entry("::1").is_ok());
        assert!(whitelist_entry("1.2.3.4'").is_err());
    }

    #[test]
    fn privileges_and_quotes() {
        assert_eq!(privilege("select", PRIVILEGES).unwrap(), "SELECT");
        assert_eq!(
            privilege(" create   view ", DB_PRIVILEGES).unwrap(),
            "CREATE VIEW"
        );
        assert!(privilege("ALL; DROP", PRIVILEGES).is_err());
        assert!(privilege("SUPER", DB_PRIVILEGES).is_err());
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(quote_str("a'b\\"), "'a''b\\\\'");
    }
}
