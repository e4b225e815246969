//! The request pipeline that runs on every route before routing (spec security-and-sdk §1.5
//! steps 2-4): buffer the body within the size limit, decrypt the auth header if one is
//! present (public routes included: a bad header fails anywhere), decrypt an encrypted body.
//! What it learns is left in a [`RequestAuth`] extension for the per-route verify step.

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use secure::{AuthHeader, PasswordType, AGENT_HEADER, OCEANBASE_HEADER};

use super::peer::Peer;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Bytes read and discarded from an oversized body before answering 413, so a client that is
/// still sending gets the answer instead of a reset connection. Beyond this the connection
/// is simply closed.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// Multipart package uploads are not AES-encrypted (they carry `X-OCS-File-SHA256`).
const PACKAGE_URI: &str = "/api/v1/package";

/// What the pipeline learnt about a request, for the verify step and handlers.
#[derive(Clone)]
pub struct RequestAuth {
    /// Unix seconds at receipt: expiry is judged against this, not the time of the check.
    pub received_ts: i64,
    /// The request-target exactly as sent (path and raw query), compared with the header's uri.
    pub raw_target: String,
    pub peer: Option<Peer>,
    /// The decrypted auth header, if one was sent over TCP.
    pub header: Option<(PasswordType, AuthHeader)>,
}

impl RequestAuth {
    pub fn is_local(&self) -> bool {
        matches!(self.peer, Some(Peer::Unix { .. }))
    }
}

pub async fn pipeline(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match prepare(&st, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// A header value as text; bytes that are not UTF-8 are kept (lossily) so that the decode step,
/// not this one, reports the header as undecryptable.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Reads the whole body, refusing more than `limit` bytes with 413.
async fn read_limited(body: Body, limit: usize, declared: Option<u64>) -> ApiResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut seen: usize = 0;
    let mut too_large = declared.is_some_and(|n| n > limit as u64);
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::IllegalArgument(format!("read request body: {e}")))?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            too_large = true;
        }
        if too_large {
            buf = Vec::new();
            if seen > DRAIN_CAP {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&chunk);
    }
    if too_large {
        return Err(ApiError::BodyTooLarge(limit));
    }
    Ok(Bytes::from(buf))
}

async fn prepare(st: &AppState, req: Request) -> ApiResult<Request> {
    let received_ts = chrono::Utc::now().timestamp();
    let (mut parts, body) = req.into_parts();
    let bytes = read_limited(
        body,
        st.config.max_body_bytes,
        content_length(&parts.headers),
    )
    .await?;
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .map(|ConnectInfo(p)| *p);
    let raw_target = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut auth = RequestAuth {
        received_ts,
        raw_target,
        peer,
        header: None,
    };
    let mut body = bytes;
    // The unix socket has no header auth at all (the peer uid is checked instead).
    if !auth.is_local() {
        let agent = header_text(&parts.headers, AGENT_HEADER);
        let ob = header_text(&parts.headers, OCEANBASE_HEADER);
        if let Some((kind, raw)) = PasswordType::select(agent.as_deref(), ob.as_deref()) {
            let decoded = secure::decode_header(&st.keys, raw)?;
            if !body.is_empty() && parts.uri.path() != PACKAGE_URI {
                body = Bytes::from(decoded.decrypt_body(&body)?);
            }
            auth.header = Some((kind, decoded));
        }
    }
    parts.extensions.insert(auth);
    // The body is now one buffer (decrypted if it was encrypted): describe it as such.
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    Ok(Request::from_parts(parts, Body::from(body)))
}
