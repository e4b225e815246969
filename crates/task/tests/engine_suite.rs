//! The engine suite: every transition of spec/task-engine.md §4 and every operator
//! precondition and error code of §6.9, run on SQLite and on the MySQL-protocol store.

mod common;

use common::{harness, node, Backend};
use serde_json::json;
use task::{AgentInfo, Capabilities, Operator, TaskContext, TaskError, Template};

fn code<T: std::fmt::Debug>(r: Result<T, TaskError>) -> &'static str {
    r.unwrap_err().err_code()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

async fn linear_dag_runs_in_order_and_context_flows(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let t = Template::new("Linear")
        .node(node(
            "First",
            json!({"record": rec, "set_data": {"token": "abc"}, "log": "hello from first"}),
        ))
        .node(node("Second", json!({"record": rec})))
        .node(node(
            "Third",
            json!({"record": rec, "expect_data": "token"}),
        ));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    assert_eq!(dag.state, task::State::Ready);
    let d = h.wait(dag.id, &["SUCCEED", "FAILED"]).await;
    assert_eq!(d.state, "SUCCEED", "{d:#?}");
    assert_eq!(d.operator, "RUN");
    assert_eq!((d.stage, d.max_stage), (3, 3));
    assert_eq!(
        lines(&h.read("rec")),
        vec![
            "exec First times=1 continue=false",
            "exec Second times=1 continue=false",
            "exec Third times=1 continue=false"
        ]
    );
    let nodes = d.nodes.unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.state == "SUCCEED"));
    let first = &nodes[0].sub_tasks.as_ref().unwrap()[0];
    assert_eq!(
        first.task_logs.as_ref().unwrap(),
        &vec!["hello from first".to_string()]
    );
    assert_eq!(first.execute_times, 1);
    assert_eq!(first.execute_agent, *h.engine.agent());
    assert!(h
        .engine
        .store()
        .unfinished_dag_ids()
        .await
        .unwrap()
        .is_empty());
    h.finish().await;
}

async fn parallel_node_runs_one_subtask_per_agent(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let agents = vec![
        AgentInfo::new("10.0.0.1", 2886),
        AgentInfo::new("10.0.0.2", 2886),
        AgentInfo::new("::1", 2886),
    ];
    let mut ctx = TaskContext::new();
    ctx.set_param("execute_agents", &agents);
    let t = Template::new("Parallel")
        .node(node("Fan out", json!({"record": rec})).parallel())
        .node(node("Serial after", json!({"record": rec})));
    let dag = h.engine.create_dag(&t, ctx).await.unwrap();
    let d = h.wait(dag.id, &["SUCCEED", "FAILED"]).await;
    assert_eq!(d.state, "SUCCEED");
    let nodes = d.nodes.unwrap();
    let subs = nodes[0].sub_tasks.as_ref().unwrap();
    let got: Vec<AgentInfo> = subs.iter().map(|s| s.execute_agent.clone()).collect();
    assert_eq!(got, agents);
    // the serial node does not inherit the DAG's execute_agents: it runs once, locally
    let serial = nodes[1].sub_tasks.as_ref().unwrap();
    assert_eq!(serial.len(), 1);
    assert_eq!(serial[0].execute_agent, *h.engine.agent());
    assert_eq!(h.read("rec").lines().count(), 4);
    h.finish().await;
}

