//! The task routes of a single agent (spec task-engine §8.3): DAG, node and sub-task details,
//! the list endpoints and the operators. Each handler decodes the generic id, calls one engine
//! function and returns its DTO. Upstream's handler bugs are fixed here: a node without details
//! does not panic, the cluster routes answer an error on an agent without cluster tasks instead
//! of no response, and every path answers exactly once.

use axum::extract::{Path, State};
use serde::Deserialize;
use task::dto::{DagDetailDto, IdTarget, NodeDetailDto, TaskDetailDto, TaskLogDto};
use task::{DagFilter, Operator, TaskError};

use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, ListQuery, ShowDetails};
use crate::model::Identity;
use crate::reply::{Contents, Data, NoData};
use crate::state::AppState;

/// Body of `POST /task/dag/:id` and `POST /task/node/:id`. Upstream's DTO also accepts the
/// DAG fields; they are ignored, as upstream does.
#[derive(Debug, Deserialize)]
pub struct OperatorBody {
    operator: Option<String>,
}

impl OperatorBody {
    /// `operator` is required and non-empty (gin's `binding:"required"`).
    fn operator(&self) -> ApiResult<&str> {
        match self.operator.as_deref() {
            Some(op) if !op.is_empty() => Ok(op),
            _ => Err(ApiError::BindJsonFailed(
                "field 'operator' is required".to_string(),
            )),
        }
    }
}

/// The error of the cluster-task routes on an agent that has no cluster store.
fn no_cluster_tasks(st: &AppState) -> ApiError {
    ApiError::NotSupportOperation {
        identity: st.agent.view().identity.to_string(),
        what: "cluster tasks exist only on a CLUSTER AGENT with a cluster task store".to_string(),
    }
}

fn resolve(st: &AppState, id: &str, target: IdTarget) -> ApiResult<i64> {
    Ok(st.engine.resolve_id(id, target)?)
}

async fn list(st: &AppState, q: ListQuery, unfinished: bool) -> ApiResult<Contents<DagDetailDto>> {
    let filter = DagFilter {
        unfinished_only: unfinished,
        ..q.filter
    };
    Ok(Contents(
        st.engine.list_dag_details(&filter, q.show_details).await?,
    ))
}

/// `GET /task/dag/unfinish`: by identity (upstream forwards a FOLLOWER to its master and merges
/// every agent's DAGs on a CLUSTER AGENT; a single agent has only its own).
pub async fn unfinished(
    State(st): State<AppState>,
    q: ListQuery,
) -> ApiResult<Contents<DagDetailDto>> {
    match st.agent.view().identity {
        Identity::Single
        | Identity::Master
        | Identity::TakeOverMaster
        | Identity::TakeOverFollower
        | Identity::ClusterAgent => list(&st, q, true).await,
        Identity::Follower => Err(ApiError::NotSupportOperation {
            identity: Identity::Follower.to_string(),
            what: "forwarding to the master agent is not implemented".to_string(),
        }),
        other => Err(ApiError::IdentifyUnknown(other.to_string())),
    }
}

/// `GET /task/dag/agent/unfinish`: this agent's unfinished local DAGs.
pub async fn agent_unfinished(
    State(st): State<AppState>,
    q: ListQuery,
) -> ApiResult<Contents<DagDetailDto>> {
    list(&st, q, true).await
}

/// `GET /task/dags/agent`: every local DAG (paged with `limit`/`offset` when given).
pub async fn agent_dags(
    State(st): State<AppState>,
    q: ListQuery,
) -> ApiResult<Contents<DagDetailDto>> {
    list(&st, q, false).await
}

/// `GET /task/dag/ob/unfinish`, `GET /task/dags/ob`, `GET /task/dag/maintain/ob`.
pub async fn cluster_only(State(st): State<AppState>) -> ApiError {
    no_cluster_tasks(&st)
}

/// `GET /task/dag/maintain/agent`: the newest maintenance DAG, finished or not.
pub async fn maintain_agent(
    State(st): State<AppState>,
    ShowDetails(details): ShowDetails,
) -> ApiResult<Data<DagDetailDto>> {
    st.engine
        .maintenance_dag_detail(details)
        .await?
        .map(Data)
        .ok_or_else(|| TaskError::NotFound("Agent is not under maintenance".into()).into())
}

/// `GET /task/dag/maintain/agents`: on a single agent, its own last maintenance DAG (if any).
pub async fn maintain_agents(
    State(st): State<AppState>,
    ShowDetails(details): ShowDetails,
) -> ApiResult<Contents<DagDetailDto>> {
    let own = st.engine.maintenance_dag_detail(details).await?;
    Ok(Contents(own.into_iter().collect()))
}

/// `GET /task/dag/:id`.
pub async fn get_dag(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ShowDetails(details): ShowDetails,
) -> ApiResult<Data<DagDetailDto>> {
    let dag_id = resolve(&st, &id, IdTarget::Dag)?;
    Ok(Data(st.engine.dag_detail(dag_id, details).await?))
}

/// `POST /task/dag/:id`. Upstream's order of checks: id, body, DAG exists, operator.
pub async fn operate_dag(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<OperatorBody>, ApiError>,
) -> ApiResult<NoData> {
    let dag_id = resolve(&st, &id, IdTarget::Dag)?;
    let JsonBody(body) = body?;
    let op_text = body.operator()?;
    st.engine.dag_detail(dag_id, false).await?;
    let op = Operator::parse(op_text)
        .filter(|op| *op != Operator::Run)
        .ok_or_else(|| TaskError::DagOperatorNotSupport(op_text.to_string()))?;
    st.engine.operate_dag(dag_id, op).await?;
    Ok(NoData)
}

/// `GET /task/node/:id`. Without details the sub-tasks are `null` (upstream panics).
pub async fn get_node(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ShowDetails(details): ShowDetails,
) -> ApiResult<Data<NodeDetailDto>> {
    let node_id = resolve(&st, &id, IdTarget::Node)?;
    Ok(Data(st.engine.node_detail(node_id, details).await?))
}

/// `POST /task/node/:id`: only `pass`.
pub async fn operate_node(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<OperatorBody>, ApiError>,
) -> ApiResult<NoData> {
    let node_id = resolve(&st, &id, IdTarget::Node)?;
    let JsonBody(body) = body?;
    let op_text = body.operator()?;
    st.engine.node_detail(node_id, false).await?;
    if Operator::parse(op_text) != Some(Operator::Pass) {
        return Err(TaskError::NodeOperatorNotSupport(op_text.to_string()).into());
    }
    st.engine.pass_node(node_id).await?;
    Ok(NoData)
}

/// `GET /task/sub_task/:id`.
pub async fn get_sub_task(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Data<TaskDetailDto>> {
    let task_id = resolve(&st, &id, IdTarget::SubTask)?;
    Ok(Data(st.engine.subtask_detail(task_id).await?))
}

/// `GET /task/sub_task/:id/logs`: the full log rows.
pub async fn sub_task_logs(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Contents<TaskLogDto>> {
    let task_id = resolve(&st, &id, IdTarget::SubTask)?;
    Ok(Contents(st.engine.subtask_logs(task_id).await?))
}
