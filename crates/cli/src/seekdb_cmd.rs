//! `obshell seekdb deploy|start|stop|restart|show`: the seekdb instance the agent manages
//! (spec agent-and-ops §3.3, §4.4). DAG-creating commands print the new task and follow it live
//! until it ends, exiting non-zero when it fails.

use clap::{Args, Subcommand};
use client::{Client, ClientError};
use comfy_table::{presets::UTF8_FULL, Table};
use serde_json::{json, Map, Value};

use crate::args::Remote;
use crate::follow::{follow, Followed};

pub const SEEKDB_EXAMPLES: &str = "Examples:
  obshell seekdb deploy --base-dir /data/obshell --seekdb-dir /data/seekdb --port 2881 \\
      --rpc-port 2882 -o memory_limit=2G,cpu_count=2 --root-password '***'
  obshell seekdb show -d --base-dir /data/obshell
  obshell seekdb stop --terminate --base-dir /data/obshell
  obshell seekdb start --base-dir /data/obshell
  obshell seekdb restart --base-dir /data/obshell
  obshell seekdb takeover --base-dir /data/obshell --seekdb-dir /data/seekdb --root-password '***'
  obshell seekdb stop --base-dir /data/obshell --seekdb-dir /data/seekdb   (agent manages nothing)

--base-dir is the agent's home (its agent must be running: `obshell agent start`);
--seekdb-dir is where the new seekdb instance lives (absent or empty); for takeover, and for
an emergency start/stop while the agent manages nothing, the existing instance's base dir.";

pub const TAKEOVER_EXAMPLES: &str = "Examples:
  obshell seekdb takeover --base-dir /data/obshell --seekdb-dir /data/seekdb --root-password '***'
  OBSHELL_SEEKDB_ROOT_PASSWORD='***' obshell seekdb takeover --base-dir /data/obshell --seekdb-dir /data/seekdb

The instance must have been initialized already (<seekdb-dir>/store/sstable/meta.db exists),
e.g. by `seekdb --base-dir /data/seekdb --port 2881`. It is started if it is not running; its
ports and dirs are read from its meta.db. Without --root-password the agent uses its env
OB_ROOT_PASSWORD / OBSHELL_SEEKDB_ROOT_PASSWORD, else the password it already holds.";

#[derive(Debug, Subcommand)]
pub enum SeekdbCommand {
    /// Deploy a new seekdb instance (initialize, start, set the root password) and let the
    /// agent manage it.
    #[command(after_help = SEEKDB_EXAMPLES)]
    Deploy(DeployArgs),
    /// Start the managed seekdb.
    Start(LifecycleArgs),
    /// Stop the managed seekdb (kill -9 after an optional minor freeze).
    Stop(LifecycleArgs),
    /// Stop (if running) and start the managed seekdb.
    Restart(LifecycleArgs),
    /// Show the managed seekdb: ports and state (-d: maintenance, dirs, resources).
    Show(ShowSeekdbArgs),
    /// Take over an existing (already initialized) seekdb instance: the agent manages it from
    /// now on (identity CLUSTER AGENT).
    #[command(after_help = TAKEOVER_EXAMPLES)]
    Takeover(TakeoverArgs),
}

