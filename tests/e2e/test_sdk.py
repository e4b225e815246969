"""The real Python SDK obshell==0.0.9 against a SINGLE agent without an agent password:
construct, authenticate, list, get, operate and wait, and the error mapping the SDK relies on.
DAGs are ScriptedTask chains written by obshell-task-demo (scenarios ok, fail, slow,
maintenance-fail) and run by the agent's engine."""

import time

import pytest
import requests
from obshell import OBShellHandleError, TaskExecuteFailedError

DAG_KEYS = ["id", "dag_id", "name", "stage", "max_stage", "maintenance_type", "maintenance_key",
            "state", "operator", "start_time", "end_time", "additional_data", "nodes"]
NODE_KEYS = ["id", "node_id", "name", "state", "operator", "start_time", "end_time",
             "additional_data", "sub_tasks"]
TASK_KEYS = ["id", "task_id", "name", "state", "operator", "start_time", "end_time",
             "additional_data", "execute_times", "execute_agent", "task_logs"]


def handle_error(fn, *args, **kwargs) -> OBShellHandleError:
    with pytest.raises(OBShellHandleError) as e:
        fn(*args, **kwargs)
    return e.value


def test_info_and_status(agent):
    c = agent.sdk()
    info = c.v1.get_info()
    assert info.identity == "SINGLE"
    assert info.ip == "127.0.0.1" and info.port == agent.port
    assert info.home_path == str(agent.home.resolve())
    assert info.state == 2 and info.pid == agent.proc.pid
    status = c.v1.get_status()
    assert status.state == 2
    assert (status.agent.ip, status.agent.port, status.agent.identity) == (
        "127.0.0.1", agent.port, "SINGLE")
    raw = requests.get(agent.base_url + "/api/v1/info", timeout=10).json()["data"]
    assert raw["supportedAuth"] == ["v2"] and raw["security"] is False
    assert raw["isObproxyAgent"] is False and raw["version"] >= "4.2.4.0"


def test_unfinished_dags_and_every_detail_route(agent):
    gid, _ = agent.create_dag("slow")
    agent.wait_running(gid)
    c = agent.sdk()

    dags = {d.generic_id: d for d in c.v1.get_unfinished_dags()}
    assert dags[gid].state == "RUNNING" and dags[gid].name == "Demo slow"
    assert [n.name for n in dags[gid].nodes] == ["Wait a minute"]
    assert gid in [d.generic_id for d in c.v1.get_agent_unfinished_dag()]
    brief = {d.generic_id: d for d in c.v1.get_unfinished_dags(show_detail=False)}
    assert brief[gid].nodes == []

    dag = c.v1.get_dag(gid)
    assert (dag.dag_id, dag.stage, dag.max_stage) == (int(gid[16:]), 1, 1)
    node = c.v1.get_node(dag.nodes[0].generic_id)
    assert node.name == "Wait a minute" and node.state == "RUNNING"
    # Upstream panics on a node without details; here its sub-tasks are just absent.
    assert c.v1.get_node(dag.nodes[0].generic_id, show_detail=False).sub_tasks == []
    sub = c.v1.get_sub_task(node.sub_tasks[0].generic_id)
    assert sub.execute_agent == f"127.0.0.1:{agent.port}"
    assert sub.state == "RUNNING" and sub.execute_times == 1

    # The wire shape of the seed page, key by key and in order.
    status, env = agent.unix("GET", "/api/v1/task/dag/unfinish?show_details=true")
    assert status == 200
    d = next(x for x in env["data"]["contents"] if x["id"] == gid)
    assert list(d) == DAG_KEYS
    assert list(d["nodes"][0]) == NODE_KEYS
    assert list(d["nodes"][0]["sub_tasks"][0]) == TASK_KEYS

    assert c.v1.operate_dag(gid, "CANCEL") is True
    agent.wait_dag(gid, {"FAILED"})


