//! The seekdb routes under `/api/v1/seekdb` (spec agent-and-ops §3.3, §3.4): our deploy
//! extension, the lifecycle DAGs (start, stop, restart; each answers the new DAG as
//! `DagDetailDTO`), the instance info, and the synchronous SQL management routes. Every handler
//! checks its input before touching anything: a bad value is a 400 with a clear message and no
//! change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::Value;
use task::dto::DagDetailDto;
use task::TaskError;

use seekdb::layout::Layout;
use seekdb::meta::stored_config;
use seekdb::sql::{AlterDatabase, Client, ConnParams, CreateDatabase, CreateUser, DbPrivilege};
use seekdb::tasks::{DeployOptions, Plan, Planner};

use crate::auth::pipeline::RequestAuth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::reply::{Contents, Data, NoData};
use crate::seekdb::SeekdbService;
use crate::state::AppState;

/// The `/api/v1/seekdb` routes (protected: the caller adds Verify).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/seekdb/deploy", post(deploy))
        .route("/api/v1/seekdb/takeover", post(takeover))
        .route("/api/v1/seekdb/start", post(start))
        .route("/api/v1/seekdb/stop", post(stop))
        .route("/api/v1/seekdb/restart", post(restart))
        .route("/api/v1/seekdb/info", get(info))
        .route(
            "/api/v1/seekdb/parameters",
            get(parameters).patch(set_parameters),
        )
        .route(
            "/api/v1/seekdb/variables",
            get(variables).patch(set_variables),
        )
        .route("/api/v1/seekdb/whitelist", put(set_whitelist))
        .route("/api/v1/seekdb/compaction", get(compaction))
        .route("/api/v1/seekdb/compact", post(compact))
        .route(
            "/api/v1/seekdb/compaction-error",
            delete(clear_compaction_error),
        )
        .route("/api/v1/seekdb/databases", get(databases))
        .route("/api/v1/seekdb/database", post(create_database))
        .route(
            "/api/v1/seekdb/database/{database}",
            get(database).put(alter_database).delete(drop_database),
        )
        .route("/api/v1/seekdb/users", get(users))
        .route("/api/v1/seekdb/user", post(create_user))
        .route("/api/v1/seekdb/user/{user}", get(user).delete(drop_user))
        .route(
            "/api/v1/seekdb/user/{user}/password",
            put(set_user_password),
        )
        .route(
            "/api/v1/seekdb/user/{user}/lock",
            post(lock_user).delete(unlock_user),
        )
        .route(
            "/api/v1/seekdb/user/{user}/global-privileges",
            put(set_global_privileges),
        )
        .route(
            "/api/v1/seekdb/user/{user}/db-privileges",
            put(set_db_privileges),
        )
        .route("/api/v1/seekdb/user/{user}/stats", get(user_stats))
}

fn service(st: &AppState) -> ApiResult<Arc<dyn SeekdbService>> {
    st.seekdb
        .clone()
        .ok_or_else(|| ApiError::NotSupportOperation {
            identity: st.agent.view().identity.to_string(),
            what: "this agent was started without seekdb support".into(),
        })
}

/// The managed instance's base dir, or a clear error when there is none yet.
fn managed(svc: &dyn SeekdbService) -> ApiResult<PathBuf> {
    svc.base_dir().ok_or_else(|| {
        ApiError::IllegalArgument(
            "this agent manages no seekdb yet: deploy one first (POST /api/v1/seekdb/deploy)"
                .into(),
        )
    })
}

/// Creates the DAG of `plan` and answers its details, as upstream's DAG-creating routes do.
async fn create(st: &AppState, plan: Plan) -> ApiResult<Data<DagDetailDto>> {
    let name = plan.template.name.clone();
    let dag = st
        .engine
        .create_dag(&plan.template, plan.context)
        .await
        .map_err(|e| match e {
            e @ TaskError::CreateFailed { .. } => e,
            other => TaskError::create_failed(&name, other),
        })?;
    Ok(Data(st.engine.dag_detail(dag.id, true).await?))
}

/// Refuses early (before any side effect) while another maintenance DAG holds the lock.
async fn require_lock_free(st: &AppState, name: &str) -> ApiResult<()> {
    Ok(st.engine.require_lock_free(name).await?)
}

