"""l2i behind a real nginx (Debian's package; `make test` installs it), configured with the shipped
deploy/nginx/l2i.conf on free loopback ports: a lead goes through with consent.ip from the address nginx forwarded,
a body over the limit is refused by nginx in l2i's error shape, 20 slowloris connections do not stop /healthz
answering, and no token reaches nginx's logs or l2i's.

The client connects from 127.0.0.2 (all of 127.0.0.0/8 is the loopback interface on Linux), nginx from 127.0.0.1:
so "the address nginx forwarded" differs from nginx's own, which l2i trusts (L2I_TRUSTED_PROXIES default)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gunicorn_server import free_port, running_gunicorn, stop
from l2i.config import Config
from tests.conftest import QUICKSTART_LEAD, bearer

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "l2i.conf"
CLIENT_ADDRESS = "127.0.0.2"
POSTBACK_TOKEN = "l2ipb_" + "5eca" * 16
LEAD_TOKEN = "lt" + "7e57" * 12
SOURCE_TOKEN = "l2is_0123abcd" + "50ce" * 14  # l2i logs the non-secret prefix, l2is_0123abcd


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not found:
        pytest.fail("nginx is not installed: `make test` installs it (apt-get install nginx)")
    return found


def scratch_config(directory: Path, nginx_port: int, gunicorn_port: int) -> Path:
    """nginx.conf for this test: the shipped l2i.conf inside an http block, its ports and log paths replaced."""
    text = SHIPPED.read_text()
    for old, new in (("server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};"),
                     ("listen 80;", f"listen 127.0.0.1:{nginx_port};"),
                     ("/var/log/nginx/l2i.access.log", str(directory / "l2i.access.log")),
                     ("/var/log/nginx/l2i.error.log", str(directory / "l2i.error.log"))):
        assert text.count(old) == 1, f"deploy/nginx/l2i.conf no longer has {old!r} once: update this test"
        text = text.replace(old, new)
    (directory / "l2i.conf").write_text(text)
    temp_paths = "\n".join(f"    {kind}_temp_path {directory / kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root root;" if os.geteuid() == 0 else ""
    conf = directory / "nginx.conf"
    # The http-level access_log is what Debian's nginx.conf has: l2i's server block must override it.
    conf.write_text(f"""{user}
