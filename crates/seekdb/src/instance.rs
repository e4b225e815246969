//! Everything known about one instance in one call: process facts (pid, user, binary, start
//! time, systemd unit), the config seekdb stored, its health (`obState`) and, when SQL works,
//! what the server reports. This is the data behind `GET /api/v1/seekdb/info` and
//! `obshell seekdb show`; it never fails as a whole, because "seekdb is down" is an answer.

use std::path::PathBuf;

use serde::Serialize;

use crate::layout::Layout;
use crate::meta::{stored_config, StoredConfig};
use crate::process::pid::{find_pid, process_exe, process_start_time, process_user, systemd_unit};
use crate::sql::{ob_state, Client, ConnParams, ObState, ServerInfo};

#[derive(Debug, Clone, Serialize)]
pub struct InstanceInfo {
    pub base_dir: PathBuf,
    pub log_dir: PathBuf,
    pub initialized: bool,
    pub pid: Option<i32>,
    /// OS user running seekdb.
    pub user: Option<String>,
    /// `/proc/<pid>/exe`.
    pub bin_path: Option<PathBuf>,
    /// Process start (UTC, RFC 3339) and seconds since.
    pub start_time: Option<String>,
    pub life_time_secs: Option<i64>,
    pub systemd_unit: Option<String>,
    pub ob_state: ObState,
    /// What `meta.db` says (ports, local ip); absent before initialization.
    pub stored: Option<StoredConfig>,
    /// What SQL says; absent unless `ob_state` is available.
    pub server: Option<ServerInfo>,
    /// Why `server` is absent, if it is.
    pub server_error: Option<String>,
}

/// Gathers [`InstanceInfo`], logging in as root with `password`.
pub async fn instance_info(layout: &Layout, password: &str) -> InstanceInfo {
    let pid = find_pid(layout);
    let started = pid.and_then(process_start_time);
    let stored = stored_config(layout).await.ok();
    let mut info = InstanceInfo {
        base_dir: layout.base().to_path_buf(),
        log_dir: layout.log_dir(),
        initialized: layout.is_initialized(),
        pid,
        user: pid.and_then(process_user),
        bin_path: pid.and_then(process_exe),
        start_time: started.map(|t| t.to_rfc3339()),
        life_time_secs: started.map(|t| (chrono::Utc::now() - t).num_seconds()),
        systemd_unit: pid.and_then(systemd_unit),
        ob_state: ObState::NotRunning,
        stored: stored.clone(),
        server: None,
        server_error: None,
    };
    let Some(stored) = stored else {
        info.server_error = Some("the instance has not been initialized".into());
        return info;
    };
    let params = ConnParams::root(stored.mysql_port)
        .host(stored.sql_host())
        .password(password);
    info.ob_state = ob_state(&params, Some(layout)).await;
    if info.ob_state == ObState::Available {
        let client = Client::new(params);
        match client.server_info().await {
            Ok(s) => info.server = Some(s),
            Err(e) => info.server_error = Some(e.to_string()),
        }
        client.close().await;
    } else {
        info.server_error = Some(format!("seekdb is {}", info.ob_state.describe()));
    }
    info
}
