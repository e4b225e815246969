//! The one error type of this crate, [`SecureError`].
//!
//! Every variant knows the three things the HTTP layer must put into the response envelope
//! (spec/security-and-sdk.md §1.8 and §2): the stable `errCode` string, the HTTP status and the
//! legacy numeric `code`. The legacy code matters more than it looks: the Python SDK's retry
//! logic keys on `code == 1` (re-fetch the public key) and `code == 10008` (reset the auth), so
//! those numbers are part of the wire contract, not decoration.
//!
//! The `Display` text of each variant is the envelope's `error.message` (English), already in
//! the `Unauthorized: <cause>` form upstream produces when it wraps a verification failure.

use std::path::PathBuf;

/// Legacy numeric code of a header that could not be decrypted or parsed.
pub const CODE_HEADER_DECRYPT: u32 = 1;
/// Legacy numeric code of every authentication failure ("Common.Unauthorized" family).
pub const CODE_UNAUTHORIZED: u32 = 10008;

/// Everything that can go wrong in hybrid encryption, header handling and password checks.
#[derive(Debug, thiserror::Error)]
pub enum SecureError {
    // ---- request header --------------------------------------------------------------------
    /// `X-OCS-Header` / `X-OCS-Agent-Header` was present but base64, RSA or JSON decoding of it
    /// failed. Upstream answers this one with legacy code 1 so the SDK re-fetches the key.
    #[error("Decrypt http header failed: {0}")]
    HeaderDecryptFailed(String),

    /// A protected route got neither auth header.
    #[error("X-OCS-Agent-Header or X-OCS-Header not found in http request header")]
    HeaderNotFound,

    /// The header's `uri` is not byte-for-byte the raw request target.
    #[error("URI mismatch")]
    UriMismatch,

    /// The header's expiry (`ts`) lies before the time the request was received.
    #[error("Unauthorized: Authentication expired")]
    Expired,

    /// The header's `ts` is not a decimal integer.
    #[error("Unauthorized: Invalid timestamp: {ts}, err: {reason}")]
    TimestampInvalid {
        /// The `ts` value as received.
        ts: String,
        /// Why it did not parse.
        reason: String,
    },

    // ---- password / token checks ----------------------------------------------------------
    /// The root@sys password in `X-OCS-Header` is wrong.
    #[error("Unauthorized: OceanBase password is incorrect")]
    IncorrectOceanbasePassword,

    /// The agent password in `X-OCS-Agent-Header` is wrong.
    #[error("Unauthorized: Agent password is incorrect")]
    IncorrectAgentPassword,

    /// The client used the OceanBase header where the agent password is required.
    #[error("Unauthorized: Should use agent_password to verify: {0}")]
    WithAgentPassword(String),

    /// The client used the agent header where the OceanBase root password is required.
    #[error("Unauthorized: Should use OceanBase password to verify: {0}")]
    WithOceanBasePassword(String),

    /// The route needs the agent password but none has been set.
    #[error("Unauthorized: Agent password is not initialized")]
    AgentPasswordNotInitialized,

    /// The agent-to-agent `Token` does not match.
    #[error("Unauthorized: Incorrect token")]
    IncorrectToken,

    /// Web-UI session id unknown.
    #[error("Session is invalid")]
    SessionInvalid,

    /// Web-UI session timed out.
    #[error("Session is expired")]
    SessionExpired,

    // ---- request body ----------------------------------------------------------------------
    /// The body is not valid base64 or its PKCS#7 padding is wrong. Upstream does not validate
    /// padding at all (it may panic); the spec asks for a 401 `Common.Unauthorized` instead.
    #[error("Unauthorized: {0}")]
    BodyDecrypt(String),

    /// The decoded body is not a whole number of AES blocks.
    #[error("Unauthorized: AES ciphertext length {0} is not a multiple of the block size 16")]
    BodyContentLengthInvalid(usize),

    /// A body arrived but the header carried no usable AES key and IV.
    #[error("Unauthorized: AES key and iv are invalid: {0}")]
    BodyKeysInvalid(String),

