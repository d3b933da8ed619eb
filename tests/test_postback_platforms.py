"""Postbacks from more call platforms (issue 9, section 5): CallRail's and Invoca's field names, nested JSON
bodies, unfilled macros of every common spelling, and the per-token rate limit."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import falcon.testing
import pytest

from tests.test_auth import within_one_window
from tests.test_concurrency import in_parallel
from tests.test_postbacks import NOW, Buyer


@pytest.fixture
def buyer(client, accounts, db):
    return Buyer(client, accounts, db)


def post_json(buyer, body: dict, token=None):
    return buyer.client.simulate_post("/v1/postbacks/calls", query_string=urlencode({"token": token or buyer.token}),
                                      body=json.dumps(body), headers={"Content-Type": "application/json"})


def stored(buyer, postback_id) -> tuple:
    return buyer.db.execute("SELECT caller_id, call_id, buyer, duration_s, payout_cents, call_time FROM postbacks "
                            "WHERE id = %s", (postback_id,)).fetchone()


# CallRail's call, as its API v3 ("Retrieving a Single Call", https://apidocs.callrail.com/) and its post-call
# webhook (https://support.callrail.com/hc/en-us/articles/5711246459149-Webhooks: resource_id, start_time,
# customer_name, customer_phone_number, tracking_phone_number, business_phone_number, duration, ...) spell it.
CALLRAIL_CALL = {
    "answered": True,
    "business_phone_number": "+18005550100",
    "customer_city": "Dallas",
    "customer_country": "US",
    "customer_name": "John Doe",
    "customer_phone_number": "+12125550201",
    "customer_state": "TX",
    "direction": "inbound",
    "duration": 247,
    "id": "CAL019c46b9fc277a7881e3728fea20869b",
    "recording": "https://api.callrail.com/v3/a/ACC1/calls/CAL019c46b9fc277a7881e3728fea20869b/recording",
    "recording_duration": 240,
    "resource_id": "CAL019c46b9fc277a7881e3728fea20869b",
    "start_time": (NOW - timedelta(minutes=5)).isoformat(),
    "tracking_phone_number": "+18017846712",
    "voicemail": False,
    "company_name": "Acme Insurance",
}


def test_callrail_post_call_webhook(buyer):
    lead_id, transfer_id = buyer.transfer("+12125550201", NOW - timedelta(minutes=4))
    response = post_json(buyer, CALLRAIL_CALL)
    assert response.status_code == 200, response.text
    assert (response.json["outcome"], response.json["transfer_id"]) == ("matched", transfer_id)
    assert stored(buyer, response.json["postback_id"])[:5] == (
        "+12125550201", "CAL019c46b9fc277a7881e3728fea20869b", "Acme Insurance", 247, None)
    assert post_json(buyer, CALLRAIL_CALL).json["outcome"] == "duplicate"  # CallRail retries: counted once


def test_callrail_nested_in_a_call_object(buyer):
    _, transfer_id = buyer.transfer("+12125550202", NOW - timedelta(minutes=4))
    call = {**CALLRAIL_CALL, "customer_phone_number": "+12125550202", "resource_id": "CAL2", "id": "CAL2"}
    del call["resource_id"]  # inside {"call": {...}}, the call's own id is call.id
    response = post_json(buyer, {"event": "post_call", "call": call, "payout": "38.50"})
    assert response.json["outcome"] == "matched" and response.json["transfer_id"] == transfer_id
    assert stored(buyer, response.json["postback_id"])[1:5] == ("CAL2", "Acme Insurance", 247, 3850)


def test_callrail_legacy_query_string(buyer):
    # The old webhook's query string (deprecated, still sent): callernum, trackingnum, destinationnum, datetime
    # (https://support.callrail.com/hc/en-us/articles/201211133-Webhooks, "Example Request").
    _, transfer_id = buyer.transfer("+17451187568", NOW - timedelta(minutes=1))
    response = buyer.hit(trackingnum="+14047773734", callernum="+17451187568", destinationnum="4041234567",
                         datetime=NOW.strftime("%Y-%m-%d %H:%M:%S"), duration="62")
    assert response.json["outcome"] == "matched" and response.json["transfer_id"] == transfer_id
    assert stored(buyer, response.json["postback_id"])[0] == "+17451187568"


def test_invoca_transaction(buyer):
    # Invoca's transaction fields, as its webhooks and reports name them: calling_phone_number ("Caller ID",
    # formatted like 866-555-1234), transaction_id, complete_call_id ("Call Record ID"), duration,
    # connect_duration, start_time_utc (milliseconds), advertiser_name, affiliate_payout_localized ("Paid"):
    # https://github.com/Invoca/developer-docs/blob/master/source/api_documentation/transactions_api/_network_param_table.rst
    _, transfer_id = buyer.transfer("+12125550203", NOW - timedelta(minutes=10))
    fields = {
        "transaction_id": "0A1B2C3D-4E5F6A7B", "complete_call_id": "0A1B2C3D-00000000",
        "transaction_type": "Call", "calling_phone_number": "212-555-0203", "destination_phone_number": "800-555-0100",
        "duration": "301", "connect_duration": "280", "start_time_utc": str(int((NOW.timestamp() - 600) * 1000)),
        "advertiser_name": "Acme Insurance", "advertiser_campaign_name": "Auto TX",
        "affiliate_payout_localized": "12.50", "call_result_description_detail": "Connected",
    }
    response = buyer.hit(**fields)
    assert response.json["outcome"] == "matched" and response.json["transfer_id"] == transfer_id
    row = stored(buyer, response.json["postback_id"])
    assert row[:5] == ("+12125550203", "0A1B2C3D-00000000", "Acme Insurance", 301, 1250)
    assert row[5].timestamp() == NOW.timestamp() - 600
    # A correction of the same call (a new transaction, same Call Record ID) replaces the amount.
    again = buyer.hit(**{**fields, "transaction_id": "0A1B2C3D-4E5F6A7C", "affiliate_payout_localized": "15.00"})
    assert again.json["outcome"] == "replaced" and buyer.payout(transfer_id) == 1500


def test_a_top_level_field_wins_over_a_nested_one(buyer):
    response = post_json(buyer, {"caller_id": "+12125550204", "payout": "1",
                                 "call": {"caller_id": "+12125550299", "payout": "2"},
                                 "caller": {"id": "not-a-number", "number": "+12125550298"}})
    assert stored(buyer, response.json["postback_id"])[0::4] == ("+12125550204", 100)
    # Nested: a key of its own (caller.number) before a dotted path (caller.id would squash to caller_id).
    response = post_json(buyer, {"caller": {"id": "c-77", "number": "+12125550205"}, "target": {"name": "Zed"}})
    assert response.status_code == 202, response.text
    assert stored(buyer, response.json["postback_id"])[:3] == ("+12125550205", None, "Zed")


@pytest.mark.parametrize("macro", ["[payout]", "[Call:ConversionPayout]", "{payout}", "{{payout}}",
                                   "{{ payout }}", "%payout%", "$payout", "${payout}"])
def test_unfilled_macros_are_absent_not_a_422(buyer, macro):
    response = buyer.hit(caller_id="+12125550206", payout=macro, duration=macro, call_id=macro, buyer=macro,
                         call_time=macro)
    assert response.status_code == 202, response.text
    assert stored(buyer, response.json["postback_id"])[:5] == ("+12125550206", None, None, None, None)
    # A macro is absent, so another spelling of the field can still give the value.
    response = buyer.hit(caller_id=macro, callerid="+12125550207", payout=macro, revenue="$38.50")
    assert stored(buyer, response.json["postback_id"])[0::4] == ("+12125550207", 3850)


def test_an_unfilled_caller_id_is_still_required(buyer):
    response = buyer.hit(caller_id="{{caller_id}}", payout="5")
    assert response.status_code == 422 and response.json["error"]["fields"][0]["code"] == "required"


def make_token(buyer, rate_limit: int) -> str:
    return buyer.db.execute("SELECT l2i_postback_token_create(%s, 'limited', %s)",
                            (buyer.account_id, rate_limit)).fetchone()[0]


def test_token_rate_limit_headers_and_429(buyer):
    token = make_token(buyer, 3)
    within_one_window()
    seen = []
    for n in range(3):
        response = buyer.hit(token=token, caller_id=f"+1212555021{n}", payout="1")
        assert response.status_code == 202
        assert response.headers["x-ratelimit-limit"] == "3"
        assert 0 < int(response.headers["x-ratelimit-reset"]) - time.time() <= 61
        seen.append(int(response.headers["x-ratelimit-remaining"]))
    assert seen == [2, 1, 0]
    refused = buyer.hit(token=token, caller_id="+12125550219", payout="1")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.headers["x-ratelimit-remaining"] == "0"
    assert buyer.db.execute("SELECT count(*) FROM postbacks WHERE caller_id = '+12125550219'").fetchone()[0] == 0
    # Each token counts for itself: the account's other token is not limited by this one.
    other = buyer.hit(caller_id="+12125550219", payout="1")
    assert other.status_code == 202 and other.headers["x-ratelimit-limit"] == "600"


def test_token_rate_limit_is_exact_under_parallel_requests(app, buyer):
    limit, sent = 5, 16
    token = make_token(buyer, limit)
    client = falcon.testing.TestClient(app)
    within_one_window()
    responses = in_parallel(sent, lambda i: client.simulate_get("/v1/postbacks/calls", query_string=urlencode(
        {"token": token, "caller_id": f"+121255502{20 + i}", "payout": "1"})))
    assert sorted(r.status_code for r in responses) == [202] * limit + [429] * (sent - limit)
    counted = buyer.db.execute("SELECT w.hits FROM postback_rate_limit_windows AS w JOIN postback_tokens AS t "
                               "ON t.id = w.token_id WHERE t.token_hash = sha256(%s::bytea)",
                               (token.encode(),)).fetchone()[0]
    assert counted == sent


def test_token_window_resets_next_minute_and_never_reopens(buyer):
    token = make_token(buyer, 1)
    within_one_window()
    window = ("UPDATE postback_rate_limit_windows SET window_start = window_start + %s::interval WHERE token_id = "
              "(SELECT id FROM postback_tokens WHERE token_hash = sha256(%s::bytea))")
    assert buyer.hit(token=token, caller_id="+12125550240", payout="1").status_code == 202
    assert buyer.hit(token=token, caller_id="+12125550241", payout="1").status_code == 429
    buyer.db.execute(window, ("-1 minute", token.encode()))  # the window is last minute's: a new one opens
    assert buyer.hit(token=token, caller_id="+12125550242", payout="1").status_code == 202
    buyer.db.execute(window, ("1 minute", token.encode()))  # a late request counts in the newer window
    assert buyer.hit(token=token, caller_id="+12125550243", payout="1").status_code == 429


def test_cli_sets_a_tokens_rate_limit(database_url, accounts, capsys, db):
    from l2i.cli import main

    account_id, _ = accounts.with_key()
    assert main(["--database-url", database_url, "postback-token", "create", account_id, "--rate-limit", "42"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    assert db.execute("SELECT rate_limit FROM postback_tokens WHERE token_hash = sha256(%s::bytea)",
                      (token.encode(),)).fetchone()[0] == 42
    with pytest.raises(SystemExit):
        main(["--database-url", database_url, "postback-token", "create", account_id, "--rate-limit", "0"])
