"""The pool's connection check (L2I_POOL_CHECK, l2i/db.py): a connection that sat idle is tested before it is lent,
so one killed meanwhile (a restart, a failover) is replaced; one that came back from a request a moment ago is
lent without the extra round trip."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from l2i import db
from l2i.config import Config
from tests.conftest import BASE_URL


def kill(pid: int) -> None:
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    time.sleep(0.1)


@pytest.fixture
def pool(database_url, monkeypatch):
    monkeypatch.setattr(db, "CHECK_AFTER_IDLE_S", 0.5)
    pool = db.open_pool(Config(database_url=database_url, pool_size=1), name="l2i-pool-test")
    pool.wait(timeout=10)
    yield pool
    pool.close(timeout=2)


def test_an_idle_connection_is_checked_and_a_just_returned_one_is_not(pool):
    with pool.connection() as conn:
        first = conn.info.backend_pid
    # Killed while idle long enough: the check finds it dead and the pool lends a new one.
    time.sleep(0.6)
    kill(first)
    with pool.connection() as conn:
        second = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
    assert second != first
    # Killed the moment it came back: lent as is, untested, so the request itself meets the dead connection
    # (the 503 a client retries); the pool then drops it.
    kill(second)
    with pytest.raises(psycopg.OperationalError):
        with pool.connection() as conn:
            conn.execute("SELECT 1")
    with pool.connection(timeout=10) as conn:
        assert conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] not in (first, second)
