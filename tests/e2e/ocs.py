"""A hand-made obshell protocol client for the end-to-end tests.

The SDK can only send well-formed requests; the hostile tests need to craft broken ones
(garbage headers, another key, expired or mismatched headers, tampered bodies), so this module
implements the wire format of spec security-and-sdk §1.3-1.4 directly: an auth header that is
RSA PKCS#1 v1.5 (53-byte chunks, as the SDK) over JSON, and an AES-128-CBC/PKCS#7 body sent as
base64 text. It also talks HTTP over the agent's unix socket, which needs no header at all.
"""

import base64
import http.client
import json
import os
import socket
import time

import requests
from Crypto.Cipher import AES, PKCS1_v1_5
from Crypto.PublicKey import RSA
from Crypto.Util.Padding import pad

AGENT_HEADER = "X-OCS-Agent-Header"
OB_HEADER = "X-OCS-Header"


def rsa_encrypt(public_key_b64: str, plaintext: bytes) -> str:
    """Sectional RSA as the SDK does it: 53-byte plaintext chunks."""
    cipher = PKCS1_v1_5.new(RSA.import_key(base64.b64decode(public_key_b64)))
    chunks = [plaintext[i:i + 53] for i in range(0, len(plaintext), 53)] or [b""]
    return base64.b64encode(b"".join(cipher.encrypt(c) for c in chunks)).decode()


def new_keys() -> bytes:
    return os.urandom(32)


def encrypt_body(keys: bytes, plaintext: bytes, padded: bytes = None) -> str:
    """base64(AES-128-CBC(pad(plaintext))); `padded` replaces the PKCS#7 step when given."""
    cipher = AES.new(keys[:16], AES.MODE_CBC, keys[16:32])
    data = padded if padded is not None else pad(plaintext, 16)
    return base64.b64encode(cipher.encrypt(data)).decode()


class RawClient:
    """Talks to one agent over TCP with hand-built auth headers."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.public_key = requests.get(base_url + "/api/v1/secret", timeout=10).json()["data"][
            "public_key"
        ]

    def header(self, uri, auth="", ts=None, keys=None, public_key=None) -> str:
        fields = {
            "auth": auth,
            "ts": str(int(time.time()) + 60) if ts is None else ts,
            "uri": uri,
            "keys": base64.b64encode(keys if keys is not None else new_keys()).decode(),
        }
        return rsa_encrypt(public_key or self.public_key, json.dumps(fields).encode())

    def request(self, method, uri, body=None, auth="", header_name=OB_HEADER, ts=None,
                header_uri=None, header_value=None, raw_body=None, keys=None, public_key=None,
                headers=None):
        """Sends `method uri`. `body` (a dict or bytes) is encrypted with the header's keys;
        `raw_body` is sent as is. `header_value` replaces the whole header; `header_name=None`
        sends none."""
        keys = keys if keys is not None else new_keys()
        hdrs = dict(headers or {})
        if header_name is not None:
            hdrs[header_name] = header_value if header_value is not None else self.header(
                header_uri if header_uri is not None else uri, auth=auth, ts=ts, keys=keys,
                public_key=public_key)
        data = raw_body
        if body is not None:
            plain = body if isinstance(body, bytes) else json.dumps(body).encode()
            data = encrypt_body(keys, plain)
        return requests.request(method, self.base + uri, data=data, headers=hdrs, timeout=30)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(self._path)
        self.sock = sock


def unix_request(sock_path: str, method: str, uri: str, body=None):
    """One request over the agent's unix socket; returns (status, envelope)."""
    conn = UnixHTTPConnection(sock_path)
    try:
        payload = None if body is None else json.dumps(body)
        hdrs = {} if payload is None else {"Content-Type": "application/json"}
        conn.request(method, uri, body=payload, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()
