//! The per-route Verify step of protected routes (spec security-and-sdk §1.5 step 6, §1.6,
//! §1.7). Unix-socket callers are checked by uid; TCP callers must have sent a header that the
//! pipeline decrypted, whose `uri` is the raw request target, and whose password satisfies the
//! rules of this agent's identity.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secure::{AuthHeader, PasswordType, SecureError};

use super::peer::Peer;
use super::pipeline::RequestAuth;
use crate::error::{ApiError, ApiResult};
use crate::model::Identity;
use crate::state::AppState;

const PASSWORD_ROUTE: &str = "/api/v1/agent/password";

pub async fn verify(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match check(&st, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

fn check(st: &AppState, req: &Request) -> ApiResult<()> {
    let auth = req
        .extensions()
        .get::<RequestAuth>()
        .ok_or_else(|| ApiError::Unexpected("auth pipeline did not run".into()))?;
    if let Some(Peer::Unix { uid }) = auth.peer {
        return check_uid(st, uid);
    }
    let Some((kind, header)) = &auth.header else {
        return Err(SecureError::HeaderNotFound.into());
    };
    header.check_uri(&auth.raw_target)?;
    let identity = st.agent.view().identity;
    let path = req.uri().path();
    if req.method() == Method::POST && path == PASSWORD_ROUTE {
        return password_route(st, identity, *kind, header, auth.received_ts);
    }
    if is_obproxy_task(path) {
        return agent_password_only(st, *kind, header, auth.received_ts);
    }
    identity_rules(st, identity, *kind, header, auth.received_ts)
}

fn check_uid(st: &AppState, uid: Option<u32>) -> ApiResult<()> {
    match uid {
        Some(0) => Ok(()),
        Some(u) if st.config.socket_uids.contains(&u) => Ok(()),
        Some(u) => Err(ApiError::PermissionDenied(format!(
            "uid {u} is neither root nor the agent's user"
        ))),
        None => Err(ApiError::PermissionDenied(
            "the peer's uid could not be read".into(),
        )),
    }
}

/// `/api/v1/task/{dag,node,sub_task}/<id>` with an obproxy id (prefix 4 or 5).
fn is_obproxy_task(path: &str) -> bool {
    let mut seg = path.trim_start_matches('/').split('/');
    let head: Vec<&str> = seg.by_ref().take(4).collect();
    let id = seg.next().unwrap_or("");
    head.len() == 4
        && head[..3] == ["api", "v1", "task"]
        && matches!(head[3], "dag" | "node" | "sub_task")
        && (id.starts_with('4') || id.starts_with('5'))
}

/// Upstream `VerifyAuth` for the agent password (expiry first when a password was sent). A
/// candidate that is itself RSA-encrypted with our key, as upstream agents send it, is accepted.
fn verify_agent_password(st: &AppState, header: &AuthHeader, received_ts: i64) -> ApiResult<()> {
    let expected = st.agent.agent_password().unwrap_or_default();
    match header.verify_password(&expected, PasswordType::Agent, received_ts) {
        Err(SecureError::IncorrectAgentPassword) => {
            let decrypted = secure::decrypt_password(&st.keys, &header.auth).ok();
            if decrypted.is_some_and(|plain| secure::passwords_equal(&plain, &expected)) {
                Ok(())
            } else {
                Err(SecureError::IncorrectAgentPassword.into())
            }
        }
        other => Ok(other?),
    }
}

fn password_is_set(st: &AppState) -> bool {
    st.agent.agent_password().is_some()
}

fn identity_rules(
    st: &AppState,
    identity: Identity,
    kind: PasswordType,
    header: &AuthHeader,
    received_ts: i64,
) -> ApiResult<()> {
    let has_password = password_is_set(st);
    match (identity, kind) {
        // SINGLE without an agent password accepts anything (no password, no ts check).
        (Identity::Single, _) if !has_password => Ok(()),
        (Identity::Single, PasswordType::Agent) => verify_agent_password(st, header, received_ts),
        (Identity::Single, PasswordType::OceanBase) => {
            Err(SecureError::WithAgentPassword("the agent password is set".into()).into())
        }
        // Other identities: this agent manages no OceanBase root password yet, so the
        // OceanBase header can only be accepted while no agent password exists.
        // A seekdb CLUSTER AGENT: callers may present the seekdb root password (§3.8).
        (_, PasswordType::OceanBase) if st.agent.ob_root_password().is_some() => {
            let root = st.agent.ob_root_password().unwrap_or_default();
            Ok(header.verify_password(&root, PasswordType::OceanBase, received_ts)?)
        }
        (_, PasswordType::OceanBase) if has_password => Err(SecureError::WithAgentPassword(
            "the OceanBase root password is not initialized".into(),
        )
        .into()),
        (_, PasswordType::OceanBase) => {
            // No root password is managed yet: only an empty one matches.
            Ok(header.verify_password("", PasswordType::OceanBase, received_ts)?)
        }
        (_, PasswordType::Agent) if !has_password => Ok(()),
        (_, PasswordType::Agent) => verify_agent_password(st, header, received_ts),
    }
}

/// Obproxy routes and tasks: the agent password, which must be set.
fn agent_password_only(
    st: &AppState,
    kind: PasswordType,
    header: &AuthHeader,
    received_ts: i64,
) -> ApiResult<()> {
    if kind != PasswordType::Agent {
        return Err(SecureError::HeaderNotFound.into());
    }
    if !password_is_set(st) {
        return Err(SecureError::AgentPasswordNotInitialized.into());
    }
    verify_agent_password(st, header, received_ts)
}

/// `POST /api/v1/agent/password`: the old agent password if one is set; otherwise a SINGLE
/// agent accepts anyone (it has nothing to protect yet), any other identity refuses.
fn password_route(
    st: &AppState,
    identity: Identity,
    kind: PasswordType,
    header: &AuthHeader,
    received_ts: i64,
) -> ApiResult<()> {
    if password_is_set(st) {
        if kind != PasswordType::Agent {
            return Err(SecureError::WithAgentPassword("the agent password is set".into()).into());
        }
        return verify_agent_password(st, header, received_ts);
    }
    if identity == Identity::Single {
        return Ok(());
    }
    Err(SecureError::WithOceanBasePassword(
        "the OceanBase root password is needed to set the first agent password".into(),
    )
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obproxy_task_paths_are_recognised() {
        assert!(is_obproxy_task("/api/v1/task/dag/4123"));
        assert!(is_obproxy_task("/api/v1/task/sub_task/5123/logs"));
        assert!(!is_obproxy_task("/api/v1/task/dag/2123"));
        assert!(!is_obproxy_task("/api/v1/task/dag/unfinish"));
        assert!(!is_obproxy_task("/api/v1/agent/password"));
    }
}
