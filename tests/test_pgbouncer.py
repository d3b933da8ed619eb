"""Many app hosts through pgbouncer: two gunicorn instances (two ports, 2 workers each) share the test database
through a real pgbouncer (Debian's 1.18) in transaction pooling, started here with a scratch config and port.

With L2I_PGBOUNCER=1 l2i sends no startup options and prepares nothing on the server, and nothing it sends relies
on the session (audited below): consecutive statements of one client land on whichever server connection is free.
16 client connections (2 hosts x 2 workers x 4) share 6 server connections, so they really are multiplexed.
The races of test_concurrency, test_dialing_concurrency and test_postbacks hold through it.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import pytest

from gunicorn_server import running_gunicorn
from l2i import sql
from l2i.config import Config
from l2i.db import connection_kwargs, open_pool
from pgbouncer_server import running_pgbouncer
from tests.conftest import QUICKSTART_LEAD

ROOT = Path(__file__).resolve().parent.parent
SERVER_CONNECTIONS = 6
PREPARE_THRESHOLD = 5  # psycopg's default: a statement is prepared on the server at its 5th execution
HOST_ENV = {"L2I_PGBOUNCER": "1", "L2I_POOL_SIZE": "4", "L2I_THREADS": "4"}


@pytest.fixture(scope="module")
def bouncer(database_url):
    with running_pgbouncer(database_url, pool_size=SERVER_CONNECTIONS) as url:
        yield url


@pytest.fixture(scope="module")
def hosts(bouncer):
    with running_gunicorn(bouncer, env=HOST_ENV, workers=2) as one, \
            running_gunicorn(bouncer, env=HOST_ENV, workers=2) as two:
        yield [one, two]
        logs = one.log() + two.log()
    assert "Traceback" not in logs, logs[-3000:]
    # The connect-time check (l2i/db.py) found the statement timeout pgbouncer's connect_query sets.
    assert "statement_timeout" not in logs and "pooler" not in logs, logs[-3000:]


def call(base_url: str, method: str, path: str, *, body=None, key: str | None = None, query: dict | None = None):
    """One HTTP request on its own connection: (status, parsed JSON body)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path + ("?" + urlencode(query) if query else ""),
                     body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def in_parallel(count: int, call_one):
    """call_one(i) in `count` threads released together; results in order."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        return call_one(i)

    with ThreadPoolExecutor(max_workers=count) as executor:
        return list(executor.map(run, range(count)))


# --- intake -------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_parallel_identical_posts_on_two_hosts_create_exactly_one_lead(hosts, accounts, dictdb):
    account_id, key = accounts.with_key()
    results = in_parallel(24, lambda i: call(hosts[i % 2], "POST", "/v1/leads", body=QUICKSTART_LEAD, key=key))
    assert sorted(status for status, _ in results) == [200] * 23 + [201], results
    assert len({body["lead_id"] for _, body in results}) == 1
    rows = dictdb.execute("SELECT duplicate_count FROM leads WHERE account_id = %s", (account_id,)).fetchall()
    assert rows == [{"duplicate_count": 23}]
    assert dictdb.execute("SELECT count(*) AS n FROM dial_queue WHERE account_id = %s",
                          (account_id,)).fetchone()["n"] == 1


@pytest.mark.slow
def test_rate_limit_is_exact_across_two_hosts(hosts, accounts):
    limit = 12
    _, key = accounts.with_key(rate_limit=limit)
    if time.time() % 60 > 50:  # keep the burst inside one window
        time.sleep(61 - time.time() % 60)
    statuses = Counter(s for s, _ in in_parallel(limit + 8, lambda i: call(hosts[i % 2], "GET", "/v1/leads", key=key)))
    assert statuses == {200: limit, 429: 8}


@pytest.mark.slow
def test_many_different_leads_on_two_hosts_are_each_stored_once(hosts, accounts, dictdb):
    """More clients than server connections, each posting new numbers: every 201 is one stored lead."""
    account_id, key = accounts.with_key()

    def post_many(i):
        return [call(hosts[i % 2], "POST", "/v1/leads", key=key,
                     body={**QUICKSTART_LEAD, "phone": f"+1512{620 + i}{n:04d}"}) for n in range(15)]

    results = [r for batch in in_parallel(16, post_many) for r in batch]
    assert Counter(status for status, _ in results) == {201: 16 * 15}
    stored = dictdb.execute("SELECT count(*) AS n, count(DISTINCT phone) AS phones FROM leads WHERE account_id = %s",
                            (account_id,)).fetchone()
    assert stored == {"n": 240, "phones": 240}


# --- claims -------------------------------------------------------------------------------------------------------

def callable_zone(now: datetime) -> str:
    """An IANA zone where it is about 14:00 now, so the real clock of the gunicorn hosts is inside the federal
    calling window (08:00-21:00 local) in that zone (the zone is the queue's, the window rule is not under test)."""
    offset = 14 - now.hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # POSIX sign: Etc/GMT-2 is UTC+2


@pytest.mark.slow
def test_eight_dialers_on_two_hosts_hand_out_each_lead_once(hosts, accounts, db):
    account_id, key = accounts.with_key(scopes=("dial",), rate_limit=100_000)
    zone = callable_zone(datetime.now(timezone.utc))
    queued = {str(row[0]) for row in db.execute("""
        WITH ins AS (
            INSERT INTO leads (account_id, phone, status, consent)
            SELECT %(account)s, '+1512' || lpad(i::text, 7, '0'), 'new',
                   '{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v1"}'
            FROM generate_series(3000000, 3000599) AS i
            RETURNING id, phone)
        INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before)
        SELECT id, %(account)s, phone, '{}'::text[], ARRAY[%(zone)s], '2000-01-01Z' FROM ins
        RETURNING lead_id""", {"account": account_id, "zone": zone}).fetchall()}
    assert db.execute("SELECT l2i_call_allowed(ARRAY[%s], '{}'::text[], now())", (zone,)).fetchone()[0], zone
    start = threading.Barrier(8)

    def dialer(i):
        got = []
        start.wait()
        while True:
            status, body = call(hosts[i % 2], "POST", "/v1/dial-queue/claim", key=key,
                                body={"limit": 7, "lease_seconds": 60})
            assert status == 200, body
            if not body["data"]:
                return got
            got.extend(lead["lead_id"] for lead in body["data"])

    with ThreadPoolExecutor(8) as executor:
        results = list(executor.map(dialer, range(8)))
    assert sum(1 for r in results if r) > 1, "the dialers did not overlap at all"
    handed = [lead for result in results for lead in result]
    assert [lead for lead, n in Counter(handed).items() if n > 1] == [], "a lead was handed out twice"
    assert set(handed) == queued


# --- postbacks ----------------------------------------------------------------------------------------------------

@pytest.fixture
def buyer(accounts, db):
    account_id, key = accounts.with_key()
    token = db.execute("SELECT l2i_postback_token_create(%s, 'test')", (account_id,)).fetchone()[0]
    return account_id, key, token


@pytest.mark.slow
def test_parallel_identical_postbacks_on_two_hosts_count_once(hosts, buyer, db):
    account_id, key, token = buyer
    _, lead = call(hosts[0], "POST", "/v1/leads", key=key, body={"phone": "+15551239001"})
    db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
               "VALUES (%s, %s, '+18005550000', '+15551239001', now())", (lead["lead_id"], account_id))
    query = {"token": token, "caller_id": "+15551239001", "payout": "9.99", "call_id": "bouncer-1"}
    results = in_parallel(12, lambda i: call(hosts[i % 2], "GET", "/v1/postbacks/calls", query=query))
    assert sorted(body["outcome"] for _, body in results) == ["duplicate"] * 11 + ["matched"]
    assert db.execute("SELECT payout_cents FROM transfers WHERE account_id = %s", (account_id,)).fetchone()[0] == 999
    assert db.execute("SELECT count(*), sum(hits) FROM postbacks WHERE account_id = %s",
                      (account_id,)).fetchone() == (1, 12)