def test_wait_dag_succeed_on_a_succeeding_dag(agent):
    gid, _ = agent.create_dag("ok")
    dag = agent.sdk().v1.wait_dag_succeed(gid)
    assert dag.is_succeed() and dag.is_run()
    assert [n.state for n in dag.nodes] == ["SUCCEED"] * 3
    assert dag.nodes[2].sub_tasks[0].task_logs[-1].endswith("step three done")
    assert gid not in [d.generic_id for d in agent.sdk().v1.get_unfinished_dags()]


def test_wait_dag_succeed_on_a_failing_dag_carries_the_last_log(agent):
    gid, files = agent.create_dag("fail")
    with pytest.raises(TaskExecuteFailedError) as e:
        agent.sdk().v1.wait_dag_succeed(gid)
    msg = e.value.message
    assert msg.startswith(f"127.0.0.1:{agent.port} ")
    assert f"precondition file {files / 'fixed'} missing" in msg
    assert e.value.dag.is_failed()


def test_retry_after_the_cause_is_fixed(agent):
    gid, files = agent.create_dag("fail")
    agent.wait_dag(gid, {"FAILED"})
    (files / "fixed").touch()
    c = agent.sdk()
    assert c.v1.operate_dag(gid, "retry") is True  # case-insensitive
    dag = c.v1.wait_dag_succeed(gid)
    assert dag.is_succeed() and dag.is_run()
    assert [n.state for n in dag.nodes] == ["SUCCEED"] * 3
    assert dag.nodes[1].sub_tasks[0].execute_times >= 2


def test_rollback(agent):
    gid, _ = agent.create_dag("fail")
    agent.wait_dag(gid, {"FAILED"})
    c = agent.sdk()
    assert c.v1.operate_dag(gid, "ROLLBACK") is True
    dag = c.v1.wait_dag_succeed(gid)
    assert dag.is_succeed() and dag.is_rollback()


def test_cancel_stops_a_running_dag(agent):
    gid, _ = agent.create_dag("slow")
    agent.wait_dag(gid, {"RUNNING"})
    c = agent.sdk()
    started = time.time()
    assert c.v1.operate_dag(gid, "CANCEL") is True
    with pytest.raises(TaskExecuteFailedError) as e:
        c.v1.wait_dag_succeed(gid)
    assert e.value.message == "Task Demo slow canceled."
    dag = c.v1.get_dag(gid)
    assert dag.is_failed() and dag.is_cancel()
    # The sub-task's `sleep 60` was really stopped, not waited for.
    assert time.time() - started < 30


def test_pass(agent):
    gid, _ = agent.create_dag("fail")
    agent.wait_dag(gid, {"FAILED"})
    c = agent.sdk()
    assert c.v1.operate_dag(gid, "PASS") is True
    dag = agent.wait_dag(gid, {"SUCCEED"})
    assert dag["operator"] == "PASS"
    assert [(n["name"], n["state"]) for n in dag["nodes"]][2] == ("Finish", "SUCCEED")


def test_operator_errors(agent):
    c = agent.sdk()
    done, _ = agent.create_dag("ok")
    agent.wait_dag(done, {"SUCCEED"})
    assert handle_error(c.v1.operate_dag, done, "RETRY").err_code == \
        "Task.Dag.Operator.RetryNotFailedDag"
    assert handle_error(c.v1.operate_dag, done, "CANCEL").err_code == \
        "Task.Dag.Operator.CancelFinishedDag"
    for op in ["NOPE", "RUN"]:
        e = handle_error(c.v1.operate_dag, done, op)
        assert e.err_code == "Task.Dag.Operator.NotSupport", e
        assert e.message == f"Operator {op} is not supported"
    assert agent.dag(done)["operator"] == "RUN"


