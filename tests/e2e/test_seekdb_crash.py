"""Crash recovery of the seekdb lifecycle DAGs (task-engine §6.8) with a REAL seekdb managed by the
REAL `obshell` binary ($OBSHELL_BIN): the agent SERVER is killed with SIGKILL while a lifecycle
DAG runs, the guarding daemon brings a new server back, and whatever the DAG ends in (SUCCEED after
a continue, or FAILED with "task unexpectedly interrupted and cannot continue") must match
seekdb's real state. A FAILED DAG must be brought to a consistent end by `obshell task retry`
(restart) or `obshell task rollback` (deploy: removes what it created).

1. deploy: kill -9 while "Wait for seekdb to accept SQL" runs (own agent home and instance,
   torn down before the restart tests deploy theirs, so two new seekdb never run at once).
2. restart: kill -9 while "Stop seekdb" runs, and while "Start seekdb" runs.

Which path each case took (continued / failed+retried / failed+rolled back) and its timings are
printed as JSON and written to target/seekdb-crash-e2e.json. Cleanup is the one of test_seekdb.py:
`seekdb stop`, `agent stop`, then a SIGKILL by pid of anything still naming this module's
directories (reported as a leak). Other seekdb instances on the host are never touched.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pymysql
import pytest
import requests

import ocs
from conftest import IP, ROOT
from test_seekdb import (DEPLOY_NODES, RESTART_NODES, ROOT_PW, TASK_ID, Seekdb, cmdline,
                         logs_of, obshell, out, pid_alive, wait_for)

REPORT_FILE = ROOT / "target" / "seekdb-crash-e2e.json"
NOT_CONTINUABLE = "task unexpectedly interrupted and cannot continue"
REPORT = {}


# ---- helpers ------------------------------------------------------------------------------------

def server_pid(s: Seekdb):
    try:
        return int((s.home / "run" / "obshell.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def daemon_pid(s: Seekdb):
    try:
        return int((s.home / "run" / "daemon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def try_dag(s: Seekdb, gid: str):
    """The DAG over the unix socket, or None while no server answers."""
    try:
        code, env = ocs.unix_request(s.sock, "GET", f"/api/v1/task/dag/{gid}?show_details=true")
    except (OSError, ValueError):
        return None
    return env["data"] if code == 200 else None


def try_status(s: Seekdb):
    try:
        code, env = ocs.unix_request(s.sock, "GET", "/api/v1/status")
    except (OSError, ValueError):
        return None
    return env["data"] if code == 200 else None


def node_states(dag: dict) -> dict:
    return {n["name"]: n["state"] for n in dag["nodes"]}


def running_node(s: Seekdb, gid: str, node: str, timeout: float):
    """Polls (tight) until `node` of the DAG is RUNNING; returns the DAG then."""
    def at():
        d = try_dag(s, gid)
        if d and d["state"] in ("SUCCEED", "FAILED"):
            raise AssertionError(f"DAG {gid} finished before {node!r} was seen running: "
                                 f"{node_states(d)}\n{logs_of(d)}")
        return d if d and node_states(d).get(node) == "RUNNING" else None
    return wait_for(f"{node!r} RUNNING in DAG {gid}", at, timeout=timeout, interval=0.02)


def kill_server(s: Seekdb) -> dict:
    """SIGKILL of the agent server; waits for the daemon's new server to answer. Returns facts."""
    daemon, old = daemon_pid(s), server_pid(s)
    assert daemon and pid_alive(daemon), daemon
    assert old and pid_alive(old) and old != daemon, (old, daemon)
    assert str(s.home) in cmdline(old), cmdline(old)
    os.kill(old, signal.SIGKILL)
    killed = time.time()

    def back():
        pid, st = server_pid(s), try_status(s)
        return pid if pid not in (None, old) and st and st.get("pid") == pid else None

    new = wait_for("the daemon to start a new server", back, timeout=30, interval=0.05)
    assert not pid_alive(old)
    assert daemon_pid(s) == daemon and pid_alive(daemon)
    return {"old_server": old, "new_server": new, "killed_at": killed,
            "server_back_secs": round(time.time() - killed, 3)}


def finished(s: Seekdb, gid: str, timeout=300) -> dict:
    return wait_for(f"DAG {gid} to finish",
                    lambda: (lambda d: d if d and d["state"] in ("SUCCEED", "FAILED") else None)(
                        try_dag(s, gid)), timeout=timeout, interval=0.3)


def failed_subtasks(dag: dict):
    return [(n["name"], t) for n in dag["nodes"] for t in n["sub_tasks"] or []
            if t["state"] == "FAILED"]