@pytest.mark.slow
def test_transfer_and_postback_at_the_same_moment_meet_through_pgbouncer(hosts, buyer, bouncer, db):
    """The postback's lookup and the transfer's trigger serialize on a transaction-scoped advisory lock, which
    pgbouncer's transaction pooling keeps: the transfer is inserted through pgbouncer too."""
    account_id, key, token = buyer
    for n in range(6):
        phone = f"+1555123{9100 + n}"
        _, lead = call(hosts[n % 2], "POST", "/v1/leads", key=key, body={"phone": phone})

        def act(i, phone=phone, lead_id=lead["lead_id"]):
            if i == 0:
                with psycopg.connect(bouncer, autocommit=True, prepare_threshold=None) as conn:
                    conn.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at)"
                                 " VALUES (%s, %s, '+18005550000', %s, now())", (lead_id, account_id, phone))
            else:
                return call(hosts[i % 2], "GET", "/v1/postbacks/calls",
                            query={"token": token, "caller_id": phone, "payout": "3"})

        in_parallel(2, act)
        paid = db.execute("SELECT payout_cents FROM transfers WHERE caller_id = %s AND account_id = %s",
                          (phone, account_id)).fetchone()[0]
        assert paid == 300


# --- why the setting exists, and what it relies on ----------------------------------------------------------------