/// `POST /api/v1/seekdb/deploy` (ours): `DeployOptions` plus `root_password`.
async fn deploy(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Data<DagDetailDto>> {
    let svc = service(&st)?;
    let Value::Object(mut map) = body else {
        return Err(ApiError::BindJsonFailed(
            "the body must be a JSON object".into(),
        ));
    };
    let root_password = match map.remove("root_password") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(_) => {
            return Err(ApiError::IllegalArgument(
                "root_password must be a string".into(),
            ))
        }
    };
    if root_password.chars().any(|c| c.is_control()) {
        return Err(ApiError::IllegalArgument(
            "root_password must not contain control characters".into(),
        ));
    }
    let opts: DeployOptions = serde_json::from_value(Value::Object(map))
        .map_err(|e| ApiError::IllegalArgument(format!("deploy options: {e}")))?;
    if let Some(current) = svc.base_dir() {
        if Layout::new(&current).is_ok_and(|l| l.is_initialized()) {
            return Err(ApiError::IllegalArgument(format!(
                "this agent already manages the seekdb in {}; one agent manages one instance",
                current.display()
            )));
        }
    }
    let plan = Planner::new(svc.hooks()).deploy(&opts)?;
    require_lock_free(&st, &plan.template.name).await?;
    svc.prepare_deploy(&opts.base_dir, &root_password).await?;
    create(&st, plan).await
}

/// A `root_password` field: absent or null is `None`; anything but a string without control
/// characters is refused.
fn root_password_of(v: Option<Value>) -> ApiResult<Option<String>> {
    let pw = match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(ApiError::IllegalArgument(
                "root_password must be a string".into(),
            ))
        }
    };
    if pw
        .as_deref()
        .is_some_and(|p| p.chars().any(|c| c.is_control()))
    {
        return Err(ApiError::IllegalArgument(
            "root_password must not contain control characters".into(),
        ));
    }
    Ok(pw)
}

/// An absolute `base_dir` of an existing instance.
fn existing_base_dir(dir: &std::path::Path) -> ApiResult<PathBuf> {
    if !dir.is_absolute() {
        return Err(ApiError::IllegalArgument(format!(
            "base_dir {} must be an absolute path",
            dir.display()
        )));
    }
    let layout = Layout::new(dir)
        .map_err(|e| ApiError::IllegalArgument(format!("base_dir {}: {e}", dir.display())))?;
    if !layout.is_initialized() {
        return Err(ApiError::IllegalArgument(format!(
            "no seekdb instance has been initialized in {} ({} is missing); initialize it first \
             (e.g. `seekdb --base-dir {} --port <port>`) or deploy a new one",
            dir.display(),
            layout.meta_db().display(),
            dir.display()
        )));
    }
    Ok(layout.base().to_path_buf())
}

#[derive(Debug, Deserialize)]
struct TakeoverBody {
    base_dir: PathBuf,
    #[serde(default)]
    root_password: Option<Value>,
}

/// `POST /api/v1/seekdb/takeover` (spec §3.2): manage an instance initialized outside the
/// agent. "Take over seekdb": [Start seekdb if not running] -> [Take over seekdb].
async fn takeover(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<TakeoverBody>,
) -> ApiResult<Data<DagDetailDto>> {
    let svc = service(&st)?;
    let root_password = root_password_of(body.root_password)?;
    if let Some(current) = svc.base_dir() {
        return Err(ApiError::IllegalArgument(format!(
            "this agent already manages the seekdb in {}; one agent manages one instance",
            current.display()
        )));
    }
    let base = existing_base_dir(&body.base_dir)?;
    let plan = Planner::new(svc.hooks()).takeover(&base)?;
    require_lock_free(&st, &plan.template.name).await?;
    svc.prepare_takeover(&base, root_password.as_deref())
        .await?;
    create(&st, plan).await
}

/// The emergency start/stop (spec §3.3): allowed over the unix socket only, for an agent that
/// manages no instance, on the instance named by `base_dir`.
fn local_base_dir(auth: Option<&RequestAuth>, base_dir: Option<&PathBuf>) -> ApiResult<PathBuf> {
    if !auth.is_some_and(|a| a.is_local()) {
        return Err(ApiError::IllegalArgument(
            "this agent manages no seekdb: deploy or take over one first; an emergency \
             start/stop of an unmanaged instance is only accepted over the agent's local unix \
             socket (obshell seekdb start|stop --seekdb-dir DIR)"
                .into(),
        ));
    }
    let Some(dir) = base_dir else {
        return Err(ApiError::IllegalArgument(
            "this agent manages no seekdb: give base_dir, the instance to start or stop \
             (obshell seekdb start|stop --seekdb-dir DIR)"
                .into(),
        ));
    };
    existing_base_dir(dir)
}

/// Body of start/stop/restart; every field optional, an empty body is fine.
#[derive(Debug, Default, Deserialize)]
struct LifecycleBody {
    #[serde(default)]
    terminate: Option<bool>,
    /// Emergency start/stop (agent not managing): the instance.
    #[serde(default)]
    base_dir: Option<PathBuf>,
    /// Emergency start: the root password its readiness login uses.
    #[serde(default)]
    root_password: Option<Value>,
    /// Upstream's `force_pass_dag`; accepted and ignored (no stale DAG is passed for the caller).
    #[serde(default, rename = "force_pass")]
    _force_pass: Option<Value>,
}

