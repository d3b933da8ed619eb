"""The database turns read-only (a failover in progress, a standby promoted late): every route answers a clean 503
with Retry-After in the one error shape, never a 500, and /readyz says 503 so the load balancer stops sending.

Read-only is real: `ALTER DATABASE ... SET default_transaction_read_only = on` on a scratch database, which makes
PostgreSQL refuse every write with SQLSTATE 25006 (read_only_sql_transaction), as a standby does."""

from __future__ import annotations

import contextlib

import falcon.testing
import psycopg
import pytest
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

from l2i.app import create_app
from l2i.config import Config
from l2i.db import open_pool
from l2i.errors import RETRY_LATER_SQLSTATES, retry_later
from tests.conftest import BASE_URL, QUICKSTART_LEAD, Accounts, bearer, migrated_database


@contextlib.contextmanager
def client_for(url: str):
    config = Config(database_url=url, pool_size=2, retry_after_s=7)
    pool = open_pool(config, name="l2i-read-only-test")
    try:
        pool.wait(timeout=10)
        yield falcon.testing.TestClient(create_app(config, pool))
    finally:
        pool.close(timeout=2)


def set_read_only(name: str, on: bool) -> None:
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        if on:
            conn.execute(pgsql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on")
                         .format(pgsql.Identifier(name)))
        else:
            conn.execute(pgsql.SQL("ALTER DATABASE {} RESET default_transaction_read_only")
                         .format(pgsql.Identifier(name)))


@pytest.fixture(scope="module")
def scratch():
    with migrated_database("l2i_readonly") as (name, url):
        accounts = Accounts(url)
        account_id, key = accounts.with_key(("write", "read", "dial"))
        with psycopg.connect(url, autocommit=True) as conn:
            token = conn.execute("SELECT l2i_postback_token_create(%s, 'test')",
                                 (account_id,)).fetchone()[0]
        yield name, url, key, token


def assert_retry_later(response):
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "7"
    error = response.json["error"]
    assert error["code"] == "unavailable" and error["request_id"] and set(error) == {"code", "message", "request_id"}


def test_a_read_only_database_answers_503_with_retry_after_on_every_route_then_recovers(scratch):
    name, url, key, token = scratch
    with client_for(url) as client:
        assert client.simulate_get("/readyz").status_code == 200
        assert client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key)).status_code == 201
    set_read_only(name, True)
    try:
        with psycopg.connect(url) as conn:  # it is read-only for real
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("SELECT l2i_account_create('x')")
        with client_for(url) as client:
            ready = client.simulate_get("/readyz")
            assert_retry_later(ready)
            assert "read-only" in ready.json["error"]["message"]
            assert client.simulate_get("/healthz").status_code == 200
            lead = {**QUICKSTART_LEAD, "phone": "2125550199"}
            assert_retry_later(client.simulate_post("/v1/leads", json=lead, headers=bearer(key)))
            # Reads count against the key's rate limit (a write), so they are 503 too, never a 500.
            assert_retry_later(client.simulate_get("/v1/leads", headers=bearer(key)))
            assert_retry_later(client.simulate_post("/v1/dial-queue/claim", json={}, headers=bearer(key)))
            assert_retry_later(client.simulate_post("/v1/suppressions", json={"phone": "2125550100"},
                                                    headers=bearer(key)))
            assert_retry_later(client.simulate_post("/v1/leads/import", body="phone\n2125550101\n",
                                                    headers={**bearer(key), "Content-Type": "text/csv"}))
            # The postback route has no API key: its own write is refused.
            assert_retry_later(client.simulate_get("/v1/postbacks/calls",
                                                   params={"token": token, "caller_id": "2125550102",
                                                           "payout": "12.50"}))
    finally:
        set_read_only(name, False)
    with client_for(url) as client:
        assert client.simulate_get("/readyz").status_code == 200
        lead = {**QUICKSTART_LEAD, "phone": "2125550199"}
        assert client.simulate_post("/v1/leads", json=lead, headers=bearer(key)).status_code == 201


@pytest.mark.parametrize("sqlstate", ["25006", "57P01", "57P02", "57P03", "40001", "40P01", "53300", "55P03",
                                      "57014", "08006"])
def test_try_again_sqlstates_are_retryable(sqlstate):
    # psycopg raises the class registered for the server's SQLSTATE; 25006 is an InternalError, not an
    # OperationalError, which is why it used to escape as a 500.
    exc = psycopg.errors.lookup(sqlstate)()
    assert sqlstate in RETRY_LATER_SQLSTATES and retry_later(exc)


@pytest.mark.parametrize("sqlstate", ["23505", "22P02", "42P01", "XX000"])
def test_other_database_errors_are_not_retryable(sqlstate):
    assert not retry_later(psycopg.errors.lookup(sqlstate)())
