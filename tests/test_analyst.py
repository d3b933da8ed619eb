"""The analysts' role stays read-only in every sense (migration 0010):
- one role per database (l2i_<database>_analyst): an analyst of one l2i database cannot even connect to another,
  and a role that was granted nothing cannot connect at all (CONNECT is revoked from PUBLIC);
- it cannot take advisory locks: as l2i_analyst, pg_advisory_lock on a caller's lock key once stalled that
  caller's postbacks and transfers (tested here with the real key: the postback still goes through)."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.conftest import BASE_URL, analyst_role, migrated_database


@pytest.fixture(scope="module")
def other_database():
    with migrated_database("l2i_other") as (name, url):
        yield name, url


@pytest.fixture
def login_roles(database_url):
    """alice: granted this database's analyst role; bob: granted nothing. Dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    alice, bob = f"l2i_test_alice_{suffix}", f"l2i_test_bob_{suffix}"
    database = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{alice}" LOGIN')
        conn.execute(f'CREATE ROLE "{bob}" LOGIN')
        conn.execute(f'GRANT "{analyst_role(database)}" TO "{alice}"')
    yield alice, bob
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP ROLE "{alice}"')
        conn.execute(f'DROP ROLE "{bob}"')


def connect_as(url: str, role: str):
    return psycopg.connect(make_conninfo(url, user=role), autocommit=True)


def test_the_analyst_role_is_named_after_its_database(db, database_url):
    database = conninfo_to_dict(database_url)["dbname"]
    assert db.execute("SELECT l2i_analyst_role()").fetchone()[0] == analyst_role(database)
    assert db.execute("SELECT has_table_privilege(l2i_analyst_role(), 'leads', 'SELECT'), "
                      "has_table_privilege(l2i_analyst_role(), 'api_keys', 'SELECT')").fetchone() == (True, False)
    # The old server-wide role has nothing left here.
    if db.execute("SELECT 1 FROM pg_roles WHERE rolname = 'l2i_analyst'").fetchone():
        assert db.execute("SELECT has_table_privilege('l2i_analyst', 'leads', 'SELECT')").fetchone() == (False,)


def test_an_analyst_reads_its_own_database_and_cannot_connect_to_another(database_url, other_database,
                                                                         login_roles):
    alice, bob = login_roles
    with connect_as(database_url, alice) as conn:
        conn.execute("SELECT count(*) FROM analytics_funnel_daily").fetchone()
        conn.execute("SELECT count(*) FROM leads").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM api_keys")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(other_database[1], alice)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        connect_as(database_url, bob)


def test_an_analyst_cannot_take_advisory_locks(database_url, login_roles):
    alice, _ = login_roles
    with connect_as(database_url, alice) as conn:
        for call in ("pg_advisory_lock(1)", "pg_try_advisory_lock(1)", "pg_advisory_xact_lock(1, 2)",
                     "pg_advisory_lock_shared(1)", "pg_try_advisory_xact_lock_shared(1)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT {call}")


def test_the_service_still_serializes_postbacks_with_its_locks(client, accounts, database_url, login_roles):
    """The service's role takes the caller lock (its postback answers); the analyst cannot take the same key,
    so it cannot hold the postback up."""
    alice, _ = login_roles
    account_id, _ = accounts.with_key()
    with psycopg.connect(database_url, autocommit=True) as conn:
        token = conn.execute("SELECT l2i_postback_token_create(%s, 'x')", (account_id,)).fetchone()[0]
        key = conn.execute("SELECT l2i_caller_lock_key(%s, '+12125550190')", (account_id,)).fetchone()[0]
    with connect_as(database_url, alice) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    done = threading.Event()
    response = {}

    def post():
        response["r"] = client.simulate_get("/v1/postbacks/calls", params={
            "token": token, "caller_id": "2125550190", "payout": "12.50"})
        done.set()

    threading.Thread(target=post, daemon=True).start()
    assert done.wait(30) and response["r"].status_code == 202, response