async fn start(
    State(st): State<AppState>,
    auth: Option<Extension<RequestAuth>>,
    JsonBody(body): JsonBody<LifecycleBody>,
) -> ApiResult<Data<DagDetailDto>> {
    let svc = service(&st)?;
    let Some(base) = svc.base_dir() else {
        // emergency "Start local seekdb"
        let base = local_base_dir(auth.as_deref(), body.base_dir.as_ref())?;
        let root_password = root_password_of(body.root_password)?;
        let plan = Planner::new(svc.hooks()).start_local(&base)?;
        svc.prepare_takeover(&base, root_password.as_deref())
            .await?;
        return create(&st, plan).await;
    };
    let plan = Planner::new(svc.hooks()).start(&base)?;
    create(&st, plan).await
}

/// `POST /stop`: 204 without a body when seekdb is not running, as upstream.
async fn stop(
    State(st): State<AppState>,
    auth: Option<Extension<RequestAuth>>,
    JsonBody(body): JsonBody<LifecycleBody>,
) -> ApiResult<Response> {
    let svc = service(&st)?;
    let planner = Planner::new(svc.hooks());
    let plan = match svc.base_dir() {
        Some(base) => planner.stop(&base, body.terminate.unwrap_or(false)).await?,
        // emergency "Stop local seekdb" (with the pid seen now)
        None => {
            let base = local_base_dir(auth.as_deref(), body.base_dir.as_ref())?;
            planner.stop_local(&base).await?
        }
    };
    match plan {
        // already stopped; but while a maintenance DAG (a restart) runs, "stopped" is a
        // moment of its work, not an answer: refuse as a new stop DAG would be
        None => {
            let name = if svc.base_dir().is_some() {
                "Stop seekdb"
            } else {
                "Stop local seekdb"
            };
            require_lock_free(&st, name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(plan) => Ok(create(&st, plan).await?.into_response()),
    }
}

async fn restart(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<LifecycleBody>,
) -> ApiResult<Data<DagDetailDto>> {
    let svc = service(&st)?;
    let base = managed(svc.as_ref())?;
    let plan = Planner::new(svc.hooks())
        .restart(&base, body.terminate.unwrap_or(false))
        .await?;
    create(&st, plan).await
}

/// `GET /info`: everything about the instance (process, dirs, resources), whatever its state.
async fn info(State(st): State<AppState>) -> ApiResult<Data<seekdb::instance::InstanceInfo>> {
    let svc = service(&st)?;
    let base = managed(svc.as_ref())?;
    let layout = Layout::new(&base)?;
    let password = svc.root_password().await;
    Ok(Data(
        seekdb::instance::instance_info(&layout, &password).await,
    ))
}

/// A SQL session to the managed instance as root.
async fn client(st: &AppState) -> ApiResult<Client> {
    let svc = service(st)?;
    let base = managed(svc.as_ref())?;
    let layout = Layout::new(&base)?;
    let c = stored_config(&layout).await?;
    let params = ConnParams::root(c.mysql_port)
        .host(c.sql_host())
        .password(svc.root_password().await);
    Ok(Client::new(params))
}

/// Runs one SQL call on a fresh session and closes the session whatever happens.
macro_rules! sql {
    ($st:expr, |$c:ident| $e:expr) => {{
        let $c = client(&$st).await?;
        let r = $e.await;
        $c.close().await;
        r?
    }};
}

#[derive(Debug, Deserialize)]
struct FilterQuery {
    #[serde(default)]
    filter: Option<String>,
}

fn filter_of(q: &FilterQuery) -> Option<String> {
    q.filter.clone().filter(|f| !f.is_empty())
}

async fn parameters(
    State(st): State<AppState>,
    Query(q): Query<FilterQuery>,
) -> ApiResult<Contents<seekdb::sql::Parameter>> {
    let f = filter_of(&q);
    Ok(Contents(sql!(st, |c| c.parameters(f.as_deref()))))
}

#[derive(Debug, Deserialize)]
struct ParametersBody {
    parameters: BTreeMap<String, Value>,
}

/// A parameter value as text: strings as they are, numbers and booleans printed.
fn value_text(k: &str, v: &Value) -> ApiResult<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(ApiError::IllegalArgument(format!(
            "the value of '{k}' must be a string, a number or a boolean"
        ))),
    }
}

