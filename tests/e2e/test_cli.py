"""Issue 4's acceptance tests: the real `obshell` command line ($OBSHELL_BIN) against real agents.

- `agent start|status|stop|restart` in temporary homes on free loopback ports: the daemon,
  its guarding of the server (kill -9 brings a new one back and the interrupted DAG resumes), a
  taken port (exit 21), and the idle RSS / start-time figures (written to
  target/agent-metrics.json).
- `task show|watch|retry|rollback|cancel|pass` (and the aliases rerun/stop/skip) over the local
  unix socket and, with --host, over TCP with the encrypted header, against `obshell server`
  agents (conftest's `agent` / `password_agent`, whose short sweep picks up the DAGs that
  obshell-task-demo writes into their .meta).
- one `task watch` on a pseudo-terminal (spinner, colours), help texts and `version`.

Every command runs without a terminal on stdin (so a confirmation is answered N) unless said
otherwise; everything the tests start is stopped by fixture finalizers.
"""

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
import requests

import ocs
from conftest import IP, OBSHELL_BIN, PASSWORD, ROOT, TASK_DEMO_BIN, free_port

METRICS_FILE = ROOT / "target" / "agent-metrics.json"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# ---- running the CLI ----------------------------------------------------------------------------

def obshell(*args, cwd=None, timeout=60, env=None, stdin=subprocess.DEVNULL):
    """Runs `obshell args...` without a terminal; returns the CompletedProcess (text)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("OBSHELL_BASE_DIR", "OBSHELL_PASSWORD", "OBSHELL_INTERNAL_BASE_DIR")}
    base.update(env or {})
    return subprocess.run([OBSHELL_BIN, *map(str, args)], cwd=cwd, env=base, stdin=stdin,
                          capture_output=True, text=True, timeout=timeout)


def out(r) -> str:
    return r.stdout + r.stderr


def lines(text: str):
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def first_error(dag: dict):
    """(agent, last log line) of the first failed sub-task, as the agent reports it."""
    for node in dag["nodes"]:
        for s in node["sub_tasks"] or []:
            if s["state"] == "FAILED":
                ag = s["execute_agent"]
                host = f"[{ag['ip']}]" if ":" in ag["ip"] else ag["ip"]
                return f"{host}:{ag['port']}", s["task_logs"][-1]
    raise AssertionError(f"no failed sub-task in {dag}")


# ---- a tiny reader for the block YAML `task show` prints (stdlib only) ---------------------------

_KEY = re.compile(r"([A-Za-z_][\w]*):(?: (.*))?$")


def parse_yaml(text: str):
    """Parses the block-style YAML subset serde_yaml emits (mappings, `- ` sequences, plain /
    quoted scalars, [] and {}). Raises on anything else, and on a repeated key."""
    rows = [ln for ln in text.splitlines() if ln.strip()]
    pos = 0

    def indent(ln):
        return len(ln) - len(ln.lstrip(" "))

    def scalar(s):
        s = s.strip()
        if s.startswith("'"):
            assert s.endswith("'") and len(s) >= 2, s
            return s[1:-1].replace("''", "'")
        if s.startswith('"'):
            return json.loads(s)
        if s in ("null", "~"):
            return None
        if s in ("true", "false"):
            return s == "true"
        if s == "[]":
            return []
        if s == "{}":
            return {}
        if re.fullmatch(r"-?\d+", s):
            return int(s)
        if re.fullmatch(r"-?\d+\.\d+", s):
            return float(s)
        assert not s.startswith(("|", ">", "&", "*", "!", "[", "{")), f"unsupported YAML: {s}"
        return s

    def is_item(ln, ind):
        return indent(ln) == ind and (ln[ind:].startswith("- ") or ln[ind:] == "-")

    def block(ind):
        nonlocal pos
        if is_item(rows[pos], ind):
            seq = []
            while pos < len(rows) and is_item(rows[pos], ind):
                item = rows[pos][ind + 2:]
                if _KEY.match(item):
                    rows[pos] = " " * (ind + 2) + item
                    seq.append(block(ind + 2))
                else:
                    seq.append(scalar(item))
                    pos += 1
            return seq
        mapping = {}
        while pos < len(rows) and indent(rows[pos]) == ind and not is_item(rows[pos], ind):
            m = _KEY.match(rows[pos][ind:])
            assert m, f"not YAML this reader knows: {rows[pos]!r}"
            key, val = m.group(1), m.group(2)
            assert key not in mapping, f"repeated key {key!r}"
            pos += 1
            if val:
                mapping[key] = scalar(val)
            elif pos < len(rows) and is_item(rows[pos], ind):
                mapping[key] = block(ind)
            elif pos < len(rows) and indent(rows[pos]) > ind:
                mapping[key] = block(indent(rows[pos]))
            else:
                mapping[key] = None
        return mapping

    doc = block(0)
    assert pos == len(rows), f"unparsed YAML from line {pos}: {rows[pos:pos + 3]}"
    return doc


def yaml_docs(text: str):
    """`task show` separates the DAGs it lists with a blank line."""
    return [parse_yaml(chunk) for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def test_yaml_reader_itself():
    doc = parse_yaml("a: '1'\nb: 2\nl:\n- x: 1\n  y:\n  - 'p: q'\n  - plain\n- x: 2\n  y: []\n")
    assert doc == {"a": "1", "b": 2, "l": [{"x": 1, "y": ["p: q", "plain"]}, {"x": 2, "y": []}]}
    with pytest.raises(AssertionError):
        parse_yaml("a: 1\na: 2\n")


# ---- agents started with `obshell agent start` ---------------------------------------------------

def proc_state(pid: int):
    """The /proc state letter of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def running(pid) -> bool:
    return pid is not None and proc_state(pid) not in (None, "Z", "X")


