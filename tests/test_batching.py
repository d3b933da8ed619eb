"""Group commit of single-lead posts (l2i/batching.py), with real parallel connections on a scratch database.

A trigger on leads of that database holds a lead named Slow for a moment (so that the posts sent meanwhile queue
behind it and go as one batch) and refuses one named Boom the way a serialization failure would (a 503 alone).
A batch shows in its leads' created_at: lead_intake stamps a lead with its transaction's start.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import falcon.testing
import psycopg
import pytest
from psycopg.rows import dict_row

from l2i.app import create_app
from l2i.config import Config
from l2i.db import open_pool
from tests.conftest import QUICKSTART_LEAD, Accounts, bearer, migrated_database

TRIGGER = """
CREATE FUNCTION test_slow_or_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.first_name = 'Slow' THEN
        PERFORM pg_sleep(0.6);
    ELSIF NEW.first_name = 'Boom' THEN
        RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_slow_or_boom BEFORE INSERT ON leads FOR EACH ROW EXECUTE FUNCTION test_slow_or_boom();
"""


@pytest.fixture(scope="module")
def database():
    with migrated_database("l2i_batch") as (_, url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TRIGGER)
        yield url


def make_client(url: str, intake_batch: int):
    config = Config(database_url=url, pool_size=12, intake_batch=intake_batch)
    pool = open_pool(config, name="l2i-batch-test")
    pool.wait(timeout=30)
    return pool, falcon.testing.TestClient(create_app(config, pool))


@pytest.fixture(scope="module")
def service(database):
    pool, client = make_client(database, 16)
    yield client
    pool.close()


SLOW_PHONE = "2125559999"  # each test has an account of its own


def slow_stored_now(url: str) -> None:
    """Waits until the Slow lead's insert is in its trigger's pg_sleep (at most 10 s)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(200):
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event = 'PgSleep'").fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the Slow lead never reached its trigger")


def lead(phone: str, first_name: str = "Jane") -> dict:
    return {**QUICKSTART_LEAD, "phone": phone, "first_name": first_name}


def behind_a_slow_lead(client, key: str, bodies: list[dict], url: str) -> tuple[dict, list]:
    """Posts a Slow lead, then `bodies` in parallel while it is being stored: they queue behind it. Each post's
    thread reads its lead back on a connection of its own as soon as it is answered (None: not found). Returns
    the slow post's response and (response, lead row read back) per body."""
    def post(body):
        response = client.simulate_post("/v1/leads", json=body, headers=bearer(key))
        row = None
        if response.status_code in (200, 201):
            with psycopg.connect(url, row_factory=dict_row) as conn:
                row = conn.execute("SELECT id, created_at, duplicate_count FROM leads WHERE id = %s",
                                   (response.json["lead_id"],)).fetchone()
        return response, row

    with ThreadPoolExecutor(max_workers=len(bodies) + 1) as executor:
        slow = executor.submit(post, lead(SLOW_PHONE, "Slow"))
        slow_stored_now(url)  # alone: nothing else was queued
        started = threading.Barrier(len(bodies))

        def queued(body):
            started.wait()
            return post(body)
        answers = list(executor.map(queued, bodies))
    return slow.result()[0], answers


def test_posts_sent_while_a_batch_runs_commit_together_and_each_is_answered_once_stored(service, database):
    _, key = Accounts(database).with_key()
    slow, answers = behind_a_slow_lead(service, key, [lead(f"21255501{n:02d}") for n in range(6)], database)
    assert slow.status_code == 201, slow.text
    assert [r.status_code for r, _ in answers] == [201] * 6
    rows = [row for _, row in answers]
    assert None not in rows  # committed before it was answered: another connection finds it at once
    assert len({row["created_at"] for row in rows}) == 1  # one transaction


def test_two_posts_of_one_number_in_a_batch_are_a_lead_and_its_duplicate(service, database):
    _, key = Accounts(database).with_key()
    slow, answers = behind_a_slow_lead(service, key, [lead("2125550200")] * 4, database)
    assert sorted(r.status_code for r, _ in answers) == [200, 200, 200, 201]
    assert len({r.json["lead_id"] for r, _ in answers}) == 1
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT duplicate_count FROM leads WHERE id = %s",
                            (answers[0][0].json["lead_id"],)).fetchone()[0] == 3


def test_a_lead_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(service, database):
    _, key = Accounts(database).with_key()
    alone = service.simulate_post("/v1/leads", json=lead("2125550300", "Boom"), headers=bearer(key))
    assert alone.status_code == 503, alone.text  # what it gets alone (serialization_failure: try again)
    bodies = [lead(f"21255503{n:02d}") for n in range(1, 5)] + [lead("2125550399", "Boom")]
    slow, answers = behind_a_slow_lead(service, key, bodies, database)
    assert [r.status_code for r, _ in answers] == [201] * 4 + [503]
    assert answers[-1][0].json["error"]["code"] == alone.json["error"]["code"]
    assert None not in [row for _, row in answers[:4]]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE first_name = 'Boom'").fetchone()[0] == 0


def test_intake_batch_1_stores_each_lead_in_its_own_transaction(database):
    pool, client = make_client(database, 1)
    try:
        _, key = Accounts(database).with_key()
        slow, answers = behind_a_slow_lead(client, key, [lead(f"21255504{n:02d}") for n in range(4)], database)
        assert [r.status_code for r, _ in answers] == [201] * 4
        assert len({row["created_at"] for _, row in answers}) == 4
    finally:
        pool.close()
