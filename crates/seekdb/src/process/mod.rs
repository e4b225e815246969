//! Running seekdb processes: launch ([`start`]), find ([`pid`]), stop ([`stop`]), wait until
//! it accepts SQL ([`ready`]) and explain failures from its log ([`errlog`]).

pub mod errlog;
pub mod pid;
pub mod ready;
pub mod start;
pub mod stop;

pub use errlog::{error_lines, last_progress};
pub use pid::{find_pid, is_alive, is_seekdb_of};
pub use ready::{wait_ready, Progress, ProgressSink, ReadyOptions};
pub use start::{initialize, start_existing, InitOptions, Launched};
pub use stop::{kill_now, stop, Stopped};
