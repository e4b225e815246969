//! Engine part of `GET /api/v1/task/dag/unfinish?show_details=true` (design.md §6 target:
//! p99 under 20 ms end to end with 100 unfinished DAGs x 10 nodes): the time to build the
//! detailed DTOs from the store, without HTTP. Prints one JSON object per store.
//!
//! `cargo bench -p obshell-task --bench list [-- --short]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use task::demo::ScriptedTask;
use task::{DagFilter, Engine, EngineConfig, NodeSpec, Registry, Store, TaskContext, Template};

async fn bench(label: &str, store: Store, requests: usize) {
    let mut r = Registry::new();
    r.register(Arc::new(ScriptedTask));
    let config = EngineConfig {
        sweep_interval: Duration::from_secs(3600),
        retention: None,
        workers: 2,
        ..EngineConfig::default()
    };
    let e = Engine::start(store, r, config).await.expect("engine");
    // every DAG's first node sleeps for an hour: all stay unfinished
    let t = (1..=10).fold(Template::new("List bench"), |t, i| {
        let mut ctx = TaskContext::new();
        let script = if i == 1 {
            json!({"sleep_ms": 3_600_000, "log": "waiting"})
        } else {
            json!({})
        };
        ctx.set_param("script", script);
        t.node(
            NodeSpec::new(Arc::new(ScriptedTask))
                .named(format!("Stage {i}"))
                .with_context(ctx),
        )
    });
    for _ in 0..100 {
        e.create_dag(&t, TaskContext::new()).await.expect("create");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let filter = DagFilter {
        unfinished_only: true,
        ..DagFilter::default()
    };
    // The first request prepares the statements on a pool connection and warms SQLite's page
    // cache; it is reported on its own and the steady state is measured after a warm-up, as
    // the API bench does.
    let t0 = Instant::now();
    e.list_dag_details(&filter, true).await.expect("list");
    let first = t0.elapsed();
    for _ in 0..10 {
        e.list_dag_details(&filter, true).await.expect("list");
    }
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for _ in 0..requests {
        let t0 = Instant::now();
        let dags = e.list_dag_details(&filter, true).await.expect("list");
        times.push(t0.elapsed());
        bytes = serde_json::to_vec(&dags).map(|v| v.len()).unwrap_or(0);
    }
    times.sort();
    let pct = |p: f64| {
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1e3
    };
    println!(
        "{}",
        json!({"store": label, "dags": 100, "nodes": 10, "requests": requests, "json_bytes": bytes,
               "p50_ms": (pct(0.5) * 100.0).round() / 100.0, "p99_ms": (pct(0.99) * 100.0).round() / 100.0,
               "first_ms": (first.as_secs_f64() * 1e5).round() / 100.0})
    );
    for id in e.store().unfinished_dag_ids().await.expect("ids") {
        let _ = e.operate_dag(id, task::Operator::Cancel).await;
    }
    e.shutdown().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let short = std::env::args().any(|a| a == "--short");
    let requests = if short { 100 } else { 500 };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join(".meta"))
        .await
        .expect("sqlite");
    bench("sqlite", store, requests).await;
}
