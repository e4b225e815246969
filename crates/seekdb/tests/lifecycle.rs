//! The lifecycle DAGs through a real task engine (SQLite) on a real seekdb: deploy, stop
//! (with minor freeze), start, restart, the maintenance lock, a SIGKILL from outside, a pid
//! that changed under a stop, a broken executable and an occupied port (both failing with
//! their reason in the task log, then retried), the emergency local DAGs, and a failed deploy
//! rolled back. One instance, so the steps run in order in one test. Each DAG's time is split
//! into seekdb's own time and the engine's overhead and printed as JSON (also written to
//! `$CARGO_TARGET_TMPDIR/seekdb-lifecycle-timings.json`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use seekdb::process::{find_pid, start_existing};
use seekdb::sql::{ob_state, ping, ConnParams, ObState};
use seekdb::tasks::names::*;
use seekdb::tasks::{DeployOptions, Plan, Planner};
use seekdb::Layout;
use serde_json::{json, Value};
use task::dto::DagDetailDto;
use task::Operator;

use common::{engine, free_port_pair, logs, node_names, test_dir, Harness};

const ROOT_PW: &str = "Lifecycle#Pw'1";
const LIMIT: Duration = Duration::from_secs(400);

/// One DAG run and where its time went.
struct Timing {
    dag: String,
    total_ms: u64,
    tasks_ms: u64,
    seekdb_ms: u64,
}

impl Timing {
    fn json(&self) -> Value {
        json!({
            "dag": self.dag,
            "total_ms": self.total_ms,
            "tasks_ms": self.tasks_ms,
            "seekdb_ms": self.seekdb_ms,
            "engine_overhead_ms": self.total_ms.saturating_sub(self.tasks_ms),
        })
    }
}

/// Creates the DAG, waits for it to finish (by the engine's events, not by polling), and
/// returns its detail and timing.
async fn run(h: &Harness, plan: &Plan, expect: &str) -> (DagDetailDto, Timing) {
    let mut events = h.engine.subscribe();
    let t0 = Instant::now();
    let dag = h
        .engine
        .create_dag(&plan.template, plan.context.clone())
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", plan.template.name));
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(ev)) if ev.dag_id == dag.id && ev.state.is_finished() => break,
            Ok(Ok(_)) => {}
            // lagged or closed: fall back to reading the row
            Ok(Err(_)) => {
                let d = h.engine.dag_detail(dag.id, false).await.unwrap();
                if d.state == "SUCCEED" || d.state == "FAILED" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => panic!("{} did not finish within {LIMIT:?}", plan.template.name),
        }
    }
    let total_ms = t0.elapsed().as_millis() as u64;
    let d = h.wait(dag.id, &["SUCCEED", "FAILED"], LIMIT).await;
    assert_eq!(
        d.state,
        expect,
        "{} ended {}:\n{}",
        d.name,
        d.state,
        logs(&d).join("\n")
    );
    let timing = timing_of(&d, total_ms);
    (d, timing)
}

fn timing_of(d: &DagDetailDto, total_ms: u64) -> Timing {
    let (mut tasks_ms, mut seekdb_ms) = (0, 0);
    if let Some(t) = d
        .additional_data
        .as_ref()
        .and_then(|a| a.get(data::TIMINGS))
        .and_then(Value::as_object)
    {
        for v in t.values() {
            tasks_ms += v["exec_ms"].as_u64().unwrap_or(0);
            seekdb_ms += v["seekdb_ms"].as_u64().unwrap_or(0);
        }
    }
    Timing {
        dag: d.name.clone(),
        total_ms,
        tasks_ms,
        seekdb_ms,
    }
}

fn has_log(d: &DagDetailDto, needle: &str) -> bool {
    logs(d).iter().any(|l| l.contains(needle))
}

async fn state(port: u16, layout: &Layout) -> ObState {
    ob_state(&ConnParams::root(port).password(ROOT_PW), Some(layout)).await
}

fn pid_of(layout: &Layout) -> i32 {
    find_pid(layout).expect("seekdb is running")
}

async fn kill9_and_wait(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(seekdb::process::stop::wait_gone(pid, Duration::from_secs(30)).await);
}

