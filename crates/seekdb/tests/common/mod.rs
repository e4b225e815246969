//! Shared harness of the seekdb integration tests: real seekdb instances in temp dirs on free
//! loopback port pairs, a real task engine on SQLite, and a watchdog that kills a test's
//! seekdb and removes its directory when the test process ends however it ends (statics are
//! never dropped, and a panicking test must not leave a 300 MB daemon behind).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seekdb::locate::locate;
use seekdb::process::{initialize, wait_ready, InitOptions, ReadyOptions};
use seekdb::sql::ConnParams;
use seekdb::tasks::{register_with, MemoryHooks};
use seekdb::Layout;
use task::dto::DagDetailDto;
use task::{Engine, EngineConfig, Registry, Store};

/// Ports the lead's test instance uses; never pick them.
const RESERVED: [u16; 2] = [12881, 12882];

/// Two consecutive free ports (sql, rpc), below the kernel's ephemeral range (32768+) so no
/// outgoing connection can take one while its instance is stopped, and spread by pid so
/// concurrent runs rarely probe the same ones.
pub fn free_port_pair() -> (u16, u16) {
    const LOW: u16 = 15000;
    const HIGH: u16 = 32000;
    let free =
        |p: u16| !RESERVED.contains(&p) && std::net::TcpListener::bind(("0.0.0.0", p)).is_ok();
    let mut p = LOW + (std::process::id() % 800) as u16 * 20;
    for _ in 0..(HIGH - LOW) / 2 {
        if free(p) && free(p + 1) {
            return (p, p + 1);
        }
        p = if p + 3 >= HIGH { LOW } else { p + 2 };
    }
    panic!("no free port pair in {LOW}..{HIGH}");
}

/// A test base directory under the target dir (the repo's disk, not a small tmpfs), removed by
/// the watchdog when this process ends.
pub fn test_dir(tag: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seekdb-tests");
    std::fs::create_dir_all(&root).unwrap();
    let d = root.join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    watchdog(&d);
    d
}

/// When this process exits, kill the seekdb of `dir` (whatever its pid by then, checked
/// against its command line) and remove `dir`. The watchdog must outlive this process, so it
/// is never waited for (init reaps it).
#[allow(clippy::zombie_processes)]
fn watchdog(dir: &Path) {
    let script = format!(
        r#"while kill -0 {me} 2>/dev/null; do sleep 1; done
d='{dir}'
if [ -f "$d/run/seekdb.pid" ]; then
  p=$(tr -dc '0-9' < "$d/run/seekdb.pid")
  if [ -n "$p" ] && tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q -- "$d"; then
    kill -9 "$p" 2>/dev/null
    while kill -0 "$p" 2>/dev/null; do sleep 0.2; done
  fi
fi
rm -rf "$d""#,
        me = std::process::id(),
        dir = dir.display()
    );
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn the watchdog");
}

use std::os::unix::process::CommandExt;

/// A running test instance.
pub struct Instance {
    pub dir: PathBuf,
    pub port: u16,
    pub rpc_port: u16,
    pub pid: i32,
    pub init_secs: f64,
}

impl Instance {
    pub fn layout(&self) -> Layout {
        Layout::new(&self.dir).unwrap()
    }

    pub fn root(&self) -> ConnParams {
        ConnParams::root(self.port)
    }
}

/// Initializes a new instance with the crate's process API and waits until it accepts SQL.
pub async fn start_instance(tag: &str) -> Instance {
    let dir = test_dir(tag);
    let (port, rpc_port) = free_port_pair();
    let exe = locate(None)
        .await
        .expect("seekdb executable (run scripts/test or pip install pylibseekdb into .venv)");
    let layout = Layout::new(&dir).unwrap();
    let t0 = Instant::now();
    let launched = initialize(&exe, &layout, &InitOptions::new(port, rpc_port))
        .await
        .unwrap_or_else(|e| panic!("initialize seekdb in {}: {e}", dir.display()));
    wait_ready(
        &layout,
        &ConnParams::root(port),
        Some(launched),
        ReadyOptions::default(),
        &|p: &seekdb::process::Progress| eprintln!("[{tag}] {p}"),
    )
    .await
    .unwrap_or_else(|e| panic!("seekdb in {} never accepted SQL: {e}", dir.display()));
    Instance {
        dir,
        port,
        rpc_port,
        pid: launched.pid,
        init_secs: t0.elapsed().as_secs_f64(),
    }
}

/// A task engine on a fresh SQLite store with the seekdb kinds registered.
pub struct Harness {
    pub engine: Engine,
    pub hooks: Arc<MemoryHooks>,
    _meta: tempfile::TempDir,
}

pub async fn engine() -> Harness {
    let meta = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&meta.path().join(".meta"))
        .await
        .unwrap();
    let hooks = Arc::new(MemoryHooks::new());
    let mut registry = Registry::new();
    register_with(&mut registry, hooks.clone());
    let config = EngineConfig {
        sweep_interval: Duration::from_secs(3600),
        retention: None,
        ..EngineConfig::default()
    };
    let engine = Engine::start(store, registry, config).await.unwrap();
    Harness {
        engine,
        hooks,
        _meta: meta,
    }
}

impl Harness {
    /// Polls until the DAG is in one of `states`.
    pub async fn wait(&self, id: i64, states: &[&str], limit: Duration) -> DagDetailDto {
        let deadline = Instant::now() + limit;
        loop {
            let d = self.engine.dag_detail(id, true).await.unwrap();
            if states.contains(&d.state.as_str()) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "dag {id} never reached {states:?}: {}",
                serde_json::to_string_pretty(&d).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Every task log line of a DAG detail, in node order.
pub fn logs(d: &DagDetailDto) -> Vec<String> {
    d.nodes
        .iter()
        .flatten()
        .flat_map(|n| n.sub_tasks.iter().flatten())
        .flat_map(|s| s.task_logs.iter().flatten().cloned())
        .collect()
}

pub fn node_names(d: &DagDetailDto) -> Vec<String> {
    d.nodes.iter().flatten().map(|n| n.name.clone()).collect()
}