def assert_seekdb_available(s: Seekdb, why: str):
    pid = s.seekdb_pid()
    assert pid and pid_alive(pid) and str(s.dir) in cmdline(pid), (why, pid)
    assert s.ob_state() == 3, (why, s.status())
    assert s.query("SELECT 1") == ((1,),), why
    return pid


def seekdb_processes(s: Seekdb):
    """Live processes whose command line names the instance directory (seekdb itself)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            cl = cmdline(int(p.name))
            if str(s.dir) in cl and "obshell" not in cl and pid_alive(int(p.name)):
                found.append(int(p.name))
    return found


def start_agent(s: Seekdb):
    r = s.cli("agent", "start", "--ip", IP, "--port", s.agent_port, timeout=60)
    assert r.returncode == 0, out(r)
    assert daemon_pid(s) and server_pid(s), list((s.home / "run").iterdir())


def finish_report(s: Seekdb, name: str):
    leaked = s.cleanup()
    REPORT.setdefault(name, {})["leaked"] = leaked
    print(f"\n[crash e2e] {name}: " + json.dumps(REPORT[name], default=str))
    try:
        REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
        REPORT_FILE.write_text(json.dumps(REPORT, indent=2, default=str) + "\n")
    except OSError:
        pass
    return leaked


# ---- 1. deploy: kill -9 of the agent while it waits for the new seekdb ---------------------------
# (first in the file: its instance is gone before the module fixture below deploys the next one)

@pytest.fixture
def fresh(tmp_path_factory):
    s = Seekdb(tmp_path_factory.mktemp("crashdeployagent"),
               tmp_path_factory.mktemp("crashdeploy") / "inst")
    s.cli_proc = None
    try:
        yield s
    finally:
        if s.cli_proc is not None and s.cli_proc.poll() is None:
            s.cli_proc.kill()
            s.cli_proc.wait(10)
        leaked = finish_report(s, "deploy")
        assert not leaked, f"processes left running after seekdb stop / agent stop: {leaked}"


def test_kill_9_of_the_agent_while_deploy_waits_for_seekdb(fresh):
    s = fresh
    start_agent(s)
    rec = REPORT.setdefault("deploy", {})
    log = s.home / "deploy-cli.out"
    with open(log, "w") as f:
        env = {k: v for k, v in os.environ.items()
               if k not in ("OBSHELL_BASE_DIR", "OBSHELL_PASSWORD", "OBSHELL_SEEKDB_ROOT_PASSWORD")}
        s.cli_proc = subprocess.Popen(
            [os.environ.get("OBSHELL_BIN", str(ROOT / "target/debug/obshell")), "seekdb", "deploy",
             "--base-dir", str(s.home), "--seekdb-dir", str(s.dir), "--port", str(s.sql_port),
             "--rpc-port", str(s.rpc_port), "--root-password", ROOT_PW],
            stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, env=env)
    t0 = time.time()
    gid = wait_for("the deploy's task id", lambda: (m := TASK_ID.search(log.read_text()))
                   and m.group(1), timeout=60, interval=0.05)
    wait_node = DEPLOY_NODES[2]
    running_node(s, gid, wait_node, timeout=120)
    rec["wait_node_running_after_secs"] = round(time.time() - t0, 3)
    seekdb_before = s.seekdb_pid() or (seekdb_processes(s) or [None])[0]
    rec["seekdb_pid_at_kill"] = seekdb_before
    rec.update(kill_server(s))

    dag = finished(s, gid)
    rec["dag_state"] = dag["state"]
    rec["finished_after_kill_secs"] = round(time.time() - rec["killed_at"], 3)
    try:
        s.cli_proc.wait(60)
    except subprocess.TimeoutExpired:
        s.cli_proc.kill()
    rec["cli_rc"] = s.cli_proc.returncode
    rec["cli_out_tail"] = log.read_text()[-600:]

    if dag["state"] == "SUCCEED":
        rec["path"] = "continued"
        assert [n["name"] for n in dag["nodes"]] == DEPLOY_NODES
        assert all(st == "SUCCEED" for st in node_states(dag).values()), dag
        # the one seekdb the deploy launched, not a second one
        pid = assert_seekdb_available(s, "deploy SUCCEED after the agent's crash")
        assert seekdb_processes(s) == [pid], (seekdb_processes(s), pid)
        if seekdb_before:
            assert pid == seekdb_before, (pid, seekdb_before)
        info = requests.get(f"http://{IP}:{s.agent_port}/api/v1/info", timeout=10).json()["data"]
        assert info["identity"] == "CLUSTER AGENT", info
        with pytest.raises(pymysql.err.OperationalError):
            s.connect(password="not-the-password").close()
        return

    # FAILED: the failed sub-task says why, and rollback removes what the deploy created
    rec["path"] = "failed+rollback"
    rec["at_failure"] = {"obState": try_status(s)["obState"], "seekdb_processes": seekdb_processes(s)}
    failed = failed_subtasks(dag)
    assert failed, dag
    rec["failed"] = [(n, t.get("task_logs", [])[-3:]) for n, t in failed]
    text = logs_of(dag)
    assert NOT_CONTINUABLE in text or "interrupt" in text.lower(), text
    r = s.cli("task", "rollback", "-i", gid, "-y", timeout=300)
    assert r.returncode == 0, out(r)
    dag = wait_for("the rollback to end", lambda: (lambda d: d if d and d["state"] in (
        "SUCCEED", "FAILED") and d["operator"] == "ROLLBACK" else None)(try_dag(s, gid)),
        timeout=300, interval=0.3)
    assert dag["state"] == "SUCCEED", logs_of(dag)
    wait_for("no seekdb of the rolled-back deploy", lambda: not seekdb_processes(s), timeout=30)
    assert not s.dir.exists() or not any(s.dir.iterdir()), list(s.dir.iterdir())
    assert try_status(s)["obState"] == 0


# ---- 2. restart: kill -9 of the agent while Stop seekdb / Start seekdb runs -----------------------

@pytest.fixture(scope="module")
def sdb(tmp_path_factory):
    s = Seekdb(tmp_path_factory.mktemp("crashagent"), tmp_path_factory.mktemp("crash") / "inst")
    try:
        start_agent(s)
        r = s.cli("seekdb", "deploy", "--seekdb-dir", s.dir, "--port", s.sql_port,
                  "--rpc-port", s.rpc_port, "--root-password", ROOT_PW, timeout=400)
        assert r.returncode == 0, out(r)
        assert_seekdb_available(s, "deployed")
        yield s
    finally:
        leaked = finish_report(s, "restart-module")
        assert not leaked, f"processes left running after seekdb stop / agent stop: {leaked}"


@pytest.mark.parametrize("node", RESTART_NODES)
def test_kill_9_of_the_agent_mid_restart(sdb, node):
    s = sdb
    rec = REPORT.setdefault(f"restart-kill-in-{node}", {})
    before = assert_seekdb_available(s, "before the restart")
    t0 = time.time()
    code, env = s.api("POST", "/api/v1/seekdb/restart", {})
    assert code == 200, env
    gid = env["data"]["id"]
    d = running_node(s, gid, node, timeout=120)
    rec["node_running_after_secs"] = round(time.time() - t0, 3)
    rec["node_logs_at_kill"] = [l for n in d["nodes"] if n["name"] == node
                                for t in n["sub_tasks"] or [] for l in t["task_logs"] or []]
    rec.update(kill_server(s))

    dag = finished(s, gid)
    rec["dag_state"] = dag["state"]
    rec["finished_after_kill_secs"] = round(time.time() - rec["killed_at"], 3)
    assert dag["name"] == "Restart seekdb"
    assert [n["name"] for n in dag["nodes"]] == RESTART_NODES, dag

    if dag["state"] == "SUCCEED":
        rec["path"] = "continued"
        assert all(st == "SUCCEED" for st in node_states(dag).values()), dag
        pid = assert_seekdb_available(s, f"restart SUCCEED after a crash in {node!r}")
        # a restart: the old process is gone, exactly one seekdb runs
        assert pid != before and not pid_alive(before), (pid, before)
        assert seekdb_processes(s) == [pid], (seekdb_processes(s), pid)
        # the re-run node knew it was a re-entry and left a trace of it
        rec["logs"] = logs_of(dag).splitlines()[-12:]
        return

    # FAILED: the log of the failed sub-task says why; seekdb is what the DAG says (not
    # restarted), and a retry brings it to SUCCEED with seekdb available
    rec["path"] = "failed+retry"
    time.sleep(2)
    rec["at_failure"] = {"obState": try_status(s)["obState"], "seekdb_processes": seekdb_processes(s)}
    failed = failed_subtasks(dag)
    assert failed, dag
    rec["failed"] = [(n, t.get("task_logs", [])[-3:]) for n, t in failed]
    assert NOT_CONTINUABLE in logs_of(dag), logs_of(dag)
    t1 = time.time()
    r = s.cli("task", "retry", "-i", gid, "-y", timeout=300)
    assert r.returncode == 0, out(r)
    dag = s.wait_dag(gid, timeout=300)
    rec["retry_secs"] = round(time.time() - t1, 3)
    assert dag["state"] == "SUCCEED", logs_of(dag)
    pid = assert_seekdb_available(s, "after the retry")
    assert seekdb_processes(s) == [pid], (seekdb_processes(s), pid)
