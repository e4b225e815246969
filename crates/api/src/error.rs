//! [`ApiError`]: every error the HTTP layer answers with. Each variant knows upstream's stable
//! `errCode`, the HTTP status and the legacy numeric `code` (spec security-and-sdk §1.8, §2), so
//! the envelope never needs a mapping table. The SDK's retry logic reads `code` 1 and 10008,
//! which is why those two numbers must be exact.

use std::sync::Arc;

use task::TaskError;
use thiserror::Error;

/// Result of a handler or middleware step.
pub type ApiResult<T> = Result<T, ApiError>;

/// Legacy `code` of the auth family: the SDK resets its auth and resends.
pub const CODE_UNAUTHORIZED: u32 = 10008;

#[derive(Debug, Clone, Error)]
pub enum ApiError {
    /// An engine error: its own errCode and status (spec task-engine §8.4).
    #[error("{0}")]
    Task(Arc<TaskError>),
    /// An error of the crypto layer (crate `secure`): its own errCode, status and code.
    #[error("{0}")]
    Secure(Arc<secure::SecureError>),
    #[error("Bind JSON failed: {0}")]
    BindJsonFailed(String),
    #[error("Illegal argument: {0}")]
    IllegalArgument(String),
    #[error("Element not found: {0}")]
    NotFound(String),
    #[error("Method not allowed: {0}")]
    MethodNotAllowed(String),
    #[error("Request body too large: the limit is {0} bytes")]
    BodyTooLarge(usize),
    /// Unix socket caller whose uid is neither root nor the agent's.
    #[error("Permission denied: {0}")]
    PermissionDenied(String),
    #[error("Unknown agent identity: {0}")]
    IdentifyUnknown(String),
    #[error("Agent identity {identity} does not support this operation: {what}")]
    NotSupportOperation { identity: String, what: String },
    #[error("Unexpected error: {0}")]
    Unexpected(String),
    /// An error of the seekdb engine: its own errCode and status.
    #[error("{0}")]
    Seekdb(Arc<seekdb::SeekdbError>),
}

impl ApiError {
    /// Upstream's `errCode` string.
    pub fn err_code(&self) -> &'static str {
        use ApiError::*;
        match self {
            Task(e) => e.err_code(),
            Secure(e) => e.err_code(),
            BindJsonFailed(_) => "Common.BindJsonFailed",
            IllegalArgument(_) => "Common.IllegalArgument",
            NotFound(_) => "Common.NotFound",
            MethodNotAllowed(_) => "Common.MethodNotAllowed",
            BodyTooLarge(_) => "Common.RequestEntityTooLarge",
            PermissionDenied(_) => "Security.User.PermissionDenied",
            IdentifyUnknown(_) => "Agent.Identify.Unknown",
            NotSupportOperation { .. } => "Agent.Identify.NotSupportOperation",
            Unexpected(_) => "Common.Unexpected",
            Seekdb(e) => e.err_code(),
        }
    }

    /// The HTTP status, which is also the envelope's `status`.
    pub fn status(&self) -> u16 {
        use ApiError::*;
        match self {
            Task(e) => e.http_status(),
            Secure(e) => e.http_status(),
            BindJsonFailed(_) | IllegalArgument(_) | NotSupportOperation { .. } => 400,
            PermissionDenied(_) => 401,
            NotFound(_) => 404,
            MethodNotAllowed(_) => 405,
            BodyTooLarge(_) => 413,
            IdentifyUnknown(_) | Unexpected(_) => 500,
            Seekdb(e) => e.http_status(),
        }
    }

    /// The legacy numeric `code` (0 is omitted from the JSON).
    pub fn code(&self) -> u32 {
        use ApiError::*;
        match self {
            Secure(e) => e.code(),
            PermissionDenied(_) => CODE_UNAUTHORIZED,
            _ => 0,
        }
    }

    /// Requests that failed before the trace id was assigned (header or body decryption)
    /// answer with `traceId: ""`, as upstream does.
    pub fn before_trace(&self) -> bool {
        use secure::SecureError as S;
        matches!(
            self,
            ApiError::Secure(e) if matches!(
                **e,
                S::HeaderDecryptFailed(_)
                    | S::BodyDecrypt(_)
                    | S::BodyContentLengthInvalid(_)
                    | S::BodyKeysInvalid(_)
            )
        )
    }
}

impl From<TaskError> for ApiError {
    fn from(e: TaskError) -> Self {
        ApiError::Task(Arc::new(e))
    }
}

impl From<seekdb::SeekdbError> for ApiError {
    fn from(e: seekdb::SeekdbError) -> Self {
        match e {
            seekdb::SeekdbError::Task(t) => ApiError::Task(Arc::new(t)),
            other => ApiError::Seekdb(Arc::new(other)),
        }
    }
}

impl From<secure::SecureError> for ApiError {
    fn from(e: secure::SecureError) -> Self {
        ApiError::Secure(Arc::new(e))
    }
}
