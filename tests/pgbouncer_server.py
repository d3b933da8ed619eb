"""A real pgbouncer for tests and benchmarks: `with running_pgbouncer(database_url) as url: ...`.

It writes a scratch configuration (transaction pooling, a free loopback port, trust auth for the current user)
into a scratch directory, starts Debian's pgbouncer (1.18) in the foreground, waits until it answers, and stops it
(SIGTERM, then SIGKILL) on the way out. The url it yields is database_url with host and port replaced by
pgbouncer's, and carries the admin console's conninfo (`.admin_url`) for SHOW POOLS / SHOW STATS.

pgbouncer refuses to run as root: as root it is started with `-u postgres` (the scratch directory is handed to
that user), as anyone else it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from gunicorn_server import free_port, stop

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


class BouncerURL(str):
    admin_url: str
    log_path: Path
    process: subprocess.Popen

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def show(self, what: str) -> list[dict]:
        """SHOW POOLS / STATS / SERVERS ... on the admin console, as dicts."""
        with psycopg.connect(self.admin_url, autocommit=True, prepare_threshold=None) as conn:
            cur = conn.execute(f"SHOW {what}", prepare=False)  # the console takes simple statements only
            names = [c.name for c in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]


def _server_of(database_url: str) -> dict:
    """Where database_url really connects (host or socket directory, port, user, database), as libpq resolved it."""
    with psycopg.connect(database_url) as conn:
        return {"host": conn.info.host, "port": conn.info.port, "user": conn.info.user, "dbname": conn.info.dbname}


@contextlib.contextmanager
def running_pgbouncer(database_url: str, *, pool_size: int = 8, statement_timeout_ms: int = 5000,
                      extra_settings: str = "", ready_timeout_s: float = 15):
    """pgbouncer in transaction pooling in front of database_url's database, with pool_size server connections.

    The statement timeout is set on each server connection by connect_query, as the README tells operators to do
    (l2i cannot send it as a startup option through pgbouncer 1.18). extra_settings: more lines for [pgbouncer].
    """
    server = _server_of(database_url)
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="l2i-pgbouncer-"))
    run_as = ["-u", "postgres"] if os.geteuid() == 0 else []
    ini = scratch / "pgbouncer.ini"
    ini.write_text(f"""\
[databases]
{server['dbname']} = host={server['host']} port={server['port']} dbname={server['dbname']} connect_query='SET statement_timeout = {statement_timeout_ms}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {scratch}/userlist.txt
admin_users = {server['user']}
pool_mode = transaction
default_pool_size = {pool_size}
max_client_conn = 400
logfile = {scratch}/pgbouncer.log
pidfile =
{extra_settings}
""")
    (scratch / "userlist.txt").write_text(f'"{server["user"]}" ""\n')
    if run_as:
        uid = pwd.getpwnam("postgres").pw_uid
        for path in (scratch, *scratch.iterdir()):
            os.chown(path, uid, -1)
    process = subprocess.Popen([PGBOUNCER, *run_as, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = BouncerURL(make_conninfo(database_url, host="127.0.0.1", port=str(port)))
    url.admin_url = make_conninfo(url, dbname="pgbouncer")
    url.log_path, url.process = scratch / "pgbouncer.log", process
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {process.returncode}: "
                                   f"{url.log() if url.log_path.exists() else ''}")
            try:
                with psycopg.connect(url, connect_timeout=2, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        stop(process)
        shutil.rmtree(scratch, ignore_errors=True)

