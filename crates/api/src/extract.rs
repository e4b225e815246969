//! Extractors that turn request input into typed values or into upstream's error codes:
//! bodies that are not JSON are `Common.BindJsonFailed`, bad query values
//! `Common.IllegalArgument`. Bodies are parsed as JSON whatever the Content-Type says, because
//! the SDK sends its encrypted bodies without one (spec security-and-sdk §1.4).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use task::{DagFilter, State};

/// Parses a boolean exactly like Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The decoded query pairs of a request, in order.
fn query_pairs(parts: &Parts) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|Query(v)| v)
        .map_err(|e| ApiError::IllegalArgument(format!("query string: {e}")))
}

/// The first non-empty value of `key`, as Go's `c.Query` would see it.
fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn show_details_of(pairs: &[(String, String)]) -> Result<bool, ApiError> {
    match first(pairs, "show_details") {
        None => Ok(true),
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            ApiError::IllegalArgument(format!("show_details must be a boolean, got '{v}'"))
        }),
    }
}

/// `?show_details=` (default true; the SDK sends `True`/`False`).
#[derive(Debug, Clone, Copy)]
pub struct ShowDetails(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for ShowDetails {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ShowDetails(show_details_of(&query_pairs(parts)?)?))
    }
}

/// The query of the DAG list routes: `show_details` plus our optional paging and filter
/// extension `state`, `name`, `limit`, `offset`. Without them the upstream shape is unchanged.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub show_details: bool,
    pub filter: DagFilter,
}

fn non_negative(pairs: &[(String, String)], key: &str) -> Result<Option<i64>, ApiError> {
    first(pairs, key)
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::IllegalArgument(format!(
                    "{key} must be a non-negative integer, got '{v}'"
                ))
            })
        })
        .transpose()
}

fn parse_state(v: &str) -> Option<State> {
    match v.to_ascii_uppercase().as_str() {
        "PENDING" => Some(State::Pending),
        "READY" => Some(State::Ready),
        "RUNNING" => Some(State::Running),
        "FAILED" => Some(State::Failed),
        "SUCCEED" => Some(State::Succeed),
        _ => v.parse::<i64>().ok().and_then(State::from_i64),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let pairs = query_pairs(parts)?;
        let state = first(&pairs, "state")
            .map(|v| {
                parse_state(v).ok_or_else(|| {
                    ApiError::IllegalArgument(format!(
                        "state must be one of PENDING, READY, RUNNING, FAILED, SUCCEED, got '{v}'"
                    ))
                })
            })
            .transpose()?;
        let filter = DagFilter {
            unfinished_only: false,
            state,
            name: first(&pairs, "name").map(str::to_string),
            limit: non_negative(&pairs, "limit")?,
            offset: non_negative(&pairs, "offset")?,
        };
        Ok(ListQuery {
            show_details: show_details_of(&pairs)?,
            filter,
        })
    }
}

/// A JSON body (already decrypted by the auth pipeline when it was encrypted). An empty body
/// binds as `{}`, like upstream's `PaddingBody`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|e| match e.status().as_u16() {
                    413 => ApiError::BodyTooLarge(0),
                    _ => ApiError::BindJsonFailed(e.body_text()),
                })?;
        let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(slice)
            .map(JsonBody)
            .map_err(|e| ApiError::BindJsonFailed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_bool_accepts_exactly_parsebool_forms() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false), "{f}");
        }
        for bad in ["yes", "tRUE", "2", " true", ""] {
            assert_eq!(parse_go_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn states_parse_by_name_or_number() {
        assert_eq!(parse_state("running"), Some(State::Running));
        assert_eq!(parse_state("4"), Some(State::Failed));
        assert_eq!(parse_state("DONE"), None);
    }
}