async fn set_parameters(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<ParametersBody>,
) -> ApiResult<NoData> {
    if body.parameters.is_empty() {
        return Err(ApiError::IllegalArgument("parameters is empty".into()));
    }
    let mut m = BTreeMap::new();
    for (k, v) in &body.parameters {
        m.insert(k.clone(), value_text(k, v)?);
    }
    sql!(st, |c| c.set_parameters(&m));
    Ok(NoData)
}

async fn variables(
    State(st): State<AppState>,
    Query(q): Query<FilterQuery>,
) -> ApiResult<Contents<seekdb::sql::Variable>> {
    let f = filter_of(&q);
    Ok(Contents(sql!(st, |c| c.variables(f.as_deref()))))
}

#[derive(Debug, Deserialize)]
struct VariablesBody {
    variables: BTreeMap<String, Value>,
}

async fn set_variables(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<VariablesBody>,
) -> ApiResult<NoData> {
    if body.variables.is_empty() {
        return Err(ApiError::IllegalArgument("variables is empty".into()));
    }
    let vars = body.variables;
    sql!(st, |c| c.set_variables(&vars));
    Ok(NoData)
}

#[derive(Debug, Deserialize)]
struct WhitelistBody {
    whitelist: String,
}

async fn set_whitelist(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<WhitelistBody>,
) -> ApiResult<Data<String>> {
    let w = body.whitelist;
    Ok(Data(sql!(st, |c| c.set_whitelist(&w))))
}

async fn compaction(State(st): State<AppState>) -> ApiResult<Data<seekdb::sql::CompactionStatus>> {
    Ok(Data(sql!(st, |c| c.compaction_status())))
}

async fn compact(State(st): State<AppState>) -> ApiResult<NoData> {
    sql!(st, |c| c.major_compaction());
    Ok(NoData)
}

async fn clear_compaction_error(State(st): State<AppState>) -> ApiResult<NoData> {
    sql!(st, |c| c.clear_compaction_error());
    Ok(NoData)
}

async fn databases(State(st): State<AppState>) -> ApiResult<Contents<seekdb::sql::Database>> {
    Ok(Contents(sql!(st, |c| c.databases())))
}

async fn create_database(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateDatabase>,
) -> ApiResult<NoData> {
    sql!(st, |c| c.create_database(&body));
    Ok(NoData)
}

async fn database(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Data<seekdb::sql::Database>> {
    Ok(Data(sql!(st, |c| c.database(&name))))
}

async fn alter_database(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<AlterDatabase>,
) -> ApiResult<NoData> {
    sql!(st, |c| c.alter_database(&name, &body));
    Ok(NoData)
}

async fn drop_database(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<NoData> {
    sql!(st, |c| c.drop_database(&name));
    Ok(NoData)
}

async fn users(State(st): State<AppState>) -> ApiResult<Contents<seekdb::sql::User>> {
    Ok(Contents(sql!(st, |c| c.users())))
}

async fn create_user(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<NoData> {
    sql!(st, |c| c.create_user(&body));
    Ok(NoData)
}

async fn user(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Data<seekdb::sql::User>> {
    Ok(Data(sql!(st, |c| c.user(&name))))
}

async fn drop_user(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<NoData> {
    sql!(st, |c| c.drop_user(&name));
    Ok(NoData)
}

#[derive(Debug, Deserialize)]
struct PasswordBody {
    new_password: Option<String>,
    password: Option<String>,
}

async fn set_user_password(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult<NoData> {
    let Some(pw) = body.new_password.or(body.password) else {
        return Err(ApiError::IllegalArgument("new_password is required".into()));
    };
    sql!(st, |c| c.set_user_password(&name, &pw));
    Ok(NoData)
}

async fn lock_user(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<NoData> {
    sql!(st, |c| c.lock_user(&name, true));
    Ok(NoData)
}

async fn unlock_user(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult<NoData> {
    sql!(st, |c| c.lock_user(&name, false));
    Ok(NoData)
}

#[derive(Debug, Deserialize)]
struct GlobalPrivilegesBody {
    global_privileges: Vec<String>,
}

async fn set_global_privileges(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<GlobalPrivilegesBody>,
) -> ApiResult<NoData> {
    let p = body.global_privileges;
    sql!(st, |c| c.set_global_privileges(&name, &p));
    Ok(NoData)
}

#[derive(Debug, Deserialize)]
struct DbPrivilegesBody {
    db_privileges: Vec<DbPrivilege>,
}

async fn set_db_privileges(
    State(st): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DbPrivilegesBody>,
) -> ApiResult<NoData> {
    let p = body.db_privileges;
    sql!(st, |c| c.set_db_privileges(&name, &p));
    Ok(NoData)
}

async fn user_stats(
    State(st): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Data<seekdb::sql::UserStats>> {
    Ok(Data(sql!(st, |c| c.user_stats(&name))))
}
