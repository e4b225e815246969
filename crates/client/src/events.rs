//! Following a DAG through `GET /api/v1/task/dag/:id/events` (server-sent events): each
//! event is the DAG's `{id, dag_id, name, stage, max_stage, state, operator}`; the first one
//! is the DAG as it was when the stream opened, the stream ends after SUCCEED or FAILED.

use std::collections::VecDeque;
use std::time::Duration;

use http_body_util::BodyExt;

use crate::error::{self, ClientError};
use crate::model::Dag;
use crate::transport::Opened;
use crate::Result;

/// Without an event or keep-alive (sent every 15 s) for this long, the stream is taken as
/// broken.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// The SSE content type.
const EVENT_STREAM: &str = "text/event-stream";

/// A DAG's progress events, as they arrive. Dropping it closes the connection.
pub struct DagEvents {
    opened: Opened,
    parser: SseParser,
    ended: bool,
}

impl DagEvents {
    /// Checks the answer: a stream is `200 text/event-stream`; anything else is the agent's
    /// error envelope (e.g. `Common.NotFound` 404 from an agent without the route).
    pub(crate) async fn open(opened: Opened) -> Result<DagEvents> {
        let is_stream = opened.status == 200
            && opened
                .content_type
                .trim_start()
                .to_ascii_lowercase()
                .starts_with(EVENT_STREAM);
        if !is_stream {
            let answer = opened.collect().await?;
            error::unwrap_envelope(answer)?;
            return Err(ClientError::Protocol(
                "the event route answered without an event stream".into(),
            ));
        }
        Ok(DagEvents {
            opened,
            parser: SseParser::default(),
            ended: false,
        })
    }

    /// The next event: `None` once the agent ended the stream (normally after a SUCCEED or
    /// FAILED event); an error when the connection broke, nothing (not even a keep-alive)
    /// came for [`IDLE_TIMEOUT`], or an event is not a DAG. Cancel-safe: dropping the future
    /// loses no event.
    pub async fn next(&mut self) -> Option<Result<Dag>> {
        loop {
            if let Some(data) = self.parser.events.pop_front() {
                return Some(
                    serde_json::from_str(&data)
                        .map_err(|e| ClientError::Protocol(format!("bad DAG event {data:?}: {e}"))),
                );
            }
            if self.ended {
                return None;
            }
            let frame = match tokio::time::timeout(IDLE_TIMEOUT, self.opened.frame()).await {
                Err(_) => Err(format!(
                    "no event or keep-alive within {} s",
                    IDLE_TIMEOUT.as_secs()
                )),
                Ok(None) => {
                    self.ended = true;
                    continue;
                }
                Ok(Some(Err(e))) => Err(e.to_string()),
                Ok(Some(Ok(frame))) => Ok(frame),
            };
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.parser.feed(&data);
                    }
                }
                Err(reason) => {
                    self.ended = true;
                    return Some(Err(ClientError::Connect {
                        target: self.opened.target.clone(),
                        reason: format!("event stream broken: {reason}"),
                    }));
                }
            }
        }
    }

    /// The events as a `futures::Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Dag>> + Send + Unpin {
        Box::pin(futures::stream::unfold(self, |mut ev| async move {
            ev.next().await.map(|item| (item, ev))
        }))
    }
}

/// An incremental parser of `text/event-stream`: lines end with LF, CRLF or CR; `data:`
/// lines accumulate (joined by LF) until a blank line dispatches the event; comments (`:`)
/// and other fields (`event`, `id`, `retry`) are ignored.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    /// The previous byte was CR: an LF right after it ends nothing more.
    after_cr: bool,
    pub events: VecDeque<String>,
}

impl SseParser {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&String::from_utf8_lossy(&line));
                }
                _ => self.line.push(b),
            }
        }
    }

    fn line_done(&mut self, line: &str) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                self.events.push_back(data);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&str]) -> Vec<String> {
        let mut p = SseParser::default();
        for c in chunks {
            p.feed(c.as_bytes());
        }
        p.events.into_iter().collect()
    }

    #[test]
    fn events_comments_and_line_endings() {
        assert_eq!(
            parse(&[": keep-alive\n\n", "data: {\"a\":1}\n\n", "data:x\r\n\r\n"]),
            vec!["{\"a\":1}".to_string(), "x".to_string()]
        );
        // split anywhere, CR-only endings, multi-line data, other fields ignored
        assert_eq!(
            parse(&[
                "event: dag\nid: 7\nda",
                "ta: one\ndata: two\n",
                "\n",
                "data: 3\r\r"
            ]),
            vec!["one\ntwo".to_string(), "3".to_string()]
        );
        // CRLF split between chunks
        assert_eq!(parse(&["data: a\r", "\n\r", "\n"]), vec!["a".to_string()]);
        // an event without its blank line is not dispatched; a blank line alone is nothing
        assert!(parse(&["\n\ndata: partial\n"]).is_empty());
    }
}
