//! One HTTP/1.1 request per connection, over the unix socket or TCP. Requests are rare and
//! small (CLI calls), so a connection pool would buy nothing. A request is first *opened*
//! (status and headers received, body not yet read): ordinary calls then collect the body,
//! event streams read it as it comes.

use std::path::Path;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::AbortHandle;

use crate::error::ClientError;

/// Lifetime of an auth header, as the SDK uses (expiry = now + 60 s).
const HEADER_LIFETIME_SECS: i64 = 60;
const TIMEOUT: Duration = Duration::from_secs(60);

type Answer = Result<(u16, Vec<u8>), ClientError>;

/// A response whose status and headers arrived; the body is read from `body`. Dropping it
/// closes the connection.
pub(crate) struct Opened {
    pub target: String,
    pub status: u16,
    pub content_type: String,
    pub body: Incoming,
    driver: AbortHandle,
}

impl Opened {
    /// Reads the whole body.
    pub async fn collect(self) -> Answer {
        let status = self.status;
        let target = self.target.clone();
        let bytes = BodyExt::collect(self)
            .await
            .map_err(|e| connect_err(&target, e))?
            .to_bytes();
        Ok((status, bytes.to_vec()))
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl hyper::body::Body for Opened {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }
}

pub(crate) async fn unix(path: &Path, method: &str, pq: &str, body: Option<&Value>) -> Answer {
    unix_open(path, method, pq, body).await?.collect().await
}

pub(crate) async fn unix_open(
    path: &Path,
    method: &str,
    pq: &str,
    body: Option<&Value>,
) -> Result<Opened, ClientError> {
    let target = format!("unix:{}", path.display());
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| connect_err(&target, e))?;
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers = Vec::new();
    if !body.is_empty() {
        headers.push(("content-type", "application/json".to_string()));
    }
    open(stream, target, "localhost", method, pq, headers, body).await
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
    let host_header = target.clone();
    open(stream, target, &host_header, method, pq, Vec::new(), body)
        .await?
        .collect()
        .await
}

/// Where and how a TCP request authenticates.
#[derive(Clone, Copy)]
pub(crate) struct Auth<'a> {
    pub host: &'a str,
    pub port: u16,
    pub public_key: &'a str,
    pub password: Option<&'a str>,
    /// `X-OCS-Header` (root password) or `X-OCS-Agent-Header` (agent password).
    pub header: &'static str,
}

/// A request with the hybrid-encrypted auth header and, when there is a body, the body
/// AES-encrypted with the key announced in the header (what the Python SDK sends).
pub(crate) async fn tcp_secure(
    auth: &Auth<'_>,
    method: &str,
    pq: &str,
    body: Option<&Value>,
) -> Answer {
    tcp_secure_open(auth, method, pq, body)
        .await?
        .collect()
        .await
}

/// [`tcp_secure`], opened only: the response body (e.g. an event stream, which is not
/// encrypted) is left to the caller.
pub(crate) async fn tcp_secure_open(
    auth: &Auth<'_>,
    method: &str,
    pq: &str,
    body: Option<&Value>,
) -> Result<Opened, ClientError> {
    let Auth {
        host,
        port,
        public_key,
        password,
        header: header_name,
    } = *auth;
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
    let headers = vec![(header_name, value)];
    let host_header = target.clone();
    open(stream, target, &host_header, method, pq, headers, body).await
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

async fn open<S>(
    io: S,
    target: String,
    host_header: &str,
    method: &str,
    pq: &str,
    headers: Vec<(&str, String)>,
    body: Vec<u8>,
) -> Result<Opened, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| connect_err(&target, e))?;
    let driver = tokio::spawn(conn).abort_handle();
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
    let sent = tokio::time::timeout(TIMEOUT, sender.send_request(req)).await;
    let resp = match sent {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => {
            driver.abort();
            return Err(connect_err(&target, e));
        }
        Err(_) => {
            driver.abort();
            return Err(connect_err(&target, "no answer within 60 s"));
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok(Opened {
        target,
        status,
        content_type,
        body: resp.into_body(),
        driver,
    })
}
