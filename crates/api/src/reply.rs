//! What handlers return. A handler does not write the envelope itself: it leaves an
//! [`Outcome`] in the response extensions, and the envelope middleware (the outermost layer,
//! which knows the start time and the trace id) renders it. Responses without an outcome
//! (axum's own 405, a panic) are rendered from their status, so every answer is an envelope.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// The result of a handler, carried to the envelope middleware.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// Success; `None` omits `data`.
    Data(Option<Box<RawValue>>),
    Error(ApiError),
    /// The response body is the answer itself (a server-sent event stream): the envelope
    /// middleware passes it through untouched, without buffering or wrapping it.
    Stream,
}

fn with_outcome(status: StatusCode, outcome: Outcome) -> Response {
    let mut resp = status.into_response();
    resp.extensions_mut().insert(outcome);
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        with_outcome(status, Outcome::Error(self))
    }
}

/// A success whose `data` is `T` serialized once, straight to JSON text.
pub struct Data<T>(pub T);

impl<T: Serialize> IntoResponse for Data<T> {
    fn into_response(self) -> Response {
        match serde_json::to_string(&self.0).and_then(RawValue::from_string) {
            Ok(raw) => with_outcome(StatusCode::OK, Outcome::Data(Some(raw))),
            Err(e) => ApiError::Unexpected(format!("serialize response: {e}")).into_response(),
        }
    }
}

/// A list: upstream wraps every slice as `data: {"contents": [...]}`.
pub struct Contents<T>(pub Vec<T>);

#[derive(Serialize)]
struct ContentsRef<'a, T> {
    contents: &'a [T],
}

impl<T: Serialize> IntoResponse for Contents<T> {
    fn into_response(self) -> Response {
        Data(ContentsRef { contents: &self.0 }).into_response()
    }
}

/// Marks `resp` as a streamed answer that the envelope middleware must not wrap.
pub(crate) fn streamed(mut resp: Response) -> Response {
    resp.extensions_mut().insert(Outcome::Stream);
    resp
}

/// A success without `data` (e.g. a DAG operator).
pub struct NoData;

impl IntoResponse for NoData {
    fn into_response(self) -> Response {
        with_outcome(StatusCode::OK, Outcome::Data(None))
    }
}
