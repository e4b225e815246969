//! [`Engine`]: the running task engine of one store. It owns the scheduler loop, the executor
//! pool, crash recovery at start and the retention job, and is the one entry point for creating
//! and steering DAGs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::context::TaskContext;
use crate::error::{Result, TaskError};
use crate::generic_id::{AgentInfo, IdKind};
use crate::kind::Registry;
use crate::model::DagInstance;
use crate::store::queries::{NewDag, NewNode};
use crate::store::{Dialect, Store};
use crate::template::Template;

/// Tunables of the engine. The defaults are upstream's where upstream has one.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This agent: the executer of local sub-tasks and the owner encoded in generic ids.
    pub agent: AgentInfo,
    /// Sub-tasks executing at once (upstream: 8 workers).
    pub workers: usize,
    /// DAGs advanced at once.
    pub advance_concurrency: usize,
    /// The safety sweep over all unfinished DAGs; wake-ups normally come from events.
    pub sweep_interval: Duration,
    /// Attempts to move a sub-task READY -> RUNNING before it is failed (upstream: unbounded).
    pub start_attempts: u32,
    /// Finished DAGs older than this are purged; `None` keeps everything.
    pub retention: Option<Duration>,
    /// How often the retention job runs.
    pub purge_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            agent: AgentInfo::new("127.0.0.1", 2886),
            workers: 8,
            advance_concurrency: 4,
            sweep_interval: Duration::from_secs(5),
            start_attempts: 5,
            retention: Some(Duration::from_secs(30 * 24 * 3600)),
            purge_interval: Duration::from_secs(3600),
        }
    }
}

/// A DAG moved: published after each committed stage change or finish, for followers
/// (progress streams, benchmarks) that must not poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagEvent {
    pub dag_id: i64,
    pub stage: i64,
    pub state: crate::state::State,
    pub operator: crate::state::Operator,
}

/// Messages to the scheduler loop.
pub(crate) enum SchedMsg {
    Wake(i64),
    Done(i64),
}

/// Shared state of a running engine.
pub(crate) struct Core {
    pub store: Store,
    pub registry: Registry,
    pub config: EngineConfig,
    pub sched_tx: mpsc::UnboundedSender<SchedMsg>,
    pub shutdown: CancellationToken,
    /// Sub-task ids queued or running in this executor.
    pub exec_queued: Mutex<HashSet<i64>>,
    /// Cancellation tokens of the attempts in flight, by sub-task id.
    pub exec_running: Mutex<HashMap<i64, CancellationToken>>,
    pub exec_slots: Semaphore,
    pub advance_slots: Arc<Semaphore>,
    pub events: broadcast::Sender<DagEvent>,
}

impl Core {
    /// Asks the scheduler to advance a DAG soon.
    pub(crate) fn wake(&self, dag_id: i64) {
        let _ = self.sched_tx.send(SchedMsg::Wake(dag_id));
    }

    /// The lock scope named in maintenance errors.
    pub(crate) fn scope_label(&self) -> String {
        scope_label(&self.store, &self.config.agent)
    }
}

/// A running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) core: Arc<Core>,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Engine {
    /// Starts the engine on `store`: re-queues the sub-tasks a previous process left READY or
    /// RUNNING (spec §6.8), then starts the scheduler and the retention job.
    pub async fn start(store: Store, registry: Registry, config: EngineConfig) -> Result<Engine> {
        let (tx, rx) = mpsc::unbounded_channel();
        let core = Arc::new(Core {
            store,
            registry,
            exec_slots: Semaphore::new(config.workers.max(1)),
            advance_slots: Arc::new(Semaphore::new(config.advance_concurrency.max(1))),
            config,
            sched_tx: tx,
            shutdown: CancellationToken::new(),
            exec_queued: Mutex::new(HashSet::new()),
            exec_running: Mutex::new(HashMap::new()),
            events: broadcast::channel(4096).0,
        });
        for (sub_task_id, dag_id) in core.store.recoverable_subtasks().await? {
            core.submit(sub_task_id, dag_id, true);
        }
        let mut handles = vec![tokio::spawn(crate::scheduler::run(core.clone(), rx))];
        if let Some(age) = core.config.retention {
            handles.push(tokio::spawn(retention_loop(core.clone(), age)));
        }
        for id in core.store.unfinished_dag_ids().await? {
            core.wake(id);
        }
        Ok(Engine {
            core,
            handles: Arc::new(Mutex::new(handles)),
        })
    }

    pub fn store(&self) -> &Store {
        &self.core.store
    }

    pub fn registry(&self) -> &Registry {
        &self.core.registry
    }

    pub fn agent(&self) -> &AgentInfo {
        &self.core.config.agent
    }

    /// Which generic-id family this engine's DAGs use: local ids for the SQLite store,
    /// cluster ids for the shared MySQL-protocol store.
    pub fn id_kind(&self) -> IdKind {
        match self.core.store.dialect() {
            Dialect::Sqlite => IdKind::Local,
            Dialect::Mysql => IdKind::Cluster,
        }
    }

    /// Creates a DAG from a template in one transaction (taking the maintenance lock if the
    /// template asks for it) and wakes the scheduler. Errors are `Task.CreateFailed`.
    pub async fn create_dag(&self, template: &Template, ctx: TaskContext) -> Result<DagInstance> {
        let core = &self.core;
        let id = insert_template(
            &core.store,
            &core.registry,
            &core.config.agent,
            template,
            &ctx,
        )
        .await?;
        // read before waking the scheduler: the caller gets the DAG as created (READY), not
        // whatever stage the scheduler has reached by then
        let dag = core
            .store
            .get_dag(&core.store.pool, id)
            .await?
            .ok_or_else(|| TaskError::NotFound(format!("dag {id}")))?;
        self.core.wake(id);
        Ok(dag)
    }

    /// Fails as creating a maintenance DAG named `name` would (`Task.CreateFailed` wrapping
    /// `Agent.UnderMaintenanceDag`, naming the holder) while the global lock is held. For
    /// requests that would start maintenance work, or find there is none to do, and must not
    /// answer "done" while another maintenance DAG is changing things.
    pub async fn require_lock_free(&self, name: &str) -> Result<()> {
        let store = &self.core.store;
        if store.is_lock_free().await? {
            return Ok(());
        }
        let cause = store
            .maintenance_conflict(&store.pool, &self.core.scope_label())
            .await?;
        Err(TaskError::create_failed(name, cause))
    }

    /// Subscribes to DAG progress events (stage changes and finishes). A slow receiver may
    /// miss events (`RecvError::Lagged`) and should then re-read the DAG.
    pub fn subscribe(&self) -> broadcast::Receiver<DagEvent> {
        self.core.events.subscribe()
    }

    /// Wakes the scheduler for a DAG (e.g. after an external change).
    pub fn wake(&self, dag_id: i64) {
        self.core.wake(dag_id);
    }

    /// Stops the scheduler and cancels the attempts in flight; rows stay as they are, to be
    /// resumed by the next start.
    pub async fn shutdown(&self) {
        self.core.shutdown.cancel();
        let handles: Vec<_> =
            std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        for h in handles {
            let _ = h.await;
        }
    }
}

