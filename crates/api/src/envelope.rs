//! The obshell response envelope (spec security-and-sdk §2), written by the outermost
//! middleware for every response: handler results, errors of the auth pipeline, axum's own
//! 404/405, body-limit refusals and panics alike. HTTP status always equals `status`.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Local, Timelike};
use futures::FutureExt;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::reply::Outcome;

/// Request header carrying a caller-chosen trace id.
pub const TRACE_HEADER: &str = "X-OBSHELL-Trace-ID";

#[derive(Serialize)]
struct Envelope<'a> {
    successful: bool,
    timestamp: String,
    duration: u64,
    status: u16,
    #[serde(rename = "traceId")]
    trace_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(skip_serializing_if = "is_zero")]
    code: u32,
    #[serde(rename = "errCode")]
    err_code: &'a str,
    message: String,
    #[serde(rename = "subErrors", skip_serializing_if = "Vec::is_empty")]
    sub_errors: Vec<String>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// Go's `time.RFC3339Nano`: nanoseconds with trailing zeros trimmed (none at all when zero),
/// then `Z` or the local offset.
pub fn go_time(t: DateTime<Local>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let offset = t.offset().local_minus_utc();
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!("{base}{frac}{zone}")
}

/// 16 random hex characters (8 random bytes), upstream's trace id.
pub fn random_trace_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // The OS RNG failing is not a reason to fail a request; a time-based id still traces.
        let n = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
        b = n.to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The error shown for a response that carries no outcome, by its status.
fn error_for_status(status: StatusCode, path: &str) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => ApiError::NotFound(format!("404 not found: {path}")),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(path.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge(0),
        StatusCode::BAD_REQUEST => ApiError::IllegalArgument(format!("bad request: {path}")),
        s => ApiError::Unexpected(s.canonical_reason().unwrap_or("unexpected status").into()),
    }
}

/// The outermost middleware: times the request, assigns the trace id, catches panics and
/// renders the envelope.
pub async fn render(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    // `/api/v1/status` keeps an empty trace id upstream.
    let trace_id = if path == "/api/v1/status" {
        String::new()
    } else {
        req.headers()
            .get(TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(128).collect())
            .unwrap_or_else(random_trace_id)
    };
    let resp = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(%path, "handler panicked");
            ApiError::Unexpected("Internal Server Error".into()).into_response()
        }
    };
    let resp = finish(resp, &path, &trace_id, started);
    tracing::debug!(%method, %path, status = resp.status().as_u16(), trace_id, elapsed_us = started.elapsed().as_micros() as u64, "request");
    resp
}

fn finish(resp: Response, path: &str, trace_id: &str, started: Instant) -> Response {
    // A stream (server-sent events) is its own answer: its body goes out as produced.
    if matches!(resp.extensions().get::<Outcome>(), Some(Outcome::Stream)) {
        return resp;
    }
    let (mut parts, _body) = resp.into_parts();
    if parts.status == StatusCode::NO_CONTENT {
        return Response::from_parts(parts, Body::empty());
    }
    let outcome = parts
        .extensions
        .remove::<Outcome>()
        .unwrap_or_else(|| Outcome::Error(error_for_status(parts.status, path)));
    let (data, error) = match &outcome {
        Outcome::Data(d) => (d.as_deref(), None),
        Outcome::Stream => (None, None),
        Outcome::Error(e) => {
            tracing::debug!(%path, err_code = e.err_code(), "request failed: {e}");
            (
                None,
                Some(ErrorBody {
                    code: e.code(),
                    err_code: e.err_code(),
                    message: e.to_string(),
                    sub_errors: Vec::new(),
                }),
            )
        }
    };
    let trace_id = match &outcome {
        Outcome::Error(e) if e.before_trace() => "",
        _ => trace_id,
    };
    let status = match &outcome {
        Outcome::Error(e) => StatusCode::from_u16(e.status()).unwrap_or(parts.status),
        Outcome::Data(_) | Outcome::Stream => parts.status,
    };
    let env = Envelope {
        successful: error.is_none(),
        timestamp: go_time(Local::now()),
        duration: started.elapsed().as_millis() as u64,
        status: status.as_u16(),
        trace_id,
        data,
        error,
    };
    let body = serde_json::to_vec(&env).unwrap_or_else(|_| {
        br#"{"successful":false,"status":500,"error":{"errCode":"Common.Unexpected","message":"Unexpected error: envelope"}}"#.to_vec()
    });
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_time_trims_like_rfc3339nano() {
        let t = Local.timestamp_opt(1_700_000_000, 520_371_000).unwrap();
        let s = go_time(t);
        assert!(s.contains(".520371"), "{s}");
        assert!(!s.contains(".5203710"), "{s}");
        let whole = Local.timestamp_opt(1_700_000_000, 0).unwrap();
        assert!(!go_time(whole).contains('.'));
    }

    #[test]
    fn trace_ids_are_16_hex_chars() {
        let id = random_trace_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, random_trace_id());
    }
}
