//! The auth header codec for `X-OCS-Header` / `X-OCS-Agent-Header` (auth "v2"),
//! spec/security-and-sdk.md §1.3, §1.5-1.7.
//!
//! Wire value: `base64(sectional_rsa(utf8(JSON)))` with the agent's public key. The JSON is an
//! object whose keys upstream's Go server matches **ignoring case** (the Python SDK sends `auth`,
//! `ts`, `uri`, `keys`; Go peers send `Auth`, `Ts`, ...), where the last occurrence of a key
//! wins and unknown keys are ignored. serde's derive cannot express "case-insensitive, last one
//! wins", so decoding walks the object's entries in order by hand ([`Entries`]).
//!
//! Types are checked like Go's `encoding/json` does for the upstream struct: strings must be
//! JSON strings (so a numeric `ts` is a decode failure, as upstream), `null` leaves a field at
//! its zero value, `Keys` is base64 (Go `[]byte`), `ForwardType` an integer.
//!
//! What the server checks afterwards is exposed as methods so the HTTP layer only sequences them:
//! [`AuthHeader::check_uri`], [`AuthHeader::check_expiry`], [`AuthHeader::verify_password`],
//! [`AuthHeader::verify_token`], [`AuthHeader::decrypt_body`].

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::body::AesKey;
use crate::error::SecureError;
use crate::keys::{AgentKeys, PeerPublicKey};
use crate::password::passwords_equal;

/// Header carrying the OceanBase root@sys password.
pub const OCEANBASE_HEADER: &str = "X-OCS-Header";
/// Header carrying the agent password.
pub const AGENT_HEADER: &str = "X-OCS-Agent-Header";

/// Which password a header carries; decided by the header's *name*, not its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordType {
    /// `X-OCS-Header`: the OceanBase root@sys password.
    OceanBase,
    /// `X-OCS-Agent-Header`: the agent password.
    Agent,
}

impl PasswordType {
    /// The HTTP header name for this password type.
    pub fn header_name(self) -> &'static str {
        match self {
            PasswordType::OceanBase => OCEANBASE_HEADER,
            PasswordType::Agent => AGENT_HEADER,
        }
    }

    /// The error a wrong password of this type produces.
    pub fn incorrect_password_error(self) -> SecureError {
        match self {
            PasswordType::OceanBase => SecureError::IncorrectOceanbasePassword,
            PasswordType::Agent => SecureError::IncorrectAgentPassword,
        }
    }

    /// Picks the header to decode from the two raw header values: `X-OCS-Agent-Header` wins when
    /// both are present, and an empty value counts as absent (upstream decrypts only non-empty
    /// headers). `None` means the request is unauthenticated.
    pub fn select<'a>(
        agent_header: Option<&'a str>,
        oceanbase_header: Option<&'a str>,
    ) -> Option<(PasswordType, &'a str)> {
        match (agent_header, oceanbase_header) {
            (Some(v), _) if !v.is_empty() => Some((PasswordType::Agent, v)),
            (_, Some(v)) if !v.is_empty() => Some((PasswordType::OceanBase, v)),
            _ => None,
        }
    }
}

/// `ForwardType` of agent-to-agent forwarding: 0 none, 1 auto, 2 manual. Kept as the raw integer
/// because upstream does not restrict it and the value is only compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ForwardType(pub i64);

impl ForwardType {
    /// Not forwarded.
    pub const NONE: ForwardType = ForwardType(0);
    /// Auto-forwarded by a follower to the master.
    pub const AUTO: ForwardType = ForwardType(1);
    /// Manually forwarded by an agent to a peer.
    pub const MANUAL: ForwardType = ForwardType(2);
}

/// `ForwardAgent`: the agent a forwarded request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ForwardAgent {
    /// Origin agent IP.
    pub ip: String,
    /// Origin agent port.
    pub port: u16,
}

