//! The JSON shapes of the task API (spec/task-engine.md §8.2 and the seed page), built from the
//! store in a fixed number of queries per request, whatever the number of DAGs.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::Engine;
use crate::error::{Result, TaskError};
use crate::generic_id::{self, AgentInfo, IdKind};
use crate::model::{DagInstance, NodeInstance, SubTaskInstance, SubTaskLog};
use crate::state::State;
use crate::store::DagFilter;

#[derive(Debug, Clone, Serialize)]
pub struct DagDetailDto {
    pub id: String,
    pub dag_id: i64,
    pub name: String,
    pub stage: i64,
    pub max_stage: i64,
    pub maintenance_type: i64,
    pub maintenance_key: String,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Map<String, Value>>,
    pub nodes: Option<Vec<NodeDetailDto>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeDetailDto {
    pub id: String,
    pub node_id: i64,
    pub name: String,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Map<String, Value>>,
    pub sub_tasks: Option<Vec<TaskDetailDto>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskDetailDto {
    pub id: String,
    pub task_id: i64,
    pub name: String,
    pub state: String,
    pub operator: String,
    pub start_time: String,
    pub end_time: String,
    pub additional_data: Option<Map<String, Value>>,
    pub execute_times: i64,
    pub execute_agent: AgentInfo,
    pub task_logs: Option<Vec<String>>,
}

/// A full log row of `GET /task/sub_task/:id/logs`.
#[derive(Debug, Clone, Serialize)]
pub struct TaskLogDto {
    pub id: i64,
    pub sub_task_id: i64,
    pub execute_times: i64,
    pub log_content: String,
    pub is_sync: bool,
    pub create_time: String,
    pub update_time: String,
}

/// Which table a generic id is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTarget {
    Dag,
    Node,
    SubTask,
}

pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Upstream's merge of additional data: maps merge recursively, arrays concatenate, scalars
/// take the later value (upstream panics on a type mismatch; the later value wins here).
fn merge_additional(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_additional(d, s),
            (Some(Value::Array(d)), Value::Array(s)) => d.extend(s.iter().cloned()),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_opt(acc: &mut Option<Map<String, Value>>, more: &Option<Map<String, Value>>) {
    if let Some(m) = more {
        merge_additional(acc.get_or_insert_with(Map::new), m);
    }
}

impl Engine {
    /// The generic id of a row of this engine's store.
    pub fn generic_id(&self, id: i64) -> String {
        let kind = self.id_kind();
        generic_id::encode(kind, id, Some(self.agent())).unwrap_or_else(|_| format!("1{id}"))
    }

    /// Decodes a generic id and checks it belongs to this engine; returns the row id.
    /// An id owned by another agent (or of another id family) is `Task.NotFound`.
    pub fn resolve_id(&self, generic: &str, target: IdTarget) -> Result<i64> {
        let g = generic_id::decode(generic)?;
        let what = match target {
            IdTarget::Dag => "dag id not match",
            IdTarget::Node => "node type not match",
            IdTarget::SubTask => "sub task type not match",
        };
        let ours = match (self.id_kind(), g.kind) {
            (IdKind::Cluster, IdKind::Cluster) => true,
            (IdKind::Local, IdKind::Local) => g.agent.as_ref() == Some(self.agent()),
            _ => false,
        };
        if !ours {
            return Err(TaskError::NotFound(what.to_string()));
        }
        Ok(g.id)
    }

    fn sub_dto(&self, st: &SubTaskInstance, logs: Option<&Vec<String>>) -> TaskDetailDto {
        let additional = self
            .registry()
            .get(&st.struct_name)
            .ok()
            .and_then(|k| k.additional_data(&st.context));
        let task_logs = match st.state {
            State::Running | State::Succeed | State::Failed => {
                Some(logs.cloned().unwrap_or_default())
            }
            _ => None,
        };
        TaskDetailDto {
            id: self.generic_id(st.id),
            task_id: st.id,
            name: st.name.clone(),
            state: st.state.as_str().into(),
            operator: st.operator.as_str().into(),
            start_time: fmt_time(st.start_time),
            end_time: fmt_time(st.end_time),
            additional_data: additional,
            execute_times: st.execute_times,
            execute_agent: st.executer_agent.clone(),
            task_logs,
        }
    }

    fn node_dto(&self, n: &NodeInstance, subs: Option<Vec<TaskDetailDto>>) -> NodeDetailDto {
        let mut additional = None;
        for s in subs.iter().flatten() {
            merge_opt(&mut additional, &s.additional_data);
        }
        NodeDetailDto {
            id: self.generic_id(n.id),
            node_id: n.id,
            name: n.name.clone(),
            state: n.state.as_str().into(),
            operator: n.operator.as_str().into(),
            start_time: fmt_time(n.start_time),
            end_time: fmt_time(n.end_time),
            additional_data: additional,
            sub_tasks: subs,
        }
    }

    fn dag_dto(&self, d: &DagInstance, nodes: Option<Vec<NodeDetailDto>>) -> DagDetailDto {
        let mut additional = None;
        let nodes = nodes.map(|mut ns| {
            additional = Some(Map::new());
            for n in ns.iter_mut() {
                merge_opt(&mut additional, &n.additional_data.take());
            }
            ns
        });
        DagDetailDto {
            id: self.generic_id(d.id),
            dag_id: d.id,
            name: d.name.clone(),
            stage: d.stage,
            max_stage: d.max_stage,
            maintenance_type: d.maintenance_type as i64,
            maintenance_key: d.maintenance_key.clone(),
            state: d.state.as_str().into(),
            operator: d.operator.as_str().into(),
            start_time: fmt_time(d.start_time),
            end_time: fmt_time(d.end_time),
            additional_data: additional,
            nodes,
        }
    }

    /// Builds DTOs for many DAGs with three batched queries for the details, each keyed by the
    /// DAG ids (a sub-select finds their nodes and sub-tasks) rather than by the thousand node
    /// or sub-task ids the previous query returned. Run one after the other: on two cores,
    /// running them at once was no faster and made the tail worse.
    async fn dags_to_dto(&self, dags: &[DagInstance], details: bool) -> Result<Vec<DagDetailDto>> {
        if !details {
            return Ok(dags.iter().map(|d| self.dag_dto(d, None)).collect());
        }
        let store = self.store();
        let ids: Vec<i64> = dags.iter().map(|d| d.id).collect();
        let nodes = store.nodes_of_dags(&ids).await?;
        let subs = store.subtasks_of_dags(&ids).await?;
        let logs = store.logs_of_dags(&ids).await?;
        let logs = logs_by_task(logs);
        let mut subs_by_node: HashMap<i64, Vec<TaskDetailDto>> = HashMap::new();
        for s in &subs {
            subs_by_node
                .entry(s.node_id)
                .or_default()
                .push(self.sub_dto(s, logs.get(&s.id)));
        }
        let mut nodes_by_dag: HashMap<i64, Vec<NodeDetailDto>> = HashMap::new();
        for n in &nodes {
            let subs = subs_by_node.remove(&n.id).unwrap_or_default();
            nodes_by_dag
                .entry(n.dag_id)
                .or_default()
                .push(self.node_dto(n, Some(subs)));
        }
        Ok(dags
            .iter()
            .map(|d| self.dag_dto(d, Some(nodes_by_dag.remove(&d.id).unwrap_or_default())))
            .collect())
    }

    /// `GET /task/dag/:id`.
    pub async fn dag_detail(&self, dag_id: i64, details: bool) -> Result<DagDetailDto> {
        let dag = self
            .store()
            .get_dag(&self.store().pool, dag_id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("dag {dag_id} not found")))?;
        Ok(self.dags_to_dto(&[dag], details).await?.remove(0))
    }

    /// The list endpoints (`/dag/unfinish`, `/dags/agent`, ...).
    pub async fn list_dag_details(
        &self,
        filter: &DagFilter,
        details: bool,
    ) -> Result<Vec<DagDetailDto>> {
        let dags = self.store().list_dags(filter).await?;
        self.dags_to_dto(&dags, details).await
    }

    /// `GET /task/dag/maintain/agent`: the newest maintenance DAG.
    pub async fn maintenance_dag_detail(&self, details: bool) -> Result<Option<DagDetailDto>> {
        let Some(dag) = self
            .store()
            .last_maintenance_dag(&self.store().pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(self.dags_to_dto(&[dag], details).await?.remove(0)))
    }

    /// `GET /task/node/:id`. Without details the sub-tasks are omitted (upstream panics).
    pub async fn node_detail(&self, node_id: i64, details: bool) -> Result<NodeDetailDto> {
        let store = self.store();
        let node = store
            .get_node(&store.pool, node_id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("node {node_id} not found")))?;
        if !details {
            return Ok(self.node_dto(&node, None));
        }
        let subs = store.subtasks_of_node(&store.pool, node.id).await?;
        let ids: Vec<i64> = subs.iter().map(|s| s.id).collect();
        let logs = logs_by_task(store.logs_of_subtasks(&ids).await?);
        let dtos = subs
            .iter()
            .map(|s| self.sub_dto(s, logs.get(&s.id)))
            .collect();
        Ok(self.node_dto(&node, Some(dtos)))
    }

