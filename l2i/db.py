"""The connection pool: one per process, opened after gunicorn forks (in get_app, never in the master)."""

from __future__ import annotations

import functools
import logging
import time

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from l2i import sql
from l2i.config import Config

log = logging.getLogger("l2i.db")

# How long the pool retries one lost connection in the background (1, 2, 4 s apart) before it gives up; the next
# request that finds no connection starts a new attempt at once. psycopg_pool's default, 300 s, lets the gaps grow
# to 16 s and more: after a 17 s failover a worker could wait another 15 s before it tried the new primary
# (tests/test_failover.py saw claims stay at 503 for 30 s after intake had recovered).
RECONNECT_TIMEOUT_S = 5

# The pool's check (pool_check) skips a connection that came back to the pool less than this long ago: it has just
# answered a statement, and one more empty round trip before lending it tells nothing new. A busy worker lends
# each connection many times a second, and every intake takes two (the key's count, then the lead): the checks
# were two of its four round trips (bench/RESULTS.md, issue 13). A connection that sat longer, which is where a
# restart or a failover leaves dead ones, is still tested first.
CHECK_AFTER_IDLE_S = 1.0


class Pool(ConnectionPool):
    """psycopg_pool's ConnectionPool that notes when each connection came back (for _check_if_idle).

    Noted in putconn, on the request's own thread: a `reset` callback would do it too, but psycopg_pool then hands
    every returned connection to its maintenance thread (a queue, a thread switch and a wake-up of the waiting
    clients per loan), which took a fifth of a busy worker's GIL time (py-spy, issue 13)."""

    def putconn(self, conn: psycopg.Connection) -> None:
        conn._l2i_returned_at = time.monotonic()
        super().putconn(conn)


def connection_kwargs(config: Config, application_name: str = "l2i") -> dict:
    """What every connection of the pool is opened with.

    Direct to PostgreSQL, the statement timeout and UTC travel as startup options. Behind pgbouncer in transaction
    pooling (L2I_PGBOUNCER=1) consecutive statements of one client may run on different server connections, so
    nothing may live in the session: no server-side prepared statements (prepare_threshold=None; pgbouncer 1.18
    cannot carry them across transactions, they came in 1.21) and no startup options (1.18 refuses the `options`
    parameter). The statement timeout then comes from pgbouncer's connect_query or the role (README, "pgbouncer").
    """
    kwargs = {
        "autocommit": True,
        "row_factory": dict_row,
        "connect_timeout": config.connect_timeout_s,
        "application_name": application_name,
    }
    if config.pgbouncer:
        kwargs["prepare_threshold"] = None
    else:
        kwargs["options"] = f"-c statement_timeout={config.statement_timeout_ms} -c TimeZone=UTC"
    return kwargs


def open_pool(config: Config, *, name: str = "l2i", application_name: str = "l2i") -> ConnectionPool:
    """A pool of autocommit connections with dict rows and a server-side statement timeout.

    Every statement the service sends is a whole transaction by itself, so autocommit is the right mode, and
    nothing is kept in the session (a pooler in transaction mode may run each statement on another backend).
    The pool does not wait for its connections at start-up: if the database is down, requests answer 503
    until it is back, and the pool reconnects on its own. With pool_check, a connection that died while idle
    (a restart, a failover: DATABASE_URL may list several hosts with target_session_attrs=read-write) is
    replaced before a request gets it; one back from a request less than CHECK_AFTER_IDLE_S ago is lent as is.
    """
    pool = Pool(
        config.database_url,
        min_size=config.pool_size,
        max_size=config.pool_size,
        timeout=config.pool_timeout_s,
        reconnect_timeout=RECONNECT_TIMEOUT_S,
        name=name,
        open=False,
        kwargs=connection_kwargs(config, application_name),
        configure=functools.partial(_configure, config),
        check=_check_if_idle if config.pool_check else None,
    )
    pool.open(wait=False)
    return pool


def _check_if_idle(conn: psycopg.Connection) -> None:
    """ConnectionPool.check_connection for a connection idle CHECK_AFTER_IDLE_S or longer (or never lent)."""
    if time.monotonic() - getattr(conn, "_l2i_returned_at", float("-inf")) >= CHECK_AFTER_IDLE_S:
        ConnectionPool.check_connection(conn)


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    log.warning("%s", message)


def _configure(config: Config, conn: psycopg.Connection) -> None:
    """Runs once on each new connection: notices a pooler l2i was not told about, and settings it lacks."""
    row = sql.one(conn, "session_settings")
    pooled = row["backend_pid"] != conn.info.backend_pid
    if pooled and not config.pgbouncer:
        # A pgbouncer with ignore_startup_parameters=options lets the connection through: prepared statements
        # would then fail at random, so they are turned off here too.
        conn.prepare_threshold = None
        _warn_once("a connection pooler sits between l2i and PostgreSQL (the backend pid differs from the one "
                   "announced): server-side prepared statements are off; set L2I_PGBOUNCER=1")
    if (pooled or config.pgbouncer) and row["statement_timeout"] == "0":
        _warn_once("no statement_timeout on connections through the pooler: set it in pgbouncer's "
                   "connect_query or with ALTER ROLE ... SET statement_timeout (README, pgbouncer)")
