"""Claims under contention: 8 claimers against 1,000 queued leads hand out every lead exactly once.

Real parallel connections: in the first test each thread has its own psycopg connection and runs the claim
statement itself; in the second the threads go through the HTTP app and its pool (30 connections).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import falcon.testing
import psycopg
import pytest
from psycopg.rows import dict_row

from l2i import sql
from l2i.app import create_app
from tests.conftest import bearer
from tests.test_dialing import NOON, Clock

CLAIMERS, LEADS = 8, 1000

pytestmark = pytest.mark.slow


def seed(db, account_id: str, count: int) -> set[str]:
    """count queued Texas leads, due since 2000, inserted in one statement (intake is not under test here)."""
    rows = db.execute("""
        WITH ins AS (
            INSERT INTO leads (account_id, phone, status, consent)
            SELECT %(account)s, '+1512' || lpad(i::text, 7, '0'), 'new',
                   '{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v1"}'
            FROM generate_series(2000000, 2000000 + %(count)s - 1) AS i
            RETURNING id, phone)
        INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before)
        SELECT id, %(account)s, phone, ARRAY['TX'], ARRAY['America/Chicago', 'America/Denver'], '2000-01-01Z' FROM ins
        RETURNING lead_id""", {"account": account_id, "count": count}).fetchall()
    return {str(row[0]) for row in rows}


def run_claimers(claim_batch) -> list[str]:
    """CLAIMERS threads, released together, each claiming until the queue is empty; every lead id handed out."""
    start = threading.Barrier(CLAIMERS)

    def claimer(_):
        got = []
        start.wait()
        while batch := claim_batch():
            got.extend(batch)
        return got

    with ThreadPoolExecutor(CLAIMERS) as pool:
        results = list(pool.map(claimer, range(CLAIMERS)))
    assert sum(1 for r in results if r) > 1, "the claimers did not overlap at all"
    return [lead for result in results for lead in result]


def assert_each_once(handed: list[str], queued: set[str]) -> None:
    twice = [lead for lead, n in Counter(handed).items() if n > 1]
    assert twice == [], f"{len(twice)} leads were handed out more than once"
    assert set(handed) == queued


def test_eight_claimers_on_their_own_connections_hand_out_each_lead_once(accounts, db, database_url):
    account_id, _ = accounts.with_key(scopes=("dial",))
    queued = seed(db, account_id, LEADS)
    local = threading.local()

    def claim_batch():
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(database_url, autocommit=True, row_factory=dict_row)
        rows = sql.many(local.conn, "dial_claim", now=NOON, account_id=account_id, api_key_id=None, limit=10,
                        lease_seconds=300, campaign_ids=None)
        return [str(row["lead_id"]) for row in rows]

    handed = run_claimers(claim_batch)
    assert_each_once(handed, queued)
    statuses = dict(db.execute("SELECT status, count(*) FROM leads WHERE account_id = %s GROUP BY status",
                               (account_id,)).fetchall())
    assert statuses == {"dialing": LEADS}
    events = db.execute("SELECT count(*), count(DISTINCT lead_id) FROM lead_events WHERE account_id = %s",
                        (account_id,)).fetchone()
    assert events == (LEADS, LEADS)


def test_eight_claimers_through_http_hand_out_each_lead_once(accounts, db, config, pool):
    account_id, key = accounts.with_key(scopes=("dial",), rate_limit=100_000)
    queued = seed(db, account_id, LEADS)
    client = falcon.testing.TestClient(create_app(config, pool, clock=Clock(NOON)))

    def claim_batch():
        response = client.simulate_post("/v1/dial-queue/claim", json={"limit": 7, "lease_seconds": 60},
                                        headers=bearer(key))
        assert response.status_code == 200, response.text
        return [lead["lead_id"] for lead in response.json["data"]]

    handed = run_claimers(claim_batch)
    assert_each_once(handed, queued)
