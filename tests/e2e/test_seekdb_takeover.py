"""Issue 5: taking over a seekdb initialized outside the agent (spec agent-and-ops §3.2), and the
emergency local start/stop of an instance the agent does not manage (§3.3), with the REAL
`obshell` binary ($OBSHELL_BIN) and a REAL seekdb from the repo's .venv (pylibseekdb).

ONE seekdb instance serves the module: initialized here with the venv's seekdb binary exactly as
scripts/lib/seekdb.sh `seekdb_start` does (free ports in 20000-32000), given a root password with
pymysql, then taken over by a fresh agent (wrong password first, then the right one). A second
fresh agent, which manages nothing, stops and starts the instance over its unix socket.

The finalizer stops the agents and kills, by pid, every process of this module still alive (only
processes whose command line names this module's directories; other seekdb instances on the host,
e.g. on ports 12881/13881, are never touched).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pymysql
import pytest
import requests
from obshell import ClientSet
from obshell.auth.password import PasswordAuth

import ocs
from conftest import IP, free_port
from test_seekdb import (TASK_ID, VENV_PY, cmdline, free_pair, logs_of, obshell, out,
                         pid_alive, wait_for)

ROOT_PW = "Takeover_e2e-Pw1"
WRONG_PW = "definitely-not-it"


def seekdb_binary() -> str:
    r = subprocess.run([VENV_PY, "-c", "import os, pylibseekdb; print(os.path.join("
                        "os.path.dirname(pylibseekdb.__file__), 'seekdb'))"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    assert os.access(path, os.X_OK), path
    return path


class Agent:
    """An agent home driven through the CLI and its unix socket."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()

    @property
    def sock(self) -> str:
        return str(self.home / "run" / "obshell.sock")

    def cli(self, *args, **kw):
        return obshell(*args, "--base-dir", self.home, **kw)

    def start(self):
        r = self.cli("agent", "start", "--ip", IP, "--port", self.port, timeout=60)
        assert r.returncode == 0, out(r)

    def unix(self, method, uri, body=None):
        return ocs.unix_request(self.sock, method, uri, body)

    def identity(self) -> str:
        return requests.get(f"http://{IP}:{self.port}/api/v1/info",
                            timeout=10).json()["data"]["identity"]

    def status(self) -> dict:
        code, env = self.unix("GET", "/api/v1/status")
        assert code == 200, env
        return env["data"]

    def dag(self, gid: str) -> dict:
        code, env = self.unix("GET", f"/api/v1/task/dag/{gid}?show_details=true")
        assert code == 200, env
        return env["data"]