/// The decrypted auth header. String fields are `""` when absent, as in upstream, because the
/// verification rules are written in terms of "empty" (for example "ts is checked only when the
/// password is non-empty").
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthHeader {
    /// `session_id`: web-UI session (only honoured on a `CLUSTER AGENT`).
    pub session_id: String,
    /// `Auth`: the password (root@sys or agent, see [`PasswordType`]).
    pub auth: String,
    /// `Ts`: absolute expiry, decimal Unix seconds, kept as sent so that a bad value can be
    /// reported as `Timestamp.Invalid` at verification time, as upstream does.
    pub ts: String,
    /// `Token`: agent-to-agent token.
    pub token: String,
    /// `ssotoken`: one-time SSO token (only `/api/v1/sso/exchange`).
    pub sso_token: String,
    /// `Uri`: must equal the raw request target.
    pub uri: String,
    /// `Keys`: AES key and IV for the body (and secret-bearing responses).
    pub keys: Option<AesKey>,
    /// `Sha256`: unused by the API routes, carried for completeness.
    pub sha256: String,
    /// `ForwardType`.
    pub forward_type: ForwardType,
    /// `ForwardAgent`.
    pub forward_agent: Option<ForwardAgent>,
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are shown only as "set or not", so headers can be logged when debugging.
        let redact = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("AuthHeader")
            .field("session_id", &redact(&self.session_id))
            .field("auth", &redact(&self.auth))
            .field("ts", &self.ts)
            .field("token", &redact(&self.token))
            .field("sso_token", &redact(&self.sso_token))
            .field("uri", &self.uri)
            .field("keys", &self.keys)
            .field("sha256", &self.sha256)
            .field("forward_type", &self.forward_type)
            .field("forward_agent", &self.forward_agent)
            .finish()
    }
}

impl AuthHeader {
    /// The header a password-authenticated client request carries: password, absolute expiry
    /// (`now + lifetime`, the SDK uses 60 s), raw request target and the body's AES key.
    pub fn new(password: &str, uri: &str, expiry_unix: i64, keys: AesKey) -> Self {
        Self {
            auth: password.to_owned(),
            ts: expiry_unix.to_string(),
            uri: uri.to_owned(),
            keys: Some(keys),
            ..Self::default()
        }
    }

    /// The JSON object this header encodes to, with upstream's canonical (Go) field names.
    /// `Auth`, `Ts`, `Uri` and `Keys` are always present; the rest only when set, which keeps
    /// the RSA ciphertext (one block per 117 bytes) short.
    pub fn to_json(&self) -> String {
        let mut m = Map::new();
        if !self.session_id.is_empty() {
            m.insert("session_id".into(), Value::from(self.session_id.as_str()));
        }
        m.insert("Auth".into(), Value::from(self.auth.as_str()));
        m.insert("Ts".into(), Value::from(self.ts.as_str()));
        if !self.token.is_empty() {
            m.insert("Token".into(), Value::from(self.token.as_str()));
        }
        if !self.sso_token.is_empty() {
            m.insert("ssotoken".into(), Value::from(self.sso_token.as_str()));
        }
        m.insert("Uri".into(), Value::from(self.uri.as_str()));
        m.insert(
            "Keys".into(),
            self.keys
                .as_ref()
                .map_or(Value::Null, |k| Value::from(k.to_base64())),
        );
        if !self.sha256.is_empty() {
            m.insert("Sha256".into(), Value::from(self.sha256.as_str()));
        }
        if self.forward_type != ForwardType::NONE {
            m.insert("ForwardType".into(), Value::from(self.forward_type.0));
        }
        if let Some(agent) = &self.forward_agent {
            let mut a = Map::new();
            a.insert("ip".into(), Value::from(agent.ip.as_str()));
            a.insert("port".into(), Value::from(agent.port));
            m.insert("ForwardAgent".into(), Value::Object(a));
        }
        Value::Object(m).to_string()
    }

    /// Parses the decrypted header JSON (see the module docs for the matching rules).
    pub fn from_json(json: &[u8]) -> Result<Self, SecureError> {
        parse_header_json(json).map_err(SecureError::HeaderDecryptFailed)
    }

    /// The expiry as Unix seconds; a non-integer `ts` is `Timestamp.Invalid`.
    pub fn expiry(&self) -> Result<i64, SecureError> {
        self.ts
            .parse::<i64>()
            .map_err(|e| SecureError::TimestampInvalid {
                ts: self.ts.clone(),
                reason: e.to_string(),
            })
    }

    /// Rejects the header iff `received_unix > ts`. `received_unix` is the time the request was
    /// *received* (upstream records it before any other work), not the time of the check.
    /// There is deliberately no lower bound and no replay cache, as upstream.
    pub fn check_expiry(&self, received_unix: i64) -> Result<(), SecureError> {
        if received_unix > self.expiry()? {
            return Err(SecureError::Expired);
        }
        Ok(())
    }

