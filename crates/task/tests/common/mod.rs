//! Shared harness of the engine suites: an engine on a fresh SQLite file or on a fresh database
//! of the MySQL-protocol server named by `OBSHELL_TEST_MYSQL_URL` (a real seekdb in CI, see
//! scripts/seekdb-up).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use task::demo::ScriptedTask;
use task::dto::DagDetailDto;
use task::{Engine, EngineConfig, NodeSpec, Registry, Store, TaskContext};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Mysql,
}

pub struct Harness {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    cleanup_db: Option<(String, String)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The MySQL server URL (without database) for the MySQL runs. Missing is a failure, not a
/// skip: the suite must run on both stores.
pub fn mysql_server_url() -> String {
    let url = std::env::var("OBSHELL_TEST_MYSQL_URL").unwrap_or_else(|_| {
        panic!("OBSHELL_TEST_MYSQL_URL is not set: start a seekdb with scripts/seekdb-up (or run scripts/test)")
    });
    let trimmed = url.trim_start_matches("mysql://");
    match trimmed.split_once('/') {
        Some((server, _)) => format!("mysql://{server}"),
        None => url,
    }
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(ScriptedTask));
    r
}

pub fn config() -> EngineConfig {
    EngineConfig {
        // Event-driven: no sweep during a test, so nothing here relies on polling.
        sweep_interval: Duration::from_secs(3600),
        retention: None,
        ..EngineConfig::default()
    }
}

/// Microseconds of the wall clock, mod 10^9: test databases named after the pid alone could
/// meet one a failed earlier run left behind on a shared seekdb.
pub fn unique_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() % 1_000_000_000)
        .unwrap_or(0)
}

pub async fn open_store(
    backend: Backend,
    dir: &tempfile::TempDir,
) -> (Store, Option<(String, String)>) {
    match backend {
        Backend::Sqlite => (
            Store::open_sqlite(&dir.path().join(".meta")).await.unwrap(),
            None,
        ),
        Backend::Mysql => {
            let server = mysql_server_url();
            let db = format!(
                "ocs_t{}_{}_{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst),
                unique_suffix()
            );
            let store = Store::open_mysql(&format!("{server}/{db}")).await.unwrap();
            (store, Some((server, db)))
        }
    }
}

pub async fn harness(backend: Backend) -> Harness {
    harness_with(backend, config()).await
}

pub async fn harness_with(backend: Backend, config: EngineConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let (store, cleanup_db) = open_store(backend, &dir).await;
    let engine = Engine::start(store, registry(), config).await.unwrap();
    Harness {
        engine,
        dir,
        cleanup_db,
    }
}

impl Harness {
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    pub fn touch(&self, name: &str) {
        std::fs::write(self.dir.path().join(name), b"").unwrap();
    }

    /// Polls (tests only) until the DAG is in one of `states` and, for a failed maintenance
    /// DAG, settled.
    pub async fn wait(&self, id: i64, states: &[&str]) -> DagDetailDto {
        let deadline = Instant::now() + Duration::from_secs(60);
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

    pub async fn finish(self) {
        self.engine.shutdown().await;
        self.engine.store().close().await;
        if let Some((server, db)) = self.cleanup_db {
            use sqlx::ConnectOptions;
            use std::str::FromStr;
            sqlx::any::install_default_drivers();
            let opts = sqlx::any::AnyConnectOptions::from_str(&format!(
                "{server}?collation=utf8mb4_general_ci"
            ))
            .unwrap();
            if let Ok(mut c) = opts.connect().await {
                let _ =
                    sqlx::Executor::execute(&mut c, format!("DROP DATABASE {db}").as_str()).await;
            }
        }
    }
}

/// A `ScriptedTask` node named `name` with its script (`timeout` becomes the engine param).
pub fn node(name: &str, script: Value) -> NodeSpec {
    let mut ctx = TaskContext::new();
    let mut script = script;
    if let Some(t) = script.as_object_mut().and_then(|m| m.remove("timeout")) {
        ctx.set_param("timeout", t);
    }
    ctx.set_param("script", script);
    NodeSpec::new(Arc::new(ScriptedTask))
        .named(name)
        .with_context(ctx)
}

/// Runs a suite function on both stores.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(super::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    super::$name(super::common::Backend::Mysql).await
                }
            }
        )*
    };
}