class Instance:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "inst"
        self.sql_port = free_pair()
        self.rpc_port = self.sql_port + 1
        self.agents = []

    def pid(self):
        try:
            p = int((self.dir / "run" / "seekdb.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return p if pid_alive(p) and str(self.dir) in cmdline(p) else None

    def connect(self, password=ROOT_PW):
        return pymysql.connect(host=IP, port=self.sql_port, user="root", password=password,
                               connect_timeout=3, read_timeout=10, autocommit=True)

    def ping(self, password=ROOT_PW) -> bool:
        try:
            with self.connect(password) as c, c.cursor() as cur:
                cur.execute("select 1")
                return cur.fetchone()[0] == 1
        except pymysql.MySQLError:
            return False

    def initialize(self):
        """scripts/lib/seekdb.sh seekdb_start: first start in initialize mode, wait for SQL."""
        self.dir.mkdir(parents=True)
        (self.dir / "log").mkdir()
        with open(self.dir / "log" / "seekdb-launch.out", "ab") as launch:
            r = subprocess.run(
                ["setsid", seekdb_binary(), "--base-dir", str(self.dir),
                 "--port", str(self.sql_port),
                 "--parameter", f"rpc_port={self.rpc_port}",
                 "--parameter", "memory_limit=3G",
                 "--parameter", "datafile_size=1G",
                 "--parameter", "log_disk_size=2G"],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=launch, stderr=launch,
                timeout=120)
        assert r.returncode == 0, (self.dir / "log" / "seekdb-launch.out").read_text()[-2000:]
        wait_for("the new seekdb to accept SQL", lambda: self.ping(""), timeout=180,
                 interval=1)
        with self.connect("") as c, c.cursor() as cur:
            cur.execute("ALTER USER root IDENTIFIED BY %s", (ROOT_PW,))
        assert self.ping(ROOT_PW)

    def cleanup(self) -> list:
        leaked = []
        for a in self.agents:
            if Path(a.sock).exists():
                try:
                    a.cli("agent", "stop", timeout=60)
                except subprocess.TimeoutExpired:
                    pass
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for("seekdb to exit", lambda: not pid_alive(pid), timeout=60, interval=0.5)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
        marker = str(self.root)
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == os.getpid():
                continue
            cl = cmdline(int(p.name))
            if marker in cl and pid_alive(int(p.name)):
                leaked.append((int(p.name), cl[:200]))
                try:
                    os.kill(int(p.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return leaked

    def new_agent(self, name: str) -> Agent:
        a = Agent(self.root / name)
        self.agents.append(a)
        a.start()
        return a


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    i = Instance(tmp_path_factory.mktemp("sdbtakeover"))
    try:
        i.initialize()
        i.owner = i.new_agent("agent-owner")
        yield i
    finally:
        leaked = i.cleanup()
        assert not leaked, f"processes left running: {leaked}"


def task_id(r) -> str:
    m = TASK_ID.search(r.stdout)
    assert m, out(r)
    return m.group(1)


# ---- takeover -----------------------------------------------------------------------------------

def test_takeover_of_an_uninitialized_dir_is_refused(inst, tmp_path):
    a = inst.owner
    code, env = a.unix("POST", "/api/v1/seekdb/takeover", {"base_dir": str(tmp_path)})
    assert code == 400, env
    assert "meta.db" in env["error"]["message"], env
    r = a.cli("seekdb", "takeover", "--seekdb-dir", tmp_path)
    assert r.returncode != 0, out(r)
    assert "meta.db" in r.stderr + r.stdout, out(r)
    assert a.identity() != "CLUSTER AGENT"


def test_takeover_with_a_wrong_password_fails_and_changes_nothing(inst):
    a = inst.owner
    before = a.identity()
    r = a.cli("seekdb", "takeover", "--seekdb-dir", inst.dir, "--root-password", WRONG_PW,
              timeout=180)
    assert r.returncode != 0, out(r)
    dag = a.dag(task_id(r))
    assert dag["name"] == "Take over seekdb", dag
    assert dag["state"] == "FAILED", dag
    logs = logs_of(dag)
    assert "Access denied" in logs or "refused the login" in logs, logs
    assert a.identity() == before != "CLUSTER AGENT"
    # the failure released the lock: nothing is left under maintenance
    assert not a.status().get("underMaintenance"), a.status()


def test_takeover_with_the_right_password(inst):
    a = inst.owner
    pid = inst.pid()
    r = a.cli("seekdb", "takeover", "--seekdb-dir", inst.dir,
              env={"OBSHELL_SEEKDB_ROOT_PASSWORD": ROOT_PW}, timeout=180)
    assert r.returncode == 0, out(r)
    assert "Task 'Take over seekdb' has been created successfully." in r.stdout, out(r)
    dag = a.dag(task_id(r))
    assert dag["state"] == "SUCCEED", dag
    # it was running: no start node
    assert [n["name"] for n in dag["nodes"]] == ["Take over seekdb"], dag
    assert inst.pid() == pid
    assert a.identity() == "CLUSTER AGENT"
    wait_for("obState 3", lambda: a.status()["obState"] == 3, timeout=30, interval=0.5)
    assert a.status()["sqlPort"] == inst.sql_port
    r = a.cli("seekdb", "show")
    assert r.returncode == 0, out(r)
    assert str(inst.sql_port) in r.stdout and "AVAILABLE" in r.stdout, out(r)


def test_a_second_takeover_is_refused(inst):
    a = inst.owner
    code, env = a.unix("POST", "/api/v1/seekdb/takeover",
                       {"base_dir": str(inst.dir), "root_password": ROOT_PW})
    assert code == 400, env
    assert "already manages" in env["error"]["message"], env
    r = a.cli("seekdb", "takeover", "--seekdb-dir", inst.dir, "--root-password", ROOT_PW)
    assert r.returncode != 0, out(r)
    assert a.identity() == "CLUSTER AGENT"


# ---- emergency local start / stop ----------------------------------------------------------------

def test_emergency_stop_and_start_by_an_agent_that_manages_nothing(inst):
    b = inst.new_agent("agent-local")
    assert b.identity() != "CLUSTER AGENT"

    # over TCP without a managed instance: refused
    sdk = ClientSet(IP, b.port, auth=PasswordAuth("")).v1
    for route in ("/api/v1/seekdb/start", "/api/v1/seekdb/stop"):
        resp = sdk._execute(sdk.create_request(route, "POST", data={"base_dir": str(inst.dir)}))
        assert resp.status_code == 400, resp.text
        assert "unix socket" in resp.json()["error"]["message"], resp.text
    # over the socket, the instance must be named
    code, env = b.unix("POST", "/api/v1/seekdb/stop", {})
    assert code == 400 and "base_dir" in env["error"]["message"], env
    # the CLI without --seekdb-dir reaches that refusal instead of "nothing to stop"
    r = b.cli("seekdb", "stop", timeout=60)
    assert r.returncode != 0 and "--seekdb-dir" in r.stderr, out(r)
    assert "nothing to stop" not in r.stdout, out(r)

    pid = inst.pid()
    assert pid
    r = b.cli("seekdb", "stop", "--seekdb-dir", inst.dir, timeout=180)
    assert r.returncode == 0, out(r)
    dag = b.dag(task_id(r))
    assert dag["name"] == "Stop local seekdb" and dag["state"] == "SUCCEED", dag
    assert [n["name"] for n in dag["nodes"]] == ["Stop seekdb"], dag
    assert "no pid given" not in logs_of(dag), logs_of(dag)
    assert f"pid {pid}" in logs_of(dag), logs_of(dag)
    assert not pid_alive(pid)
    assert not inst.ping()

    r = b.cli("seekdb", "start", "--seekdb-dir", inst.dir, "--root-password", ROOT_PW,
              timeout=300)
    assert r.returncode == 0, out(r)
    dag = b.dag(task_id(r))
    assert dag["name"] == "Start local seekdb" and dag["state"] == "SUCCEED", dag
    assert [n["name"] for n in dag["nodes"]] == ["Start seekdb"], dag
    new_pid = inst.pid()
    assert new_pid and new_pid != pid
    assert inst.ping()
    # still not managing anything; the owner sees its instance back
    assert b.identity() != "CLUSTER AGENT"
    wait_for("owner obState 3", lambda: inst.owner.status()["obState"] == 3, timeout=30,
             interval=0.5)
