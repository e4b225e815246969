"""A SINGLE agent with an agent password: the SDK must use X-OCS-Agent-Header with the right
password, everything else is refused with the codes the SDK's retry logic expects; the
password survives a restart and can only be changed with the old one."""

import pytest
import requests
from obshell import OBShellHandleError

from conftest import PASSWORD


def info(agent) -> dict:
    return requests.get(agent.base_url + "/api/v1/info", timeout=10).json()["data"]


def test_info_reports_security(password_agent):
    assert info(password_agent)["security"] is True


def test_sdk_with_the_agent_password_lists_gets_operates_and_waits(password_agent):
    a = password_agent
    c = a.sdk(agent_password=PASSWORD)
    gid, files = a.create_dag("fail")
    a.wait_dag(gid, {"FAILED"})
    # A failed DAG that holds no lock is finished: listed nowhere as unfinished.
    assert gid not in [d.generic_id for d in c.v1.get_unfinished_dags()]
    assert c.v1.get_dag(gid).is_failed()
    (files / "fixed").touch()
    assert c.v1.operate_dag(gid, "RETRY") is True
    dag = c.v1.wait_dag_succeed(gid)
    assert dag.is_succeed() and dag.is_run()


@pytest.mark.parametrize("auth,err_code", [
    ({}, "Security.Authentication.WithAgentPassword"),
    ({"password": PASSWORD}, "Security.Authentication.WithAgentPassword"),
    ({"agent_password": "wrong"}, "Security.Authentication.IncorrectAgentPassword"),
])
def test_sdk_without_the_right_password_is_refused(password_agent, auth, err_code):
    c = password_agent.sdk(**auth)
    with pytest.raises(OBShellHandleError) as e:
        c.v1.get_unfinished_dags()
    assert e.value.err_code == err_code
    assert e.value.code == 10008


def test_password_survives_restart_and_needs_the_old_one_to_change(make_agent, tmp_path):
    a = make_agent(home=tmp_path / "home")
    assert info(a)["security"] is False
    r = a.set_password("pw-first-7Q")
    assert r.status_code == 200 and r.json()["successful"] is True
    assert "data" not in r.json()
    assert a.stop() == 0

    a.start()
    assert info(a)["security"] is True
    assert a.sdk(agent_password="pw-first-7Q").v1.get_unfinished_dags() is not None
    # Changing it needs the old password in the agent header.
    r = a.set_password("pw-second-9Z")
    assert r.status_code == 401
    assert r.json()["error"]["errCode"] == "Security.Authentication.WithAgentPassword"
    r = a.set_password("pw-second-9Z", old="wrong")
    assert r.json()["error"]["errCode"] == "Security.Authentication.IncorrectAgentPassword"
    r = a.set_password("pw-second-9Z", old="pw-first-7Q")
    assert r.status_code == 200, r.text
    with pytest.raises(OBShellHandleError):
        a.sdk(agent_password="pw-first-7Q").v1.get_unfinished_dags()
    assert a.sdk(agent_password="pw-second-9Z").v1.get_unfinished_dags() is not None
    # An empty new password is a bind error, not a way to drop the password.
    r = a.raw().request("POST", "/api/v1/agent/password", body={"password": ""},
                        auth="pw-second-9Z", header_name="X-OCS-Agent-Header")
    assert r.status_code == 400 and r.json()["error"]["errCode"] == "Common.BindJsonFailed"
    # The stored password is encrypted, never plain text.
    files = [a.home / ".meta", a.home / ".meta-wal"]
    stored = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"pw-second-9Z" not in stored and b"pw-first-7Q" not in stored
