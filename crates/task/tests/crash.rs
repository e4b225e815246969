//! Crash recovery (spec/task-engine.md §6.8): the process running a DAG is killed with SIGKILL
//! mid-sub-task and restarted. A continuable sub-task runs again in continue mode and the DAG
//! finishes; a non-continuable one is failed with "task unexpectedly interrupted and cannot
//! continue" and never executed twice; a retry then finishes the DAG.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Backend;
use task::{Engine, Operator, Store};

fn demo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_obshell-task-demo"))
}

fn store_url(b: Backend, dir: &std::path::Path, tag: &str) -> String {
    match b {
        Backend::Sqlite => dir.join(".meta").display().to_string(),
        // the time suffix keeps a database left by an earlier run (same pid) out of this one
        Backend::Mysql => format!(
            "{}/ocs_crash_{}_{tag}_{}",
            common::mysql_server_url(),
            std::process::id(),
            common::unique_suffix()
        ),
    }
}

/// Starts `run`, waits until the interrupted node has begun, and kills the process.
fn run_and_kill(url: &str, dir: &std::path::Path, scenario: &str) {
    let mut child = demo()
        .args(["run", "--store", url, "--scenario", scenario, "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rec = std::fs::read_to_string(dir.join("record")).unwrap_or_default();
        if rec.contains("exec Interrupted") {
            break;
        }
        assert!(Instant::now() < deadline, "the DAG never reached the node");
        assert!(child.try_wait().unwrap().is_none(), "demo exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn resume(url: &str, dir: &std::path::Path) -> (bool, serde_json::Value) {
    let out = demo()
        .args(["resume", "--store", url, "--dir"])
        .arg(dir)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "resume printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}

fn records(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("record"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

async fn continuable_subtask_resumes(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = store_url(b, dir.path(), "c");
    run_and_kill(&url, dir.path(), "crash-continue");
    let (ok, dags) = resume(&url, dir.path());
    assert!(ok, "{dags:#}");
    assert_eq!(dags[0]["state"], "SUCCEED");
    assert_eq!(
        records(dir.path()),
        vec![
            "exec Before times=1 continue=false",
            "exec Interrupted times=1 continue=false",
            "exec Interrupted times=1 continue=true",
            "exec After times=1 continue=false",
        ]
    );
    drop_db(b, &url).await;
}

async fn non_continuable_subtask_never_runs_twice(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = store_url(b, dir.path(), "n");
    run_and_kill(&url, dir.path(), "crash-nocontinue");
    let (ok, dags) = resume(&url, dir.path());
    assert!(!ok);
    let dag = &dags[0];
    assert_eq!(
        (dag["state"].as_str(), dag["stage"].as_i64()),
        (Some("FAILED"), Some(2))
    );
    let sub = &dag["nodes"][1]["sub_tasks"][0];
    let logs: Vec<String> = serde_json::from_value(sub["task_logs"].clone()).unwrap();
    assert_eq!(
        logs.last().unwrap(),
        "ERROR: task unexpectedly interrupted and cannot continue"
    );
    assert_eq!(
        records(dir.path()),
        vec![
            "exec Before times=1 continue=false",
            "exec Interrupted times=1 continue=false",
        ]
    );
    // the operator can retry it: rolled back, then executed afresh, then the DAG finishes
    let store = Store::open(&url).await.unwrap();
    let engine = Engine::start(store, common::registry(), common::config())
        .await
        .unwrap();
    let id = dag["dag_id"].as_i64().unwrap();
    engine.operate_dag(id, Operator::Retry).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = engine.dag_detail(id, false).await.unwrap();
        if d.state == "SUCCEED" {
            break;
        }
        assert!(Instant::now() < deadline, "retry never finished: {d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.shutdown().await;
    assert_eq!(
        records(dir.path())[2..],
        [
            "rollback Interrupted times=2 continue=false",
            "exec Interrupted times=3 continue=false",
            "exec After times=1 continue=false",
        ]
    );
    drop_db(b, &url).await;
}

async fn drop_db(b: Backend, url: &str) {
    if let Backend::Mysql = b {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        sqlx::any::install_default_drivers();
        let (server, db) = url.rsplit_once('/').unwrap();
        let opts = sqlx::any::AnyConnectOptions::from_str(&format!(
            "{server}?collation=utf8mb4_general_ci"
        ))
        .unwrap();
        let mut c = opts.connect().await.unwrap();
        let _ = sqlx::Executor::execute(&mut c, format!("DROP DATABASE {db}").as_str()).await;
    }
}

both_stores!(
    continuable_subtask_resumes,
    non_continuable_subtask_never_runs_twice
);