def agent_processes(home: Path):
    """Live obshell daemon/server processes of this home (found by their --base-dir)."""
    h = str(home.resolve()).encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if h in argv and (b"daemon" in argv or b"server" in argv) and running(int(d)):
            found.append(int(d))
    return found


def wait_for(predicate, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Managed:
    """An agent home run by `obshell agent start|stop` (a daemon that guards the server)."""

    def __init__(self, home: Path, port: int):
        self.home = home
        self.port = port

    @property
    def run(self) -> Path:
        return self.home / "run"

    def start(self, *extra):
        return obshell("agent", "start", "--base-dir", self.home, "--port", self.port, *extra)

    def stop(self):
        return obshell("agent", "stop", "--base-dir", self.home)

    def pid(self, name: str):
        try:
            return int((self.run / f"{name}.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def status(self):
        """GET /api/v1/status over the unix socket: data, or None when it does not answer."""
        try:
            code, env = ocs.unix_request(str(self.run / "obshell.sock"), "GET", "/api/v1/status")
        except OSError:
            return None
        return env["data"] if code == 200 else None

    def info_tcp(self):
        return requests.get(f"http://{IP}:{self.port}/api/v1/info", timeout=5).json()["data"]

    def gid(self, dag_id: int) -> str:
        return f"2{2130706433:010d}{self.port:05d}{dag_id}"

    def create_dag(self, scenario: str):
        files = self.home / "demo" / scenario
        r = subprocess.run(
            [TASK_DEMO_BIN, "create", "--store", str(self.home / ".meta"), "--dir", str(files),
             "--scenario", scenario, "--agent", f"{IP}:{self.port}"],
            check=True, capture_output=True, text=True, timeout=30)
        return self.gid(int(r.stdout.strip().splitlines()[-1])), files

    def dag(self, gid: str) -> dict:
        code, env = ocs.unix_request(str(self.run / "obshell.sock"), "GET",
                                     f"/api/v1/task/dag/{gid}?show_details=true")
        assert code == 200, env
        return env["data"]


@pytest.fixture
def managed(tmp_path_factory):
    """Factory of homes run with `obshell agent start`. At teardown each is stopped with
    `obshell agent stop`; any daemon/server of those homes still alive after that is killed
    (by pid) and reported as an error."""
    made = []

    def make(port: int = None) -> Managed:
        m = Managed(tmp_path_factory.mktemp("agent"), port or free_port())
        made.append(m)
        return m

    yield make
    leaked = []
    for m in made:
        try:
            m.stop()
        except subprocess.TimeoutExpired:
            pass
        for pid in agent_processes(m.home):
            leaked.append((str(m.home), pid))
            os.kill(pid, signal.SIGKILL)
    assert not leaked, f"processes left running after `agent stop`: {leaked}"


def test_agent_start_status_second_start_restart_stop(managed):
    a = managed()
    r = a.start()
    assert r.returncode == 0, out(r)
    # start returned: the server must answer on the unix socket right now, without retrying
    status = a.status()
    assert status is not None, "agent start returned 0 before /api/v1/status answered"
    daemon, server = a.pid("daemon"), a.pid("obshell")
    assert status["state"] == 2 and status["pid"] == server
    assert status["agent"] == {"ip": IP, "port": a.port, "identity": "SINGLE"}
    assert running(daemon) and running(server) and daemon != server
    assert (a.run / "obshell.sock").exists()
    assert f"daemon pid {daemon}" in r.stdout and f"server pid {server}" in r.stdout
    # the TCP API is up too
    assert a.info_tcp()["pid"] == server

    r = obshell("agent", "status", "--base-dir", a.home)
    assert r.returncode == 0, out(r)
    assert f"pid {daemon}" in r.stdout and f"pid {server}" in r.stdout
    assert str(a.port) in r.stdout and "SINGLE" in r.stdout

    r = a.start()
    assert r.returncode == 0, out(r)
    assert "already running" in r.stdout
    assert (a.pid("daemon"), a.pid("obshell")) == (daemon, server)
    assert sorted(agent_processes(a.home)) == sorted([daemon, server])

    r = obshell("agent", "restart", "--base-dir", a.home, "--port", a.port)
    assert r.returncode == 0, out(r)
    daemon2, server2 = a.pid("daemon"), a.pid("obshell")
    assert daemon2 not in (None, daemon) and server2 not in (None, server)
    assert not running(daemon) and not running(server)
    assert a.status()["pid"] == server2 and a.info_tcp()["pid"] == server2
    assert sorted(agent_processes(a.home)) == sorted([daemon2, server2])

    r = a.stop()
    assert r.returncode == 0, out(r)
    for f in ("daemon.pid", "obshell.pid", "obshell.sock"):
        assert not (a.run / f).exists(), f"run/{f} left after stop"
    assert not running(daemon2) and not running(server2)
    assert agent_processes(a.home) == []
    with pytest.raises(requests.ConnectionError):
        a.info_tcp()

    r = a.stop()
    assert r.returncode == 0, out(r)
    assert "not running" in r.stdout
    r = obshell("agent", "status", "--base-dir", a.home)
    assert r.returncode != 0 and "not running" in out(r)


def test_kill_9_of_the_server_brings_a_new_one_and_the_dag_resumes(managed):
    a = managed()
    assert a.start().returncode == 0
    daemon, old = a.pid("daemon"), a.pid("obshell")
    # Before -> Interrupted (3 s, can continue after a crash) -> After
    gid, files = a.create_dag("crash-continue")
    # the agent's sweep (5 s for `agent start`) picks the DAG up; kill while stage 2 runs
    wait_for(lambda: [n["state"] for n in a.dag(gid)["nodes"]] == ["SUCCEED", "RUNNING", "PENDING"],
             15, "stage 2 running", interval=0.02)
    # the node turns RUNNING a moment before its sub-task does: kill only once the sub-task has
    # really started (its record line), so the new server has a RUNNING sub-task to continue
    wait_for(lambda: "exec Interrupted times=1 continue=false"
             in (files / "record").read_text().splitlines(), 15, "stage 2 sub-task started",
             interval=0.02)
    time.sleep(0.2)
    os.kill(old, signal.SIGKILL)
    killed = time.time()

    def new_server():
        pid, st = a.pid("obshell"), a.status()
        return pid if pid not in (None, old) and st and st["pid"] == pid else None

    new = wait_for(new_server, 15, "the daemon to start a new server")
    print(f"\n[metrics] server back {time.time() - killed:.2f}s after kill -9")
    assert not running(old)
    assert a.pid("daemon") == daemon and running(daemon)
    assert a.info_tcp()["pid"] == new

    dag = wait_for(lambda: (d := a.dag(gid))["state"] in ("SUCCEED", "FAILED") and d, 30,
                   "the DAG to finish")
    assert dag["state"] == "SUCCEED" and dag["operator"] == "RUN", dag
    record = (files / "record").read_text().splitlines()
    # the interrupted sub-task was continued by the new server, not restarted from scratch
    assert "exec Interrupted times=1 continue=true" in record, record
    assert record[-1] == "exec After times=1 continue=false", record

    r = obshell("task", "show", "-i", gid, "--base-dir", a.home, "--format", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "SUCCEED"


def test_start_right_after_a_server_crash_keeps_the_guarding_daemon(managed):
    # `agent start` while the daemon is about to restart a crashed server (it waits 1 s):
    # the agent is running, so this must say so (exit 0) and leave the one daemon in charge.
    a = managed()
    assert a.start().returncode == 0
    daemon, old = a.pid("daemon"), a.pid("obshell")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not running(old), 5, "the killed server to be reaped", interval=0.01)
    r = a.start()
    assert r.returncode == 0, out(r)
    new = wait_for(lambda: (st := a.status()) and st["pid"] != old and st["pid"], 15,
                   "a new server")
    assert a.pid("daemon") == daemon and running(daemon)
    assert sorted(agent_processes(a.home)) == sorted([daemon, new])


def test_taken_port_is_named_and_exits_21(managed):
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    try:
        a = managed(port=holder.getsockname()[1])
        began = time.time()
        r = a.start()
        assert r.returncode == 21, out(r)
        assert time.time() - began < 10
        assert str(a.port) in r.stderr and "in use" in r.stderr, r.stderr
        for f in ("daemon.pid", "obshell.pid", "obshell.sock"):
            assert not (a.run / f).exists()
        time.sleep(0.3)
        assert agent_processes(a.home) == []
    finally:
        holder.close()


def _vm(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                fields[k] = int(v.split()[0])
    return fields


def _timed_start(a: Managed):
    """Runs `agent start`, polling GET /api/v1/info over TCP meanwhile. Returns (ms until
    /info answered, ms until the command returned, its CompletedProcess-like result)."""
    began = time.perf_counter()
    p = subprocess.Popen([OBSHELL_BIN, "agent", "start", "--base-dir", str(a.home),
                          "--port", str(a.port)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    info_ms = None
    deadline = began + 30
    while info_ms is None and time.perf_counter() < deadline:
        try:
            with socket.create_connection((IP, a.port), timeout=1) as s:
                s.sendall(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    info_ms = (time.perf_counter() - began) * 1000
        except OSError:
            time.sleep(0.002)
    stdout, stderr = p.communicate(timeout=60)
    returned_ms = (time.perf_counter() - began) * 1000
    assert p.returncode == 0, stdout + stderr
    assert info_ms is not None, "/api/v1/info never answered"
    return info_ms, returned_ms, stdout


def test_idle_rss_and_start_time(managed, capsys):
    build = ("debug" if "/debug/" in OBSHELL_BIN else
             "release" if "/release/" in OBSHELL_BIN else "unknown")
    a = managed()
    cold_info_ms, cold_ret_ms, said = _timed_start(a)
    server, daemon = a.pid("obshell"), a.pid("daemon")
    # settle: RSS unchanged over half a second, after at least a second
    time.sleep(1.0)
    prev = _vm(server)["VmRSS"]
    for _ in range(20):
        time.sleep(0.5)
        cur = _vm(server)["VmRSS"]
        if abs(cur - prev) <= 64:
            break
        prev = cur
    vm, dvm = _vm(server), _vm(daemon)
    assert a.stop().returncode == 0
    warm_info_ms, warm_ret_ms, _ = _timed_start(a)
    assert a.stop().returncode == 0

    metrics = {
        "binary": OBSHELL_BIN,
        "build": build,
        "server_idle_rss_kb": vm["VmRSS"],
        "server_idle_rss_mb": round(vm["VmRSS"] / 1024, 1),
        "server_rss_anon_kb": vm["RssAnon"],
        "server_rss_file_kb": vm["RssFile"],
        "server_peak_rss_kb": vm["VmHWM"],
        "server_threads": vm["Threads"],
        "daemon_rss_kb": dvm["VmRSS"],
        "start_to_info_ms_new_home": round(cold_info_ms, 1),
        "start_command_ms_new_home": round(cold_ret_ms, 1),
        "start_to_info_ms_existing_home": round(warm_info_ms, 1),
        "start_command_ms_existing_home": round(warm_ret_ms, 1),
        "targets": {"server_idle_rss_mb": 20, "start_to_info_ms": 200},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    METRICS_FILE.parent.mkdir(parents=True, exist_ok=True)
    METRICS_FILE.write_text(json.dumps(metrics, indent=2) + "\n")
    with capsys.disabled():
        print(f"\n[metrics] obshell {build} build ({OBSHELL_BIN})"
              + ("  NOTE: a debug build; the targets are for release builds" if build == "debug"
                 else ""))
        print(f"[metrics] server idle RSS {metrics['server_idle_rss_mb']} MB "
              f"(anon {vm['RssAnon'] // 1024} MB, file-backed {vm['RssFile'] // 1024} MB, "
              f"{vm['Threads']} threads; daemon {dvm['VmRSS'] // 1024} MB)  target < 20 MB")
        print(f"[metrics] `agent start` -> /api/v1/info answering: {cold_info_ms:.0f} ms on a new "
              f"home (keys generated), {warm_info_ms:.0f} ms on an existing one  target < 200 ms")
        print(f"[metrics] written to {METRICS_FILE}")
    if build == "release":
        assert vm["VmRSS"] < 20 * 1024, metrics
        assert warm_info_ms < 200 and cold_info_ms < 200, metrics
    else:
        # a debug binary maps far more code; only gross regressions fail here
        assert vm["VmRSS"] < 64 * 1024, metrics
        assert warm_info_ms < 10000 and cold_info_ms < 15000, metrics


# ---- task show ------------------------------------------------------------------------------------

def test_show_without_unfinished_tasks(make_agent):
    a = make_agent()
    r = obshell("task", "show", "--base-dir", a.home)
    assert r.returncode == 0, out(r)
    assert "No unfinished task found" in r.stdout
    r = obshell("task", "show", "--host", IP, "--port", a.port)
    assert r.returncode == 0 and "No unfinished task found" in r.stdout, out(r)
    r = obshell("task", "show", "-v", "--base-dir", a.home)
    assert r.returncode == 0 and "Calling API GET /api/v1/task/dag/unfinish" in r.stderr, out(r)


def test_show_one_task_in_every_format(agent):
    gid, _ = agent.create_dag("ok")
    truth = agent.wait_dag(gid, {"SUCCEED"})
    home = ("--base-dir", agent.home)

    r = obshell("task", "show", "-i", gid, *home)
    assert r.returncode == 0, out(r)
    brief = parse_yaml(r.stdout)
    assert brief["id"] == gid and brief["dag_id"] == truth["dag_id"]
    assert (brief["name"], brief["state"], brief["operator"]) == ("Demo ok", "SUCCEED", "RUN")
    assert (brief["stage"], brief["max_stage"]) == (3, 3)
    assert "nodes" not in brief

    r = obshell("task", "show", "-i", gid, "-d", *home)
    assert r.returncode == 0, out(r)
    assert re.search(r"^nodes:\n- id: ", r.stdout, re.M), r.stdout
    full = parse_yaml(r.stdout)
    assert isinstance(full["nodes"], list)
    assert [n["name"] for n in full["nodes"]] == ["Step one", "Step two", "Step three"]
    assert [n["state"] for n in full["nodes"]] == ["SUCCEED"] * 3
    subs = [s for n in full["nodes"] for s in n["subtasks"]]
    assert [s["task_logs"][-1] for s in subs] == ["step one done", "step two done",
                                                  "step three done"]
    assert {s["execute_agent"] for s in subs} == {agent.address}
    assert [s["id"] for s in subs] == [s["id"] for n in truth["nodes"] for s in n["sub_tasks"]]

    r = obshell("task", "show", "-i", gid, "-d", "--format", "json", *home)
    assert r.returncode == 0, out(r)
    assert json.loads(r.stdout) == full  # the same view, as JSON

    r = obshell("task", "show", "-i", gid, "--format", "table", *home)
    assert r.returncode == 0, out(r)
    header = next(ln for ln in r.stdout.splitlines() if "NAME" in ln)
    for col in ("ID", "NAME", "STATE", "OPERATOR", "STAGE"):
        assert col in header
    row = next(ln for ln in r.stdout.splitlines() if gid in ln)
    assert "Demo ok" in row and "SUCCEED" in row and "3/3" in row
    r = obshell("task", "show", "-i", gid, "-d", "--format", "table", *home)
    assert r.returncode == 0, out(r)
    for name, log in [("Step one", "step one done"), ("Step three", "step three done")]:
        assert any(name in ln and log in ln for ln in r.stdout.splitlines()), r.stdout


def test_show_lists_unfinished_tasks_and_unknown_ids(agent):
    gid, _ = agent.create_dag("slow")
    try:
        agent.wait_dag(gid, {"RUNNING"})
        r = obshell("task", "show", "--base-dir", agent.home)
        assert r.returncode == 0, out(r)
        listed = {d["id"]: d for d in yaml_docs(r.stdout)}
        assert listed[gid]["state"] == "RUNNING" and listed[gid]["name"] == "Demo slow"
        r = obshell("task", "show", "-d", "--format", "json", "--base-dir", agent.home)
        assert r.returncode == 0, out(r)
        data = json.loads(r.stdout)
        data = data if isinstance(data, list) else [data]
        mine = next(d for d in data if d["id"] == gid)
        assert mine["nodes"][0]["subtasks"][0]["state"] == "RUNNING"
    finally:
        agent.unix("POST", f"/api/v1/task/dag/{gid}", {"operator": "CANCEL"})
        agent.wait_dag(gid, {"FAILED"})

    missing = agent.generic_id(987654)
    r = obshell("task", "show", "-i", missing, "--base-dir", agent.home)
    assert r.returncode == 1 and "Task.NotFound" in r.stderr, out(r)


# ---- task watch -----------------------------------------------------------------------------------

def test_watch_a_succeeding_task(agent):
    gid, _ = agent.create_dag("ok")
    r = obshell("task", "watch", "-i", gid, "--base-dir", agent.home)
    assert r.returncode == 0, out(r)
    got = lines(r.stdout)
    succeed = [ln for ln in got if ln.startswith("[SUCCEED]")]
    assert succeed == ["[SUCCEED] Step one [1/3]", "[SUCCEED] Step two [2/3]",
                       "[SUCCEED] Step three [3/3]",
                       "[SUCCEED] Congratulations! RUN 'Demo ok' task completed successfully."]
    assert got[-1] == succeed[-1]
    assert "\x1b" not in r.stdout + r.stderr, "colours without a terminal"
    assert agent.dag(gid)["state"] == "SUCCEED"


def test_watch_a_failing_task(agent):
    gid, _ = agent.create_dag("fail")
    r = obshell("task", "watch", "-i", gid, "--base-dir", agent.home)
    assert r.returncode == 1, out(r)
    dag = agent.dag(gid)
    assert dag["state"] == "FAILED"
    where, last = first_error(dag)
    assert where == agent.address and "precondition file" in last
    text = out(r)
    assert "[SUCCEED] Prepare [1/3]" in lines(text)
    assert "[FAILED] Needs fix [2/3]" in lines(text)
    assert f"[ERROR] {agent.address} {last}" in lines(text), text
    assert "Sorry, task 'Demo fail' failed" in text
    assert "Congratulations" not in text


def test_watch_follows_a_retry_started_elsewhere(agent):
    gid, files = agent.create_dag("fail")
    agent.wait_dag(gid, {"FAILED"})
    (files / "fixed").touch()
    status, env = agent.unix("POST", f"/api/v1/task/dag/{gid}", {"operator": "RETRY"})
    assert status == 200, env
    r = obshell("task", "watch", "-i", gid, "--base-dir", agent.home)
    assert r.returncode == 0, out(r)
    assert lines(r.stdout)[-1] == \
        "[SUCCEED] Congratulations! RUN 'Demo fail' task completed successfully."


# ---- operators ------------------------------------------------------------------------------------

def failed_dag(agent, fixed=False):
    gid, files = agent.create_dag("fail")
    agent.wait_dag(gid, {"FAILED"})
    if fixed:
        (files / "fixed").touch()
    return gid


@pytest.mark.parametrize("cmd", ["retry", "rerun"])
def test_retry_with_yes(agent, cmd):
    gid = failed_dag(agent, fixed=True)
    r = obshell("task", cmd, "-i", gid, "-y", "--base-dir", agent.home)
    assert r.returncode == 0, out(r)
    assert f"Task with ID {gid} has been successfully retried." in r.stdout
    assert lines(r.stdout)[-1] == \
        "[SUCCEED] Congratulations! RUN 'Demo fail' task completed successfully."
    dag = agent.dag(gid)
    assert (dag["state"], dag["operator"]) == ("SUCCEED", "RUN")
    assert dag["nodes"][1]["sub_tasks"][0]["execute_times"] >= 2


def test_rollback_with_yes(agent):
    gid = failed_dag(agent)
    r = obshell("task", "rollback", "-i", gid, "-y", "--base-dir", agent.home)
    assert r.returncode == 0, out(r)
    assert f"Task with ID {gid} has been successfully rolled back." in r.stdout
    assert lines(r.stdout)[-1] == \
        "[SUCCEED] Congratulations! ROLLBACK 'Demo fail' task completed successfully."
    dag = agent.dag(gid)
    assert (dag["state"], dag["operator"]) == ("SUCCEED", "ROLLBACK")


@pytest.mark.parametrize("cmd", ["cancel", "stop"])
def test_cancel_with_yes(agent, cmd):
    gid, _ = agent.create_dag("slow")
    try:
        agent.wait_dag(gid, {"RUNNING"})
        r = obshell("task", cmd, "-i", gid, "-y", "--base-dir", agent.home)
        assert r.returncode == 0, out(r)
        assert f"Task with ID {gid} has been successfully cancelled." in r.stdout
        dag = agent.wait_dag(gid, {"FAILED"}, timeout=20)
        assert dag["operator"] == "CANCEL"
    finally:
        agent.unix("POST", f"/api/v1/task/dag/{gid}", {"operator": "CANCEL"})


@pytest.mark.parametrize("cmd", ["pass", "skip"])
def test_pass_with_yes(agent, cmd):
    gid = failed_dag(agent)
    r = obshell("task", cmd, "-i", gid, "-y", "--base-dir", agent.home)
    assert r.returncode == 0, out(r)
    assert f"Task with ID {gid} has been successfully passed." in r.stdout
    dag = agent.wait_dag(gid, {"SUCCEED"})
    assert dag["operator"] == "PASS"


def test_refused_operators_print_the_agents_error(agent):
    gid, _ = agent.create_dag("ok")
    before = agent.wait_dag(gid, {"SUCCEED"})
    refusals = {"retry": "RetryNotFailedDag", "rollback": "RollbackNotFailedDag",
                "cancel": "CancelFinishedDag", "pass": "PassNotFailedDag"}
    for cmd, code in refusals.items():
        status, env = agent.unix("POST", f"/api/v1/task/dag/{gid}", {"operator": cmd.upper()})
        assert status != 200 and env["error"]["errCode"] == f"Task.Dag.Operator.{code}", env
        message = env["error"]["message"]
        r = obshell("task", cmd, "-i", gid, "-y", "--base-dir", agent.home)
        assert r.returncode != 0, (cmd, out(r))
        assert f"Task.Dag.Operator.{code}" in r.stderr and message in r.stderr, (cmd, out(r))
        assert "Congratulations" not in out(r)
    after = agent.dag(gid)
    assert (after["state"], after["operator"], after["end_time"]) == \
        (before["state"], before["operator"], before["end_time"])


def test_operators_without_yes_and_without_a_terminal_change_nothing(agent):
    failed = failed_dag(agent, fixed=True)  # a retry would now succeed: nothing may run it
    slow, _ = agent.create_dag("slow")
    try:
        agent.wait_dag(slow, {"RUNNING"})
        for cmd, gid in [("retry", failed), ("rollback", failed), ("pass", failed),
                         ("cancel", slow), ("rerun", failed), ("skip", failed), ("stop", slow)]:
            r = obshell("task", cmd, "-i", gid, "--base-dir", agent.home)
            assert r.returncode != 0, (cmd, out(r))
            assert "nothing was changed" in r.stderr, (cmd, out(r))
            assert "Congratulations" not in out(r)
        time.sleep(0.5)  # an operator that slipped through would show by now
        d = agent.dag(failed)
        assert (d["state"], d["operator"]) == ("FAILED", "RUN"), d
        assert d["nodes"][1]["sub_tasks"][0]["execute_times"] == 1
        d = agent.dag(slow)
        assert (d["state"], d["operator"]) == ("RUNNING", "RUN"), d
    finally:
        agent.unix("POST", f"/api/v1/task/dag/{slow}", {"operator": "CANCEL"})
        agent.wait_dag(slow, {"FAILED"})


def test_unreachable_agent_exits_3(tmp_path):
    empty = tmp_path / "no-agent"
    empty.mkdir()
    port = free_port()
    cases = [
        ("task", "show", "--base-dir", empty),
        ("task", "watch", "-i", "22130706433123451", "--base-dir", empty),
        ("task", "pass", "-i", "22130706433123451", "-y", "--base-dir", empty),
        ("task", "show", "--host", IP, "--port", port),
        ("task", "retry", "-i", "1", "-y", "--host", IP, "--port", port),
    ]
    for args in cases:
        r = obshell(*args, cwd=empty)
        assert r.returncode == 3, (args, out(r))
        assert "cannot reach the agent" in r.stderr, (args, out(r))
    r = obshell("task", "show", "--host", IP, "--port", port)
    assert f"{IP}:{port}" in r.stderr
    r = obshell("task", "show", "--base-dir", empty)
    assert str(empty / "run" / "obshell.sock") in r.stderr


# ---- remote mode (TCP with the encrypted header) -----------------------------------------------

def test_remote_show_watch_and_operate_over_tcp(agent, tmp_path):
    remote = ("--host", IP, "--port", agent.port)
    gid, _ = agent.create_dag("ok")
    agent.wait_dag(gid, {"SUCCEED"})
    # run from an empty directory: there is no unix socket to fall back on
    r = obshell("task", "show", "-i", gid, "-d", "--format", "json", *remote, cwd=tmp_path)
    assert r.returncode == 0, out(r)
    local = obshell("task", "show", "-i", gid, "-d", "--format", "json",
                    "--base-dir", agent.home)
    assert json.loads(r.stdout) == json.loads(local.stdout)
    r = obshell("task", "watch", "-i", gid, *remote, cwd=tmp_path)
    assert r.returncode == 0 and "Congratulations!" in lines(r.stdout)[-1], out(r)
    # an operator: its body travels AES-encrypted
    failed = failed_dag(agent)
    r = obshell("task", "pass", "-i", failed, "-y", *remote, cwd=tmp_path)
    assert r.returncode == 0, out(r)
    assert agent.wait_dag(failed, {"SUCCEED"})["operator"] == "PASS"


def test_remote_with_the_agent_password(password_agent, tmp_path):
    a = password_agent
    gid, _ = a.create_dag("ok")
    a.wait_dag(gid, {"SUCCEED"})
    remote = ("task", "show", "-i", gid, "--host", IP, "--port", a.port)
    r = obshell(*remote, "--password", PASSWORD, cwd=tmp_path)
    assert r.returncode == 0, out(r)
    assert parse_yaml(r.stdout)["id"] == gid
    r = obshell(*remote, cwd=tmp_path, env={"OBSHELL_PASSWORD": PASSWORD})
    assert r.returncode == 0, out(r)


def test_remote_with_a_wrong_or_no_password_is_refused(password_agent, tmp_path):
    a = password_agent
    gid, _ = a.create_dag("ok")
    a.wait_dag(gid, {"SUCCEED"})
    remote = ("task", "show", "-i", gid, "--host", IP, "--port", a.port)
    for extra in (["--password", "wrong-pw"], []):
        r = obshell(*remote, *extra, cwd=tmp_path)
        assert r.returncode == 1, out(r)
        assert "Unauthorized" in r.stderr and "Security.Authentication." in r.stderr, out(r)
        assert r.stdout == ""


# ---- a terminal -----------------------------------------------------------------------------------

def run_on_pty(args, stderr_on_pty=True, timeout=30):
    """Runs obshell with stdin/stdout (and stderr unless told) on a 120x40 pseudo-terminal.
    Returns (exit code, everything the terminal received, stderr when piped)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CLICOLOR")}
    env["TERM"] = "xterm-256color"
    p = subprocess.Popen([OBSHELL_BIN, *map(str, args)], stdin=slave, stdout=slave,
                         stderr=slave if stderr_on_pty else subprocess.PIPE, env=env,
                         start_new_session=True)
    os.close(slave)
    received = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the terminal's last writer is gone
                    break
                if not chunk:
                    break
                received += chunk
            elif p.poll() is not None:
                break
        else:
            raise AssertionError(f"obshell {args} still running after {timeout}s: {received!r}")
        rc = p.wait(timeout=10)
        err = p.stderr.read().decode() if p.stderr else ""
        return rc, received.decode(errors="replace"), err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if p.stderr:
            p.stderr.close()
        os.close(master)


def test_watch_on_a_terminal_shows_the_spinner_and_stages(agent):
    # Before -> Interrupted (3 s) -> After: long enough for the spinner to animate stage 2
    gid, _ = agent.create_dag("crash-continue")
    rc, screen, _ = run_on_pty(["task", "watch", "-i", gid, "--base-dir", agent.home])
    plain = ANSI.sub("", screen)
    assert rc == 0, screen
    frames = re.findall(r"([|/\\-]) Interrupted \[2/3\]", plain)
    assert len(set(frames)) >= 2, f"no animated spinner on stage 2: {plain!r}"
    for stage in ("Before [1/3]", "Interrupted [2/3]", "After [3/3]"):
        assert f"[SUCCEED] {stage}" in plain, plain
    assert "[SUCCEED] Congratulations! RUN 'Demo crash-continue' task completed successfully." \
        in plain
    assert "\x1b[32m[SUCCEED]" in screen, "no green [SUCCEED] on a terminal"
    assert agent.dag(gid)["state"] == "SUCCEED"


def test_watch_on_a_terminal_with_stderr_redirected_still_reports(agent):
    # `obshell task watch -i ID 2>err.log` on a terminal
    gid, _ = agent.create_dag("ok")
    rc, screen, err = run_on_pty(["task", "watch", "-i", gid, "--base-dir", agent.home],
                                 stderr_on_pty=False)
    plain = ANSI.sub("", screen + err)
    assert rc == 0, plain
    assert "[SUCCEED] Step three [3/3]" in plain, f"terminal: {screen!r} stderr: {err!r}"
    assert "Congratulations! RUN 'Demo ok' task completed successfully." in plain


# ---- help and version -----------------------------------------------------------------------------

@pytest.mark.parametrize("args,example", [
    (["--help"], "obshell agent start --base-dir"),
    (["task", "--help"], "obshell task show -i"),
    (["agent", "start", "--help"], "obshell agent start --base-dir"),
])
def test_help_shows_examples(args, example):
    r = obshell(*args)
    assert r.returncode == 0, out(r)
    assert "Examples:" in r.stdout and example in r.stdout, r.stdout


def test_version():
    r = obshell("version")
    assert r.returncode == 0, out(r)
    m = re.search(r"obshell-rs (\d+\.\d+\.\d+).*commit ([0-9a-f]{7,40}).*built (\d{4}-\d{2}-\d{2})",
                  r.stdout)
    assert m, r.stdout
    cargo = (ROOT / "crates" / "cli" / "Cargo.toml").read_text()
    ws = (ROOT / "Cargo.toml").read_text()
    assert f'version = "{m.group(1)}"' in cargo + ws
    if shutil.which("git"):
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", m.group(2)],
                               capture_output=True)
        assert head and known.returncode == 0, f"commit {m.group(2)} not in this repository"
    r = obshell("--version")
    assert r.returncode == 0 and m.group(1) in r.stdout
