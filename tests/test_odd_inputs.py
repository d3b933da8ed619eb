"""Odd inputs a hostile tester sends, each of which once answered 500: they must be a 4xx in the standard shape
(or, for a consent time, hold the lead)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import bearer

YEAR_1_EAST = "0001-01-01T00:00:00+01:00"  # Python cannot move it to UTC (OverflowError)


def assert_4xx(response, status=422):
    assert response.status_code == status, response.text
    assert response.json["error"]["code"]


@pytest.fixture
def key(accounts):
    return accounts.with_key(("write", "read", "dial", "suppressions"))[1]


def test_a_consent_time_outside_the_calendar_holds_the_lead(client, key):
    lead = {"phone": "2125550143", "consent": {"consent_timestamp": YEAR_1_EAST, "consent_text_version": "v1"}}
    response = client.simulate_post("/v1/leads", json=lead, headers=bearer(key))
    assert response.status_code == 201, response.text
    assert response.json["reasons"] == ["invalid_consent"]


def test_a_csv_row_with_such_a_consent_time_does_not_stop_the_file(client, key, import_runner):
    body = f"phone,consent_timestamp,consent_text_version\n2125550144,{YEAR_1_EAST},v1\n2125550145,,\n"
    response = client.simulate_post("/v1/leads/import", body=body,
                                    headers={**bearer(key), "Content-Type": "text/csv", "Prefer": "wait=60"})
    assert response.status_code in (200, 202)
    job = client.simulate_get(response.headers["location"] if response.status_code == 202 else
                              response.headers["content-location"], headers={**bearer(key), "Prefer": "wait=60"}).json
    assert job["status"] == "done", job
    assert job["totals"]["ineligible"] == 2


@pytest.mark.parametrize("path, query", [
    ("/v1/leads", "limit=\u00b2"),  # str.isdigit() is true for a superscript two, int() refuses it
    ("/v1/leads", "source=%00"),
    ("/v1/suppressions", "limit=\u00b2"),
    ("/v1/stats", "to=0001-01-02T00:00:00Z"),
    ("/v1/stats", "from=" + YEAR_1_EAST.replace("+", "%2B")),
])
def test_odd_query_parameters_are_422(client, key, path, query):
    assert_4xx(client.simulate_get(path, query_string=query, headers=bearer(key)))


@pytest.mark.parametrize("body", [{"limit": "\u00b2"}, {"lease_seconds": "\u00b2"}])
def test_odd_claim_numbers_are_422(client, key, body):
    assert_4xx(client.simulate_post("/v1/dial-queue/claim", json=body, headers=bearer(key)))


@pytest.mark.parametrize("fields", [{"duration": "9" * 400}, {"call_time": YEAR_1_EAST}])
def test_odd_postback_values_are_422(client, accounts, db, fields):
    account_id = accounts.create()
    token = db.execute("SELECT l2i_postback_token_create(%s, 'test')", (account_id,)).fetchone()[0]
    query = urlencode({"token": token, "caller_id": "2125550146", "payout": "10", **fields})
    assert_4xx(client.simulate_get("/v1/postbacks/calls", query_string=query))
