"""Issue 5's acceptance tests: a REAL seekdb (PyPI pylibseekdb, in the repo's .venv) deployed and
managed by the REAL `obshell` binary ($OBSHELL_BIN), checked through the real Python SDK
(obshell==0.0.9), the CLI, pymysql and the agent's unix socket.

ONE seekdb instance serves the whole module (module-scoped fixture `sdb`): deployed with
`obshell seekdb deploy` on free ports below 32768, then stopped, started, restarted, killed with
SIGKILL behind the agent's back, configured through the API and finally started with a broken
executable and retried. The finalizer always runs `obshell seekdb stop` and `obshell agent stop`
and then kills, by pid, whatever of this module's seekdb / agent is still alive (only processes
whose command line names this module's directories: other seekdb instances on the host are never
touched).

The wall time of every lifecycle DAG (from its start_time / end_time) is printed as JSON and
written to target/seekdb-lifecycle-e2e.json.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import pymysql
import pytest
import requests
from obshell import ClientSet
from obshell.auth.password import PasswordAuth

import ocs
from conftest import IP, OBSHELL_BIN, ROOT, free_port

TIMINGS_FILE = ROOT / "target" / "seekdb-lifecycle-e2e.json"
VENV_PY = os.environ.get("OBSHELL_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
ROOT_PW = "E2e_seekdb-Pw1"
# What crates/seekdb/src/tasks/names.rs promises (clients match on these names).
DEPLOY_NODES = ["Check dirs and ports", "Initialize and start seekdb",
                "Wait for seekdb to accept SQL", "Set root password", "Take over seekdb"]
START_NODES = ["Start seekdb"]
STOP_NODES = ["Stop seekdb"]
RESTART_NODES = ["Stop seekdb", "Start seekdb"]
TASK_ID = re.compile(r"^\[INFO\] task id: (\d+)", re.M)
# The seekdb instances of other people on this host: never touched.
FOREIGN_PORTS = {12881, 12882, 13881, 13882}


# ---- helpers ------------------------------------------------------------------------------------

def obshell(*args, timeout=300, env=None):
    base = {k: v for k, v in os.environ.items()
            if k not in ("OBSHELL_BASE_DIR", "OBSHELL_PASSWORD", "OBSHELL_INTERNAL_BASE_DIR",
                         "OBSHELL_SEEKDB_ROOT_PASSWORD")}
    base["OBSHELL_PYTHON"] = VENV_PY
    base.update(env or {})
    return subprocess.run([OBSHELL_BIN, *map(str, args)], env=base, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def out(r) -> str:
    return f"rc={r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


def free_pair() -> int:
    """Two consecutive free loopback/any ports below 32768 (seekdb SQL, RPC)."""
    for _ in range(500):
        p = random.randint(20000, 32000)
        if p in FOREIGN_PORTS or p + 1 in FOREIGN_PORTS:
            continue
        ok = True
        for q in (p, p + 1):
            with socket.socket() as s:
                try:
                    s.bind(("0.0.0.0", q))
                except OSError:
                    ok = False
        if ok:
            return p
    raise RuntimeError("no free port pair")


def parse_time(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def wait_for(what, fn, timeout=60, interval=0.2):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Seekdb:
    """The module's agent home and seekdb instance."""

    def __init__(self, home: Path, seekdb_dir: Path):
        self.home = home
        self.dir = seekdb_dir
        self.agent_port = free_port()
        self.sql_port = free_pair()
        self.rpc_port = self.sql_port + 1
        self.timings = {}
        self.deploy_result = None
        self.deploy_id = None

    # --- the agent ---
    @property
    def sock(self) -> str:
        return str(self.home / "run" / "obshell.sock")

    def cli(self, *args, **kw):
        return obshell(*args, "--base-dir", self.home, **kw)

    def status(self) -> dict:
        code, env = ocs.unix_request(self.sock, "GET", "/api/v1/status")
        assert code == 200, env
        return env["data"]

    def ob_state(self) -> int:
        return self.status()["obState"]

    def sdk(self, password=ROOT_PW) -> ClientSet:
        if password == ROOT_PW:
            if getattr(self, "_sdk", None) is None:
                self._sdk = ClientSet(IP, self.agent_port, auth=PasswordAuth(password))
            return self._sdk
        return ClientSet(IP, self.agent_port, auth=PasswordAuth(password))

    def api(self, method: str, uri: str, body=None, query=None):
        """One call through the SDK's own request path (encrypted header with the root password).
        Returns (status, envelope or None)."""
        v1 = self.sdk().v1
        resp = v1._execute(v1.create_request(uri, method, data=body, query_param=query))
        try:
            env = resp.json()
        except ValueError:
            env = None
        return resp.status_code, env

    def unix_dag(self, gid: str) -> dict:
        code, env = ocs.unix_request(self.sock, "GET", f"/api/v1/task/dag/{gid}?show_details=true")
        assert code == 200, env
        return env["data"]

    def wait_dag(self, gid: str, states=("SUCCEED", "FAILED"), timeout=240) -> dict:
        return wait_for(f"DAG {gid} in {states}",
                        lambda: (lambda d: d if d["state"] in states else None)(self.unix_dag(gid)),
                        timeout=timeout, interval=0.3)

    # --- seekdb ---
    def seekdb_pid(self):
        try:
            return int((self.dir / "run" / "seekdb.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def connect(self, user="root", password=ROOT_PW, database=None):
        return pymysql.connect(host=IP, port=self.sql_port, user=user, password=password,
                               database=database, connect_timeout=5, autocommit=True)

    def query(self, sql: str, args=None):
        with self.connect() as c, c.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def record(self, kind: str, dag) -> float:
        """Wall time of a DAG (SDK DagDetailDTO or dict) from its start/end times."""
        st = dag.start_time if hasattr(dag, "start_time") else dag["start_time"]
        et = dag.end_time if hasattr(dag, "end_time") else dag["end_time"]
        secs = round(parse_time(et) - parse_time(st), 3)
        assert secs >= 0, (st, et)
        self.timings.setdefault(kind, []).append(secs)
        return secs

    # --- cleanup ---
    def cleanup(self) -> list:
        """seekdb stop, agent stop, then kill leftovers of THIS module by pid. Returns what had to
        be killed (a leak)."""
        leaked = []
        if Path(self.sock).exists():
            # a lifecycle DAG a failed test left running holds the lock: let it finish first
            deadline = time.time() + 90
            while True:
                try:
                    r = self.cli("seekdb", "stop", timeout=120)
                except subprocess.TimeoutExpired:
                    break
                if "under maintenance" not in r.stderr or time.time() > deadline:
                    break
                time.sleep(1)
            try:
                self.cli("agent", "stop", timeout=120)
            except subprocess.TimeoutExpired:
                pass
        for d, marker in ((self.dir / "run", str(self.dir)), (self.home / "run", str(self.home))):
            for f in d.glob("*.pid") if d.is_dir() else []:
                try:
                    pid = int(f.read_text().strip())
                except (OSError, ValueError):
                    continue
                if pid_alive(pid) and marker in cmdline(pid):
                    leaked.append((f.name, pid, cmdline(pid)[:200]))
                    os.kill(pid, signal.SIGKILL)
        # anything else still naming our dirs (e.g. a seekdb whose pid file was replaced)
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == os.getpid():
                continue
            cl = cmdline(int(p.name))
            if (str(self.dir) in cl or str(self.home) in cl) and pid_alive(int(p.name)):
                leaked.append(("scan", int(p.name), cl[:200]))
                try:
                    os.kill(int(p.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return leaked


def lifecycle(s: Seekdb, cmd: str, nodes, kind=None, expect_rc=0):
    """Runs `obshell seekdb <cmd>`, checks its exit code, the printed task and, through the SDK,
    that the DAG SUCCEEDed with `nodes`. Returns (generic id, SDK dag)."""
    r = s.cli("seekdb", cmd)
    assert r.returncode == expect_rc, out(r)
    m = TASK_ID.search(r.stdout)
    assert m, out(r)
    gid = m.group(1)
    dag = s.sdk().v1.get_dag(gid)
    if expect_rc == 0:
        assert dag.state == "SUCCEED", (out(r), s.unix_dag(gid))
        assert [n.name for n in dag.nodes] == nodes
        assert all(n.state == "SUCCEED" for n in dag.nodes), s.unix_dag(gid)
        s.record(kind or cmd, dag)
    return gid, dag


def logs_of(dag: dict) -> str:
    return "\n".join(log for n in dag["nodes"] for t in n["sub_tasks"] or []
                     for log in t["task_logs"] or [])


# ---- the fixture ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sdb(tmp_path_factory):
    s = Seekdb(tmp_path_factory.mktemp("sdbagent"), tmp_path_factory.mktemp("sdb") / "inst")
    try:
        r = s.cli("agent", "start", "--ip", IP, "--port", s.agent_port, timeout=60)
        assert r.returncode == 0, out(r)
        t0 = time.time()
        s.deploy_result = s.cli("seekdb", "deploy", "--seekdb-dir", s.dir, "--port", s.sql_port,
                                "--rpc-port", s.rpc_port, "--root-password", ROOT_PW,
                                timeout=400)
        s.deploy_cli_secs = round(time.time() - t0, 3)
        m = TASK_ID.search(s.deploy_result.stdout)
        s.deploy_id = m.group(1) if m else None
        yield s
    finally:
        leaked = s.cleanup()
        report = {"sql_port": s.sql_port, "dag_wall_seconds": s.timings,
                  "deploy_cli_seconds": getattr(s, "deploy_cli_secs", None)}
        print("\nseekdb lifecycle DAG timings: " + json.dumps(report))
        try:
            TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
            TIMINGS_FILE.write_text(json.dumps(report, indent=2) + "\n")
        except OSError:
            pass
        assert not leaked, f"processes left running after seekdb stop / agent stop: {leaked}"


# ---- 1. deploy -----------------------------------------------------------------------------------

def test_deploy_prints_the_task_and_succeeds(sdb):
    r = sdb.deploy_result
    assert r.returncode == 0, out(r)
    assert "Task 'Deploy seekdb' has been created successfully." in r.stdout, out(r)
    assert sdb.deploy_id, out(r)
    gid = sdb.deploy_id

    # through the SDK (TCP, encrypted header: after deploy the agent wants the root password)
    dag = sdb.sdk().v1.get_dag(gid)
    assert dag.name == "Deploy seekdb"
    assert dag.state == "SUCCEED" and dag.is_succeed()
    assert [n.name for n in dag.nodes] == DEPLOY_NODES
    assert [n.state for n in dag.nodes] == ["SUCCEED"] * len(DEPLOY_NODES)
    sdb.record("deploy", dag)

    # through the CLI
    r = sdb.cli("task", "show", "-i", gid, "-d", "--format", "json")
    assert r.returncode == 0, out(r)
    shown = json.loads(r.stdout)
    assert shown["id"] == gid and shown["name"] == "Deploy seekdb"
    assert shown["state"] == "SUCCEED"
    assert [n["name"] for n in shown["nodes"]] == DEPLOY_NODES
    assert [n["state"] for n in shown["nodes"]] == ["SUCCEED"] * len(DEPLOY_NODES)

    # the agent now is the seekdb's cluster agent: TCP callers need the root password
    info = requests.get(f"http://{IP}:{sdb.agent_port}/api/v1/info", timeout=10).json()["data"]
    assert info["identity"] == "CLUSTER AGENT", info
    with pytest.raises(Exception):
        sdb.sdk(password="wrong-pw").v1.get_dag(gid)

    # seekdb show / show -d: the table with the ports
    r = sdb.cli("seekdb", "show")
    assert r.returncode == 0, out(r)
    assert str(sdb.sql_port) in r.stdout and "AVAILABLE" in r.stdout, out(r)
    r = sdb.cli("seekdb", "show", "-d")
    assert r.returncode == 0, out(r)
    for needle in (str(sdb.sql_port), "AVAILABLE", "MAINTENANCE", str(sdb.dir)):
        assert needle in r.stdout, (needle, out(r))

    # root logs in with that password, and only with it
    assert sdb.query("SELECT 1") == ((1,),)
    with pytest.raises(pymysql.err.OperationalError):
        sdb.connect(password="not-the-password").close()


# ---- 2. stop -> start -> restart ----------------------------------------------------------------

def test_stop_start_restart_through_the_cli(sdb):
    old_pid = sdb.seekdb_pid()
    assert old_pid and pid_alive(old_pid)

    lifecycle(sdb, "stop", STOP_NODES)
    assert sdb.ob_state() == 0
    assert not pid_alive(old_pid)
    with pytest.raises(pymysql.err.OperationalError):
        sdb.connect().close()
    # stopping a stopped seekdb: nothing to do, exit 0
    r = sdb.cli("seekdb", "stop")
    assert r.returncode == 0 and "nothing to stop" in r.stdout, out(r)

    lifecycle(sdb, "start", START_NODES)
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)
    started_pid = sdb.seekdb_pid()
    assert started_pid and started_pid != old_pid

    lifecycle(sdb, "restart", RESTART_NODES)
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)
    assert sdb.seekdb_pid() != started_pid and not pid_alive(started_pid)


# ---- 3. parameters, variables, databases, users through the API ----------------------------------

def show_parameter(sdb, name):
    with sdb.connect() as c, c.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW PARAMETERS LIKE %s", (name,))
        return {r["value"] for r in cur.fetchall()}


def show_variable(sdb, name):
    rows = sdb.query("SHOW GLOBAL VARIABLES LIKE %s", (name,))
    return rows[0][1] if rows else None


def test_parameter_and_variable_set_through_the_api(sdb):
    before = show_parameter(sdb, "clog_sync_time_warn_threshold")
    new = "200ms" if before != {"200ms"} else "300ms"
    code, env = sdb.api("PATCH", "/api/v1/seekdb/parameters",
                        {"parameters": {"clog_sync_time_warn_threshold": new}})
    assert code == 200, env
    assert show_parameter(sdb, "clog_sync_time_warn_threshold") == {new}
    # and the API reads it back
    code, env = sdb.api("GET", "/api/v1/seekdb/parameters",
                        query={"filter": "clog_sync_time_warn_threshold"})
    assert code == 200, env
    assert [(p["name"], p["value"]) for p in env["data"]["contents"]] == [
        ("clog_sync_time_warn_threshold", new)], env
    # an unknown parameter: a JSON 404 naming it
    code, env = sdb.api("PATCH", "/api/v1/seekdb/parameters",
                        {"parameters": {"no_such_parameter_e2e": "1"}})
    assert code == 404 and "no_such_parameter_e2e" in env["error"]["message"], (code, env)

    old_var = show_variable(sdb, "ob_query_timeout")
    new_var = 12345678 if old_var != "12345678" else 23456789
    code, env = sdb.api("PATCH", "/api/v1/seekdb/variables",
                        {"variables": {"ob_query_timeout": new_var}})
    assert code == 200, env
    assert show_variable(sdb, "ob_query_timeout") == str(new_var)

    # refused: hostile names and values, nothing changes
    sdb.query("CREATE DATABASE IF NOT EXISTS e2e_sentinel")
    drop = "; DROP DATABASE e2e_sentinel; --"
    for body in ({"parameters": {f"clog_sync_time_warn_threshold = '1ms'{drop}": "1ms"}},
                 {"parameters": {"clog_sync_time_warn_threshold": f"1ms'{drop}"}}):
        code, env = sdb.api("PATCH", "/api/v1/seekdb/parameters", body)
        assert code == 400, (body, code, env)
        assert env["successful"] is False and env["error"]["errCode"], env
    assert show_parameter(sdb, "clog_sync_time_warn_threshold") == {new}
    code, env = sdb.api("PATCH", "/api/v1/seekdb/variables",
                        {"variables": {"ob_query_timeout=1; DROP DATABASE test": 1}})
    assert code == 400, (code, env)
    assert show_variable(sdb, "ob_query_timeout") == str(new_var)
    assert "e2e_sentinel" in databases(sdb)


def databases(sdb):
    return {r[0] for r in sdb.query("SHOW DATABASES")}


def users(sdb):
    return {r[0] for r in sdb.query("SELECT user FROM mysql.user")}


def test_database_and_user_through_the_api(sdb):
    sdb.query("CREATE DATABASE IF NOT EXISTS e2e_sentinel")
    before = databases(sdb)
    assert "e2e_sentinel" in before and "e2e_db" not in before

    code, env = sdb.api("POST", "/api/v1/seekdb/database", {"db_name": "e2e_db"})
    assert code == 200, env
    assert "e2e_db" in databases(sdb)
    code, env = sdb.api("GET", "/api/v1/seekdb/databases")
    assert code == 200 and "e2e_db" in json.dumps(env["data"]), env

    code, env = sdb.api("POST", "/api/v1/seekdb/user",
                        {"user_name": "e2e_user", "password": "E2e_user-Pw9",
                         "db_privileges": [{"db_name": "e2e_db", "privileges": ["SELECT"]}]})
    assert code == 200, env
    assert "e2e_user" in users(sdb)
    with sdb.connect(user="e2e_user", password="E2e_user-Pw9", database="e2e_db") as c:
        with c.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone() == ("e2e_db",)

    code, env = sdb.api("DELETE", "/api/v1/seekdb/user/e2e_user")
    assert code == 200, env
    assert "e2e_user" not in users(sdb)
    code, env = sdb.api("DELETE", "/api/v1/seekdb/database/e2e_db")
    assert code == 200, env
    assert "e2e_db" not in databases(sdb)

    # bad names and SQL injection: 400 with a JSON error, nothing changed
    snapshot_db, snapshot_users = databases(sdb), users(sdb)
    hostile_db = "x; DROP DATABASE e2e_sentinel"
    attempts = [
        ("POST", "/api/v1/seekdb/database", {"db_name": hostile_db}),
        ("POST", "/api/v1/seekdb/database", {"db_name": "x`; DROP DATABASE e2e_sentinel; --"}),
        ("POST", "/api/v1/seekdb/database", {"db_name": ""}),
        ("POST", "/api/v1/seekdb/database", {"db_name": "a" * 200}),
        ("DELETE", "/api/v1/seekdb/database/" + quote(hostile_db, safe=""), None),
        ("POST", "/api/v1/seekdb/user",
         {"user_name": "u'@'%'; DROP DATABASE e2e_sentinel; --", "password": "Pw-123456"}),
        ("DELETE", "/api/v1/seekdb/user/" + quote("root'; DROP USER root; --", safe=""), None),
    ]
    for method, uri, body in attempts:
        code, env = sdb.api(method, uri, body)
        assert code == 400, (method, uri, body, code, env)
        assert env["successful"] is False, env
        assert env["error"]["errCode"] and env["error"]["message"], env
    assert databases(sdb) == snapshot_db
    assert users(sdb) == snapshot_users
    assert "e2e_sentinel" in databases(sdb)


# ---- 4. SIGKILL behind the agent's back -----------------------------------------------------

def test_sigkill_outside_the_agent_then_start(sdb):
    pid = sdb.seekdb_pid()
    assert pid and pid_alive(pid) and str(sdb.dir) in cmdline(pid)
    os.kill(pid, signal.SIGKILL)
    wait_for("seekdb gone", lambda: not pid_alive(pid), timeout=30)
    wait_for("obState 0", lambda: sdb.ob_state() == 0, timeout=30)
    with pytest.raises(pymysql.err.OperationalError):
        sdb.connect().close()

    lifecycle(sdb, "start", START_NODES, kind="start")
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)


# ---- 5. one lifecycle DAG at a time ------------------------------------------------------------

def test_second_lifecycle_dag_is_refused_while_one_runs(sdb):
    assert sdb.ob_state() == 3
    # terminate: a minor freeze before the stop keeps seekdb running (and the DAG holding the
    # lock) long enough for the stop below to find it running
    t0 = time.time()
    code, env = sdb.api("POST", "/api/v1/seekdb/restart", {"terminate": True})
    assert code == 200, env
    gid = env["data"]["id"]

    code2, env2 = sdb.api("POST", "/api/v1/seekdb/stop", {})
    # a refused start, too
    code3, env3 = sdb.api("POST", "/api/v1/seekdb/start", {})
    refused_after = time.time() - t0
    dag = sdb.wait_dag(gid)
    assert dag["name"] == "Restart seekdb"
    assert [n["name"] for n in dag["nodes"]] == ["Minor freeze before stop server",
                                                 *RESTART_NODES], dag
    assert dag["state"] == "SUCCEED", logs_of(dag)
    sdb.record("restart --terminate", dag)
    print(f"\nrestart --terminate posted; stop and start answered within {refused_after:.3f}s")

    assert code2 == 500, (code2, env2)
    assert env2["error"]["errCode"] == "Task.CreateFailed", env2
    assert "under maintenance by DAG" in env2["error"]["message"], env2
    assert code3 == 500 and env3["error"]["errCode"] == "Task.CreateFailed", (code3, env3)
    assert "under maintenance by DAG" in env3["error"]["message"], env3
    # nothing else ran: the restart is the newest lifecycle DAG and seekdb is up
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)