#[derive(Debug, Args)]
pub struct TakeoverArgs {
    /// Base directory of the existing instance (absolute; holds store/sstable/meta.db).
    #[arg(long = "seekdb-dir", value_name = "DIR")]
    pub seekdb_dir: std::path::PathBuf,
    /// The instance's root password (default: the agent's env, else the one it holds).
    #[arg(
        long = "root-password",
        alias = "rp",
        env = "OBSHELL_SEEKDB_ROOT_PASSWORD",
        hide_env_values = true
    )]
    pub root_password: Option<String>,
    /// Print every API call.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Base directory of the new instance (absolute; absent or empty).
    #[arg(long = "seekdb-dir", value_name = "DIR")]
    pub seekdb_dir: std::path::PathBuf,
    /// SQL (MySQL protocol) port of the new instance.
    #[arg(
        short = 'p',
        long = "port",
        value_name = "PORT",
        default_value_t = 2881
    )]
    pub port: u16,
    /// RPC port of the new instance (default: --port + 1).
    #[arg(short = 'P', long = "rpc-port", value_name = "PORT")]
    pub rpc_port: Option<u16>,
    /// Extra seekdb parameters, `k=v,k=v` (e.g. memory_limit=2G,cpu_count=2).
    #[arg(short = 'o', long = "opt-str", value_name = "K=V,...")]
    pub opt_str: Option<String>,
    /// Root password to set (default: empty).
    #[arg(
        long = "root-password",
        alias = "rp",
        env = "OBSHELL_SEEKDB_ROOT_PASSWORD",
        hide_env_values = true
    )]
    pub root_password: Option<String>,
    /// Data directory (default: <seekdb-dir>/store).
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Redo directory (default: under the data directory).
    #[arg(long = "redo-dir", value_name = "DIR")]
    pub redo_dir: Option<std::path::PathBuf>,
    /// The seekdb executable (default: found on PATH or in the pylibseekdb wheel).
    #[arg(long = "seekdb-bin", value_name = "PATH")]
    pub seekdb_bin: Option<std::path::PathBuf>,
    /// Print every API call.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// Minor freeze before stopping (needs an available instance).
    #[arg(short = 't', long)]
    pub terminate: bool,
    /// Emergency start/stop while the agent manages no instance (local unix socket only):
    /// the instance's base directory. Ignored by an agent that manages one.
    #[arg(long = "seekdb-dir", value_name = "DIR")]
    pub seekdb_dir: Option<std::path::PathBuf>,
    /// Emergency start: the root password its readiness login uses (default: the agent's
    /// env, else the one it holds).
    #[arg(
        long = "root-password",
        alias = "rp",
        env = "OBSHELL_SEEKDB_ROOT_PASSWORD",
        hide_env_values = true
    )]
    pub root_password: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct ShowSeekdbArgs {
    /// Also show maintenance, directories, binary and resources.
    #[arg(short = 'd', long = "show_detail", alias = "detail")]
    pub detail: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// Parses `k=v,k=v`.
pub fn parse_opts(s: &str) -> Result<Map<String, Value>, String> {
    let mut m = Map::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("-o: '{part}' is not k=v"));
        };
        m.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
    }
    Ok(m)
}

/// The deploy request body.
pub fn deploy_body(a: &DeployArgs) -> Result<Value, String> {
    let base = std::path::absolute(&a.seekdb_dir)
        .map_err(|e| format!("--seekdb-dir {}: {e}", a.seekdb_dir.display()))?;
    let rpc = match a.rpc_port {
        Some(r) => r,
        None => a
            .port
            .checked_add(1)
            .ok_or("--rpc-port is required when --port is 65535")?,
    };
    let mut body = json!({
        "base_dir": base,
        "port": a.port,
        "rpc_port": rpc,
        "root_password": a.root_password.clone().unwrap_or_default(),
    });
    if let Some(o) = &a.opt_str {
        body["parameters"] = Value::Object(parse_opts(o)?);
    }
    if let Some(d) = &a.data_dir {
        body["data_dir"] = json!(std::path::absolute(d).map_err(|e| e.to_string())?);
    }
    if let Some(d) = &a.redo_dir {
        body["redo_dir"] = json!(std::path::absolute(d).map_err(|e| e.to_string())?);
    }
    if let Some(b) = &a.seekdb_bin {
        body["executable"] = json!(std::path::absolute(b).map_err(|e| e.to_string())?);
    }
    Ok(body)
}

/// Creates a DAG with `POST path`, prints it and follows it. `Ok(None)`: nothing to do (204).
async fn create_and_follow(c: &Client, path: &str, body: &Value) -> Result<u8, ClientError> {
    let dag = c.call("POST", path, Some(body)).await?;
    let id = dag.get("id").and_then(Value::as_str).unwrap_or_default();
    let name = dag.get("name").and_then(Value::as_str).unwrap_or_default();
    println!("Task '{name}' has been created successfully.");
    println!("[INFO] task id: {id} (obshell task show -i {id} -d)");
    Ok(match follow(c, id).await? {
        Followed::Succeeded | Followed::Detached => 0,
        Followed::Failed => 1,
    })
}

pub async fn deploy(c: &Client, a: &DeployArgs) -> Result<u8, ClientError> {
    let body = match deploy_body(a) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            return Ok(2);
        }
    };
    create_and_follow(c, "/api/v1/seekdb/deploy", &body).await
}

/// The body of a start/stop: `base_dir` (absolute) for the emergency ones.
fn lifecycle_body(a: &LifecycleArgs, with_password: bool) -> Result<Value, String> {
    let mut body = json!({ "terminate": a.terminate });
    if let Some(d) = &a.seekdb_dir {
        let d = std::path::absolute(d).map_err(|e| format!("--seekdb-dir {}: {e}", d.display()))?;
        body["base_dir"] = json!(d);
        if with_password {
            if let Some(p) = &a.root_password {
                body["root_password"] = json!(p);
            }
        }
    }
    Ok(body)
}