    /// The header's `uri` must equal the raw request target (path, plus `?` and the raw query
    /// if there is one, undecoded) byte for byte; that binds the header to one request.
    pub fn check_uri(&self, raw_request_uri: &str) -> Result<(), SecureError> {
        if self.uri.as_bytes() != raw_request_uri.as_bytes() {
            return Err(SecureError::UriMismatch);
        }
        Ok(())
    }

    /// Upstream's `VerifyAuth(pwd, ts, type)`: when the sent password is non-empty, the expiry
    /// is checked first; then the password is compared in constant time with `expected`.
    /// An empty sent password therefore passes only when `expected` is empty too, and without
    /// a ts check (that is upstream's rule for agents without a password).
    ///
    /// The OceanBase fallback (try a real root@sys login when the cached password differs) is
    /// the caller's business: it needs a database connection this crate does not have.
    pub fn verify_password(
        &self,
        expected: &str,
        kind: PasswordType,
        received_unix: i64,
    ) -> Result<(), SecureError> {
        if !self.auth.is_empty() {
            self.check_expiry(received_unix)?;
        }
        if passwords_equal(&self.auth, expected) {
            Ok(())
        } else {
            Err(kind.incorrect_password_error())
        }
    }

    /// Agent-to-agent token check, constant time. An empty token never matches, so an agent
    /// whose token is not yet known cannot be impersonated by omitting the field.
    pub fn verify_token(&self, expected: &str) -> Result<(), SecureError> {
        if self.token.is_empty() || expected.is_empty() || !passwords_equal(&self.token, expected) {
            return Err(SecureError::IncorrectToken);
        }
        Ok(())
    }

    /// The body key, or `KeyAndIv.Invalid` when the header carried none.
    pub fn aes_key(&self) -> Result<&AesKey, SecureError> {
        self.keys
            .as_ref()
            .ok_or_else(|| SecureError::BodyKeysInvalid("the auth header carries no keys".into()))
    }

    /// The server's body pipeline after a header was decoded: an empty raw body becomes `{}`
    /// (upstream's `PaddingBody`, so "no body" binds as an empty JSON object); anything else is
    /// base64 AES-CBC text decrypted with this header's keys. The caller skips this for
    /// `/api/v1/package` (multipart, checked by `X-OCS-File-SHA256` instead).
    pub fn decrypt_body(&self, raw_body: &[u8]) -> Result<Vec<u8>, SecureError> {
        if raw_body.is_empty() {
            return Ok(b"{}".to_vec());
        }
        self.aes_key()?.decrypt_body(raw_body)
    }
}

/// Server side: decrypts and parses a header value with the agent's keys. Every failure (base64,
/// RSA, UTF-8, JSON, field types) is `Security.Authentication.Header.DecryptFailed`, code 1, so
/// the SDK re-fetches the public key and retries.
pub fn decode_header(keys: &AgentKeys, value: &str) -> Result<AuthHeader, SecureError> {
    let json = keys
        .decrypt_base64_detail(value)
        .map_err(SecureError::HeaderDecryptFailed)?;
    AuthHeader::from_json(&json)
}

/// Client side: encrypts a header for the agent whose `/api/v1/secret` returned
/// `public_key_b64`. Chunks are `k - 11` bytes (fewer blocks than the SDK's 53; the server
/// splits on ciphertext blocks, so either works).
pub fn encode_header(public_key_b64: &str, header: &AuthHeader) -> Result<String, SecureError> {
    encode_header_with(&PeerPublicKey::from_base64(public_key_b64)?, header)
}

/// [`encode_header`] with an already parsed key (clients cache it per agent).
pub fn encode_header_with(key: &PeerPublicKey, header: &AuthHeader) -> Result<String, SecureError> {
    key.encrypt(header.to_json().as_bytes())
}

/// Current time in Unix seconds, for `received_unix` and for building expiries.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ---- decoding ------------------------------------------------------------------------------