fn replace_executable(layout: &Layout, script: Option<&str>, real: &Path) {
    let exe = layout.executable();
    let _ = std::fs::remove_file(&exe);
    match script {
        Some(s) => {
            std::fs::write(&exe, s).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        None => std::os::unix::fs::symlink(real, &exe).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_dags_on_a_real_seekdb() {
    let h = engine().await;
    let planner = Planner::new(h.hooks.clone());
    let dir = test_dir("life");
    let (port, rpc_port) = free_port_pair();
    let mut timings: Vec<Timing> = Vec::new();

    // --- deploy: five nodes, a root password, a take-over record
    h.hooks.set_root_password(&dir, ROOT_PW);
    let plan = planner
        .deploy(&DeployOptions::new(&dir, port, rpc_port))
        .unwrap();
    let (d, t) = run(&h, &plan, "SUCCEED").await;
    assert_eq!(
        node_names(&d),
        vec![
            NODE_CHECK_DEPLOY,
            NODE_INIT,
            NODE_WAIT_READY,
            NODE_SET_ROOT_PASSWORD,
            NODE_TAKE_OVER
        ]
    );
    assert_eq!(d.maintenance_type, 2, "deploy holds the global lock");
    assert!(
        has_log(&d, "[server_start"),
        "progress is logged: {:?}",
        logs(&d)
    );
    timings.push(t);
    let layout = Layout::new(&dir).unwrap();
    let taken = h.hooks.taken_over();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].mysql_port, port);
    assert_eq!(taken[0].rpc_port, rpc_port);
    assert_eq!(taken[0].pid, pid_of(&layout));
    assert!(taken[0].ob_version.contains("seekdb"));
    assert_eq!(
        ping(&ConnParams::root(port)).await.unwrap_err().err_code(),
        "Seekdb.AccessDenied",
        "root no longer has an empty password"
    );
    assert_eq!(state(port, &layout).await, ObState::Available);
    let real_exe = std::fs::canonicalize(layout.executable()).unwrap();

    // --- stop with terminate: minor freeze, then stop
    let plan = planner.stop(&dir, true).await.unwrap().expect("running");
    let (d, t) = run(&h, &plan, "SUCCEED").await;
    assert_eq!(node_names(&d), vec![NODE_MINOR_FREEZE, NODE_STOP]);
    assert!(has_log(&d, "minor freeze done"), "{:?}", logs(&d));
    timings.push(t);
    assert_eq!(find_pid(&layout), None);
    assert_eq!(state(port, &layout).await, ObState::NotRunning);
    assert!(
        planner.stop(&dir, false).await.unwrap().is_none(),
        "no stop DAG for a stopped instance"
    );

    // --- start
    let plan = planner.start(&dir).unwrap();
    let (d, t) = run(&h, &plan, "SUCCEED").await;
    assert_eq!(node_names(&d), vec![NODE_START]);
    timings.push(t);
    assert_eq!(state(port, &layout).await, ObState::Available);
    // starting a running instance is a quick no-op
    let (d, _) = run(&h, &planner.start(&dir).unwrap(), "SUCCEED").await;
    assert!(has_log(&d, "already running"), "{:?}", logs(&d));

    // --- restart: stop then start, a new pid
    let before = pid_of(&layout);
    let plan = planner.restart(&dir, false).await.unwrap();
    let (d, t) = run(&h, &plan, "SUCCEED").await;
    assert_eq!(node_names(&d), vec![NODE_STOP, NODE_START]);
    timings.push(t);
    assert_ne!(pid_of(&layout), before);
    assert_eq!(state(port, &layout).await, ObState::Available);

    // --- a second lifecycle DAG while one runs is refused by the maintenance lock
    let restart = planner.restart(&dir, false).await.unwrap();
    let running = h
        .engine
        .create_dag(&restart.template, restart.context.clone())
        .await
        .unwrap();
    let stop = planner.stop(&dir, false).await.unwrap().expect("running");
    let err = h
        .engine
        .create_dag(&stop.template, stop.context.clone())
        .await
        .unwrap_err();
    assert_eq!(err.err_code(), "Task.CreateFailed");
    assert_eq!(err.root().err_code(), "Agent.UnderMaintenanceDag", "{err}");
    assert!(err.to_string().contains(DAG_RESTART), "{err}");
    let d = h.wait(running.id, &["SUCCEED", "FAILED"], LIMIT).await;
    assert_eq!(d.state, "SUCCEED", "{:?}", logs(&d));

    // --- SIGKILL from outside: obState 0, "Start seekdb" brings it back
    kill9_and_wait(pid_of(&layout)).await;
    assert_eq!(state(port, &layout).await, ObState::NotRunning);
    let (_, t) = run(&h, &planner.start(&dir).unwrap(), "SUCCEED").await;
    timings.push(Timing {
        dag: format!("{} (after SIGKILL)", t.dag),
        ..t
    });
    assert_eq!(state(port, &layout).await, ObState::Available);

    // --- the pid changed between creating a stop and running it: the stop is a no-op
    let stale = planner.stop(&dir, false).await.unwrap().expect("running");
    kill9_and_wait(pid_of(&layout)).await;
    let relaunched = start_existing(&real_exe, &layout).await.unwrap();
    let (d, _) = run(&h, &stale, "SUCCEED").await;
    assert!(has_log(&d, "pid changed"), "{:?}", logs(&d));
    assert_eq!(
        find_pid(&layout),
        Some(relaunched.pid),
        "the new process was left alone"
    );
    let (_, _) = run(&h, &planner.start(&dir).unwrap(), "SUCCEED").await;

    // --- a broken executable: the start fails with the reason in its log; fixed, retry works
    run(
        &h,
        &planner.stop(&dir, false).await.unwrap().unwrap(),
        "SUCCEED",
    )
    .await;
    replace_executable(
        &layout,
        Some("#!/bin/sh\necho 'simulated broken seekdb: cannot map libaio' >&2\nexit 7\n"),
        &real_exe,
    );
    let (d, _) = run(&h, &planner.start(&dir).unwrap(), "FAILED").await;
    assert!(has_log(&d, "simulated broken seekdb"), "{:?}", logs(&d));
    assert!(has_log(&d, "Seekdb.StartFailed"), "{:?}", logs(&d));
    assert!(
        h.engine.store().is_lock_free().await.unwrap(),
        "a failed start releases the lock"
    );
    replace_executable(&layout, None, &real_exe);
    h.engine
        .operate_dag(d.dag_id, Operator::Retry)
        .await
        .unwrap();
    let d = h.wait(d.dag_id, &["SUCCEED", "FAILED"], LIMIT).await;
    assert_eq!(d.state, "SUCCEED", "{:?}", logs(&d));
    assert_eq!(state(port, &layout).await, ObState::Available);

    // --- seekdb itself fails (port taken): its ERROR/EDIAG lines land in the task log
    run(
        &h,
        &planner.stop(&dir, false).await.unwrap().unwrap(),
        "SUCCEED",
    )
    .await;
    let squatter = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap_or_else(|e| {
        let ss = std::process::Command::new("ss").arg("-tanp").output();
        let ss = ss
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mine: Vec<&str> = ss
            .lines()
            .filter(|l| l.contains(&format!(":{port} ")))
            .collect();
        panic!("cannot occupy port {port}: {e}; sockets: {mine:?}")
    });
    let (d, _) = run(&h, &planner.start(&dir).unwrap(), "FAILED").await;
    // seekdb's own words (ERROR/EDIAG lines such as "fail to start net frame", or, when it
    // died before its logger flushed them, its last lines) are in the task log
    assert!(has_log(&d, "seekdb.log: ["), "{:?}", logs(&d));
    assert!(has_log(&d, "Seekdb.StartFailed"), "{:?}", logs(&d));
    drop(squatter);
    h.engine
        .operate_dag(d.dag_id, Operator::Retry)
        .await
        .unwrap();
    let d = h.wait(d.dag_id, &["SUCCEED", "FAILED"], LIMIT).await;
    assert_eq!(d.state, "SUCCEED", "{:?}", logs(&d));

    // --- emergency DAGs: no lock, and the stop knows its pid (upstream's did not)
    let plan = planner.stop_local(&dir).await.unwrap().unwrap();
    assert_eq!(plan.template.name, DAG_STOP_LOCAL);
    let (d, t) = run(&h, &plan, "SUCCEED").await;
    assert_eq!(d.maintenance_type, 1, "emergency DAGs take no lock");
    timings.push(t);
    assert_eq!(find_pid(&layout), None);
    let (_, t) = run(&h, &planner.start_local(&dir).unwrap(), "SUCCEED").await;
    timings.push(t);
    assert_eq!(state(port, &layout).await, ObState::Available);

    // --- cancelling a start that has launched seekdb kills what it launched
    run(
        &h,
        &planner.stop(&dir, false).await.unwrap().unwrap(),
        "SUCCEED",
    )
    .await;
    let plan = planner.start(&dir).unwrap();
    let dag = h
        .engine
        .create_dag(&plan.template, plan.context.clone())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let launched = loop {
        let d = h.engine.dag_detail(dag.id, true).await.unwrap();
        if let Some(l) = logs(&d).iter().find(|l| l.starts_with("seekdb launched")) {
            break l.clone();
        }
        assert!(d.state != "SUCCEED", "started before it could be cancelled");
        assert!(Instant::now() < deadline, "never launched: {:?}", logs(&d));
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    h.engine
        .operate_dag(dag.id, Operator::Cancel)
        .await
        .unwrap();
    let d = h.wait(dag.id, &["FAILED"], LIMIT).await;
    assert_eq!(d.operator, "CANCEL");
    // the DAG fails at once; the kind's cancel hook kills the launched process right after
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = h.engine.dag_detail(dag.id, true).await.unwrap();
        if has_log(&d, "killed seekdb pid") && find_pid(&layout).is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled start left seekdb running ({launched}): {:?}",
            logs(&d)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run(&h, &planner.start(&dir).unwrap(), "SUCCEED").await;

    // --- a deploy that seekdb refuses: fails with seekdb's reason, keeps the lock, and its
    //     rollback removes exactly what it created
    let parent = test_dir("life-bad");
    std::fs::create_dir_all(&parent).unwrap();
    std::fs::write(parent.join("keep.txt"), "not the deploy's").unwrap();
    let bad_dir = parent.join("instance");
    let (bport, brpc) = free_port_pair();
    let mut opts = DeployOptions::new(&bad_dir, bport, brpc);
    opts.init
        .parameters
        .insert("log_disk_size".into(), "100T".into());
    let (d, _) = run(&h, &planner.deploy(&opts).unwrap(), "FAILED").await;
    assert!(has_log(&d, "OB_LOG_OUTOF_DISK_SPACE"), "{:?}", logs(&d));
    assert!(
        !h.engine.store().is_lock_free().await.unwrap(),
        "a failed deploy keeps the lock"
    );
    assert!(bad_dir.join("store").exists());
    h.engine
        .operate_dag(d.dag_id, Operator::Rollback)
        .await
        .unwrap();
    let d = h.wait(d.dag_id, &["SUCCEED", "FAILED"], LIMIT).await;
    assert_eq!(d.operator, "ROLLBACK", "{d:?}");
    assert!(d.nodes.iter().flatten().all(|n| n.state != "RUNNING"));
    assert!(!bad_dir.exists(), "the deploy's directory is gone");
    assert!(parent.join("keep.txt").exists(), "nothing else was touched");
    assert!(h.engine.store().is_lock_free().await.unwrap());

    // --- clean stop, then the numbers
    run(
        &h,
        &planner.stop(&dir, false).await.unwrap().unwrap(),
        "SUCCEED",
    )
    .await;
    let report = json!({
        "seekdb_lifecycle_timings": timings.iter().map(Timing::json).collect::<Vec<_>>(),
        "note": "total_ms: create_dag to finish; tasks_ms: sum of node execute times; seekdb_ms: \
                 time spent in seekdb itself (launch, until it accepts SQL, until it exits, \
                 minor freeze); engine_overhead_ms = total_ms - tasks_ms",
    });
    let text = serde_json::to_string_pretty(&report).unwrap();
    println!("{text}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seekdb-lifecycle-timings.json");
    std::fs::write(&out, &text).unwrap();
    eprintln!("timings written to {}", out.display());
}
