//! Interoperability with the real Python SDK `obshell==0.0.9`.
//!
//! `sdk_interop.py` drives the SDK's own public client API (network stubbed, everything else
//! real) against our public key and returns the requests it would send. Here we decode them with
//! this crate exactly as the agent will and check every header field and the body. The reverse
//! test hands a header and body built by our client code to pycryptodome (the SDK's crypto
//! library) and checks it reads them as the upstream server would.
//!
//! Python is `$OBSHELL_PYTHON`, else the repo's `.venv/bin/python`; the test fails (it does not
//! skip) when it is missing, because an interop test that silently does nothing proves nothing.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use secure::{
    decode_header, decrypt_password, encode_header, AesKey, AgentKeys, AuthHeader, ForwardType,
    PasswordType, SecureError,
};
use serde_json::{json, Value};

/// 512-bit key as old upstream agents had (`openssl genrsa -traditional 512`, test-only).
const LEGACY_512_PRIVATE_KEY: &str = "MIIBOwIBAAJBAMKZtbV6TnAxUGKqkFIHC3/UsHLzLG1+GoQzmuotOjlB7JjgaEUfMR+3/69Nqg6Bs36RTSBrxHOghE/qezkkCiUCAwEAAQJBAKXZNoH6QMthW+8bCnC+TFCfxdnR4bVXWeX9zTNzZEHSrgv0FbVgFSfPAqMBg1w86f5U14zTQgyghQggpDHjgMECIQDwBM/kmzbtX3vs7bLSoQXt/gFuBv4BV+/u4/YUnInzuQIhAM+OupYxM00hBpL0CibZfn4yjJAVWuI/h3jrVmH/mFfNAiEAoJB3itUS36UawBsbn7A8yUM9LZ/b2IY9ajBx9MPrvXECIFfpDiJ7KE1sxYoMjxgxWqA87MhCI0JcwhZ3JxlO1smpAiBhNJNJsLahfgU8ga/i2VO6jPwidkuxhL36p0wwv/6k5Q==";

const SDK_LIFETIME: i64 = 60;

fn python() -> PathBuf {
    let path = std::env::var_os("OBSHELL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    assert!(
        path.exists(),
        "Python for the SDK interop test not found at {}. Create the venv with \
         `python3 -m venv .venv && .venv/bin/pip install obshell==0.0.9` in the repo root, \
         or point OBSHELL_PYTHON at a python that has obshell==0.0.9 installed.",
        path.display()
    );
    path
}