async fn retention_loop(core: Arc<Core>, age: Duration) {
    let mut tick = tokio::time::interval(core.config.purge_interval);
    loop {
        tokio::select! {
            _ = core.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(age) = chrono::Duration::from_std(age) else {
            return;
        };
        let cutoff = chrono::Utc::now() - age;
        loop {
            match core.store.purge_finished(cutoff, 200).await {
                Ok(0) => break,
                Ok(n) => tracing::info!("retention: purged {n} finished DAGs"),
                Err(e) => {
                    tracing::warn!("retention purge failed: {e}");
                    break;
                }
            }
        }
    }
}

/// The lock scope named in maintenance errors: this agent on SQLite, the cluster on MySQL.
pub(crate) fn scope_label(store: &Store, agent: &AgentInfo) -> String {
    match store.dialect() {
        Dialect::Sqlite => agent.to_string(),
        Dialect::Mysql => "Cluster".to_string(),
    }
}

/// Writes a DAG for `template` into `store` without a running engine; an engine on that store
/// picks it up at its next sweep (or start). For tools and tests that prepare work for an
/// agent. Errors are `Task.CreateFailed`.
pub async fn create_dag_in_store(
    store: &Store,
    registry: &Registry,
    agent: &AgentInfo,
    template: &Template,
    ctx: &TaskContext,
) -> Result<i64> {
    insert_template(store, registry, agent, template, ctx).await
}

async fn insert_template(
    store: &Store,
    registry: &Registry,
    agent: &AgentInfo,
    template: &Template,
    ctx: &TaskContext,
) -> Result<i64> {
    let id = build_and_insert(store, registry, agent, template, ctx)
        .await
        .map_err(|e| TaskError::create_failed(&template.name, e))?;
    tracing::info!(dag = id, name = %template.name, "dag created");
    Ok(id)
}

async fn build_and_insert(
    store: &Store,
    registry: &Registry,
    agent: &AgentInfo,
    template: &Template,
    ctx: &TaskContext,
) -> Result<i64> {
    if template.nodes.is_empty() {
        return Err(TaskError::TemplateEmpty);
    }
    let mut nodes = Vec::with_capacity(template.nodes.len());
    for spec in &template.nodes {
        let struct_name = spec.kind.struct_name();
        if !registry.contains(struct_name) {
            return Err(TaskError::KindNotRegistered(struct_name.to_string()));
        }
        let mut node_ctx = spec.context.clone();
        let parallel = spec.node_type == crate::state::NodeType::Parallel;
        if parallel {
            node_ctx.merge(ctx);
        } else {
            node_ctx.merge_without_exec_agents(ctx);
        }
        let agents = node_ctx.execute_agents()?;
        if parallel && agents.is_empty() {
            return Err(TaskError::Unexpected(format!(
                "parallel node {} has no execute agents",
                spec.name
            )));
        }
        if !parallel && agents.len() > 1 {
            return Err(TaskError::Unexpected(format!(
                "serial node {} has more than one execute agents",
                spec.name
            )));
        }
        nodes.push(NewNode {
            name: spec.name.clone(),
            struct_name: struct_name.to_string(),
            node_type: spec.node_type,
            context: node_ctx,
            caps: spec.caps,
            agents,
        });
    }
    let mut tx = store.begin_write().await?;
    if template.maintenance.kind.is_maintenance() {
        store
            .start_maintenance(&mut tx, &scope_label(store, agent))
            .await?;
    }
    let id = store
        .insert_dag(
            &mut tx,
            &NewDag {
                name: &template.name,
                dag_type: &template.dag_type,
                maintenance: &template.maintenance,
                ctx,
                nodes: &nodes,
            },
            agent,
        )
        .await?;
    tx.commit().await?;
    Ok(id)
}
