//! `GET /api/v1/task/dag/:id/events`: a DAG's progress as server-sent events, so a follower
//! sees a stage change as soon as it is committed instead of polling.
//!
//! Contract. The id is checked like the other DAG routes, and errors (`Task.GenericID.Invalid`
//! 400, `Task.NotFound` 404, auth errors) are ordinary JSON envelopes sent before any stream
//! starts. On success the answer is `200 text/event-stream`, not wrapped in an envelope, made
//! of events `data: {"id","dag_id","name","stage","max_stage","state","operator"}` (one JSON
//! object per event, the fields of `GET /task/dag/:id`):
//! - first the DAG as it is now;
//! - then the DAG re-read after each engine event for it (stage change, finish, operator
//!   applied); a receiver that lagged behind re-reads too. An event equal to the previous one
//!   is not repeated;
//! - a `: keep-alive` comment after 15 s without an event;
//! - the stream ends after an event whose state is SUCCEED or FAILED (a failed DAG may be
//!   retried later: reconnect to follow it again), when the DAG disappears, and when the agent
//!   stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use task::dto::{DagDetailDto, IdTarget};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use crate::error::ApiResult;
use crate::reply::streamed;
use crate::state::AppState;

/// Idle time after which a keep-alive comment is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One event's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Progress {
    id: String,
    dag_id: i64,
    name: String,
    stage: i64,
    max_stage: i64,
    state: String,
    operator: String,
}

impl Progress {
    fn is_final(&self) -> bool {
        self.state == "SUCCEED" || self.state == "FAILED"
    }

    fn event(&self) -> Event {
        // serde_json writes no newline, so the object fits on one `data:` line.
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        Event::default().data(json)
    }
}

impl From<DagDetailDto> for Progress {
    fn from(d: DagDetailDto) -> Progress {
        Progress {
            id: d.id,
            dag_id: d.dag_id,
            name: d.name,
            stage: d.stage,
            max_stage: d.max_stage,
            state: d.state,
            operator: d.operator,
        }
    }
}

/// The state of one stream.
struct Follow {
    st: AppState,
    dag_id: i64,
    rx: Receiver<task::DagEvent>,
    /// The next event to send, if already known (the initial one).
    pending: Option<Progress>,
    last: Option<Progress>,
    done: bool,
}

impl Follow {
    /// Waits for the next change of this DAG; `None` ends the stream.
    async fn next_change(&mut self) -> Option<Progress> {
        loop {
            let woke = tokio::select! {
                _ = self.st.shutdown.cancelled() => return None,
                r = self.rx.recv() => r,
            };
            match woke {
                Ok(ev) if ev.dag_id != self.dag_id => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
            let now = match self.st.engine.dag_detail(self.dag_id, false).await {
                Ok(d) => Progress::from(d),
                Err(e) => {
                    tracing::debug!(dag = self.dag_id, "event stream ends: {e}");
                    return None;
                }
            };
            if self.last.as_ref() != Some(&now) {
                return Some(now);
            }
        }
    }

    async fn next_event(mut self) -> Option<(Result<Event, Infallible>, Follow)> {
        if self.done {
            return None;
        }
        let p = match self.pending.take() {
            Some(p) => p,
            None => self.next_change().await?,
        };
        self.done = p.is_final();
        let event = p.event();
        self.last = Some(p);
        Some((Ok(event), self))
    }
}

/// `GET /task/dag/:id/events`.
pub async fn dag_events(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let dag_id = st.engine.resolve_id(&id, IdTarget::Dag)?;
    // Subscribe before reading, so no change between the read and the first wait is missed.
    let rx = st.engine.subscribe();
    let first = Progress::from(st.engine.dag_detail(dag_id, false).await?);
    let follow = Follow {
        st,
        dag_id,
        rx,
        pending: Some(first),
        last: None,
        done: false,
    };
    let events = futures::stream::unfold(follow, Follow::next_event);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    let mut resp = sse.into_response();
    // Reverse proxies (nginx) must not buffer the stream either.
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(streamed(resp))
}