fn run_script(mode: &str, input: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk_interop.py");
    let py = python();
    let mut child = Command::new(&py)
        .arg(&script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", py.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{} {} {mode} failed ({}); is obshell==0.0.9 installed in that Python?\nstderr:\n{}",
        py.display(),
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "script output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Request target as it appears on the HTTP request line: everything after `scheme://host:port`.
fn raw_target(url: &str) -> &str {
    let after_scheme = url.split_once("://").expect("absolute URL").1;
    &after_scheme[after_scheme.find('/').expect("path")..]
}

struct Captured {
    method: String,
    url: String,
    header_name: &'static str,
    header: AuthHeader,
    body: Option<String>,
    sdk_aes_key: Vec<u8>,
    content_type: Option<String>,
}

/// Decodes the single request a scenario sent, with the checks every scenario shares.
fn decode_single(keys: &AgentKeys, result: &Value) -> (Captured, i64, i64) {
    let reqs = result["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 1, "{}: exactly one request", result["name"]);
    let req = &reqs[0];
    let headers = req["headers"].as_object().unwrap();
    let agent = headers.get("X-OCS-Agent-Header").and_then(Value::as_str);
    let ob = headers.get("X-OCS-Header").and_then(Value::as_str);
    assert!(
        agent.is_none() || ob.is_none(),
        "the SDK sends one auth header"
    );
    let (kind, value) = PasswordType::select(agent, ob).expect("an auth header");
    let header = decode_header(keys, value).unwrap_or_else(|e| {
        panic!(
            "{}: our decode of the SDK header failed: {e}",
            result["name"]
        )
    });
    let aes = result["aes_keys"].as_array().unwrap();
    assert_eq!(aes.len(), 1);
    let sdk_aes_key = B64.decode(aes[0].as_str().unwrap()).unwrap();
    let captured = Captured {
        method: req["method"].as_str().unwrap().to_owned(),
        url: req["url"].as_str().unwrap().to_owned(),
        header_name: kind.header_name(),
        header,
        body: req["body"].as_str().map(str::to_owned),
        sdk_aes_key,
        content_type: headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.to_string()),
    };
    (
        captured,
        result["time_before"].as_i64().unwrap(),
        result["time_after"].as_i64().unwrap(),
    )
}

/// Field-by-field check of a decoded SDK header.
fn check_header(c: &Captured, before: i64, after: i64, expected_auth: &str, expected_uri: &str) {
    let h = &c.header;
    assert_eq!(h.auth, expected_auth, "auth");
    assert_eq!(h.uri, expected_uri, "uri");
    // The uri is the raw request target the SDK put on the wire, byte for byte.
    h.check_uri(raw_target(&c.url))
        .expect("uri matches the request line");
    // ts = int(time.time()) + 60, a decimal string.
    let ts = h.expiry().expect("ts is a decimal integer string");
    assert!(
        (before + SDK_LIFETIME..=after + SDK_LIFETIME).contains(&ts),
        "ts {ts} not in [{before}+60, {after}+60]"
    );
    h.check_expiry(secure::now_unix())
        .expect("fresh header not expired");
    h.check_expiry(ts).expect("valid up to and including ts");
    assert!(matches!(h.check_expiry(ts + 1), Err(SecureError::Expired)));
    // keys = base64(aes_key16 || aes_iv16), the very key the SDK used.
    let aes = h.keys.as_ref().expect("SDK always sends keys");
    assert_eq!(
        aes.to_transport_bytes().as_slice(),
        c.sdk_aes_key.as_slice()
    );
    // Nothing else is set by a password client.
    assert!(h.session_id.is_empty() && h.token.is_empty() && h.sso_token.is_empty());
    assert!(h.sha256.is_empty() && h.forward_agent.is_none());
    assert_eq!(h.forward_type, ForwardType::NONE);
    // No Content-Type on encrypted requests (the server must not insist on one).
    assert_eq!(c.content_type, None);
}

fn scenario(name: &str, identity: &str, extra: Value) -> Value {
    let mut s = json!({"name": name, "identity": identity, "version": "4.5.0.0-0"});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

#[test]
fn sdk_requests_decode_with_our_server_code() {
    let keys = AgentKeys::generate().unwrap();
    let legacy = AgentKeys::from_private_key_base64(LEGACY_512_PRIVATE_KEY).unwrap();
    let long_pw = format!("pässwörd-密码-{}", "x".repeat(100));
    let big_body = json!({
        "variables": (0..40).map(|i| (format!("var_{i}"), json!("v".repeat(i)))).collect::<serde_json::Map<_, _>>(),
        "comment": "non-ASCII ü 密码",
    });
    let scenarios = json!([
        scenario(
            "unfinished_dags",
            "CLUSTER AGENT",
            json!({
            "password": "root-pw",
            "call": {"kind": "get_unfinished_dags"}})
        ),
        scenario(
            "operate_dag",
            "CLUSTER AGENT",
            json!({
            "password": "root-pw",
            "call": {"kind": "operate_dag", "id": "22130706433028861", "operator": "RETRY"}})
        ),
        scenario(
            "single_blanks_password",
            "SINGLE",
            json!({
            "password": "ignored-on-single",
            "call": {"kind": "get_unfinished_dags"}})
        ),
        scenario(
            "agent_password",
            "CLUSTER AGENT",
            json!({
            "password": "root-pw", "agent_password": "agent-pw", "security": true,
            "call": {"kind": "get_unfinished_dags"}})
        ),
        scenario(
            "obproxy_without_agent_password",
            "CLUSTER AGENT",
            json!({
            "password": "root-pw", "agent_password": "agent-pw", "security": false,
            "call": {"kind": "request", "uri": "/api/v1/obproxy/stop", "method": "POST",
                     "task_type": "obproxy"}})
        ),
        scenario(
            "quoted_uri_unicode_big_body",
            "CLUSTER AGENT",
            json!({
            "password": long_pw,
            "call": {"kind": "request", "uri": "/api/v1/tenant/my tenant/ü", "method": "PUT",
                     "query": {"a": "b c", "flag": true}, "data": big_body}})
        ),
        scenario(
            "legacy_512_bit_key",
            "CLUSTER AGENT",
            json!({
            "password": "root-pw", "public_key": legacy.public_key_base64(),
            "call": {"kind": "operate_dag", "id": "11", "operator": "CANCEL"}})
        ),
        scenario(
            "encrypt_root_pwd_old_agent",
            "CLUSTER AGENT",
            json!({
            "version": "4.2.3.0", "supported_auth": [],
            "call": {"kind": "encrypt_password", "password": long_pw}})
        ),
    ]);
    let out = run_script(
        "sdk",
        &json!({"public_key": keys.public_key_base64(), "scenarios": scenarios}),
    );
    assert_eq!(
        out["sdk_version"], "0.0.9",
        "interop is pinned to obshell 0.0.9"
    );
    let results: Vec<&Value> = out["results"].as_array().unwrap().iter().collect();
    let by_name = |n: &str| *results.iter().find(|r| r["name"] == n).unwrap();

    // 1. GET with a query string, root password in X-OCS-Header, no body.
    let r = by_name("unfinished_dags");
    let (c, b, a) = decode_single(&keys, r);
    assert_eq!(c.method, "GET");
    assert_eq!(c.header_name, "X-OCS-Header");
    check_header(
        &c,
        b,
        a,
        "root-pw",
        "/api/v1/task/dag/unfinish?show_details=True",
    );
    c.header
        .verify_password("root-pw", PasswordType::OceanBase, secure::now_unix())
        .unwrap();
    assert!(matches!(
        c.header
            .verify_password("wrong", PasswordType::OceanBase, secure::now_unix()),
        Err(SecureError::IncorrectOceanbasePassword)
    ));
    assert_eq!(c.body, None);
    assert_eq!(c.header.decrypt_body(b"").unwrap(), b"{}");
    // Handshake as spec §3.1 describes: /info (auth version), /info (identity), /secret.
    let probes: Vec<&str> = r["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        probes,
        [
            "http://127.0.0.1:2886/api/v1/info",
            "http://127.0.0.1:2886/api/v1/info",
            "http://127.0.0.1:2886/api/v1/secret"
        ]
    );

    // 2. POST with an AES-encrypted JSON body.
    let (c, b, a) = decode_single(&keys, by_name("operate_dag"));
    assert_eq!(c.method, "POST");
    assert_eq!(c.header_name, "X-OCS-Header");
    check_header(&c, b, a, "root-pw", "/api/v1/task/dag/22130706433028861");
    let body = c.body.as_deref().expect("encrypted body");
    let plain = c.header.decrypt_body(body.as_bytes()).unwrap();
    assert_eq!(plain, br#"{"operator": "RETRY"}"#, "json.dumps layout");
    // A tampered body is refused, not mis-decrypted into something else.
    let mut raw = B64.decode(body).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x5a;
    assert!(c.header.decrypt_body(B64.encode(&raw).as_bytes()).is_err());

    // 3. SINGLE identity: the SDK blanks the password itself.
    let (c, b, a) = decode_single(&keys, by_name("single_blanks_password"));
    check_header(&c, b, a, "", "/api/v1/task/dag/unfinish?show_details=True");
    assert_eq!(c.header_name, "X-OCS-Header");

    // 4. Agent password set on the agent: X-OCS-Agent-Header with the agent password.
    let (c, b, a) = decode_single(&keys, by_name("agent_password"));
    assert_eq!(c.header_name, "X-OCS-Agent-Header");
    check_header(
        &c,
        b,
        a,
        "agent-pw",
        "/api/v1/task/dag/unfinish?show_details=True",
    );
    c.header
        .verify_password("agent-pw", PasswordType::Agent, secure::now_unix())
        .unwrap();

    // 5. obproxy calls always use the agent header; with security=false the SDK dropped the
    //    agent password, so auth is "". A body-less POST carries no body.
    let (c, b, a) = decode_single(&keys, by_name("obproxy_without_agent_password"));
    assert_eq!(c.header_name, "X-OCS-Agent-Header");
    check_header(&c, b, a, "", "/api/v1/obproxy/stop");
    assert_eq!(c.body, None);

    // 6. Percent-quoted path, urlencoded query, a >53-byte UTF-8 password (split mid-character
    //    by the SDK's 53-byte RSA chunks) and a multi-block body.
    let (c, b, a) = decode_single(&keys, by_name("quoted_uri_unicode_big_body"));
    assert_eq!(c.method, "PUT");
    check_header(
        &c,
        b,
        a,
        &long_pw,
        "/api/v1/tenant/my%20tenant/%C3%BC?a=b+c&flag=True",
    );
    let plain = c
        .header
        .decrypt_body(c.body.as_deref().unwrap().as_bytes())
        .unwrap();
    let parsed: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(parsed, big_body);

    // 7. An old 512-bit agent key: the SDK's 53-byte chunks are exactly k - 11 there.
    let (c, b, a) = decode_single(&legacy, by_name("legacy_512_bit_key"));
    check_header(&c, b, a, "root-pw", "/api/v1/task/dag/11");
    let plain = c
        .header
        .decrypt_body(c.body.as_deref().unwrap().as_bytes())
        .unwrap();
    assert_eq!(plain, br#"{"operator": "CANCEL"}"#);
    // ...and our 1024-bit key cannot read it.
    let r = by_name("legacy_512_bit_key");
    let value = r["requests"][0]["headers"]["X-OCS-Header"]
        .as_str()
        .unwrap();
    assert!(matches!(
        decode_header(&keys, value),
        Err(SecureError::HeaderDecryptFailed(_))
    ));

    // 8. rootPwd RSA-encrypted by the SDK for agents < 4.2.4.0 (53-byte chunks, no header).
    let r = by_name("encrypt_root_pwd_old_agent");
    let stored = r["result"].as_str().unwrap();
    assert_eq!(
        B64.decode(stored).unwrap().len(),
        long_pw.len().div_ceil(53) * 128
    );
    assert_eq!(decrypt_password(&keys, stored).unwrap(), long_pw);
}

#[test]
fn our_client_output_reads_like_upstream_server_would() {
    let keys = AgentKeys::generate().unwrap();
    let aes = AesKey::generate().unwrap();
    let uri = "/api/v1/task/dag/22130706433028861";
    let password = format!("root-{}-密码", "y".repeat(150));
    let header = AuthHeader::new(&password, uri, 1_900_000_000, aes.clone());
    let wire = encode_header(keys.public_key_base64(), &header).unwrap();
    let body = aes.encrypt_body(br#"{"operator":"ROLLBACK"}"#);

    let out = run_script(
        "decode",
        &json!({
            "private_key": keys.private_key_base64().unwrap().as_str(),
            "header": wire,
            "body": body,
        }),
    );
    let h = &out["header"];
    assert_eq!(h["Auth"], password.as_str());
    assert_eq!(h["Ts"], "1900000000", "ts must be a JSON string");
    assert_eq!(h["Uri"], uri);
    assert_eq!(h["Keys"], aes.to_base64());
    assert_eq!(
        h.as_object().unwrap().len(),
        4,
        "only the fields a password client sets: {h}"
    );
    // k - 11 = 117-byte chunks: fewer RSA blocks than the SDK's 53-byte chunks would need.
    let json_len = out["header_json"].as_str().unwrap().len();
    assert_eq!(
        out["blocks"].as_u64().unwrap() as usize,
        json_len.div_ceil(117)
    );
    assert_eq!(out["body"], r#"{"operator":"ROLLBACK"}"#);
}
