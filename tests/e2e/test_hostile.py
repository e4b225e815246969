"""Bad and hostile requests get a clear JSON envelope with the right status and errCode, and
change nothing. Each operator request below targets a FAILED DAG with a body that would pass
it ({"operator": "PASS"}) if it were accepted; after every refusal the DAG must be exactly as
before, and a final well-formed request proves the target was operable all along."""

import base64
import os
import subprocess
import sys
import time

import pytest
import requests
from Crypto.PublicKey import RSA
from Crypto.Util.asn1 import DerSequence

import ocs
from conftest import PASSWORD

PASS = {"operator": "PASS"}


def snapshot(agent, gid):
    d = agent.dag(gid)
    return (d["state"], d["operator"], d["stage"],
            [(n["state"], n["operator"]) for n in d["nodes"]],
            [st["execute_times"] for n in d["nodes"] for st in n["sub_tasks"]])


def error_of(r: requests.Response):
    env = r.json()
    assert env["status"] == r.status_code and env["successful"] is False, env
    assert "data" not in env
    return env["error"]


@pytest.fixture(scope="module")
def failed_dag(password_agent):
    """A FAILED DAG that any accepted operator would change; PASSed for real at the end."""
    gid, _ = password_agent.create_dag("fail")
    password_agent.wait_dag(gid, {"FAILED"})
    uri = f"/api/v1/task/dag/{gid}"
    yield gid, uri, snapshot(password_agent, gid)
    # The same operator, well formed, does change the DAG: the refusals were real.
    r = send(password_agent, uri, body=PASS)
    assert r.status_code == 200, r.text
    assert password_agent.wait_dag(gid, {"SUCCEED"})["operator"] == "PASS"


@pytest.fixture
def target(password_agent, failed_dag):
    """(generic id, uri) of the failed DAG; after each test it must be exactly as it was."""
    gid, uri, before = failed_dag
    yield gid, uri
    assert snapshot(password_agent, gid) == before


def other_key_b64() -> str:
    key = RSA.generate(1024)
    return base64.b64encode(DerSequence([key.n, key.e]).encode()).decode()


def send(agent, uri, **kw):
    kw.setdefault("auth", PASSWORD)
    kw.setdefault("header_name", ocs.AGENT_HEADER)
    return agent.raw().request("POST", uri, **kw)


def expect(r, status, err_code, code=None):
    err = error_of(r)
    assert (r.status_code, err["errCode"]) == (status, err_code), err
    assert err.get("code") == code, err
    assert err["message"]
    return err


def test_no_header_on_a_protected_route(password_agent, target):
    gid, uri = target
    r = send(password_agent, uri, header_name=None, raw_body='{"operator":"PASS"}')
    err = expect(r, 400, "Request.Header.NotFound")
    assert err["message"] == "X-OCS-Agent-Header or X-OCS-Header not found in http request header"
    r = requests.get(password_agent.base_url + "/api/v1/task/dag/unfinish", timeout=10)
    expect(r, 400, "Request.Header.NotFound")


@pytest.mark.parametrize("value", ["garbage", "!!!not base64!!!", base64.b64encode(b"x" * 128).decode()])
def test_garbage_header(password_agent, target, value):
    r = send(password_agent, target[1], header_value=value, body=PASS)
    expect(r, 401, "Security.Authentication.Header.DecryptFailed", code=1)
    assert r.json()["traceId"] == ""


def test_garbage_header_fails_on_public_routes_too(password_agent):
    r = requests.get(password_agent.base_url + "/api/v1/info",
                     headers={ocs.OB_HEADER: "garbage"}, timeout=10)
    expect(r, 401, "Security.Authentication.Header.DecryptFailed", code=1)


def test_header_encrypted_with_another_key(password_agent, target):
    r = send(password_agent, target[1], body=PASS, public_key=other_key_b64())
    expect(r, 401, "Security.Authentication.Header.DecryptFailed", code=1)


def test_wrong_password(password_agent, target):
    r = send(password_agent, target[1], body=PASS, auth="not-the-password")
    expect(r, 401, "Security.Authentication.IncorrectAgentPassword", code=10008)


def test_oceanbase_header_when_the_agent_password_is_set(password_agent, target):
    r = send(password_agent, target[1], body=PASS, header_name=ocs.OB_HEADER)
    expect(r, 401, "Security.Authentication.WithAgentPassword", code=10008)


def test_expired_header(password_agent, target):
    r = send(password_agent, target[1], body=PASS, ts=str(int(time.time()) - 5))
    err = expect(r, 401, "Security.Authentication.Expired", code=10008)
    assert err["message"] == "Unauthorized: Authentication expired"


def test_timestamp_not_an_integer(password_agent, target):
    r = send(password_agent, target[1], body=PASS, ts="soon")
    expect(r, 401, "Security.Authentication.Timestamp.Invalid", code=10008)


@pytest.mark.parametrize("header_uri", ["/api/v1/task/dag/unfinish", "{uri}?x=1", "{uri}/"])
def test_uri_mismatch(password_agent, target, header_uri):
    uri = target[1]
    r = send(password_agent, uri, body=PASS, header_uri=header_uri.format(uri=uri))
    expect(r, 401, "Security.Authentication.Header.UriMismatch", code=10008)


