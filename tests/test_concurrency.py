"""Races, with real parallel connections: identical posts, the rate limit, and busy keys beside quiet ones."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import falcon.testing

from tests.conftest import QUICKSTART_LEAD, bearer


def in_parallel(count: int, call):
    """Run call(i) in `count` threads released at the same moment; returns the results in order."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=count) as executor:
        return list(executor.map(run, range(count)))


def test_parallel_identical_posts_create_exactly_one_lead(app, accounts, dictdb):
    account_id, key = accounts.with_key()
    client = falcon.testing.TestClient(app)
    responses = in_parallel(25, lambda i: client.simulate_post("/v1/leads", json=QUICKSTART_LEAD,
                                                               headers=bearer(key)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 24 + [201]
    assert len({r.json["lead_id"] for r in responses}) == 1
    assert {r.json["outcome"] for r in responses} == {"created", "duplicate"}
    rows = dictdb.execute("SELECT id, duplicate_count FROM leads WHERE account_id = %s", (account_id,)).fetchall()
    assert len(rows) == 1 and rows[0]["duplicate_count"] == 24
    queued = dictdb.execute("SELECT count(*) AS n FROM dial_queue WHERE account_id = %s", (account_id,)).fetchone()
    assert queued["n"] == 1


def test_parallel_posts_after_30_days_replace_the_old_lead_once(app, accounts, dictdb):
    account_id, key = accounts.with_key()
    client = falcon.testing.TestClient(app)
    old = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key)).json["lead_id"]
    dictdb.execute("UPDATE leads SET created_at = now() - interval '31 days' WHERE id = %s", (old,))
    responses = in_parallel(20, lambda i: client.simulate_post("/v1/leads", json=QUICKSTART_LEAD,
                                                               headers=bearer(key)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    new_ids = {r.json["lead_id"] for r in responses}
    assert len(new_ids) == 1 and old not in new_ids
    open_leads = dictdb.execute("SELECT count(*) AS n FROM leads WHERE account_id = %s AND dedupe_open",
                                (account_id,)).fetchone()
    assert open_leads["n"] == 1


def test_rate_limit_is_exact_under_parallel_requests(app, accounts):
    limit = 12
    _, key = accounts.with_key(rate_limit=limit)
    client = falcon.testing.TestClient(app)
    if time.time() % 60 > 50:  # keep the burst inside one window
        time.sleep(61 - time.time() % 60)
    responses = in_parallel(limit + 8, lambda i: client.simulate_get("/v1/leads", headers=bearer(key)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == limit
    assert statuses.count(429) == 8
    remaining = sorted(int(r.headers["x-ratelimit-remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(limit))


def test_a_busy_key_does_not_hold_up_another_key(app, accounts, database_url):
    """While one key's counter row is locked by another transaction, a second key still gets answers."""
    import psycopg

    _, busy = accounts.with_key()
    _, quiet = accounts.with_key()
    client = falcon.testing.TestClient(app)
    client.simulate_get("/v1/leads", headers=bearer(busy))  # creates the busy key's counter row
    with psycopg.connect(database_url) as blocker:  # not autocommit: the row lock is held until rollback
        blocker.execute("SELECT 1 FROM rate_limit_windows w JOIN api_keys k ON k.id = w.api_key_id "
                        "WHERE k.key_hash = sha256(%s::bytea) FOR UPDATE", (busy.encode(),))
        response = client.simulate_get("/v1/leads", headers=bearer(quiet))
        assert response.status_code == 200
        blocker.rollback()
