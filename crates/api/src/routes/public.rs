//! Public endpoints (no Verify): `/info`, `/status`, `/secret`, `/time`. The SDK calls `/info`
//! and `/secret` before every first authenticated request, so they must stay cheap.

use axum::extract::State;
use chrono::Local;

use crate::envelope::go_time;
use crate::error::ApiResult;
use crate::model::{AgentRef, InfoDto, SecretDto, StatusDto};
use crate::reply::Data;
use crate::state::AppState;

/// `GET /api/v1/info`.
pub async fn info(State(st): State<AppState>) -> Data<InfoDto> {
    Data(InfoDto::from(&st.agent.view_fresh().await))
}

/// `GET|POST /api/v1/status`: process state plus whether the agent lock is held.
pub async fn status(State(st): State<AppState>) -> ApiResult<Data<StatusDto>> {
    let v = st.agent.view_fresh().await;
    let under_maintenance = !st.engine.store().is_lock_free().await?;
    Ok(Data(StatusDto {
        agent: AgentRef {
            ip: v.ip.clone(),
            port: v.port,
            identity: v.identity,
        },
        state: v.state,
        version: v.version,
        pid: v.pid,
        start_at: v.start_at,
        port: v.port,
        ob_state: v.ob_state,
        sql_port: v.sql_port,
        under_maintenance,
    }))
}

/// `GET /api/v1/secret`: the RSA public key (base64 PKCS#1 DER) clients encrypt headers with.
pub async fn secret(State(st): State<AppState>) -> Data<SecretDto> {
    let v = st.agent.view();
    Data(SecretDto {
        ip: v.ip,
        port: v.port,
        public_key: st.keys.public_key_base64().to_string(),
    })
}

/// `GET /api/v1/time`: the server clock, so clients can see a skew that would expire headers.
pub async fn time() -> Data<String> {
    Data(go_time(Local::now()))
}