def test_tampered_body(password_agent, target):
    keys = ocs.new_keys()
    cipher = bytearray(base64.b64decode(ocs.encrypt_body(keys, b'{"operator": "PASS"}')))
    cipher[-1] ^= 0x5A  # the last block decrypts to different padding
    r = send(password_agent, target[1], keys=keys, raw_body=base64.b64encode(bytes(cipher)))
    expect(r, 401, "Common.Unauthorized", code=10008)


def test_bad_padding(password_agent, target):
    keys = ocs.new_keys()
    plain = b'{"operator": "PASS"}'
    body = ocs.encrypt_body(keys, plain, padded=plain + b"\x00" * (32 - len(plain)))
    r = send(password_agent, target[1], keys=keys, raw_body=body)
    expect(r, 401, "Common.Unauthorized", code=10008)


def test_body_not_a_whole_number_of_blocks(password_agent, target):
    r = send(password_agent, target[1], raw_body=base64.b64encode(b"x" * 20))
    expect(r, 500, "Request.Body.Decrypt.AES.ContentLength.Invalid")


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2", b'"operator"'])
def test_malformed_json(password_agent, target, body):
    r = send(password_agent, target[1], body=body)
    err = expect(r, 400, "Common.BindJsonFailed")
    assert err["message"].startswith("Bind JSON failed: ")


def test_missing_operator(password_agent, target):
    r = send(password_agent, target[1], body={})
    expect(r, 400, "Common.BindJsonFailed")


@pytest.mark.parametrize("op", ["NOPE", "run", ""])
def test_unknown_operator(password_agent, target, op):
    r = send(password_agent, target[1], body={"operator": op})
    expect(r, 400, "Task.Dag.Operator.NotSupport" if op else "Common.BindJsonFailed")


def test_node_accepts_only_pass(password_agent, target):
    node = password_agent.dag(target[0])["nodes"][1]["id"]
    r = send(password_agent, f"/api/v1/task/node/{node}", body={"operator": "RETRY"})
    expect(r, 400, "Task.Node.Operator.NotSupport")


def test_ten_megabyte_body(password_agent, target):
    r = send(password_agent, target[1], raw_body=b"A" * (10 * 1024 * 1024))
    expect(r, 413, "Common.RequestEntityTooLarge")
    # Refused before decryption: even without a valid header the size wins.
    r = send(password_agent, target[1], header_value="garbage", raw_body=b"A" * (10 << 20))
    expect(r, 413, "Common.RequestEntityTooLarge")


def test_bad_query_values(password_agent, target):
    raw = password_agent.raw()
    for q in ["show_details=maybe", "show_details=yes"]:
        uri = f"{target[1]}?{q}"
        r = raw.request("GET", uri, auth=PASSWORD, header_name=ocs.AGENT_HEADER)
        expect(r, 400, "Common.IllegalArgument")
    uri = f"{target[1]}?show_details=F"
    r = raw.request("GET", uri, auth=PASSWORD, header_name=ocs.AGENT_HEADER)
    assert r.status_code == 200 and r.json()["data"]["nodes"] is None


def test_invalid_generic_id(password_agent):
    uri = "/api/v1/task/dag/2123"
    r = send(password_agent, uri, body=PASS)
    expect(r, 400, "Task.GenericID.Invalid")


def test_every_response_is_an_envelope(password_agent):
    base = password_agent.base_url
    r = requests.get(base + "/no/such/path", timeout=10)
    expect(r, 404, "Common.NotFound")
    r = requests.delete(base + "/api/v1/info", timeout=10)
    expect(r, 405, "Common.MethodNotAllowed")
    r = requests.get(base + "/api/v1/time", headers={"X-OBSHELL-Trace-ID": "trace-me"},
                     timeout=10)
    env = r.json()
    assert env["traceId"] == "trace-me" and env["successful"] is True
    assert env["timestamp"] and isinstance(env["duration"], int)
    assert len(requests.get(base + "/api/v1/info", timeout=10).json()["traceId"]) == 16


def test_without_password_ts_is_not_checked_as_upstream(agent):
    """Upstream rule (spec §1.7): on SINGLE without an agent password nothing but the uri is
    checked, so an expired header still passes; a uri mismatch does not."""
    raw = agent.raw()
    uri = "/api/v1/task/dag/unfinish"
    r = raw.request("GET", uri, ts=str(int(time.time()) - 3600))
    assert r.status_code == 200, r.text
    r = raw.request("GET", uri, header_uri="/api/v1/task/dags/agent")
    expect(r, 401, "Security.Authentication.Header.UriMismatch", code=10008)


def test_unix_socket_needs_no_header_but_checks_the_uid(agent):
    status, env = agent.unix("GET", "/api/v1/task/dag/unfinish")
    assert status == 200 and env["data"]["contents"] is not None
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another uid")
    # The test homes sit in private temp dirs; a hard link in /tmp reaches the same socket.
    link = f"/tmp/obshell-e2e-{os.getpid()}-{agent.port}.sock"
    if os.path.exists(link):
        os.unlink(link)
    os.link(agent.socket_path, link)
    os.chmod(link, 0o777)
    probe = (
        "import os, sys; sys.path.insert(0, sys.argv[2]); import ocs, json; os.setuid(65534); "
        "s, env = ocs.unix_request(sys.argv[1], 'GET', '/api/v1/task/dag/unfinish'); "
        "print(s, env['error']['errCode'])"
    )
    try:
        out = subprocess.run([sys.executable, "-c", probe, link, os.path.dirname(__file__)],
                             capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(link)
    assert out.stdout.split() == ["401", "Security.User.PermissionDenied"], out.stderr
