//! One HTTP/1.1 request per connection, over the unix socket or TCP. Requests are rare and
//! small (CLI calls), so a connection pool would buy nothing.

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::error::ClientError;

/// Lifetime of an auth header, as the SDK uses (expiry = now + 60 s).
const HEADER_LIFETIME_SECS: i64 = 60;
const TIMEOUT: Duration = Duration::from_secs(60);

type Answer = Result<(u16, Vec<u8>), ClientError>;

pub(crate) async fn unix(path: &Path, method: &str, pq: &str, body: Option<&Value>) -> Answer {
    let target = format!("unix:{}", path.display());
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| connect_err(&target, e))?;
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = Vec::new();
    if !body.is_empty() {
        headers.push(("content-type", "application/json".to_string()));
    }
    send(stream, &target, "localhost", method, pq, headers, body).await
}

pub(crate) async fn tcp_plain(
    host: &str,
    port: u16,
    method: &str,
    pq: &str,
    body: Option<&Value>,
) -> Answer {
    let (stream, target) = connect_tcp(host, port).await?;
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    send(stream, &target, &target, method, pq, Vec::new(), body).await
}

/// A request with the hybrid-encrypted `X-OCS-Header` and, when there is a body, the body
/// AES-encrypted with the key announced in the header (what the Python SDK sends).
pub(crate) async fn tcp_secure(
    host: &str,
    port: u16,
    public_key: &str,
    password: Option<&str>,
    method: &str,
    pq: &str,
    body: Option<&Value>,
) -> Answer {
    let keys = secure::AesKey::generate().map_err(|e| ClientError::Protocol(e.to_string()))?;
    let header = secure::AuthHeader::new(
        password.unwrap_or(""),
        pq,
        secure::now_unix() + HEADER_LIFETIME_SECS,
        keys.clone(),
    );
    let value = secure::encode_header(public_key, &header)
        .map_err(|e| ClientError::Protocol(format!("cannot encrypt the auth header: {e}")))?;
    let body = match body {
        Some(b) => keys.encrypt_body(b.to_string().as_bytes()).into_bytes(),
        None => Vec::new(),
    };
    let (stream, target) = connect_tcp(host, port).await?;
    let headers = vec![(secure::OCEANBASE_HEADER, value)];
    send(stream, &target, &target, method, pq, headers, body).await
}

async fn connect_tcp(
    host: &str,
    port: u16,
) -> Result<(tokio::net::TcpStream, String), ClientError> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(&target))
        .await
        .map_err(|_| connect_err(&target, "timed out"))?
        .map_err(|e| connect_err(&target, e))?;
    Ok((stream, target))
}

fn connect_err(target: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Connect {
        target: target.to_string(),
        reason: e.to_string(),
    }
}

async fn send<S>(
    io: S,
    target: &str,
    host_header: &str,
    method: &str,
    pq: &str,
    headers: Vec<(&str, String)>,
    body: Vec<u8>,
) -> Answer
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| connect_err(target, e))?;
    let driver = tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(pq)
        .header("host", host_header);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| ClientError::Protocol(e.to_string()))?;
    let resp = tokio::time::timeout(TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| connect_err(target, "no answer within 60 s"))?
        .map_err(|e| connect_err(target, e))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| connect_err(target, e))?
        .to_bytes();
    driver.abort();
    Ok((status, bytes.to_vec()))
}
