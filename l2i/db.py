"""The connection pool: one per process, opened after gunicorn forks (in get_app, never in the master)."""

from __future__ import annotations

import logging

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from l2i.config import Config

log = logging.getLogger("l2i.db")


def open_pool(config: Config, *, name: str = "l2i", application_name: str = "l2i") -> ConnectionPool:
    """A pool of autocommit connections with dict rows and a server-side statement timeout.

    Every statement the service sends is a whole transaction by itself, so autocommit is the right mode.
    The pool does not wait for its connections at start-up: if the database is down, requests answer 503
    until it is back, and the pool reconnects on its own.
    """
    pool = ConnectionPool(
        config.database_url,
        min_size=config.pool_size,
        max_size=config.pool_size,
        timeout=config.pool_timeout_s,
        name=name,
        open=False,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "connect_timeout": config.connect_timeout_s,
            "options": f"-c statement_timeout={config.statement_timeout_ms} -c TimeZone=UTC",
            "application_name": application_name,
        },
    )
    pool.open(wait=False)
    return pool