pub async fn takeover(c: &Client, a: &TakeoverArgs) -> Result<u8, ClientError> {
    let base = match std::path::absolute(&a.seekdb_dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("[ERROR] --seekdb-dir {}: {e}", a.seekdb_dir.display());
            return Ok(2);
        }
    };
    let mut body = json!({ "base_dir": base });
    if let Some(p) = &a.root_password {
        body["root_password"] = json!(p);
    }
    create_and_follow(c, "/api/v1/seekdb/takeover", &body).await
}

pub async fn start(c: &Client, a: &LifecycleArgs) -> Result<u8, ClientError> {
    let body = match lifecycle_body(a, true) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            return Ok(2);
        }
    };
    create_and_follow(c, "/api/v1/seekdb/start", &body).await
}

pub async fn restart(c: &Client, terminate: bool) -> Result<u8, ClientError> {
    create_and_follow(
        c,
        "/api/v1/seekdb/restart",
        &json!({ "terminate": terminate }),
    )
    .await
}

pub async fn stop(c: &Client, a: &LifecycleArgs) -> Result<u8, ClientError> {
    let body = match lifecycle_body(a, false) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("[ERROR] {e}");
            return Ok(2);
        }
    };
    let status = c.status().await?;
    // obState describes the managed instance; an emergency stop names its own. An agent that
    // manages none, or a stopped seekdb while a maintenance DAG (a restart) runs, is for the
    // agent to answer: it refuses with what to do instead.
    let manages =
        status.pointer("/agent/identity").and_then(Value::as_str) == Some("CLUSTER AGENT");
    let busy = status.get("underMaintenance").and_then(Value::as_bool) == Some(true);
    let stopped = status.get("obState").and_then(Value::as_i64) == Some(0);
    if a.seekdb_dir.is_none() && manages && stopped && !busy {
        println!("[INFO] seekdb is not running; nothing to stop.");
        return Ok(0);
    }
    match create_and_follow(c, "/api/v1/seekdb/stop", &body).await {
        // 204: it stopped meanwhile
        Err(ClientError::Protocol(_)) => {
            println!("[INFO] seekdb is not running; nothing to stop.");
            Ok(0)
        }
        other => other,
    }
}

fn state_text(s: i64) -> &'static str {
    match s {
        0 => "NOT RUNNING",
        1 => "RUNNING, NO CONNECTION",
        2 => "RESTRICTED",
        3 => "AVAILABLE",
        _ => "UNKNOWN",
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn size(v: Option<&Value>) -> String {
    match v.and_then(Value::as_i64) {
        Some(b) if b >= 1 << 30 => format!("{:.1}G", b as f64 / (1u64 << 30) as f64),
        Some(b) if b >= 1 << 20 => format!("{}M", b >> 20),
        Some(b) => b.to_string(),
        None => "-".into(),
    }
}

pub async fn show(c: &Client, detail: bool) -> Result<u8, ClientError> {
    let status = c.status().await?;
    let ob_state = status.get("obState").and_then(Value::as_i64).unwrap_or(0);
    let mut header = vec!["OPT PORT", "PORT", "OB STATE"];
    let mut row = vec![
        text(status.get("port")),
        text(status.get("sqlPort")),
        state_text(ob_state).to_string(),
    ];
    if detail {
        let info = c.call("GET", "/api/v1/seekdb/info", None).await?;
        let server = info.get("server");
        let sv = |k: &str| server.and_then(|s| s.get(k));
        header.extend([
            "MAINTENANCE",
            "DATA DIR",
            "REDO DIR",
            "LOG DIR",
            "BASE DIR",
            "BIN PATH",
            "CPU COUNT",
            "MEMORY SIZE",
            "LOG DISK SIZE",
            "DATA DISK SIZE",
        ]);
        let maintenance = status
            .get("underMaintenance")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        row.extend([
            if maintenance { "YES" } else { "NO" }.to_string(),
            text(sv("data_dir")),
            text(sv("redo_dir")),
            text(info.get("log_dir")),
            text(info.get("base_dir")),
            text(info.get("bin_path")),
            text(sv("cpu_count")),
            size(sv("memory_size")),
            size(sv("log_disk_size")),
            size(sv("data_disk_size")),
        ]);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL).set_header(header).add_row(row);
    println!("{t}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opts_parse() {
        let m = parse_opts("a=1, b = x ,").unwrap();
        assert_eq!(m["a"], "1");
        assert_eq!(m["b"], "x");
        assert!(parse_opts("nope").is_err());
    }
}
