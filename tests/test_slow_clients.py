"""Slow or stalled clients against a real gunicorn without nginx (l2i/guard.py): more stalled connections than
the worker has request threads do not stop /healthz from answering, and each of them is cut off.

The stalled clients trickle a byte now and then (slowloris), so a plain read timeout alone would not free the
threads: only the deadline on the whole head (or body) does. With gunicorn's own gthread worker, the two request
threads stay held for as long as the clients go on, and /healthz is never answered.
"""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from gunicorn_server import running_gunicorn

pytestmark = pytest.mark.slow

THREADS = 2
ENV = {"L2I_THREADS": str(THREADS), "L2I_READ_TIMEOUT": "2", "L2I_BODY_TIMEOUT": "3", "L2I_IMPORT_THREADS": "0",
       "L2I_LOG_LEVEL": "warning"}
GIVE_UP_S = 60  # a bound on waiting for an answer: reaching it means the server hung (not a measurement)


def trickle(sock: socket.socket, first: bytes, drip: bytes, stop: threading.Event) -> None:
    """Send `first`, then `drip` every half second, until stopped or the server closes the connection."""
    try:
        sock.sendall(first)
        while not stop.wait(0.5):
            sock.sendall(drip)
    except OSError:
        pass  # the server closed it


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(GIVE_UP_S)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_stalled_clients_beyond_the_thread_count_do_not_stop_healthz(database_url, accounts):
    key = accounts.with_key()[1].encode()
    with running_gunicorn(database_url, env=ENV, workers=1) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        stop = threading.Event()
        heads, bodies, drips = [], [], []
        try:
            for n in range(THREADS * 2):  # heads that never end
                sock = socket.create_connection(("127.0.0.1", port))
                heads.append(sock)
                drips.append(threading.Thread(target=trickle, args=(
                    sock, b"GET /healthz HTTP/1.1\r\nHost: l2i\r\n", b"X-Slow: 1\r\n", stop), daemon=True))
            for n in range(THREADS):  # bodies that never end
                sock = socket.create_connection(("127.0.0.1", port))
                bodies.append(sock)
                drips.append(threading.Thread(target=trickle, args=(
                    sock, b"POST /v1/leads HTTP/1.1\r\nHost: l2i\r\nAuthorization: Bearer " + key
                    + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", b" ", stop),
                    daemon=True))
            for thread in drips:
                thread.start()

            # Sent after every stalled client has connected and started: answered all the same.
            with urllib.request.urlopen(base_url + "/healthz", timeout=GIVE_UP_S) as response:
                assert response.status == 200

            for sock in heads:
                assert read_all(sock) == b""  # closed without an answer
            for sock in bodies:
                answer = read_all(sock)
                assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                assert b'"code":"request_timeout"' in answer
        finally:
            stop.set()
            for sock in heads + bodies:
                sock.close()
        log = base_url.log()
        assert log.count("the request head did not arrive within 2 s") == THREADS * 2
        assert log.count("request body too slow") == THREADS
