//! The obshell-rs task engine: durable DAGs of sub-tasks with obshell's data model, states,
//! operators and persisted values (see ../../shared/spec/task-engine.md), driven by an
//! event-driven scheduler instead of upstream's one-second poll.
//!
//! A DAG's way: [`Template`] -> [`Engine::create_dag`] (one transaction, takes the maintenance
//! lock) -> the scheduler wakes -> ready sub-tasks go to the executor's bounded worker pool ->
//! the task kind's `execute`/`rollback` -> results and logs are committed -> the scheduler wakes
//! again. Operators (retry, rollback, cancel, pass) prepare rows and wake the scheduler.

pub mod context;
pub mod demo;
pub mod dto;
pub mod engine;
pub mod error;
mod executor;
pub mod generic_id;
pub mod kind;
pub mod model;
mod operators;
pub mod run;
mod scheduler;
pub mod state;
pub mod store;
pub mod template;

pub use context::TaskContext;
pub use engine::{create_dag_in_store, DagEvent, Engine, EngineConfig};
pub use error::{Result, TaskError};
pub use generic_id::AgentInfo;
pub use kind::{Registry, TaskFailure, TaskKind, TaskResult};
pub use model::Capabilities;
pub use run::TaskRun;
pub use state::{MaintenanceType, NodeType, Operator, State};
pub use store::{DagFilter, Dialect, Store};
pub use template::{Maintenance, NodeSpec, Template};