    // ---- local failures (never caused by the peer) ----------------------------------------
    /// Reading or writing the key file failed.
    #[error("Unexpected error: key store {path}: {source}")]
    KeyStore {
        /// File or directory involved.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A key (our stored private key or a peer's public key) could not be parsed or is unusable.
    #[error("Unexpected error: invalid RSA key: {0}")]
    InvalidKey(String),

    /// An RSA/AES operation or the system RNG failed, or a stored ciphertext is corrupt.
    #[error("Unexpected error: {0}")]
    Crypto(String),
}

impl SecureError {
    /// The stable `errCode` string for the response envelope.
    pub fn err_code(&self) -> &'static str {
        use SecureError::*;
        match self {
            HeaderDecryptFailed(_) => "Security.Authentication.Header.DecryptFailed",
            HeaderNotFound => "Request.Header.NotFound",
            UriMismatch => "Security.Authentication.Header.UriMismatch",
            Expired => "Security.Authentication.Expired",
            TimestampInvalid { .. } => "Security.Authentication.Timestamp.Invalid",
            IncorrectOceanbasePassword => "Security.Authentication.IncorrectOceanbasePassword",
            IncorrectAgentPassword => "Security.Authentication.IncorrectAgentPassword",
            WithAgentPassword(_) => "Security.Authentication.WithAgentPassword",
            WithOceanBasePassword(_) => "Security.Authentication.WithOceanBasePassword",
            AgentPasswordNotInitialized => "Security.Authentication.AgentPasswordNotInitialized",
            IncorrectToken => "Security.Authentication.IncorrectToken",
            SessionInvalid => "Security.Authentication.SessionInvalid",
            SessionExpired => "Security.Authentication.SessionExpired",
            BodyDecrypt(_) => "Common.Unauthorized",
            BodyContentLengthInvalid(_) => "Request.Body.Decrypt.AES.ContentLength.Invalid",
            BodyKeysInvalid(_) => "Request.Body.Decrypt.AES.KeyAndIv.Invalid",
            KeyStore { .. } | InvalidKey(_) | Crypto(_) => "Common.Unexpected",
        }
    }

    /// The HTTP status (which upstream also puts into the envelope's `status`).
    pub fn http_status(&self) -> u16 {
        use SecureError::*;
        match self {
            HeaderNotFound => 400,
            // Upstream answers these two with 500 (they are "known" errors there); kept for
            // wire compatibility even though 400 would describe them better.
            BodyContentLengthInvalid(_) | BodyKeysInvalid(_) => 500,
            KeyStore { .. } | InvalidKey(_) | Crypto(_) => 500,
            _ => 401,
        }
    }

    /// The legacy numeric `code`; 0 means "omit it from the envelope".
    pub fn code(&self) -> u32 {
        use SecureError::*;
        match self {
            HeaderDecryptFailed(_) => CODE_HEADER_DECRYPT,
            HeaderNotFound
            | BodyContentLengthInvalid(_)
            | BodyKeysInvalid(_)
            | KeyStore { .. }
            | InvalidKey(_)
            | Crypto(_) => 0,
            _ => CODE_UNAUTHORIZED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_spec_table() {
        let cases: Vec<(SecureError, &str, u16, u32)> = vec![
            (
                SecureError::HeaderDecryptFailed("x".into()),
                "Security.Authentication.Header.DecryptFailed",
                401,
                1,
            ),
            (
                SecureError::HeaderNotFound,
                "Request.Header.NotFound",
                400,
                0,
            ),
            (
                SecureError::UriMismatch,
                "Security.Authentication.Header.UriMismatch",
                401,
                10008,
            ),
            (
                SecureError::Expired,
                "Security.Authentication.Expired",
                401,
                10008,
            ),
            (
                SecureError::TimestampInvalid {
                    ts: "x".into(),
                    reason: "y".into(),
                },
                "Security.Authentication.Timestamp.Invalid",
                401,
                10008,
            ),
            (
                SecureError::IncorrectOceanbasePassword,
                "Security.Authentication.IncorrectOceanbasePassword",
                401,
                10008,
            ),
            (
                SecureError::IncorrectAgentPassword,
                "Security.Authentication.IncorrectAgentPassword",
                401,
                10008,
            ),
            (
                SecureError::BodyDecrypt("bad padding".into()),
                "Common.Unauthorized",
                401,
                10008,
            ),
            (
                SecureError::BodyContentLengthInvalid(5),
                "Request.Body.Decrypt.AES.ContentLength.Invalid",
                500,
                0,
            ),
            (
                SecureError::Crypto("rng".into()),
                "Common.Unexpected",
                500,
                0,
            ),
        ];
        for (err, code, status, legacy) in cases {
            assert_eq!(err.err_code(), code, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
            assert_eq!(err.code(), legacy, "{err:?}");
        }
    }

    #[test]
    fn messages_match_the_spec_table() {
        assert_eq!(
            SecureError::HeaderDecryptFailed("boom".into()).to_string(),
            "Decrypt http header failed: boom"
        );
        assert_eq!(
            SecureError::Expired.to_string(),
            "Unauthorized: Authentication expired"
        );
        assert_eq!(
            SecureError::TimestampInvalid {
                ts: "abc".into(),
                reason: "invalid digit".into()
            }
            .to_string(),
            "Unauthorized: Invalid timestamp: abc, err: invalid digit"
        );
        assert_eq!(
            SecureError::IncorrectAgentPassword.to_string(),
            "Unauthorized: Agent password is incorrect"
        );
        assert_eq!(SecureError::UriMismatch.to_string(), "URI mismatch");
        assert_eq!(
            SecureError::HeaderNotFound.to_string(),
            "X-OCS-Agent-Header or X-OCS-Header not found in http request header"
        );
    }
}
