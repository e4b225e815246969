//! The seekdb crate's one error enum. Every variant carries a stable `errCode` string and the
//! HTTP status the API layer should send, so routes render it without a mapping table. Codes
//! the spec names are reused (`MySQL.Error`, `Common.BadRequest`, `Common.NotFound`,
//! `Common.Unexpected`, `Task.*`); the `Seekdb.*` codes are ours and must stay stable too.

use std::path::PathBuf;

use thiserror::Error;

pub type Result<T, E = SeekdbError> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum SeekdbError {
    /// No seekdb executable anywhere we looked; `tried` names every place, in order.
    #[error("seekdb executable not found; tried: {}", .tried.join("; "))]
    ExecutableNotFound { tried: Vec<String> },
    #[error("cannot read the seekdb version from `{path} -V`: {reason}")]
    VersionUnreadable { path: PathBuf, reason: String },
    /// The base directory holds no initialized instance (`store/sstable/meta.db` is missing).
    #[error("no seekdb instance has been initialized in {0} (store/sstable/meta.db is missing)")]
    NotInitialized(PathBuf),
    #[error("seekdb in {dir} is already running (pid {pid})")]
    AlreadyRunning { dir: PathBuf, pid: i32 },
    #[error("seekdb in {0} is not running")]
    NotRunning(PathBuf),
    /// A failed start; `lines` are the ERROR/EDIAG lines seekdb logged about it.
    #[error("seekdb in {dir} failed to start: {reason}{}", fmt_lines(.lines))]
    StartFailed {
        dir: PathBuf,
        reason: String,
        lines: Vec<String>,
    },
    #[error("seekdb in {dir} did not accept SQL within {secs} s{}", fmt_lines(.lines))]
    ReadyTimeout {
        dir: PathBuf,
        secs: u64,
        lines: Vec<String>,
    },
    #[error("seekdb pid {pid} did not exit: {reason}")]
    StopFailed { pid: i32, reason: String },
    /// Upstream refuses to stop a seekdb that systemd supervises: systemd would restart it.
    #[error("seekdb pid {pid} belongs to systemd unit {unit}; stop it with systemctl")]
    ManagedBySystemd { pid: i32, unit: String },
    /// A deploy precondition: directory not empty, port taken, bad option.
    #[error("deploy check failed: {0}")]
    DeployCheck(String),
    /// A name, value or option that failed validation; nothing was sent to seekdb.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{kind} '{name}' does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{0}")]
    Conflict(String),
    /// Could not open a MySQL-protocol session at all (refused, timed out, handshake).
    #[error("cannot connect to seekdb at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// Login refused: wrong password or locked account.
    #[error("seekdb refused the login of {user}: {reason}")]
    AccessDenied { user: String, reason: String },
    /// An error seekdb returned for a statement (`code` is the MySQL error number).
    #[error("seekdb error {code}: {message}")]
    Sql { code: u32, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Task(#[from] task::TaskError),
    #[error("Unexpected error: {0}")]
    Unexpected(String),
}

fn fmt_lines(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n{}", lines.join("\n"))
    }
}

impl SeekdbError {
    /// The stable `errCode` string.
    pub fn err_code(&self) -> &'static str {
        use SeekdbError::*;
        match self {
            ExecutableNotFound { .. } => "Seekdb.Executable.NotFound",
            VersionUnreadable { .. } => "Seekdb.Version.Unreadable",
            NotInitialized(_) => "Seekdb.NotInitialized",
            AlreadyRunning { .. } => "Seekdb.AlreadyRunning",
            NotRunning(_) => "Seekdb.NotRunning",
            StartFailed { .. } => "Seekdb.StartFailed",
            ReadyTimeout { .. } => "Seekdb.ReadyTimeout",
            StopFailed { .. } => "Seekdb.StopFailed",
            ManagedBySystemd { .. } => "Seekdb.ManagedBySystemd",
            DeployCheck(_) => "Seekdb.DeployCheckFailed",
            InvalidArgument(_) => "Common.BadRequest",
            NotFound { .. } => "Common.NotFound",
            Conflict(_) => "Seekdb.Conflict",
            Connect { .. } => "Seekdb.Connect.Failed",
            AccessDenied { .. } => "Seekdb.AccessDenied",
            Sql { .. } => "MySQL.Error",
            Io { .. } | Unexpected(_) => "Common.Unexpected",
            Task(e) => e.err_code(),
        }
    }

    /// The HTTP status to send with this error.
    pub fn http_status(&self) -> u16 {
        use SeekdbError::*;
        match self {
            InvalidArgument(_)
            | DeployCheck(_)
            | Sql { .. }
            | Conflict(_)
            | AlreadyRunning { .. }
            // the caller names (or manages) a directory that holds no instance yet
            | NotInitialized(_) => 400,
            NotFound { .. } => 404,
            Task(e) => e.http_status(),
            _ => 500,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> SeekdbError {
        SeekdbError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> SeekdbError {
        SeekdbError::InvalidArgument(msg.into())
    }

    /// The ERROR/EDIAG lines attached to a start failure, if any.
    pub fn log_lines(&self) -> &[String] {
        match self {
            SeekdbError::StartFailed { lines, .. } | SeekdbError::ReadyTimeout { lines, .. } => {
                lines
            }
            _ => &[],
        }
    }
}

/// Maps a driver error: login refusals and seekdb statement errors keep their meaning,
/// everything that never reached a session becomes `Connect`.
pub(crate) fn from_sqlx(addr: &str, user: &str, e: sqlx::Error) -> SeekdbError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|m| m.number())
                .unwrap_or(0);
            // 1045 access denied, 3118 account locked, 1044 db access denied
            if matches!(code, 1045 | 3118 | 1044) {
                SeekdbError::AccessDenied {
                    user: user.to_string(),
                    reason: db.message().to_string(),
                }
            } else {
                SeekdbError::Sql {
                    code: code as u32,
                    message: db.message().to_string(),
                }
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => SeekdbError::Connect {
            addr: addr.to_string(),
            reason: e.to_string(),
        },
        _ => SeekdbError::Unexpected(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        let e = SeekdbError::invalid("bad name");
        assert_eq!(e.err_code(), "Common.BadRequest");
        assert_eq!(e.http_status(), 400);
        let e = SeekdbError::Sql {
            code: 1064,
            message: "syntax".into(),
        };
        assert_eq!(e.err_code(), "MySQL.Error");
        let e = SeekdbError::NotInitialized("/d".into());
        assert_eq!(
            (e.err_code(), e.http_status()),
            ("Seekdb.NotInitialized", 400)
        );
        let e = SeekdbError::StartFailed {
            dir: "/d".into(),
            reason: "exited".into(),
            lines: vec!["ERROR x".into()],
        };
        assert!(e.to_string().contains("ERROR x"));
        assert_eq!(e.log_lines().len(), 1);
        let e = SeekdbError::ExecutableNotFound {
            tried: vec!["a".into(), "b".into()],
        };
        assert_eq!(e.to_string(), "seekdb executable not found; tried: a; b");
    }
}
