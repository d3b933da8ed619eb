"""Slow or stalled clients must not hold request threads, with or without nginx in front.

gunicorn's gthread worker gives a connection to a request thread once its first bytes arrive; that thread then
reads the rest of the request head, and the application reads the body, with blocking reads that have no time
limit. A client that stalls, or trickles a byte now and then (slowloris), holds the thread for as long as it
likes, and a few such clients hold them all: /healthz itself goes unanswered.

`GuardedThreadWorker` (gunicorn.conf.py's worker_class) is gthread with deadlines on those reads:
- the request head must be whole within L2I_READ_TIMEOUT seconds (default 10) of its first byte; if not, the
  connection is closed (one warning line in the log);
- the body: each read waits at most L2I_READ_TIMEOUT seconds, and the whole body must arrive within
  L2I_BODY_TIMEOUT seconds (default 120: a 50 MB import needs about 420 KB/s); if not, the answer is 408
  `request_timeout` (l2i.errors.ClientTimeout) and the connection is closed.
The time between two requests of a kept-alive connection is gunicorn's `keepalive`, spent in its poller, not in
a thread. Only the socket's reads change: everything else is gthread's own code.
"""

from __future__ import annotations

import logging
import socket
import time

from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

from l2i.config import Config
from l2i.errors import ClientTimeout

log = logging.getLogger("l2i.guard")


class HeadTimeout(NoMoreData):
    """The request head did not arrive in time: gthread closes the connection, as for a client that went away."""


class DeadlineSocket:
    """The client's socket with deadlines on recv(); every other attribute is the socket's own."""

    def __init__(self, sock, read_timeout: float):
        self._sock, self.read_timeout = sock, read_timeout
        self.phase, self.deadline, self.phase_s, self.expired = "head", None, read_timeout, False

    def __getattr__(self, name):
        # Only what this class does not define (fileno, setblocking, sendall, ...): the socket's own method, kept
        # on this wrapper after its first use, since gthread's poller asks for fileno several times a request.
        value = getattr(self._sock, name)
        if callable(value):
            setattr(self, name, value)
        return value

    def expect_head(self) -> None:
        """A new request: its head must be whole within read_timeout of its first byte (the deadline starts at the
        first read, which gthread makes once the socket is readable)."""
        self.phase, self.deadline, self.phase_s, self.expired = "head", None, self.read_timeout, False

    def expect_body(self, body_timeout: float) -> None:
        self.phase, self.deadline, self.phase_s = "body", time.monotonic() + body_timeout, body_timeout
        self.expired = False

    def recv(self, size: int, *flags) -> bytes:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.phase_s
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._expired()
        prior = self._sock.gettimeout()
        self._sock.settimeout(min(remaining, self.read_timeout))
        try:
            return self._sock.recv(size, *flags)
        except socket.timeout:
            raise self._expired() from None
        finally:
            self._sock.settimeout(prior)

    def _expired(self) -> Exception:
        logged, self.expired = self.expired, True  # one line per request, however often gunicorn reads again
        peer = _peer(self._sock)
        if self.phase == "head":
            if not logged:
                log.warning("closed a connection: the request head did not arrive within %s s peer=%s",
                            self.phase_s, peer)
            return HeadTimeout()
        if not logged:
            log.warning("request body too slow: no byte for %s s or not whole within %s s peer=%s",
                        self.read_timeout, self.phase_s, peer)
        self.deadline = 0.0  # every later read fails at once: gunicorn closes instead of draining the rest
        return ClientTimeout(f"The request body did not arrive in time (each read within {self.read_timeout:g} s, "
                             f"the whole body within {self.phase_s:g} s).")


def _peer(sock) -> str:
    try:
        return "%s:%s" % sock.getpeername()[:2]
    except (OSError, TypeError):
        return "-"


class GuardedThreadWorker(ThreadWorker):
    """gthread, with DeadlineSocket around each client socket (plain HTTP; TLS is nginx's job)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = Config.from_env()
        self.read_timeout_s, self.body_timeout_s = config.read_timeout_s, config.body_timeout_s

    def handle(self, conn):
        if not self.cfg.is_ssl and not isinstance(conn.sock, DeadlineSocket):
            conn.sock = DeadlineSocket(conn.sock, self.read_timeout_s)
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.expect_head()
        return super().handle(conn)

    def handle_request(self, req, conn):
        # The head is parsed: from here on, the application reads the body.
        if isinstance(conn.sock, DeadlineSocket):
            conn.sock.expect_body(self.body_timeout_s)
        return super().handle_request(req, conn)
