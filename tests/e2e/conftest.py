"""Fixtures of the end-to-end tests: real `obshell server` processes in temporary homes on free
loopback ports, driven by the real Python SDK `obshell==0.0.9` and by the raw protocol client in
ocs.py. Nothing is built here: the binaries come from $OBSHELL_BIN (default
target/debug/obshell) and $OBSHELL_TASK_DEMO_BIN (default target/debug/obshell-task-demo), the
latter writing ScriptedTask DAGs into an agent's .meta for the agent's sweep to pick up.
"""

import ipaddress
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from obshell import ClientSet
from obshell.auth.password import PasswordAuth

import ocs

ROOT = Path(__file__).resolve().parents[2]
OBSHELL_BIN = os.environ.get("OBSHELL_BIN", str(ROOT / "target" / "debug" / "obshell"))
TASK_DEMO_BIN = os.environ.get(
    "OBSHELL_TASK_DEMO_BIN", str(ROOT / "target" / "debug" / "obshell-task-demo")
)
IP = "127.0.0.1"
# The sweep picks up DAGs written by obshell-task-demo; keep it short so tests are quick.
SWEEP_MS = 200


def free_port(ip: str = IP) -> int:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


class Agent:
    """One `obshell server` process and helpers around it."""

    def __init__(self, home: Path, port: int = None, ip: str = IP):
        self.home = home
        self.ip = ip
        self.port = port or free_port(ip)
        self.proc = None

    @property
    def address(self) -> str:
        """ip:port as agents write it ([ip]:port for IPv6)."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}"

    @property
    def socket_path(self) -> str:
        return str(self.home / "run" / "obshell.sock")

    def start(self):
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.home / "server.out", "ab")
        self.proc = subprocess.Popen(
            [OBSHELL_BIN, "server", "--base-dir", str(self.home), "--ip", self.ip,
             "--port", str(self.port), "--sweep-interval-ms", str(SWEEP_MS)],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.output()}")
            try:
                if requests.get(self.base_url + "/api/v1/info", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"agent did not start: {self.output()}")

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code (0 on a graceful shutdown)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def output(self) -> str:
        try:
            return (self.home / "server.out").read_text(errors="replace")
        except OSError:
            return ""

    # ---- DAGs -------------------------------------------------------------------------------

    def generic_id(self, dag_id: int) -> str:
        """Spec task-engine §3: 2 + ipv4 (10 digits) or 3 + ipv6 (39 digits), port, id."""
        ip = ipaddress.ip_address(self.ip)
        if ip.version == 4:
            return f"2{int(ip):010d}{self.port:05d}{dag_id}"
        return f"3{int(ip):039d}{self.port:05d}{dag_id}"

    def create_dag(self, scenario: str):
        """Writes a ScriptedTask DAG into this agent's store. Returns (generic id, files dir):
        each DAG gets its own dir, so the `fixed` file of one 'fail' DAG fixes no other."""
        files = self.home / "demo" / uuid.uuid4().hex[:8]
        out = subprocess.run(
            [TASK_DEMO_BIN, "create", "--store", str(self.home / ".meta"), "--dir", str(files),
             "--scenario", scenario, "--agent", self.address],
            check=True, capture_output=True, text=True, timeout=30)
        return self.generic_id(int(out.stdout.strip().splitlines()[-1])), files

    def unix(self, method, uri, body=None):
        return ocs.unix_request(self.socket_path, method, uri, body)

    def dag(self, gid: str, details=True) -> dict:
        """The DAG as the agent sees it, read over the unix socket (no TCP auth involved)."""
        status, env = self.unix("GET", f"/api/v1/task/dag/{gid}?show_details={details}")
        assert status == 200, env
        return env["data"]

    def wait_dag(self, gid: str, states, timeout=30) -> dict:
        deadline = time.time() + timeout
        while True:
            d = self.dag(gid)
            if d["state"] in states:
                return d
            if time.time() > deadline:
                raise AssertionError(f"DAG {gid} still {d['state']} after {timeout}s: {d}")
            time.sleep(0.1)

    def wait_running(self, gid: str, timeout=30) -> dict:
        """Until the DAG's first sub-task is RUNNING: the DAG and its node turn RUNNING a moment
        before the executor starts the sub-task."""
        deadline = time.time() + timeout
        while True:
            d = self.dag(gid)
            subs = (d.get("nodes") or [{}])[0].get("sub_tasks") or [{}]
            if d["state"] == "RUNNING" and subs[0].get("state") == "RUNNING":
                return d
            if time.time() > deadline:
                raise AssertionError(f"DAG {gid} sub-task not RUNNING after {timeout}s: {d}")
            time.sleep(0.05)

    # ---- clients ----------------------------------------------------------------------------

    def sdk(self, password: str = "", agent_password: str = None) -> ClientSet:
        return ClientSet(self.ip, self.port,
                         auth=PasswordAuth(password, agent_password=agent_password))

    def raw(self) -> ocs.RawClient:
        return ocs.RawClient(self.base_url)

    def set_password(self, new: str, old: str = None):
        """POST /api/v1/agent/password (the SDK has no call for it)."""
        raw = self.raw()
        name = ocs.AGENT_HEADER if old is not None else ocs.OB_HEADER
        return raw.request("POST", "/api/v1/agent/password", body={"password": new},
                           auth=old or "", header_name=name)


@pytest.fixture
def make_agent(tmp_path_factory):
    """Factory of agents stopped (and checked for a clean exit) at teardown."""
    agents = []

    def make(home: Path = None, port: int = None, ip: str = IP) -> Agent:
        a = Agent(home or tmp_path_factory.mktemp("home"), port, ip)
        agents.append(a)
        return a.start()

    yield make
    for a in agents:
        rc = a.stop()
        assert rc == 0, f"agent exited with {rc}: {a.output()}"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """A SINGLE agent without an agent password."""
    a = Agent(tmp_path_factory.mktemp("home")).start()
    yield a
    rc = a.stop()
    assert rc == 0, f"agent exited with {rc}: {a.output()}"


PASSWORD = "Secr3t-pw!"


@pytest.fixture(scope="module")
def password_agent(tmp_path_factory):
    """A SINGLE agent whose agent password is PASSWORD."""
    a = Agent(tmp_path_factory.mktemp("home")).start()
    r = a.set_password(PASSWORD)
    assert r.status_code == 200, r.text
    yield a
    rc = a.stop()
    assert rc == 0, f"agent exited with {rc}: {a.output()}"
