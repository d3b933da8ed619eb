"""GET /v1/leads (newest first, filters, cursor) and GET /v1/leads/{id} (the whole lead, account-scoped)."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.conftest import QUICKSTART_LEAD, bearer


@pytest.fixture
def account_with_leads(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    ids = []
    for i in range(7):
        body = {"phone": f"21255503{i:02d}", "source": "a" if i % 2 else "b",
                **({"consent": QUICKSTART_LEAD["consent"]} if i < 4 else {})}
        ids.append(client.simulate_post("/v1/leads", json=body, headers=bearer(key)).json["lead_id"])
    # Spread the creation times one minute apart, oldest first, so the order is certain.
    for age, lead_id in enumerate(reversed(ids)):
        dictdb.execute("UPDATE leads SET created_at = '2026-11-01T12:00:00Z'::timestamptz - %s * interval '1 minute' "
                       "WHERE id = %s", (age, lead_id))
    return key, ids


def get(client, key, **params):
    return client.simulate_get("/v1/leads", params=params, headers=bearer(key))


def test_newest_first_with_limit(client, account_with_leads):
    key, ids = account_with_leads
    response = get(client, key, limit="5")
    assert response.status_code == 200
    data = response.json["data"]
    assert [lead["id"] for lead in data] == ids[::-1][:5]
    assert set(data[0]) == {"id", "status", "phone", "first_name", "last_name", "state", "source", "created_at"}
    assert data[0]["phone"].startswith("+1212555")
    assert response.json["next_cursor"]


def test_cursor_walks_every_lead_once(client, account_with_leads):
    key, ids = account_with_leads
    seen, cursor = [], None
    for _ in range(10):
        page = get(client, key, limit="3", **({"cursor": cursor} if cursor else {})).json
        seen += [lead["id"] for lead in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


def test_filters(client, account_with_leads):
    key, ids = account_with_leads
    assert {lead["id"] for lead in get(client, key, status="ineligible").json["data"]} == set(ids[4:])
    assert {lead["id"] for lead in get(client, key, status="new", source="a").json["data"]} == {ids[1], ids[3]}
    window = get(client, key, since="2026-11-01T11:55:00Z", until="2026-11-01T11:59:00Z").json["data"]
    assert [lead["id"] for lead in window] == [ids[4], ids[3], ids[2], ids[1]]  # since inclusive, until not


@pytest.mark.parametrize("params, field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"status": "sold"}, "status"), ({"since": "last week"}, "since"), ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "bm90fGF8Y3Vyc29y"}, "cursor"),
])
def test_bad_query_parameters_are_422(client, accounts, params, field):
    _, key = accounts.with_key()
    response = get(client, key, **params)
    assert response.status_code == 422
    assert [f["field"] for f in response.json["error"]["fields"]] == [field]


def test_other_accounts_leads_are_invisible(client, accounts, account_with_leads):
    _, ids = account_with_leads
    _, stranger = accounts.with_key()
    assert get(client, stranger).json == {"data": [], "next_cursor": None}
    response = client.simulate_get(f"/v1/leads/{ids[0]}", headers=bearer(stranger))
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("lead_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1' OR '1'='1"])
def test_unknown_lead_is_404(client, accounts, lead_id):
    _, key = accounts.with_key()
    assert client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key)).status_code == 404


def test_whole_lead_shows_what_each_gate_decided(client, accounts):
    _, key = accounts.with_key()
    body = {**QUICKSTART_LEAD, "email": "jane@example.com", "utm_source": "google", "custom": {"plan": "b"},
            "mystery": 1}
    lead_id = client.simulate_post("/v1/leads", json=body, headers=bearer(key)).json["lead_id"]
    lead = client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key)).json
    assert lead["id"] == lead_id and lead["status"] == "new" and lead["reasons"] == []
    assert (lead["phone"], lead["email"], lead["state"]) == ("+15551234567", "jane@example.com", "TX")
    assert lead["consent"]["consent_text_version"] == "webform-v2"
    assert lead["attribution"]["utm_source"] == "google"
    assert lead["custom"] == {"plan": "b"} and lead["extra"] == {"mystery": 1}
    gates = lead["gates"]
    assert gates["phone"]["e164"] == "+15551234567"
    assert gates["suppression"] == {"suppressed": False}
    assert gates["dedupe"]["duplicate"] is False
    assert gates["consent"]["ok"] is True
    assert gates["calling_window"]["zones"] == ["America/Chicago", "America/Denver"]
    # The same instant (compared as instants: the decision record is jsonb, which writes 18:14:43.13283, where the
    # API writes 18:14:43.132830; inside a calling window not_before is the intake's own instant, microseconds and all).
    assert datetime.fromisoformat(lead["queue"]["not_before"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(gates["calling_window"]["not_before"])


def test_held_lead_has_no_queue_entry_and_says_why(client, accounts):
    _, key = accounts.with_key()
    lead_id = client.simulate_post("/v1/leads", json={"phone": "2125550399"}, headers=bearer(key)).json["lead_id"]
    lead = client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key)).json
    assert lead["status"] == "ineligible" and lead["reasons"] == ["missing_consent"] and lead["queue"] is None
    assert lead["gates"]["consent"] == {"ok": False, "reason": "missing_consent",
                                        "missing": ["consent_timestamp", "consent_text_version"]}
