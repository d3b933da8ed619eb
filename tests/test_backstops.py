"""Four tests whose absence let mutants survive (issue 10: by hand, 18 of 22 mutants were killed; these 4 were not).
Each names the mutant it kills; `make mutants` (bench/mutants.py) applies them and runs these tests again.

- dial_claim without SKIP LOCKED: one queued lead locked by another transaction must not hold up a claim of the
  others (a real lock held in another connection, the claim under a short lock_timeout).
- postbacks_account_call_id_key dropped: the API's dedupe is tested elsewhere; here, the database refuses a second
  postback with the same call id even when nothing checked first.
- a 9-digit number accepted as a US phone.
- a key authenticated by its 12-character prefix instead of its hash: a key sharing a real key's prefix is a 401.
"""

from __future__ import annotations

import falcon.testing
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from l2i.app import create_app
from tests.conftest import QUICKSTART_LEAD, bearer
from tests.test_dialing import NOON, Clock, due


@pytest.fixture
def short_lock_timeout_client(config, database_url):
    """The app on a pool whose connections give up on a row lock after 300 ms (lock_timeout): without SKIP LOCKED
    the claim would wait for the locked row and fail; with it, it never waits."""
    pool = ConnectionPool(database_url, min_size=2, max_size=2, open=True, name="l2i-lock-timeout", kwargs={
        "autocommit": True, "row_factory": dict_row,
        "options": "-c lock_timeout=300 -c statement_timeout=5000 -c TimeZone=UTC"})
    pool.wait(timeout=10)
    try:
        yield falcon.testing.TestClient(create_app(config, pool, clock=Clock(NOON)))
    finally:
        pool.close()


def test_a_claim_skips_a_locked_lead_and_returns_the_others_at_once(short_lock_timeout_client, accounts, db,
                                                                     database_url):
    client = short_lock_timeout_client
    _, key = accounts.with_key(("write", "read", "dial"))
    leads = []
    for phone in ("5125550201", "5125550202", "5125550203"):
        response = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "phone": phone}, headers=bearer(key))
        assert response.status_code == 201 and response.json["status"] == "new", response.text
        due(db, response.json["lead_id"])
        leads.append(response.json["lead_id"])
    # The first lead is the claim's first choice (highest priority) and is locked by another transaction.
    db.execute("UPDATE dial_queue SET priority = 9 WHERE lead_id = %s", (leads[0],))
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM dial_queue WHERE lead_id = %s FOR UPDATE", (leads[0],))
        response = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10}, headers=bearer(key))
        assert response.status_code == 200, response.text
        assert sorted(lead["lead_id"] for lead in response.json["data"]) == sorted(leads[1:])
        holder.rollback()
    response = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10}, headers=bearer(key))
    assert [lead["lead_id"] for lead in response.json["data"]] == [leads[0]]


def test_the_database_refuses_a_second_postback_with_the_same_call_id(accounts, db):
    def token_id(account_id):
        db.execute("SELECT l2i_postback_token_create(%s, 'x')", (account_id,))
        return db.execute("SELECT id FROM postback_tokens WHERE account_id = %s", (account_id,)).fetchone()[0]

    account_id = accounts.create()
    insert = ("INSERT INTO postbacks (account_id, token_id, caller_id, call_time, call_id, payout_cents) "
              "VALUES (%s, %s, %s, now(), 'call-77', %s)")
    token = token_id(account_id)
    db.execute(insert, (account_id, token, "+12125550204", 1000))
    with pytest.raises(psycopg.errors.UniqueViolation) as refused:
        db.execute(insert, (account_id, token, "+12125550205", 2000))
    assert refused.value.diag.constraint_name == "postbacks_account_call_id_key"
    # Another account may use the same call id.
    other = accounts.create()
    db.execute(insert, (other, token_id(other), "+12125550204", 1000))


@pytest.mark.parametrize("typed", ["555123456", "212-555-012", "+1 212 555 012", "(212) 555-012"])
def test_a_nine_digit_number_is_not_a_us_phone(client, accounts, typed):
    _, key = accounts.with_key()
    response = client.simulate_post("/v1/leads", json={"phone": typed}, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert response.json["error"]["fields"][0]["field"] == "phone"
    assert "too few digits" in response.json["error"]["fields"][0]["message"]


def test_a_key_sharing_a_real_keys_prefix_is_refused(client, accounts):
    _, key = accounts.with_key()
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 200
    last = key[-1]
    impostor = key[:-1] + ("0" if last != "0" else "1")   # same 12-character prefix, same length, one digit off
    half = key[:12] + key[12:][::-1]                        # same prefix, the rest reversed
    for forged in (impostor, half):
        assert forged[:12] == key[:12] and forged != key
        response = client.simulate_get("/v1/leads", headers=bearer(forged))
        assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized", forged
