"""Postbacks from buyer platforms: token auth, field spellings, matching by caller id within 4 hours (before or
after the transfer is known), exactly-once counting, replaced amounts, and bad payouts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import falcon.testing
import pytest

from tests.conftest import bearer
from tests.test_concurrency import in_parallel

NOW = datetime.now(timezone.utc).replace(microsecond=0)


class Buyer:
    """An account with a key, a postback token, and a way to record transfers the way the dialer does."""

    def __init__(self, client, accounts, db):
        self.client, self.db = client, db
        self.account_id, self.key = accounts.with_key()
        self.token = db.execute("SELECT l2i_postback_token_create(%s, 'test')", (self.account_id,)).fetchone()[0]

    def transfer(self, phone: str, at: datetime) -> tuple[str, str]:
        lead_id = self.client.simulate_post("/v1/leads", json={"phone": phone}, headers=bearer(self.key)).json["lead_id"]
        transfer_id = self.db.execute(
            "INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
            "VALUES (%s, %s, '+18005550000', %s, %s) RETURNING id::text",
            (lead_id, self.account_id, phone, at)).fetchone()[0]
        return lead_id, transfer_id

    def hit(self, method="GET", token=None, **fields):
        query = {"token": token or self.token, **(fields if method == "GET" else {})}
        if method == "GET":
            return self.client.simulate_get("/v1/postbacks/calls", query_string=urlencode(query))
        return self.client.simulate_post("/v1/postbacks/calls", query_string=urlencode(query),
                                         body=json.dumps(fields), headers={"Content-Type": "application/json"})

    def payout(self, transfer_id):
        return self.db.execute("SELECT payout_cents FROM transfers WHERE id = %s", (transfer_id,)).fetchone()[0]


@pytest.fixture
def buyer(client, accounts, db):
    return Buyer(client, accounts, db)


def test_quickstart_test_hit_matches_the_transfer(buyer):
    lead_id, transfer_id = buyer.transfer("+15551234567", NOW - timedelta(minutes=10))
    response = buyer.hit(caller_id="+15551234567", duration="247", buyer="Acme", payout="38.50")
    assert response.status_code == 200
    assert response.json["outcome"] == "matched"
    assert (response.json["transfer_id"], response.json["lead_id"]) == (transfer_id, lead_id)
    assert response.json["payout_cents"] == 3850
    row = buyer.db.execute("SELECT payout_cents, buyer, duration_s FROM transfers WHERE id = %s",
                           (transfer_id,)).fetchone()
    assert row == (3850, "Acme", 247)


@pytest.mark.parametrize("fields", [
    {"callerid": "5551230001", "revenue": "12"},
    {"ani": "(555) 123-0001", "conversion_payout": "$12.00"},
    {"caller_number": "15551230001", "payout_cents": "1200"},
    {"CallerId": "+15551230001", "Amount": "12.0", "CallUUID": "r-1"},
    {"inboundPhoneNumber": "+15551230001", "conversionAmount": "12", "inboundCallId": "x"},
    {"caller_id": "+15551230001", "payout": "[Call:ConversionPayout]", "revenue": "12"},
])
def test_platform_spellings(buyer, fields):
    _, transfer_id = buyer.transfer("+15551230001", NOW - timedelta(hours=1))
    response = buyer.hit(**fields)
    assert response.json["outcome"] == "matched", response.text
    assert buyer.payout(transfer_id) == 1200


def test_post_as_json_and_form(buyer):
    _, transfer_id = buyer.transfer("+15551230002", NOW)
    assert buyer.hit("POST", caller_id="+15551230002", payout=7.25, call_id="j-1").json["outcome"] == "matched"
    assert buyer.payout(transfer_id) == 725
    form = buyer.client.simulate_post("/v1/postbacks/calls", query_string=f"token={buyer.token}",
                                      body="caller_id=%2B15551230002&payout=8&call_id=j-1",
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.json["outcome"] == "replaced" and buyer.payout(transfer_id) == 800


def test_unknown_fields_are_kept_and_the_token_is_not(buyer):
    response = buyer.hit(caller_id="+15551230003", payout="1", sub_id="s9", sale_sucesful="yes")
    assert response.status_code == 202
    fields = buyer.db.execute("SELECT fields FROM postbacks WHERE id = %s", (response.json["postback_id"],)).fetchone()[0]
    assert fields["sale_sucesful"] == "yes" and fields["sub_id"] == "s9" and "token" not in fields


def test_nearest_transfer_within_4_hours_wins(buyer):
    _, far = buyer.transfer("+15551230004", NOW - timedelta(hours=3))
    # Another lead, same caller id (the dialer's number), nearer in time.
    lead_id = buyer.client.simulate_post("/v1/leads", json={"phone": "2125559004"},
                                         headers=bearer(buyer.key)).json["lead_id"]
    near = buyer.db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
                            "VALUES (%s, %s, '+18005550000', '+15551230004', %s) RETURNING id::text",
                            (lead_id, buyer.account_id, NOW - timedelta(minutes=20))).fetchone()[0]
    response = buyer.hit(caller_id="+15551230004", payout="5", call_time=NOW.isoformat())
    assert response.json["transfer_id"] == near
    assert buyer.payout(far) is None


def test_outside_4_hours_is_unmatched_and_kept(buyer):
    buyer.transfer("+15551230005", NOW - timedelta(hours=4, minutes=1))
    response = buyer.hit(caller_id="+15551230005", payout="5", call_time=NOW.isoformat())
    assert response.status_code == 202 and response.json == {"outcome": "unmatched",
                                                              "postback_id": response.json["postback_id"]}
    unmatched = buyer.db.execute("SELECT count(*) FROM analytics_unmatched_postbacks WHERE account_id = %s",
                                 (buyer.account_id,)).fetchone()[0]
    assert unmatched == 1


def test_postback_before_the_transfer_is_matched_when_the_transfer_arrives(buyer):
    early = buyer.hit(caller_id="+15551230006", payout="20", call_id="early-1", call_time=NOW.isoformat())
    assert early.status_code == 202
    lead_id, transfer_id = buyer.transfer("+15551230006", NOW - timedelta(minutes=2))
    assert buyer.payout(transfer_id) == 2000
    matched = buyer.db.execute("SELECT transfer_id::text FROM postbacks WHERE id = %s",
                               (early.json["postback_id"],)).fetchone()[0]
    assert matched == transfer_id
    again = buyer.hit(caller_id="+15551230006", payout="20", call_id="early-1")
    assert again.json["outcome"] == "duplicate" and again.json["lead_id"] == lead_id


def test_same_postback_twice_counts_once(buyer):
    _, transfer_id = buyer.transfer("+15551230007", NOW)
    first = buyer.hit(caller_id="+15551230007", payout="30", call_id="dup-1")
    second = buyer.hit(caller_id="+15551230007", payout="30", call_id="dup-1")
    assert (first.json["outcome"], second.json["outcome"]) == ("matched", "duplicate")
    assert second.json["postback_id"] == first.json["postback_id"]
    # Without a call id: same caller, time and payout is the same postback.
    third = buyer.hit(caller_id="+15551230007", payout="30", call_time=NOW.isoformat())
    fourth = buyer.hit(caller_id="+15551230007", payout="30", call_time=NOW.isoformat())
    assert fourth.json["outcome"] == "duplicate" and fourth.json["postback_id"] == third.json["postback_id"]
    assert buyer.payout(transfer_id) == 3000
    hits = buyer.db.execute("SELECT sum(hits), count(*) FROM postbacks WHERE account_id = %s",
                            (buyer.account_id,)).fetchone()
    assert tuple(hits) == (4, 2)


def test_a_new_amount_for_a_call_id_replaces_the_old_and_says_so(buyer):
    _, transfer_id = buyer.transfer("+15551230008", NOW)
    buyer.hit(caller_id="+15551230008", payout="30", call_id="rep-1")
    replaced = buyer.hit(caller_id="+15551230008", payout="45.10", call_id="rep-1")
    assert replaced.status_code == 200
    assert replaced.json["outcome"] == "replaced"
    assert (replaced.json["previous_payout_cents"], replaced.json["payout_cents"]) == (3000, 4510)
    assert buyer.payout(transfer_id) == 4510


def test_parallel_identical_postbacks_count_once(app, buyer):
    _, transfer_id = buyer.transfer("+15551230009", NOW)
    client = falcon.testing.TestClient(app)
    query = urlencode({"token": buyer.token, "caller_id": "+15551230009", "payout": "9.99", "call_id": "par-1"})
    responses = in_parallel(12, lambda i: client.simulate_get("/v1/postbacks/calls", query_string=query))
    assert sorted(r.json["outcome"] for r in responses) == ["duplicate"] * 11 + ["matched"]
    assert buyer.payout(transfer_id) == 999
    assert buyer.db.execute("SELECT count(*), sum(hits) FROM postbacks WHERE account_id = %s",
                            (buyer.account_id,)).fetchone() == (1, 12)


def test_transfer_and_postback_at_the_same_moment_still_meet(app, buyer, database_url):
    """The postback's lookup and the transfer's trigger serialize on one advisory lock per number."""
    import psycopg

    client = falcon.testing.TestClient(app)
    for n in range(6):
        phone = f"+1555123{1100 + n}"
        lead_id = client.simulate_post("/v1/leads", json={"phone": phone}, headers=bearer(buyer.key)).json["lead_id"]

        def act(i, phone=phone, lead_id=lead_id):
            if i == 0:
                with psycopg.connect(database_url, autocommit=True) as conn:
                    conn.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at)"
                                 " VALUES (%s, %s, '+18005550000', %s, now())", (lead_id, buyer.account_id, phone))
            else:
                client.simulate_get("/v1/postbacks/calls", query_string=urlencode(
                    {"token": buyer.token, "caller_id": phone, "payout": "3"}))

        in_parallel(2, act)
        paid = buyer.db.execute("SELECT payout_cents FROM transfers WHERE caller_id = %s AND account_id = %s",
                                (phone, buyer.account_id)).fetchone()[0]
        assert paid == 300


@pytest.mark.parametrize("fields, field, code", [
    ({"caller_id": "+15551230010", "payout": "abc"}, "payout", "invalid"),
    ({"caller_id": "+15551230010", "payout": "-5"}, "payout", "invalid"),
    ({"caller_id": "+15551230010", "payout": "100000000"}, "payout", "out_of_range"),
    ({"caller_id": "+15551230010", "payout_cents": "12.5"}, "payout_cents", "invalid"),
    ({"caller_id": "+15551230010", "revenue": "1e9"}, "revenue", "invalid"),
    ({"caller_id": "+15551230010", "duration": "long"}, "duration", "invalid"),
    ({"caller_id": "+15551230010", "call_time": "noonish"}, "call_time", "invalid"),
    ({"caller_id": "12", "payout": "1"}, "caller_id", "invalid"),
    ({"payout": "1"}, "caller_id", "required"),
])
def test_bad_values_are_422_naming_the_field_and_store_nothing(buyer, fields, field, code):
    response = buyer.hit(**fields)
    assert response.status_code == 422
    assert [(f["field"], f["code"]) for f in response.json["error"]["fields"]] == [(field, code)]
    assert buyer.db.execute("SELECT count(*) FROM postbacks WHERE account_id = %s",
                            (buyer.account_id,)).fetchone()[0] == 0


def test_wrong_missing_or_revoked_token_is_401(buyer):
    assert buyer.client.simulate_get("/v1/postbacks/calls", query_string="caller_id=5551234567").status_code == 401
    assert buyer.hit(token="l2ipb_" + "0" * 64, caller_id="5551234567").status_code == 401
    assert buyer.hit(token="nonsense", caller_id="5551234567").status_code == 401
    buyer.db.execute("SELECT * FROM l2i_postback_token_revoke(%s)", (buyer.token,))
    response = buyer.hit(caller_id="5551234567", payout="1")
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_rematch_picks_up_transfers_recorded_out_of_band(buyer):
    waiting = buyer.hit(caller_id="+15551230011", payout="4", call_time=NOW.isoformat()).json["postback_id"]
    lead_id = buyer.client.simulate_post("/v1/leads", json={"phone": "+15551230011"},
                                         headers=bearer(buyer.key)).json["lead_id"]
    # A transfer loaded with the trigger disabled (a bulk restore, say) is only found by the rematch.
    buyer.db.execute("ALTER TABLE transfers DISABLE TRIGGER transfers_match_postbacks")
    try:
        transfer_id = buyer.db.execute(
            "INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
            "VALUES (%s, %s, '+18005550000', '+15551230011', now()) RETURNING id::text",
            (lead_id, buyer.account_id)).fetchone()[0]
    finally:
        buyer.db.execute("ALTER TABLE transfers ENABLE TRIGGER transfers_match_postbacks")
    assert buyer.payout(transfer_id) is None
    assert buyer.db.execute("SELECT l2i_postbacks_rematch(%s)", (buyer.account_id,)).fetchone()[0] == 1
    assert buyer.payout(transfer_id) == 400
    assert buyer.db.execute("SELECT transfer_id::text FROM postbacks WHERE id = %s", (waiting,)).fetchone()[0] == transfer_id


@pytest.mark.parametrize("query", ["call_id=a&call_id=b", "caller_id=5551230012&caller_id=5551230013",
                                   "payout=1&payout=2"])
def test_a_repeated_postback_field_is_422_not_silently_dropped(buyer, query):
    base = "caller_id=5551230012&" if not query.startswith("caller_id") else ""
    response = buyer.client.simulate_get("/v1/postbacks/calls", query_string=f"token={buyer.token}&{base}{query}")
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["code"] == "repeated"


def test_non_ascii_digits_are_not_amounts(buyer):
    response = buyer.hit(caller_id="5551230014", payout="\u0661")
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == "payout"