def test_stop_while_a_restart_has_seekdb_down_is_refused(sdb):
    """Between the restart's Stop and its Start, seekdb is down: a stop then must be refused
    with the maintenance error, not answered "already stopped" (204) as upstream does."""
    assert sdb.ob_state() == 3
    exe = sdb.dir / "run" / "seekdb"
    aside = sdb.dir / "run" / "seekdb.e2e-slow"
    os.rename(exe, aside)
    gid = None
    try:
        # a launcher that waits before it becomes seekdb: the restart holds the lock while
        # seekdb is down for a few seconds
        exe.write_text(f'#!/bin/sh\nsleep 4\nexec "{aside}" "$@"\n')
        exe.chmod(0o755)
        code, env = sdb.api("POST", "/api/v1/seekdb/restart", {})
        assert code == 200, env
        gid = env["data"]["id"]
        wait_for("seekdb down inside the restart", lambda: sdb.ob_state() == 0, timeout=60,
                 interval=0.1)
        code2, env2 = sdb.api("POST", "/api/v1/seekdb/stop", {})
        r = sdb.cli("seekdb", "stop", timeout=60)
        still_running = sdb.unix_dag(gid)["state"]
    finally:
        # the launcher execs the real binary under its aside name: restore only afterwards
        dag = sdb.wait_dag(gid) if gid else None
        exe.unlink(missing_ok=True)
        os.rename(aside, exe)
    assert still_running in ("READY", "RUNNING"), still_running
    assert code2 == 500, (code2, env2)
    assert env2["error"]["errCode"] == "Task.CreateFailed", env2
    assert "under maintenance by DAG: Restart seekdb" in env2["error"]["message"], env2
    assert r.returncode != 0, out(r)
    assert "under maintenance" in out(r) and "nothing to stop" not in out(r), out(r)
    assert dag["state"] == "SUCCEED", logs_of(dag)
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)