/// A JSON object's entries in document order, duplicates kept (a `serde_json::Map` would merge
/// duplicates case-sensitively and so break "last case-insensitive match wins").
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn parse_header_json(json: &[u8]) -> Result<AuthHeader, String> {
    let Entries(entries) =
        serde_json::from_slice(json).map_err(|e| format!("invalid header JSON: {e}"))?;
    let mut h = AuthHeader::default();
    for (key, value) in entries {
        let field = |name: &str| key.eq_ignore_ascii_case(name);
        if field("session_id") {
            set_string(&mut h.session_id, value, "session_id")?;
        } else if field("Auth") {
            set_string(&mut h.auth, value, "Auth")?;
        } else if field("Ts") {
            set_string(&mut h.ts, value, "Ts")?;
        } else if field("Token") {
            set_string(&mut h.token, value, "Token")?;
        } else if field("ssotoken") {
            set_string(&mut h.sso_token, value, "ssotoken")?;
        } else if field("Uri") {
            set_string(&mut h.uri, value, "Uri")?;
        } else if field("Keys") {
            h.keys = parse_keys(value)?;
        } else if field("Sha256") {
            set_string(&mut h.sha256, value, "Sha256")?;
        } else if field("ForwardType") && !value.is_null() {
            h.forward_type = ForwardType(as_int(&value, "ForwardType")?);
        } else if field("ForwardAgent") && !value.is_null() {
            h.forward_agent = Some(parse_forward_agent(value)?);
        }
        // Unknown keys are ignored, as upstream.
    }
    Ok(h)
}

fn set_string(slot: &mut String, value: Value, name: &str) -> Result<(), String> {
    match value {
        Value::String(s) => {
            *slot = s;
            Ok(())
        }
        Value::Null => Ok(()),
        other => Err(format!(
            "field {name}: expected a string, got {}",
            type_name(&other)
        )),
    }
}

fn parse_keys(value: Value) -> Result<Option<AesKey>, String> {
    match value {
        Value::Null => Ok(None),
        // An empty key string is "no keys": harmless until a body needs them.
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => {
            let bytes = zeroize::Zeroizing::new(
                B64.decode(s.as_bytes())
                    .map_err(|e| format!("field Keys: invalid base64: {e}"))?,
            );
            AesKey::from_transport_bytes(&bytes).map(Some).map_err(|_| {
                format!(
                    "field Keys: expected {} bytes (AES-128 key || IV), got {}",
                    AesKey::TRANSPORT_LEN,
                    bytes.len()
                )
            })
        }
        other => Err(format!(
            "field Keys: expected a base64 string, got {}",
            type_name(&other)
        )),
    }
}

fn parse_forward_agent(value: Value) -> Result<ForwardAgent, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "field ForwardAgent: expected an object, got {}",
            type_name(&value)
        ));
    };
    let mut agent = ForwardAgent::default();
    for (key, value) in map {
        if key.eq_ignore_ascii_case("ip") {
            set_string(&mut agent.ip, value, "ForwardAgent.ip")?;
        } else if key.eq_ignore_ascii_case("port") && !value.is_null() {
            let port = as_int(&value, "ForwardAgent.port")?;
            agent.port = u16::try_from(port)
                .map_err(|_| format!("field ForwardAgent.port: {port} is not a port"))?;
        }
    }
    Ok(agent)
}

