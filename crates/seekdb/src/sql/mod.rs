//! SQL management of a running seekdb (spec/agent-and-ops.md §3.4): the synchronous
//! operations behind `/api/v1/seekdb/...` (no DAG), on a [`Client`], plus the `obState` probe.
//! Every identifier is validated (crate::validate) and every value bound or validated and
//! quoted; seekdb's own errors come back as `MySQL.Error` with its message.

pub mod compaction;
pub mod conn;
pub mod databases;
pub mod info;
pub mod parameters;
pub mod state;
pub mod users;
pub mod variables;

pub use compaction::CompactionStatus;
pub use conn::{connect, ping, Client, ConnParams};
pub use databases::{AlterDatabase, CreateDatabase, Database};
pub use info::ServerInfo;
pub use parameters::Parameter;
pub use state::{ob_state, ObState};
pub use users::{CreateUser, DbPrivilege, User, UserStats};
pub use variables::{merge_whitelist, Variable};