# ---- 6. a broken executable, fixed, retried ----------------------------------------------------

def test_start_with_a_broken_executable_then_retry(sdb):
    lifecycle(sdb, "stop", STOP_NODES)
    exe = sdb.dir / "run" / "seekdb"
    aside = sdb.dir / "run" / "seekdb.e2e-real"
    assert os.path.lexists(exe), list((sdb.dir / "run").iterdir())
    os.rename(exe, aside)
    try:
        exe.write_text("#!/bin/sh\necho 'simulated broken seekdb: cannot map libaio' >&2\n"
                       "exit 7\n")
        exe.chmod(0o755)
        r = sdb.cli("seekdb", "start")
        assert r.returncode != 0, out(r)
        m = TASK_ID.search(r.stdout)
        assert m, out(r)
        gid = m.group(1)
        dag = sdb.unix_dag(gid)
        assert dag["state"] == "FAILED", dag
        assert "simulated broken seekdb" in logs_of(dag), logs_of(dag)
        assert "simulated broken seekdb" in out(r), out(r)
        assert sdb.ob_state() == 0
    finally:
        exe.unlink(missing_ok=True)
        os.rename(aside, exe)

    r = sdb.cli("task", "retry", "-i", gid, "-y")
    assert r.returncode == 0, out(r)
    dag = sdb.wait_dag(gid)
    assert dag["state"] == "SUCCEED", logs_of(dag)
    assert sdb.sdk().v1.get_dag(gid).is_succeed()
    assert sdb.ob_state() == 3
    assert sdb.query("SELECT 1") == ((1,),)