def test_server_side_prepares_break_behind_pgbouncer_and_the_setting_turns_them_off(database_url):
    """Two clients one after the other on pgbouncer's single server connection: with psycopg's prepares on, the
    second client's first prepared statement collides with the first's (both are named _pg3_0 on one backend);
    with l2i's pgbouncer settings nothing is prepared, and pgbouncer 1.18 refuses l2i's direct-mode options."""
    with running_pgbouncer(database_url, pool_size=1) as url:
        prepared = {**connection_kwargs(Config(database_url=url)), "prepare_threshold": 0}
        prepared.pop("options")  # pgbouncer 1.18 would refuse the connection before any statement
        with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
            psycopg.connect(url, **connection_kwargs(Config(database_url=url)))
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            for _ in range(2):
                with psycopg.connect(url, **prepared) as conn:
                    sql.one(conn, "ping")
        for _ in range(3):
            with psycopg.connect(url, **connection_kwargs(Config(database_url=url, pgbouncer=True))) as conn:
                for _ in range(10):
                    assert sql.one(conn, "ping") == {"in_recovery": False, "read_only": False}


def test_a_pooler_l2i_was_not_told_about_is_noticed_and_prepares_are_turned_off(database_url, caplog):
    """A pgbouncer that ignores the `options` startup parameter lets l2i's direct-mode connections through: l2i
    sees that the backend pid differs from the announced one, turns prepares off for the connection and warns.
    Two connections on one server connection run each statement more often than psycopg's prepare threshold."""
    with running_pgbouncer(database_url, pool_size=1, extra_settings="ignore_startup_parameters = options") as url:
        pool = open_pool(Config(database_url=url, pool_size=2), name="undeclared-pooler")
        try:
            pool.wait(timeout=15)
            for _ in range(3 * PREPARE_THRESHOLD):
                for conn in [pool.getconn(), pool.getconn()]:
                    try:
                        assert conn.prepare_threshold is None
                        assert sql.one(conn, "ping") == {"in_recovery": False, "read_only": False}
                    finally:
                        pool.putconn(conn)
        finally:
            pool.close()
    assert any("set L2I_PGBOUNCER=1" in record.getMessage() for record in caplog.records)


SESSION_STATE = {
    "a session advisory lock (pg_advisory_xact_lock is transaction-scoped)":
        re.compile(r"pg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    "LISTEN/UNLISTEN": re.compile(r"\b(UN)?LISTEN\s+[a-z_\"*]", re.I),
    "set_config(..., false), a session setting": re.compile(r"set_config\s*\([^;]*?,\s*false\s*\)", re.I),
    "a cursor kept open across transactions": re.compile(r"WITH\s+HOLD", re.I),
}
STATEMENT_STARTS = re.compile(r"^\s*(SET|RESET|DISCARD|PREPARE|LISTEN|DECLARE|CREATE\s+TEMP|LOAD)\b", re.I)


def test_nothing_the_service_sends_relies_on_session_state():
    """What the app sends (sql/queries, and the functions and triggers in the schema they call) keeps no state in
    the session beyond the statement's transaction. Admin scripts, the CLI and migrations are not audited: they
    connect to PostgreSQL directly (README, pgbouncer)."""
    found = []
    for path in [*sorted((ROOT / "sql" / "queries").glob("*.sql")), ROOT / "sql" / "schema.sql"]:
        text = path.read_text()
        found += [f"{path.name}: {what}" for what, pattern in SESSION_STATE.items() if pattern.search(text)]
    for query in sql.QUERIES.values():
        if STATEMENT_STARTS.match(query.text):
            found.append(f"query {query.name} is a session command")
    for path in sorted((ROOT / "l2i").rglob("*.py")):
        if path.name in ("cli.py", "migrate.py"):
            continue
        text = path.read_text()
        for pattern in (r"\.execute\(\s*f?[\"'](SET|RESET|LISTEN|PREPARE|DECLARE)\b", r"cursor\(\s*name\s*=",
                        r"prepare\s*=\s*True", r"\.notifies\("):
            if re.search(pattern, text, re.I):
                found.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert found == []


def test_the_audit_catches_what_it_looks_for():
    assert SESSION_STATE["a session advisory lock (pg_advisory_xact_lock is transaction-scoped)"].search(
        "PERFORM pg_advisory_lock(42)")
    assert not SESSION_STATE["a session advisory lock (pg_advisory_xact_lock is transaction-scoped)"].search(
        "PERFORM pg_advisory_xact_lock(42)")
    assert SESSION_STATE["set_config(..., false), a session setting"].search("SELECT set_config('a.b', 'c', false)")
    assert SESSION_STATE["LISTEN/UNLISTEN"].search("LISTEN leads")
    assert STATEMENT_STARTS.match("SET statement_timeout = 0") and not STATEMENT_STARTS.match("UPDATE x SET y = 1")
