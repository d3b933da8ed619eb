"""A real gunicorn for tests and benchmarks: `with running_gunicorn(database_url) as base_url: ...`.

It runs the production config (gunicorn.conf.py) on a free loopback port, waits until /healthz answers, and
stops the server (SIGTERM, then SIGKILL) on the way out. The base_url it yields is a str ("http://127.0.0.1:PORT")
that also carries the master's pid, the worker pids and the server's log, for tests that kill workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"


class BaseURL(str):
    """The server's base URL, plus what a test may need to know about the server behind it."""

    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The master's live child processes (its workers), from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # fields[0] is the state, fields[1] the parent pid; Z (zombie) children are dead already.
            if int(fields[1]) == self.pid and fields[0] != "Z":
                pids.append(int(entry.name))
        return sorted(pids)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 10) -> None:
    """Stops a server started in its own session: sig, then SIGKILL to its whole process group if it has not
    exited within timeout_s."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer /healthz within {deadline_s} s:\n{log_path.read_text()[-4000:]}")


def _wait_workers(base_url: BaseURL, workers: int, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and len(base_url.worker_pids()) < workers:
        time.sleep(0.05)


@contextlib.contextmanager
def running_gunicorn(database_url: str, env: dict[str, str] | None = None, workers: int | None = 2, *,
                     app: str | None = None, ready_timeout_s: float = 30):
    """Start `gunicorn -c gunicorn.conf.py [app]` on 127.0.0.1:<free port>; yield its base URL.

    env adds to (or overrides) the environment: L2I_POOL_SIZE, L2I_STATEMENT_TIMEOUT_MS, ... . app replaces the
    config's wsgi_app (the benchmark's no-database app does). workers=None keeps the config's own count.
    L2I_LOG_LEVEL defaults to warning (no access log).
    """
    port = free_port()
    full_env = {**os.environ, "L2I_LOG_LEVEL": "warning", **(env or {}),
                "DATABASE_URL": database_url, "L2I_BIND": f"127.0.0.1:{port}"}
    if workers is not None:
        full_env["L2I_WORKERS"] = str(workers)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    log_file = tempfile.NamedTemporaryFile(prefix="l2i-gunicorn-", suffix=".log", delete=False)
    args = [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py")] + ([app] if app else [])
    process = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base_url = BaseURL(f"http://127.0.0.1:{port}")
    base_url.process, base_url.log_path = process, Path(log_file.name)
    try:
        _wait_ready(base_url, process, base_url.log_path, ready_timeout_s)
        _wait_workers(base_url, workers or 1, ready_timeout_s)
        yield base_url
    finally:
        stop(process, timeout_s=25)
        log_file.close()
        log_text = base_url.log()
        with contextlib.suppress(OSError):
            if not os.environ.get("L2I_KEEP_GUNICORN_LOG"):
                os.unlink(log_file.name)
    # No response may be a 500 (issue 10): l2i logs each one as "unhandled error", gunicorn its own as
    # "Error handling request". Checked after the server stopped, so it does not hide the test's own failure.
    for sign in ("unhandled error", "Error handling request"):
        if sign in log_text:
            line = next(line for line in log_text.splitlines() if sign in line)
            raise AssertionError(f"gunicorn answered a 500: {line}")