def test_not_found_and_invalid_ids(agent):
    c = agent.sdk()
    missing = agent.generic_id(999999)
    for fn in (c.v1.get_dag, c.v1.get_node, c.v1.get_sub_task):
        assert handle_error(fn, missing).err_code == "Task.NotFound"
    # A cluster id, and a local id of another agent: not ours.
    for other in ["1999999999", f"2{2130706433:010d}{(agent.port + 1) % 65536:05d}1"]:
        e = handle_error(c.v1.get_dag, other)
        assert (e.err_code, e.message) == ("Task.NotFound", "Task not found: dag id not match")
    e = handle_error(c.v1.get_dag, "9123")
    assert (e.err_code, e.message) == ("Task.GenericID.Invalid", "Invalid ID: 9123")
    assert handle_error(c.v1.operate_dag, missing, "PASS").err_code == "Task.NotFound"


def test_cluster_routes_answer_an_error_on_a_single_agent(agent):
    e = handle_error(agent.sdk().v1.get_cluster_unfinished_dag)
    assert e.err_code == "Agent.Identify.NotSupportOperation"
    status, env = agent.unix("GET", "/api/v1/task/dags/ob")
    assert status == 400 and env["error"]["errCode"] == "Agent.Identify.NotSupportOperation"


def test_maintenance_dag_holds_the_agent_until_passed(make_agent):
    a = make_agent()
    c = a.sdk()
    e = handle_error(c.v1.get_agent_last_maintenance_dag)
    assert (e.err_code, e.message) == ("Task.NotFound",
                                       "Task not found: Agent is not under maintenance")
    gid, _ = a.create_dag("maintenance-fail")
    a.wait_dag(gid, {"FAILED"})
    # A failed maintenance DAG is unfinished and keeps the lock.
    assert gid in [d.generic_id for d in c.v1.get_unfinished_dags()]
    assert c.v1.get_agent_last_maintenance_dag().generic_id == gid
    assert [d.generic_id for d in c.v1.get_all_agent_last_maintenance_dag()] == [gid]
    status = requests.get(a.base_url + "/api/v1/status", timeout=10).json()
    assert status["data"]["underMaintenance"] is True and status["traceId"] == ""
    assert c.v1.operate_dag(gid, "PASS") is True
    a.wait_dag(gid, {"SUCCEED"})
    status = requests.get(a.base_url + "/api/v1/status", timeout=10).json()
    assert status["data"]["underMaintenance"] is False
    assert gid not in [d.generic_id for d in c.v1.get_unfinished_dags()]


def test_list_paging_and_filters(make_agent):
    a = make_agent()
    gids = [a.create_dag("ok")[0] for _ in range(3)]
    for g in gids:
        a.wait_dag(g, {"SUCCEED"})
    status, env = a.unix("GET", "/api/v1/task/dags/agent?show_details=false")
    assert status == 200 and [d["id"] for d in env["data"]["contents"]] == gids
    assert env["data"]["contents"][0]["nodes"] is None
    status, env = a.unix("GET", "/api/v1/task/dags/agent?limit=1&offset=1&state=succeed")
    assert status == 200 and [d["id"] for d in env["data"]["contents"]] == gids[1:2]
    status, env = a.unix("GET", "/api/v1/task/dags/agent?state=FAILED")
    assert status == 200 and env["data"]["contents"] == []
    status, env = a.unix("GET", "/api/v1/task/dags/agent?limit=-1")
    assert status == 400 and env["error"]["errCode"] == "Common.IllegalArgument"


def test_ipv6_agent(make_agent):
    a = make_agent(ip="::1")
    c = a.sdk()
    info = c.v1.get_info()
    assert (info.ip, info.port, info.identity) == ("::1", a.port, "SINGLE")
    gid, _ = a.create_dag("ok")
    assert gid.startswith("3") and len(gid) > 45
    dag = c.v1.wait_dag_succeed(gid)
    assert dag.is_succeed()
    assert dag.nodes[0].sub_tasks[0].execute_agent == f"::1:{a.port}"