async fn failure_fails_node_and_dag_with_the_reason_logged(b: Backend) {
    let h = harness(b).await;
    let t = Template::new("Failing")
        .node(node("Ok", json!({})))
        .node(node("Broken", json!({"fail_unless": h.path("fixed")})))
        .node(node("Never", json!({"record": h.path("rec")})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    assert_eq!(d.stage, 2);
    let nodes = d.nodes.unwrap();
    assert_eq!(nodes[0].state, "SUCCEED");
    assert_eq!(nodes[1].state, "FAILED");
    assert_eq!(nodes[2].state, "PENDING");
    let logs = nodes[1].sub_tasks.as_ref().unwrap()[0]
        .task_logs
        .clone()
        .unwrap();
    assert!(
        logs.last().unwrap().starts_with("ERROR: precondition file"),
        "{logs:?}"
    );
    assert_eq!(h.read("rec"), "");
    // not a maintenance DAG: a failure finishes it
    assert!(h
        .engine
        .store()
        .unfinished_dag_ids()
        .await
        .unwrap()
        .is_empty());
    h.finish().await;
}

async fn retry_rolls_back_then_reruns_only_failed_subtasks(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let a1 = AgentInfo::new("10.0.0.1", 1);
    let a2 = AgentInfo::new("10.0.0.2", 1);
    let mut ctx = TaskContext::new();
    ctx.set_param("execute_agents", vec![a1.clone(), a2.clone()]);
    // each sibling checks its own flag file: agent 1 is fine, agent 2 fails until fixed
    let t = Template::new("Retry me")
        .node(
            node(
                "Check",
                json!({"record": rec, "fail_unless": h.path("fixed-{agent}")}),
            )
            .parallel(),
        )
        .node(node("After", json!({"record": rec})));
    h.touch(&format!("fixed-{a1}"));
    let dag = h.engine.create_dag(&t, ctx).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    let times = |d: &task::dto::DagDetailDto| -> Vec<(String, i64)> {
        d.nodes.as_ref().unwrap()[0]
            .sub_tasks
            .as_ref()
            .unwrap()
            .iter()
            .map(|s| (s.state.clone(), s.execute_times))
            .collect()
    };
    assert_eq!(times(&d), vec![("SUCCEED".into(), 1), ("FAILED".into(), 1)]);

    // retry while still broken: the failed sibling is rolled back (attempt 2) and re-run
    // (attempt 3); the succeeded sibling is kept
    h.engine.operate_dag(dag.id, Operator::Retry).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    assert_eq!(times(&d), vec![("SUCCEED".into(), 1), ("FAILED".into(), 3)]);
    let last = d.nodes.as_ref().unwrap()[0].sub_tasks.as_ref().unwrap()[1]
        .task_logs
        .clone()
        .unwrap();
    assert!(
        last.last().unwrap().contains("precondition file"),
        "{last:?}"
    );

    h.touch(&format!("fixed-{a2}"));
    h.engine.operate_dag(dag.id, Operator::Retry).await.unwrap();
    let d = h.wait(dag.id, &["SUCCEED"]).await;
    assert_eq!(d.operator, "RUN");
    assert_eq!(
        times(&d),
        vec![("SUCCEED".into(), 1), ("SUCCEED".into(), 5)]
    );
    let r = h.read("rec");
    assert_eq!(r.matches("exec Check").count(), 4, "{r}");
    assert_eq!(r.matches("rollback Check").count(), 2, "{r}");
    assert_eq!(r.matches("exec After").count(), 1, "{r}");
    h.finish().await;
}

async fn rollback_walks_executed_nodes_in_reverse(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let t = Template::new("Roll back")
        .node(node("A", json!({"record": rec})))
        .node(node("B", json!({"record": rec})))
        .node(node(
            "C",
            json!({"record": rec, "fail_unless": h.path("never")}),
        ))
        .node(node("D", json!({"record": rec})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    h.wait(dag.id, &["FAILED"]).await;
    std::fs::write(&rec, "").unwrap();
    h.engine
        .operate_dag(dag.id, Operator::Rollback)
        .await
        .unwrap();
    let d = h.wait(dag.id, &["SUCCEED", "FAILED"]).await;
    assert_eq!(
        (d.state.as_str(), d.operator.as_str()),
        ("SUCCEED", "ROLLBACK")
    );
    assert_eq!(d.stage, 1);
    assert_eq!(
        lines(&h.read("rec")),
        vec![
            "rollback C times=2 continue=false",
            "rollback B times=2 continue=false",
            "rollback A times=2 continue=false"
        ]
    );
    let nodes = d.nodes.unwrap();
    assert_eq!(nodes[3].state, "PENDING", "never-run node untouched");
    assert_eq!(nodes[0].operator, "ROLLBACK");
    h.finish().await;
}

async fn failed_rollback_can_be_rolled_back_again(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let t = Template::new("Sticky rollback")
        .node(node("A", json!({"record": rec})))
        .node(node(
            "B",
            json!({"record": rec, "rollback_fail_unless": h.path("rb_ok")}),
        ))
        .node(node(
            "C",
            json!({"record": rec, "fail_unless": h.path("never")}),
        ));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    h.wait(dag.id, &["FAILED"]).await;
    h.engine
        .operate_dag(dag.id, Operator::Rollback)
        .await
        .unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    assert_eq!((d.stage, d.operator.as_str()), (2, "ROLLBACK"));
    h.touch("rb_ok");
    std::fs::write(&rec, "").unwrap();
    h.engine
        .operate_dag(dag.id, Operator::Rollback)
        .await
        .unwrap();
    let d = h.wait(dag.id, &["SUCCEED"]).await;
    assert_eq!(d.operator, "ROLLBACK");
    // C was already rolled back and is not revisited
    assert_eq!(
        lines(&h.read("rec")),
        vec![
            "rollback B times=3 continue=false",
            "rollback A times=2 continue=false"
        ]
    );
    h.finish().await;
}

async fn cancel_stops_the_running_process(b: Backend) {
    let h = harness(b).await;
    let pid_file = h.path("pid");
    let t = Template::new("Long").node(node(
        "Sleep",
        json!({"command": format!("echo $$ > {pid_file}; exec sleep 1000")}),
    ));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let pid: i32 = loop {
        if let Ok(s) = std::fs::read_to_string(&pid_file) {
            if let Ok(p) = s.trim().parse() {
                break p;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(alive(pid));
    h.engine
        .operate_dag(dag.id, Operator::Cancel)
        .await
        .unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    assert_eq!(d.operator, "CANCEL");
    let node = &d.nodes.unwrap()[0];
    assert_eq!(node.operator, "CANCEL");
    let sub = &node.sub_tasks.as_ref().unwrap()[0];
    assert!(sub
        .task_logs
        .as_ref()
        .unwrap()
        .contains(&"sub task cancelled".to_string()));
    wait_gone(pid, "the cancel").await;
    // a cancelled DAG can be passed like any failed DAG
    h.engine.operate_dag(dag.id, Operator::Pass).await.unwrap();
    let d = h.wait(dag.id, &["SUCCEED"]).await;
    assert_eq!(d.operator, "PASS");
    h.finish().await;
}

/// Waits up to 5 s for `pid` to die, failing with "survived <cause>".
async fn wait_gone(pid: i32, cause: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep {pid} survived {cause}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn alive(pid: i32) -> bool {
    // a zombie is dead for our purpose
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.split_whitespace().nth(2).is_none_or(|st| st != "Z"),
        Err(_) => false,
    }
}

/// A cancel issued while the scheduler is starting the DAG's first stage wins: the operator
/// tries again on fresh rows instead of answering "changed concurrently" (CI saw this on MySQL).
async fn cancel_right_after_creation_wins(b: Backend) {
    let h = harness(b).await;
    let t = Template::new("Fresh")
        .node(node("Hold", json!({"sleep_ms": 60_000})))
        .node(node("Next", json!({})));
    for _ in 0..10 {
        let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
        h.engine
            .operate_dag(dag.id, Operator::Cancel)
            .await
            .unwrap_or_else(|e| panic!("cancel of fresh DAG {}: {e}", dag.id));
        let d = h.wait(dag.id, &["FAILED"]).await;
        assert_eq!(d.operator, "CANCEL");
        // a second cancel is refused with a clear error and changes nothing
        let err = h
            .engine
            .operate_dag(dag.id, Operator::Cancel)
            .await
            .unwrap_err();
        assert_eq!(
            err.err_code(),
            "Task.Dag.Operator.CancelFinishedDag",
            "{err}"
        );
    }
    h.finish().await;
}

async fn timeout_fails_and_kills_the_attempt(b: Backend) {
    let h = harness(b).await;
    let pid_file = h.path("pid");
    let t = Template::new("Slow").node(node(
        "Sleep",
        json!({"timeout": 1, "command": format!("echo $$ > {pid_file}; exec sleep 1000")}),
    ));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    let sub = &d.nodes.unwrap()[0].sub_tasks.clone().unwrap()[0];
    let last = sub.task_logs.as_ref().unwrap().last().unwrap().clone();
    assert!(last.contains("timeout"), "{last}");
    // on a stalled machine the timeout may fire before the shell wrote its pid: then nothing
    // was left running to check
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    {
        wait_gone(pid, "the timeout").await;
    }
    h.finish().await;
}

async fn pass_dag_and_pass_node(b: Backend) {
    let h = harness(b).await;
    let rec = h.path("rec");
    let t = Template::new("Passable")
        .node(node("A", json!({"fail_unless": h.path("never")})))
        .node(node("B", json!({"record": rec})));
    // pass the DAG: every node from the failed one on becomes SUCCEED/PASS, nothing runs
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    h.wait(dag.id, &["FAILED"]).await;
    h.engine.operate_dag(dag.id, Operator::Pass).await.unwrap();
    let d = h.engine.dag_detail(dag.id, true).await.unwrap();
    assert_eq!((d.state.as_str(), d.operator.as_str()), ("SUCCEED", "PASS"));
    for n in d.nodes.unwrap() {
        assert_eq!((n.state.as_str(), n.operator.as_str()), ("SUCCEED", "PASS"));
        for s in n.sub_tasks.unwrap() {
            assert_eq!(s.state, "SUCCEED");
        }
    }
    assert_eq!(h.read("rec"), "");
    // pass one node: the DAG continues with the next stage
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    let failed_node = d.nodes.unwrap()[0].node_id;
    h.engine.pass_node(failed_node).await.unwrap();
    let d = h.wait(dag.id, &["SUCCEED"]).await;
    assert_eq!(d.operator, "RUN");
    assert_eq!(d.nodes.unwrap()[0].operator, "PASS");
    assert_eq!(h.read("rec").lines().count(), 1);
    h.finish().await;
}

async fn operator_preconditions_and_error_codes(b: Backend) {
    let h = harness(b).await;
    let e = &h.engine;
    let ok = Template::new("Fine").node(node("A", json!({})));
    let done = e.create_dag(&ok, TaskContext::new()).await.unwrap();
    h.wait(done.id, &["SUCCEED"]).await;
    assert_eq!(
        code(e.operate_dag(done.id, Operator::Retry).await),
        "Task.Dag.Operator.RetryNotFailedDag"
    );
    assert_eq!(
        code(e.operate_dag(done.id, Operator::Rollback).await),
        "Task.Dag.Operator.RollbackNotFailedDag"
    );
    assert_eq!(
        code(e.operate_dag(done.id, Operator::Cancel).await),
        "Task.Dag.Operator.CancelFinishedDag"
    );
    assert_eq!(
        code(e.operate_dag(done.id, Operator::Pass).await),
        "Task.Dag.Operator.PassNotFailedDag"
    );
    assert_eq!(
        code(e.operate_dag(done.id, Operator::Run).await),
        "Task.Dag.Operator.NotSupport"
    );
    assert_eq!(
        code(e.operate_dag(999_999, Operator::Retry).await),
        "Task.NotFound"
    );
    let done_node = e.dag_detail(done.id, true).await.unwrap().nodes.unwrap()[0].node_id;
    assert_eq!(
        code(e.pass_node(done_node).await),
        "Task.Node.Operator.PassNotFailedDag"
    );
    assert_eq!(code(e.pass_node(999_999).await), "Task.NotFound");
    assert_eq!(code(e.dag_detail(999_999, true).await), "Task.NotFound");

    // a failed DAG whose nodes declare no capability
    let locked = Template::new("Stubborn")
        .node(node("Done", json!({})).with_caps(Capabilities::NONE))
        .node(node("Fails", json!({"fail_unless": h.path("never")})).with_caps(Capabilities::NONE))
        .node(node("Later", json!({})));
    let f = e.create_dag(&locked, TaskContext::new()).await.unwrap();
    let d = h.wait(f.id, &["FAILED"]).await;
    let nodes = d.nodes.unwrap();
    let r = e.operate_dag(f.id, Operator::Retry).await;
    assert_eq!(code(r), "Task.Dag.Operator.RetryNotAllowed");
    let r = e.operate_dag(f.id, Operator::Rollback).await;
    assert_eq!(
        r.as_ref().unwrap_err().to_string(),
        "Failed to set DAG rollback: node Done cannot rollback"
    );
    assert_eq!(code(r), "Task.Dag.Operator.RollbackNotAllowed");
    assert_eq!(
        code(e.operate_dag(f.id, Operator::Pass).await),
        "Task.Dag.Operator.PassNotAllowed"
    );
    assert_eq!(
        code(e.pass_node(nodes[1].node_id).await),
        "Task.Node.Operator.PassNotAllowed"
    );
    assert_eq!(
        code(e.pass_node(nodes[0].node_id).await),
        "Task.Node.Operator.PassNotFailedNode"
    );
    // nothing changed
    let again = e.dag_detail(f.id, true).await.unwrap();
    assert_eq!((again.state.as_str(), again.stage), ("FAILED", 2));

    // cancel needs can_cancel on every node up to the current one
    let uncancellable = Template::new("Uncancellable").node(
        node("Wait", json!({"sleep_ms": 60_000})).with_caps(Capabilities {
            can_cancel: false,
            ..Capabilities::ALL
        }),
    );
    let u = e
        .create_dag(&uncancellable, TaskContext::new())
        .await
        .unwrap();
    h.wait(u.id, &["RUNNING"]).await;
    assert_eq!(
        code(e.operate_dag(u.id, Operator::Cancel).await),
        "Task.Dag.Operator.CancelNotAllowed"
    );
    // pass node with a later node lacking can_pass is still fine (only the DAG pass checks those)
    h.finish().await;
}

async fn maintenance_lock_rules(b: Backend) {
    let h = harness(b).await;
    let e = &h.engine;
    let maint = Template::new("Start seekdb")
        .node(node("Start", json!({"fail_unless": h.path("ok")})))
        .global_maintenance();
    let first = e.create_dag(&maint, TaskContext::new()).await.unwrap();
    h.wait(first.id, &["FAILED"]).await;
    // a failed maintenance DAG stays unfinished and keeps the lock
    assert_eq!(
        e.store().unfinished_dag_ids().await.unwrap(),
        vec![first.id]
    );
    assert!(!e.store().is_lock_free().await.unwrap());
    let err = e
        .create_dag(
            &Template::new("Stop seekdb")
                .node(node("Stop", json!({})))
                .global_maintenance(),
            TaskContext::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.err_code(), "Task.CreateFailed");
    assert_eq!(err.root().err_code(), "Agent.UnderMaintenanceDag");
    assert!(
        err.to_string()
            .contains("is under maintenance by DAG: Start seekdb"),
        "{err}"
    );
    // unmaintained DAGs still run
    let free = e
        .create_dag(
            &Template::new("Read only").node(node("Look", json!({}))),
            TaskContext::new(),
        )
        .await
        .unwrap();
    h.wait(free.id, &["SUCCEED"]).await;
    // retry does not re-take a lock it still holds; success releases it
    h.touch("ok");
    e.operate_dag(first.id, Operator::Retry).await.unwrap();
    h.wait(first.id, &["SUCCEED"]).await;
    assert!(e.store().is_lock_free().await.unwrap());

    // failure_exit_maintenance: a failure there releases the lock; retry re-takes it
    let mut fem = TaskContext::new();
    fem.set_param("failure_exit_maintenance", true);
    let t = Template::new("Restart seekdb")
        .node(
            node("Restart", json!({"fail_unless": h.path("ok2")})).with_context({
                let mut c = fem.clone();
                c.set_param("script", json!({"fail_unless": h.path("ok2")}));
                c
            }),
        )
        .global_maintenance();
    let d = e.create_dag(&t, TaskContext::new()).await.unwrap();
    h.wait(d.id, &["FAILED"]).await;
    assert!(e.store().is_lock_free().await.unwrap());
    assert!(e
        .store()
        .unfinished_dag_ids()
        .await
        .unwrap()
        .contains(&d.id));
    // somebody else takes the lock meanwhile: retry is refused and changes nothing
    let holder = e
        .create_dag(
            &Template::new("Holder")
                .node(node("Hold", json!({"sleep_ms": 60_000})))
                .global_maintenance(),
            TaskContext::new(),
        )
        .await
        .unwrap();
    let err = e.operate_dag(d.id, Operator::Retry).await.unwrap_err();
    assert_eq!(err.err_code(), "Agent.UnderMaintenanceDag");
    // a request that would start maintenance work is refused the same way, naming the holder
    let err = e.require_lock_free("Stop seekdb").await.unwrap_err();
    assert_eq!(err.err_code(), "Task.CreateFailed");
    assert_eq!(err.root().err_code(), "Agent.UnderMaintenanceDag");
    assert!(err.to_string().contains("by DAG: Holder"), "{err}");
    assert_eq!(e.dag_detail(d.id, false).await.unwrap().state, "FAILED");
    e.operate_dag(holder.id, Operator::Cancel).await.unwrap();
    h.wait(holder.id, &["FAILED"]).await;
    // the cancelled holder has no failure_exit_maintenance: passing it releases the lock
    e.operate_dag(holder.id, Operator::Pass).await.unwrap();
    assert!(e.store().is_lock_free().await.unwrap());
    e.require_lock_free("Stop seekdb").await.unwrap();
    h.touch("ok2");
    e.operate_dag(d.id, Operator::Retry).await.unwrap();
    h.wait(d.id, &["SUCCEED"]).await;
    assert!(e.store().is_lock_free().await.unwrap());
    h.finish().await;
}

async fn racing_operators_leave_one_effect(b: Backend) {
    let h = harness(b).await;
    let t = Template::new("Race").node(node("A", json!({"fail_unless": h.path("never")})));
    for _ in 0..5 {
        let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
        h.wait(dag.id, &["FAILED"]).await;
        let (e1, e2) = (h.engine.clone(), h.engine.clone());
        let (a, b2) = tokio::join!(
            tokio::spawn(async move { e1.operate_dag(dag.id, Operator::Pass).await }),
            tokio::spawn(async move { e2.operate_dag(dag.id, Operator::Rollback).await }),
        );
        let (a, b2) = (a.unwrap(), b2.unwrap());
        assert!(
            a.is_ok() ^ b2.is_ok(),
            "exactly one operator wins: {a:?} {b2:?}"
        );
        let loser = a.err().or(b2.err()).unwrap();
        assert!(
            matches!(
                loser.err_code(),
                "Gorm.NoRowAffected"
                    | "Task.Dag.Operator.PassNotFailedDag"
                    | "Task.Dag.Operator.RollbackNotFailedDag"
            ),
            "{loser}"
        );
        let d = h.wait(dag.id, &["SUCCEED"]).await;
        assert!(d.operator == "PASS" || d.operator == "ROLLBACK");
    }
    h.finish().await;
}

async fn template_and_creation_errors(b: Backend) {
    let h = harness(b).await;
    let e = &h.engine;
    let err = e
        .create_dag(&Template::new("Empty"), TaskContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.err_code(), "Task.CreateFailed");
    assert_eq!(err.root().err_code(), "Task.Template.Empty");
    let err = e
        .create_dag(
            &Template::new("No agents").node(node("P", json!({})).parallel()),
            TaskContext::new(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("parallel node P has no execute agents"),
        "{err}"
    );
    // templates merge: nodes append, maintenance merges to global
    let t = Template::new("Merged").node(node("A", json!({}))).append(
        Template::new("Sub")
            .node(node("B", json!({})))
            .global_maintenance(),
    );
    let d = e.create_dag(&t, TaskContext::new()).await.unwrap();
    assert_eq!(d.max_stage, 2);
    assert!(d.is_maintenance());
    h.wait(d.id, &["SUCCEED"]).await;
    h.finish().await;
}

async fn generic_ids_and_details(b: Backend) {
    let h = harness(b).await;
    let e = &h.engine;
    let extra = json!({"additional": {"main_dag_id": "42", "list": [1]}});
    let d = e
        .create_dag(
            &Template::new("Ids")
                .node(node("A", extra.clone()))
                .node(node("B", extra)),
            TaskContext::new(),
        )
        .await
        .unwrap();
    let full = h.wait(d.id, &["SUCCEED"]).await;
    let back = e.resolve_id(&full.id, task::dto::IdTarget::Dag).unwrap();
    assert_eq!(back, d.id);
    // additional data: merged into the DAG with details, hidden on the nodes
    assert_eq!(
        full.additional_data.as_ref().unwrap()["main_dag_id"],
        json!("42")
    );
    assert_eq!(
        full.additional_data.as_ref().unwrap()["list"],
        json!([1, 1])
    );
    assert!(full
        .nodes
        .as_ref()
        .unwrap()
        .iter()
        .all(|n| n.additional_data.is_none()));
    let plain = e.dag_detail(d.id, false).await.unwrap();
    assert!(plain.nodes.is_none() && plain.additional_data.is_none());
    let node = e
        .node_detail(full.nodes.unwrap()[0].node_id, false)
        .await
        .unwrap();
    assert!(node.sub_tasks.is_none());
    assert_eq!(node.additional_data, None);
    let other = task::generic_id::encode(
        task::generic_id::IdKind::Local,
        d.id,
        Some(&AgentInfo::new("10.9.9.9", 1)),
    )
    .unwrap();
    let want = match b {
        Backend::Sqlite => "Task.NotFound",
        Backend::Mysql => "Task.NotFound",
    };
    assert_eq!(code(e.resolve_id(&other, task::dto::IdTarget::Dag)), want);
    assert_eq!(
        code(e.resolve_id("2x", task::dto::IdTarget::Dag)),
        "Task.GenericID.Invalid"
    );
    h.finish().await;
}

async fn retention_purges_only_old_finished_dags(b: Backend) {
    let h = harness(b).await;
    let e = &h.engine;
    let done = e
        .create_dag(
            &Template::new("Old").node(node("A", json!({"log": "x"}))),
            TaskContext::new(),
        )
        .await
        .unwrap();
    h.wait(done.id, &["SUCCEED"]).await;
    let stuck = e
        .create_dag(
            &Template::new("Stuck")
                .node(node("A", json!({"fail_unless": h.path("never")})))
                .global_maintenance(),
            TaskContext::new(),
        )
        .await
        .unwrap();
    h.wait(stuck.id, &["FAILED"]).await;
    let future = chrono::Utc::now() + chrono::Duration::seconds(5);
    assert_eq!(e.store().purge_finished(future, 100).await.unwrap(), 1);
    assert_eq!(code(e.dag_detail(done.id, true).await), "Task.NotFound");
    assert_eq!(e.dag_detail(stuck.id, true).await.unwrap().state, "FAILED");
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    assert_eq!(e.store().purge_finished(past, 100).await.unwrap(), 0);
    h.finish().await;
}

both_stores!(
    linear_dag_runs_in_order_and_context_flows,
    parallel_node_runs_one_subtask_per_agent,
    failure_fails_node_and_dag_with_the_reason_logged,
    retry_rolls_back_then_reruns_only_failed_subtasks,
    rollback_walks_executed_nodes_in_reverse,
    failed_rollback_can_be_rolled_back_again,
    cancel_stops_the_running_process,
    cancel_right_after_creation_wins,
    timeout_fails_and_kills_the_attempt,
    pass_dag_and_pass_node,
    operator_preconditions_and_error_codes,
    maintenance_lock_rules,
    racing_operators_leave_one_effect,
    template_and_creation_errors,
    generic_ids_and_details,
    retention_purges_only_old_finished_dags,
);

/// A sub-task that cannot be moved to RUNNING (the store refuses, injected with a SQLite
/// trigger) is retried with backoff a bounded number of times, then failed with a log line
/// saying why; upstream re-queues it forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_failures_are_bounded_and_explained() {
    let config = task::EngineConfig {
        start_attempts: 3,
        ..common::config()
    };
    let h = common::harness_with(Backend::Sqlite, config).await;
    let pool_url = h.path(".meta");
    {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let mut c = sqlx::any::AnyConnectOptions::from_str(&format!("sqlite://{pool_url}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::Executor::execute(
            &mut c,
            "CREATE TRIGGER refuse_start BEFORE UPDATE ON subtask_instance
             WHEN NEW.state = 3 AND OLD.name = 'Unstartable'
             BEGIN SELECT RAISE(ABORT, 'injected start failure'); END",
        )
        .await
        .unwrap();
    }
    let t =
        Template::new("Cannot start").node(node("Unstartable", json!({"record": h.path("rec")})));
    let dag = h.engine.create_dag(&t, TaskContext::new()).await.unwrap();
    let d = h.wait(dag.id, &["FAILED"]).await;
    let logs = d.nodes.unwrap()[0].sub_tasks.clone().unwrap()[0]
        .task_logs
        .clone()
        .unwrap();
    let last = logs.last().unwrap();
    assert!(
        last.starts_with("failed to start sub task after 3 attempts")
            && last.contains("injected start failure"),
        "{last}"
    );
    assert_eq!(h.read("rec"), "", "the task never executed");
    h.finish().await;
}
