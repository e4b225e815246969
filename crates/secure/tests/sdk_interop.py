"""Interop driver for crates/secure/tests/sdk_interop.rs.

Runs the REAL Python SDK (PyPI `obshell`, expected 0.0.9) through its public client API and
records what it would put on the wire, so the Rust test can decode it with our code. Only the
network is replaced: `requests.get` (used by the SDK's /api/v1/info and /api/v1/secret probes)
and `requests.request` (used for the real call) are swapped for fakes that answer like an agent
and record the outgoing request. Everything else - version negotiation, identity handling, AES
key generation, body encryption, header JSON, 53-byte RSA chunking, URL quoting - is the SDK's
own code.

Usage:
  python sdk_interop.py sdk     < {"public_key": "...", "scenarios": [...]}   > results JSON
  python sdk_interop.py decode  < {"private_key": "...", "header": "...", "body": "..."|null}

The `decode` mode is the reverse direction. The SDK has no decrypting code at all (servers
decrypt), so it uses pycryptodome, the crypto library the SDK itself is built on, to read a
header and body that our Rust client produced, exactly as the upstream server would.
"""

import base64
import json
import sys
import time
from importlib.metadata import version as dist_version

import requests


class FakeResponse:
    def __init__(self, status_code, payload):
        self.status_code = status_code
        self._payload = payload

    def json(self):
        return self._payload


def run_sdk(spec):
    # Imported here so that a missing SDK is reported by the import error, not at module load.
    from obshell import ClientSet
    from obshell.auth import password as sdk_password
    from obshell.auth.password import PasswordAuth

    public_key = spec["public_key"]
    results = []
    for sc in spec["scenarios"]:
        probes = []
        sent = []
        aes_keys = []

        def fake_get(url, **_kw):
            probes.append(url)
            if url.endswith("/api/v1/info"):
                return FakeResponse(200, {"data": {
                    "identity": sc["identity"],
                    "version": sc["version"],
                    "supportedAuth": sc.get("supported_auth", ["v2"]),
                    "security": sc.get("security", False),
                    "isObproxyAgent": False,
                }})
            if url.endswith("/api/v1/secret"):
                return FakeResponse(200, {"data": {
                    "ip": "127.0.0.1", "port": 2886, "public_key": sc.get("public_key", public_key)}})
            return FakeResponse(404, {"error": {"errCode": "Common.NotFound", "message": "nf"}})

        def fake_request(method, url, data=None, headers=None, **_kw):
            if isinstance(data, str):
                body = data
            elif isinstance(data, bytes):
                body = data.decode("utf-8")
            elif data:
                raise AssertionError(f"SDK sent an unencrypted body: {data!r}")
            else:
                body = None
            sent.append({"method": method, "url": url, "headers": dict(headers or {}),
                         "body": body})
            return FakeResponse(200, {"data": {"contents": []}})

        # Record the AES key the SDK picked for each request (it keeps it on the request object
        # for response decryption). Wrapping does not change what the SDK sends.
        original_auth = sdk_password.PasswordAuthMethodV2.auth

        def recording_auth(self, req):
            original_auth(self, req)
            aes_keys.append(base64.b64encode(req.aes_keys).decode())

        requests.get = fake_get
        requests.request = fake_request
        sdk_password.PasswordAuthMethodV2.auth = recording_auth
        try:
            client = ClientSet("127.0.0.1", 2886,
                               auth=PasswordAuth(sc.get("password"), sc.get("agent_password")))
            call = sc["call"]
            before = int(time.time())
            if call["kind"] == "get_unfinished_dags":
                result = client.v1.get_unfinished_dags()
            elif call["kind"] == "operate_dag":
                result = client.v1.operate_dag(call["id"], call["operator"])
            elif call["kind"] == "request":
                req = client.v1.create_request(call["uri"], call["method"], data=call.get("data"),
                                               query_param=call.get("query"),
                                               task_type=call.get("task_type", "ob"))
                result = client.v1._handle_ret_request(req)
            elif call["kind"] == "encrypt_password":
                # What the SDK does to `rootPwd` for agents older than 4.2.4.0.
                result = client.v1._encrypt_password(call["password"])
            else:
                raise ValueError(f"unknown call {call['kind']}")
            after = int(time.time())
        finally:
            sdk_password.PasswordAuthMethodV2.auth = original_auth
        if isinstance(result, list):
            result = [str(x) for x in result]
        results.append({"name": sc["name"], "requests": sent, "aes_keys": aes_keys,
                        "probes": probes, "result": result,
                        "time_before": before, "time_after": after})
    return {"sdk_version": dist_version("obshell"), "results": results}


def run_decode(spec):
    from Crypto.Cipher import AES, PKCS1_v1_5
    from Crypto.PublicKey import RSA
    from Crypto.Util.Padding import unpad

    key = RSA.import_key(base64.b64decode(spec["private_key"]))
    k = key.size_in_bytes()
    cipher = PKCS1_v1_5.new(key)
    raw = base64.b64decode(spec["header"])
    if len(raw) % k:
        raise ValueError("header is not a whole number of RSA blocks")
    sentinel = object()
    plain = b""
    for i in range(0, len(raw), k):
        part = cipher.decrypt(raw[i:i + k], sentinel)
        if part is sentinel:
            raise ValueError("RSA PKCS#1 v1.5 decryption failed")
        plain += part
    header = json.loads(plain.decode("utf-8"))
    out = {"header_json": plain.decode("utf-8"), "header": header, "body": None,
           "blocks": len(raw) // k}
    if spec.get("body") is not None:
        keys = base64.b64decode(header["Keys"])
        aes = AES.new(keys[:16], AES.MODE_CBC, keys[16:])
        body = unpad(aes.decrypt(base64.b64decode(spec["body"])), AES.block_size)
        out["body"] = body.decode("utf-8")
    return out


def main():
    mode = sys.argv[1]
    spec = json.load(sys.stdin)
    if mode == "sdk":
        out = run_sdk(spec)
    elif mode == "decode":
        out = run_decode(spec)
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
