//! The router: public routes, protected routes (Verify), and the layers every request goes
//! through. Layer order, outermost first: envelope (timing, trace id, panics, rendering) ->
//! auth pipeline (body limit, header and body decryption) -> routing -> Verify (protected
//! routes only) -> handler.

mod agent;
mod events;
mod public;
mod seekdb;
mod task;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::{pipeline, verify};
use crate::envelope;
use crate::error::ApiError;
use crate::state::AppState;

async fn not_found() -> ApiError {
    ApiError::NotFound("404 not found".into())
}

/// The task routes that exist on a single agent (spec task-engine §8.3).
fn task_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/task/dag/unfinish", get(task::unfinished))
        .route(
            "/api/v1/task/dag/agent/unfinish",
            get(task::agent_unfinished),
        )
        .route("/api/v1/task/dag/ob/unfinish", get(task::cluster_only))
        .route("/api/v1/task/dags/agent", get(task::agent_dags))
        .route("/api/v1/task/dags/ob", get(task::cluster_only))
        .route("/api/v1/task/dag/maintain/agent", get(task::maintain_agent))
        .route(
            "/api/v1/task/dag/maintain/agents",
            get(task::maintain_agents),
        )
        .route("/api/v1/task/dag/maintain/ob", get(task::cluster_only))
        .route(
            "/api/v1/task/dag/{id}",
            get(task::get_dag).post(task::operate_dag),
        )
        .route("/api/v1/task/dag/{id}/events", get(events::dag_events))
        .route(
            "/api/v1/task/node/{id}",
            get(task::get_node).post(task::operate_node),
        )
        .route("/api/v1/task/sub_task/{id}", get(task::get_sub_task))
        .route("/api/v1/task/sub_task/{id}/logs", get(task::sub_task_logs))
}

/// Builds the whole router over `state`.
pub fn router(state: AppState) -> Router {
    let protected = task_routes()
        .route("/api/v1/agent/password", post(agent::set_password))
        .merge(seekdb::routes())
        .route_layer(from_fn_with_state(state.clone(), verify::verify));
    let public = Router::new()
        .route("/api/v1/info", get(public::info))
        .route("/api/v1/status", get(public::status).post(public::status))
        .route("/api/v1/secret", get(public::secret))
        .route("/api/v1/time", get(public::time));
    Router::new()
        .merge(public)
        .merge(protected)
        .fallback(not_found)
        // The auth pipeline enforces `ApiConfig::max_body_bytes` itself, before decryption.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(state.clone(), pipeline::pipeline))
        .layer(from_fn(envelope::render))
        .with_state(state)
}
