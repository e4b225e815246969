//! Agent routes. For now only `POST /api/v1/agent/password`, whose special auth rules live in
//! the verify middleware (spec security-and-sdk §1.6).

use axum::extract::State;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::reply::NoData;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    password: Option<String>,
}

/// `POST /api/v1/agent/password` body `{"password": "<plain>"}`: sets the agent password,
/// which from then on every protected TCP request must carry in `X-OCS-Agent-Header`.
pub async fn set_password(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<NoData> {
    let password = body
        .password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::BindJsonFailed("field 'password' is required".into()))?;
    st.agent.set_agent_password(&password).await?;
    tracing::info!("agent password changed");
    Ok(NoData)
}