daemon off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "main.error.log"} warn;
events {{ worker_connections 512; }}
http {{
{temp_paths}
    access_log {directory / "default.access.log"};
    include {directory / "l2i.conf"};
}}
""")
    return conf


@contextlib.contextmanager
def running_nginx(gunicorn_port: int):
    nginx = nginx_binary()
    directory = Path(tempfile.mkdtemp(prefix="l2i-nginx-"))
    port = free_port()
    conf = scratch_config(directory, port, gunicorn_port)
    early_log = directory / "startup.log"
    check = subprocess.run([nginx, "-t", "-q", "-e", str(early_log), "-p", str(directory), "-c", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([nginx, "-e", str(early_log), "-p", str(directory), "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, f"nginx exited: {process.stderr.read().decode()}"
            try:
                status, _, _ = request(port, "GET", "/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "nginx did not answer /healthz"
            time.sleep(0.1)
        yield port, directory
    finally:
        stop(process, signal.SIGQUIT)  # graceful: writes what it has
        shutil.rmtree(directory, ignore_errors=True)


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 10, source: str = CLIENT_ADDRESS) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stack(database_url):
    # One worker with 4 threads: little enough that slow clients reaching gunicorn would block it.
    env = {"L2I_LOG_LEVEL": "info", "L2I_THREADS": "4"}
    with running_gunicorn(database_url, env=env, workers=1) as base_url:
        with running_nginx(int(base_url.rsplit(":", 1)[1])) as (port, directory):
            yield port, directory, base_url


@pytest.fixture
def key(accounts):
    return accounts.with_key(("write", "read"))[1]


def test_the_shipped_limits_match_the_service_defaults():
    text = SHIPPED.read_text()
    sizes = re.findall(r"client_max_body_size (\d+)([km]);", text)
    in_bytes = [int(n) * {"k": 1024, "m": 1024 * 1024}[unit] for n, unit in sizes]
    assert in_bytes == [Config.max_body_bytes, Config.max_import_bytes]


def test_a_lead_through_nginx_gets_the_forwarded_client_address_as_consent_ip(stack, key):
    port, _, _ = stack
    headers = {**bearer(key), "Content-Type": "application/json", "X-Forwarded-For": "6.6.6.6"}  # forged
    status, answer_headers, body = request(port, "POST", "/v1/leads", json.dumps(
        {**QUICKSTART_LEAD, "phone": "2125550180"}).encode(), headers)
    assert status == 201, body
    assert answer_headers["x-request-id"]
    lead_id = json.loads(body)["lead_id"]
    status, _, body = request(port, "GET", f"/v1/leads/{lead_id}", headers=bearer(key))
    lead = json.loads(body)
    assert status == 200 and lead["consent"]["ip"] == CLIENT_ADDRESS, lead["consent"]
    assert lead["gates"]["consent"]["ip_from"] == "client_address"


def test_a_body_over_the_limit_is_refused_by_nginx_in_the_error_shape(stack, key):
    port, _, base_url = stack
    lead = json.dumps({**QUICKSTART_LEAD, "phone": "2125550181", "note": "x" * Config.max_body_bytes}).encode()
    status, headers, body = request(port, "POST", f"/v1/leads?token={POSTBACK_TOKEN}", lead,
                                    {**bearer(key), "Content-Type": "application/json", "X-Request-Id": "big-1"})
    assert status == 413 and headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and re.fullmatch(r"[0-9a-f]{32}", error["request_id"])
    assert "request_id=big-1" not in base_url.log(), "the body reached gunicorn"
    # The import takes more than 64 KiB (its own location).
    rows = "".join(f"212555{i:04d},Row {i},{'n' * 120}\n" for i in range(3000, 3600))
    status, _, body = request(port, "POST", "/v1/leads/import", ("phone,first_name,notes\n" + rows).encode(),
                              {**bearer(key), "Content-Type": "text/csv"}, timeout=120)
    assert len(rows) > Config.max_body_bytes
    assert status in (200, 202), body[:300]  # 202: imports that run as jobs


class Slowloris:
    """Connections that send a request a byte at a time: half stall in the head, half in a POST body."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(count)]

    def _run(self, index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30, source_address=(CLIENT_ADDRESS, 0))
        self.sockets.append(sock)
        if index % 2:
            head = (b"POST /v1/leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 5000\r\n\r\n")
            trickle = b"{" + b" " * 4999
        else:
            head, trickle = b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 4000
        with contextlib.suppress(OSError):
            sock.sendall(head)
            for byte in trickle:
                if self.stop.wait(0.2):
                    break
                sock.sendall(bytes([byte]))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def test_slowloris_connections_do_not_stop_healthz(stack, key):
    port, _, _ = stack
    with Slowloris(port, 20):
        time.sleep(1)  # every slow connection is open and sending
        for attempt in range(10):
            status, _, _ = request(port, "GET", "/healthz", timeout=5)
            assert status == 200, f"attempt {attempt}"
            time.sleep(0.2)
        status, _, body = request(port, "POST", "/v1/leads", json.dumps({**QUICKSTART_LEAD, "phone": "2125550182"})
                                  .encode(), {**bearer(key), "Content-Type": "application/json"}, timeout=5)
        assert status == 201, body


def test_no_token_in_any_log(stack, key):
    port, directory, base_url = stack
    request(port, "GET", f"/v1/postbacks/calls?token={POSTBACK_TOKEN}&caller_id=2125550183&payout=10")
    request(port, "POST", f"/v1/postbacks/calls?token={POSTBACK_TOKEN}", b"caller_id=2125550183",
            {"Content-Type": "application/x-www-form-urlencoded"})
    request(port, "POST", f"/v1/leads?lead_token={LEAD_TOKEN}", json.dumps({"phone": "2125550184"}).encode(),
            {**bearer(key), "Content-Type": "application/json"})
    request(port, "POST", f"/v1/sources/{SOURCE_TOKEN}/leads?lead_token={LEAD_TOKEN}", b"phone=2125550185",
            {"Content-Type": "application/x-www-form-urlencoded"})
    request(port, "POST", f"/v1/postbacks/calls?token={POSTBACK_TOKEN}", b"x" * 70000,
            {"Content-Type": "application/x-www-form-urlencoded"})
    nginx_log = directory / "l2i.access.log"
    deadline = time.monotonic() + 10
    while nginx_log.read_text().count("/v1/postbacks/calls") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = {"nginx access": nginx_log.read_text(), "nginx error": (directory / "l2i.error.log").read_text(),
            "nginx default access": (directory / "default.access.log").read_text(), "l2i": base_url.log()}
    assert logs["nginx access"].count('"GET /v1/postbacks/calls HTTP/1.1" 401') == 1, logs["nginx access"]
    assert '"POST /v1/postbacks/calls HTTP/1.1" 413' in logs["nginx access"]
    assert '"POST /v1/sources/[redacted]/leads HTTP/1.1"' in logs["nginx access"]
    assert "method=GET path=/v1/postbacks/calls status=401" in logs["l2i"]
    assert logs["nginx default access"] == ""
    for name, text in logs.items():
        for secret in (POSTBACK_TOKEN, LEAD_TOKEN, SOURCE_TOKEN, "5eca5eca", "7e577e57", "50ce50ce"):
            assert secret not in text, f"{secret} in the {name} log"