fn as_int(value: &Value, name: &str) -> Result<i64, String> {
    value
        .as_i64()
        .ok_or_else(|| format!("field {name}: expected an integer, got {value}"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_keys;

    fn sdk_style_json(auth: &str, ts: &str, uri: &str, keys: &AesKey) -> String {
        // Exactly the Python SDK's json.dumps layout (", " and ": " separators, lowercase).
        format!(
            "{{\"auth\": \"{auth}\", \"ts\": \"{ts}\", \"uri\": \"{uri}\", \"keys\": \"{}\"}}",
            keys.to_base64()
        )
    }

    #[test]
    fn round_trip_through_rsa() {
        let keys = test_keys();
        let aes = AesKey::generate().unwrap();
        let mut h = AuthHeader::new(
            "p@ss \"w\" 密码",
            "/api/v1/task/dag/1?x=%20",
            1_700_000_060,
            aes,
        );
        h.token = "tok".into();
        h.forward_type = ForwardType::AUTO;
        h.forward_agent = Some(ForwardAgent {
            ip: "10.0.0.1".into(),
            port: 2886,
        });
        let wire = encode_header(keys.public_key_base64(), &h).unwrap();
        let back = decode_header(keys, &wire).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn sdk_json_layout_decodes() {
        let aes = AesKey::new([3; 16], [4; 16]);
        let json = sdk_style_json(
            "pw",
            "1764444691",
            "/api/v1/task/dag/unfinish?show_details=True",
            &aes,
        );
        let h = AuthHeader::from_json(json.as_bytes()).unwrap();
        assert_eq!(h.auth, "pw");
        assert_eq!(h.ts, "1764444691");
        assert_eq!(h.uri, "/api/v1/task/dag/unfinish?show_details=True");
        assert_eq!(h.keys, Some(aes));
        assert_eq!(h.forward_type, ForwardType::NONE);
        assert!(h.token.is_empty() && h.forward_agent.is_none());
    }

    #[test]
    fn keys_are_case_insensitive_last_wins_unknown_ignored() {
        let json = br#"{"AUTH":"a","auth":"b","Auth":"c","tS":"5","URI":"/u","Keys":null,
            "forwardtype":2,"FORWARDAGENT":{"IP":"1.2.3.4","Port":1},"extra":[1,2],
            "SSOTOKEN":"s","Session_Id":"sid","sha256":"h","TOKEN":"t"}"#;
        let h = AuthHeader::from_json(json).unwrap();
        assert_eq!(h.auth, "c");
        assert_eq!(h.ts, "5");
        assert_eq!(h.uri, "/u");
        assert_eq!(h.keys, None);
        assert_eq!(h.forward_type, ForwardType::MANUAL);
        assert_eq!(
            h.forward_agent,
            Some(ForwardAgent {
                ip: "1.2.3.4".into(),
                port: 1
            })
        );
        assert_eq!(
            (
                h.sso_token.as_str(),
                h.session_id.as_str(),
                h.sha256.as_str(),
                h.token.as_str()
            ),
            ("s", "sid", "h", "t")
        );
        // null leaves a field at its zero value; absent fields are empty.
        let h = AuthHeader::from_json(br#"{"auth":null}"#).unwrap();
        assert_eq!(h, AuthHeader::default());
    }

    #[test]
    fn wrong_types_are_decrypt_failures() {
        for bad in [
            &br#"{"ts": 1764444691}"#[..], // numeric ts fails Go decoding too
            br#"{"auth": 1}"#,
            br#"{"keys": 5}"#,
            br#"{"keys": "%%%"}"#,
            br#"{"keys": "AAAA"}"#, // 3 bytes, not key||iv
            br#"{"ForwardType": "1"}"#,
            br#"{"ForwardType": 1.5}"#,
            br#"{"ForwardAgent": {"port": 70000}}"#,
            br#"["auth"]"#,
            b"null",
            b"",
            br#"{"auth":"x"} trailing"#,
            b"\xff\xfe",
        ] {
            let err = AuthHeader::from_json(bad).unwrap_err();
            assert_eq!(
                err.err_code(),
                "Security.Authentication.Header.DecryptFailed",
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(err.code(), 1);
        }
    }

    #[test]
    fn garbage_and_tampered_headers_fail_to_decode() {
        let keys = test_keys();
        for bad in ["", "not base64", "AAAA", &B64.encode([0u8; 128])] {
            let err = decode_header(keys, bad).unwrap_err();
            assert!(
                matches!(err, SecureError::HeaderDecryptFailed(_)),
                "{err:?}"
            );
        }
        // Flip one ciphertext bit: implicit rejection yields garbage, which the JSON parse refuses.
        let h = AuthHeader::new("pw", "/x", 1, AesKey::new([1; 16], [2; 16]));
        let wire = encode_header(keys.public_key_base64(), &h).unwrap();
        let mut raw = B64.decode(&wire).unwrap();
        raw[5] ^= 0x01;
        let err = decode_header(keys, &B64.encode(&raw)).unwrap_err();
        assert!(
            matches!(err, SecureError::HeaderDecryptFailed(_)),
            "{err:?}"
        );
        // A header for another key fails the same way.
        let other =
            AgentKeys::from_private_key_base64(crate::keys::tests::LEGACY_512_PRIVATE_KEY).unwrap();
        let wire = encode_header(other.public_key_base64(), &h).unwrap();
        assert!(decode_header(keys, &wire).is_err());
    }

    #[test]
    fn expiry_and_uri_checks() {
        let mut h = AuthHeader::new(
            "pw",
            "/api/v1/x?a=b%20c",
            100,
            AesKey::new([0; 16], [0; 16]),
        );
        assert!(h.check_expiry(99).is_ok());
        assert!(h.check_expiry(100).is_ok(), "expiry is inclusive");
        assert!(matches!(h.check_expiry(101), Err(SecureError::Expired)));
        assert!(h.check_uri("/api/v1/x?a=b%20c").is_ok());
        for other in [
            "/api/v1/x?a=b c",
            "/api/v1/x",
            "/api/v1/X?a=b%20c",
            "/api/v1/x?a=b%20c&",
        ] {
            assert!(
                matches!(h.check_uri(other), Err(SecureError::UriMismatch)),
                "{other}"
            );
        }
        h.ts = "soon".into();
        let err = h.check_expiry(0).unwrap_err();
        assert_eq!(err.err_code(), "Security.Authentication.Timestamp.Invalid");
        assert!(err
            .to_string()
            .starts_with("Unauthorized: Invalid timestamp: soon, err: "));
    }

    #[test]
    fn verify_password_follows_verify_auth() {
        let aes = AesKey::new([0; 16], [0; 16]);
        let h = AuthHeader::new("secret", "/", 100, aes.clone());
        assert!(h.verify_password("secret", PasswordType::Agent, 50).is_ok());
        assert!(matches!(
            h.verify_password("other", PasswordType::Agent, 50),
            Err(SecureError::IncorrectAgentPassword)
        ));
        assert!(matches!(
            h.verify_password("other", PasswordType::OceanBase, 50),
            Err(SecureError::IncorrectOceanbasePassword)
        ));
        // Expiry is checked before the password when a password is sent.
        assert!(matches!(
            h.verify_password("secret", PasswordType::Agent, 101),
            Err(SecureError::Expired)
        ));
        // Empty password: no ts check; passes only against an empty expected password.
        let mut empty = AuthHeader::new("", "/", 0, aes);
        empty.ts = "garbage".into();
        assert!(empty
            .verify_password("", PasswordType::Agent, 1_000)
            .is_ok());
        assert!(matches!(
            empty.verify_password("secret", PasswordType::Agent, 1_000),
            Err(SecureError::IncorrectAgentPassword)
        ));
    }

    #[test]
    fn token_check() {
        let mut h = AuthHeader::default();
        assert!(h.verify_token("").is_err());
        assert!(h.verify_token("t").is_err());
        h.token = "t".into();
        assert!(h.verify_token("t").is_ok());
        assert!(h.verify_token("u").is_err());
        assert!(h.verify_token("").is_err());
    }

    #[test]
    fn body_pipeline() {
        let aes = AesKey::generate().unwrap();
        let h = AuthHeader::new("", "/", 0, aes.clone());
        assert_eq!(h.decrypt_body(b"").unwrap(), b"{}");
        let wire = aes.encrypt_body(br#"{"operator": "RETRY"}"#);
        assert_eq!(
            h.decrypt_body(wire.as_bytes()).unwrap(),
            br#"{"operator": "RETRY"}"#
        );
        let no_keys = AuthHeader::default();
        assert_eq!(no_keys.decrypt_body(b"").unwrap(), b"{}");
        let err = no_keys.decrypt_body(wire.as_bytes()).unwrap_err();
        assert_eq!(err.err_code(), "Request.Body.Decrypt.AES.KeyAndIv.Invalid");
    }

    #[test]
    fn header_selection() {
        assert_eq!(
            PasswordType::select(Some("a"), Some("o")),
            Some((PasswordType::Agent, "a"))
        );
        assert_eq!(
            PasswordType::select(Some(""), Some("o")),
            Some((PasswordType::OceanBase, "o"))
        );
        assert_eq!(PasswordType::select(None, Some("")), None);
        assert_eq!(PasswordType::Agent.header_name(), "X-OCS-Agent-Header");
        assert_eq!(PasswordType::OceanBase.header_name(), "X-OCS-Header");
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut h = AuthHeader::new("hunter2", "/", 0, AesKey::new([7; 16], [7; 16]));
        h.token = "tok-secret".into();
        let s = format!("{h:?}");
        assert!(!s.contains("hunter2") && !s.contains("tok-secret"), "{s}");
    }

    #[test]
    fn encoded_json_uses_canonical_names() {
        let h = AuthHeader::new("pw", "/u", 7, AesKey::new([0; 16], [0; 16]));
        let v: Value = serde_json::from_str(&h.to_json()).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["Auth", "Ts", "Uri", "Keys"]);
        assert_eq!(v["Ts"], "7");
    }
}
