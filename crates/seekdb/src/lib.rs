//! The seekdb engine of obshell-rs: everything the agent does *to* a seekdb instance, without
//! HTTP or CLI (those live in `api`/`cli` and call into this crate).
//!
//! - [`locate`]: find the seekdb executable (explicit path, PATH, the `pylibseekdb` wheel) and
//!   read its version ([`version`]).
//! - [`layout`] / [`meta`]: the files of an instance's base directory and the config seekdb
//!   stored in it.
//! - [`process`]: launch (initialize or restart), find the pid, stop, wait until it accepts SQL,
//!   and pull the ERROR/EDIAG lines that explain a failed start out of `log/seekdb.log`.
//! - [`sql`]: sessions to seekdb and the synchronous management operations (parameters,
//!   variables, whitelist, databases, users, compaction, info) plus the `obState` probe.
//! - [`instance`]: all of the above about one instance in one call (`/api/v1/seekdb/info`).
//! - [`tasks`]: the task kinds and lifecycle DAG plans (deploy, start, stop, restart and the
//!   emergency local start/stop), and [`tasks::register`].
//!
//! One error enum, [`SeekdbError`], with stable `errCode` strings.

pub mod error;
pub mod instance;
pub mod layout;
pub mod locate;
pub mod meta;
pub mod process;
pub mod sql;
pub mod tasks;
pub mod validate;
pub mod version;

pub use error::{Result, SeekdbError};
pub use layout::Layout;
pub use tasks::{register, register_with};
pub use version::SeekdbVersion;