    /// `GET /task/sub_task/:id`.
    pub async fn subtask_detail(&self, id: i64) -> Result<TaskDetailDto> {
        let store = self.store();
        let st = store
            .get_subtask(id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("sub task {id} not found")))?;
        let logs = logs_by_task(store.logs_of_subtasks(&[id]).await?);
        Ok(self.sub_dto(&st, logs.get(&id)))
    }

    /// `GET /task/sub_task/:id/logs`: full log rows, oldest first.
    pub async fn subtask_logs(&self, id: i64) -> Result<Vec<TaskLogDto>> {
        let store = self.store();
        if store.get_subtask(id).await?.is_none() {
            return Err(TaskError::NotFound(format!("sub task {id} not found")));
        }
        Ok(store
            .logs_of_subtasks(&[id])
            .await?
            .into_iter()
            .map(|l| TaskLogDto {
                id: l.id,
                sub_task_id: l.sub_task_id,
                execute_times: l.execute_times,
                log_content: l.log_content,
                is_sync: l.is_sync,
                create_time: fmt_time(l.create_time),
                update_time: fmt_time(l.update_time),
            })
            .collect())
    }
}

fn logs_by_task(logs: Vec<SubTaskLog>) -> HashMap<i64, Vec<String>> {
    let mut m: HashMap<i64, Vec<String>> = HashMap::new();
    for l in logs {
        m.entry(l.sub_task_id).or_default().push(l.log_content);
    }
    m
}
