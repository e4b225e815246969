//! Client errors, and turning an obshell envelope into data or an error.

use serde_json::Value;
use thiserror::Error;

/// An error the agent answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub err_code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.err_code.is_empty() {
            write!(f, "{} (HTTP {})", self.message, self.status)
        } else {
            write!(f, "{} [{}]", self.message, self.err_code)
        }
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    /// The agent could not be reached (not running, wrong socket or port).
    #[error("cannot reach the agent at {target}: {reason}")]
    Connect { target: String, reason: String },
    /// The agent answered something that is not an obshell envelope.
    #[error("unexpected answer from the agent: {0}")]
    Protocol(String),
    /// The agent refused the request.
    #[error("{0}")]
    Api(ApiError),
}

impl ClientError {
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// Returns `data` of a successful envelope, or its error.
pub(crate) fn unwrap_envelope((status, body): (u16, Vec<u8>)) -> Result<Value, ClientError> {
    let v: Value = serde_json::from_slice(&body).map_err(|_| {
        ClientError::Protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    })?;
    if v.get("successful").and_then(Value::as_bool) == Some(true) {
        return Ok(v.get("data").cloned().unwrap_or(Value::Null));
    }
    let err = v.get("error").cloned().unwrap_or(Value::Null);
    Err(ClientError::Api(ApiError {
        status: v
            .get("status")
            .and_then(Value::as_u64)
            .map(|s| s as u16)
            .unwrap_or(status),
        err_code: err
            .get("errCode")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        message: err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("request failed")
            .to_string(),
    }))
}
