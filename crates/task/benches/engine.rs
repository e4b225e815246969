//! Engine benchmarks (design.md §6), printed as one JSON object per line.
//!
//! - `commit_us`: one small committed write on the store, the unit of the targets;
//! - `single`: a 10-stage DAG of no-op sub-tasks, run alone, repeated; per-stage overhead and
//!   its ratio to one commit (target: at most 10 on SQLite);
//! - `concurrent`: N 10-stage no-op DAGs created at once; total time, amortised time per stage
//!   and its ratio to the single-DAG figure (target: at most 3).
//!
//! `cargo bench -p obshell-task --bench engine [-- --short]`. Runs on SQLite, and on the
//! MySQL-protocol store too when `OBSHELL_TEST_MYSQL_URL` is set (reported, no target yet).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use task::demo::ScriptedTask;
use task::{Engine, EngineConfig, NodeSpec, Registry, State, Store, TaskContext, Template};

const STAGES: i64 = 10;

fn template() -> Template {
    (1..=STAGES).fold(Template::new("Bench"), |t, i| {
        let mut ctx = TaskContext::new();
        ctx.set_param("script", json!({}));
        t.node(
            NodeSpec::new(Arc::new(ScriptedTask))
                .named(format!("Stage {i}"))
                .with_context(ctx),
        )
    })
}

async fn engine(store: Store) -> Engine {
    let mut r = Registry::new();
    r.register(Arc::new(ScriptedTask));
    let config = EngineConfig {
        sweep_interval: Duration::from_secs(3600),
        retention: None,
        ..EngineConfig::default()
    };
    Engine::start(store, r, config).await.expect("engine")
}

/// Median of `n` small commits (medians, not means: the figures should not swing with
/// whatever else the 2-core machine is doing).
async fn commit_us(store: &Store, n: u32) -> f64 {
    for _ in 0..5 {
        store.commit_probe().await.expect("commit");
    }
    let mut times = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let t = Instant::now();
        store.commit_probe().await.expect("commit");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    median(times)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `count` DAGs created at once and returns the wall time until all finished.
async fn run_dags(e: &Engine, count: usize) -> Duration {
    let mut events = e.subscribe();
    let t = template();
    let start = Instant::now();
    let mut pending = HashSet::new();
    for _ in 0..count {
        let d = e.create_dag(&t, TaskContext::new()).await.expect("create");
        pending.insert(d.id);
    }
    while !pending.is_empty() {
        match events.recv().await {
            Ok(ev) if ev.state == State::Succeed => {
                pending.remove(&ev.dag_id);
            }
            Ok(ev) if ev.state == State::Failed => panic!("bench DAG {} failed", ev.dag_id),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                // re-read the survivors
                let mut done = Vec::new();
                for id in &pending {
                    let d = e.dag_detail(*id, false).await.expect("dag");
                    if d.state == "SUCCEED" {
                        done.push(*id);
                    }
                }
                for id in done {
                    pending.remove(&id);
                }
            }
            Err(err) => panic!("event stream closed: {err}"),
        }
    }
    start.elapsed()
}

async fn bench(label: &str, store: Store, singles: usize, concurrent: usize) {
    let commit = commit_us(&store, 200).await;
    let e = engine(store).await;
    run_dags(&e, 1).await; // warm-up
    let mut per_dag = Vec::with_capacity(singles);
    for _ in 0..singles {
        per_dag.push(run_dags(&e, 1).await.as_secs_f64() * 1e6);
    }
    let single_stage_us = median(per_dag) / STAGES as f64;
    let wall = run_dags(&e, concurrent).await;
    let amortised_us = wall.as_secs_f64() * 1e6 / (concurrent as f64 * STAGES as f64);
    println!(
        "{}",
        json!({
            "store": label,
            "commit_us": round(commit),
            "single": {
                "dags": singles, "statistic": "median",
                "stage_overhead_us": round(single_stage_us),
                "ratio_to_commit": round(single_stage_us / commit),
                "target_ratio_max": 10,
            },
            "concurrent": {
                "dags": concurrent,
                "stages_each": STAGES,
                "total_s": round(wall.as_secs_f64()),
                "amortised_stage_us": round(amortised_us),
                "ratio_to_single": round(amortised_us / single_stage_us),
                "target_ratio_max": 3,
            }
        })
    );
    e.shutdown().await;
}

fn round(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let short = std::env::args().any(|a| a == "--short");
    let (singles, concurrent) = if short { (21, 1000) } else { (51, 1000) };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join(".meta"))
        .await
        .expect("sqlite");
    bench("sqlite", store, singles, concurrent).await;
    if let Ok(url) = std::env::var("OBSHELL_TEST_MYSQL_URL") {
        let server = url.trim_end_matches('/').to_string();
        let server = match server.trim_start_matches("mysql://").split_once('/') {
            Some((s, _)) => format!("mysql://{s}"),
            None => server,
        };
        let db = format!("ocs_bench_{}", std::process::id());
        let store = Store::open_mysql(&format!("{server}/{db}"))
            .await
            .expect("mysql");
        let (singles, concurrent) = if short { (11, 100) } else { (21, 1000) };
        bench("mysql", store, singles, concurrent).await;
    }
}
