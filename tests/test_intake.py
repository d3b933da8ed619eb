"""POST /v1/leads: normalization, the pipeline's outcomes, accepted formats and every validation error."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import phonenumbers
import pytest
from phonenumbers import timezone as phone_zones

from tests.conftest import QUICKSTART_LEAD, bearer


@pytest.fixture
def key(accounts):
    return accounts.with_key()[1]


def post(client, key, body=None, **kwargs):
    return client.simulate_post("/v1/leads", json=body, headers=bearer(key), **kwargs)


def lead_row(dictdb, lead_id):
    return dictdb.execute("SELECT * FROM leads WHERE id = %s", (lead_id,)).fetchone()


def consented(phone, **more):
    return {"phone": phone, "consent": {"consent_timestamp": "2026-07-05T12:00:00Z",
                                        "consent_text_version": "v1"}, **more}


def test_quickstart_lead_is_created_queued_and_normalized(client, key, dictdb):
    response = post(client, key, QUICKSTART_LEAD)
    assert response.status_code == 201
    assert response.json == {"outcome": "created", "lead_id": response.json["lead_id"], "status": "new"}
    assert response.headers["location"] == f"/v1/leads/{response.json['lead_id']}"
    row = lead_row(dictdb, response.json["lead_id"])
    assert row["phone"] == "+15551234567"
    assert (row["first_name"], row["last_name"], row["state"], row["source"]) == ("Jane", "Doe", "TX", "my-webform")
    queued = dictdb.execute("SELECT * FROM dial_queue WHERE lead_id = %s", (row["id"],)).fetchone()
    assert queued is not None
    # Texas: 09:00-21:00 on weekdays in both its zones, so the first legal minute is 09:00 Denver time or later.
    local = queued["not_before"].astimezone(__import__("zoneinfo").ZoneInfo("America/Denver"))
    assert local.time() >= datetime.strptime("09:00", "%H:%M").time()
    assert queued["zones"] == ["America/Chicago", "America/Denver"]


@pytest.mark.parametrize("typed", [
    "5551234567", "(555) 123-4567", "555-123-4567", "555.123.4567", "1 555 123 4567", "15551234567",
    "+15551234567", "+1 (555) 123-4567", 5551234567,
])
def test_phone_formats_normalize_to_e164(client, key, dictdb, typed):
    response = post(client, key, {"phone": typed})
    assert response.status_code == 201, response.text
    assert lead_row(dictdb, response.json["lead_id"])["phone"] == "+15551234567"


@pytest.mark.parametrize("typed, why", [
    ("123", "too few digits"),
    ("555123456789", "too many digits"),
    ("555-CALL-NOW", "only digits"),
    ("5551234567 ext 12", "only digits"),
    ("+44 20 79", "too few digits"),
    ("0551234567", "cannot exist"),
    ("", "required"),
    ("   ", "required"),
    (True, "must be a string"),
    (["5551234567", "2125550100"], "single value"),  # a one-element array is its value (issue 9)
])
def test_phone_that_cannot_be_a_phone_is_422_saying_why(client, key, typed, why):
    response = post(client, key, {"phone": typed})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert [f["field"] for f in error["fields"]] == ["phone"]
    assert why in error["fields"][0]["message"]


def test_missing_phone_is_422(client, key):
    response = post(client, key, {"first_name": "Jane"})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == [{"field": "phone", "code": "required", "message": "is required"}]


def test_every_invalid_field_is_listed_at_once(client, key):
    response = post(client, key, {"phone": "12", "email": "not-an-email", "state": "XX", "zip": "123",
                                  "first_name": {"a": 1}, "custom": "nope", "last_name": "x" * 101})
    assert response.status_code == 422
    fields = {f["field"]: f["code"] for f in response.json["error"]["fields"]}
    assert fields == {"phone": "invalid", "email": "invalid", "state": "invalid", "zip": "invalid",
                      "first_name": "invalid_type", "custom": "invalid_type", "last_name": "too_long"}


def test_lead_without_consent_is_stored_but_held(client, key, dictdb):
    response = post(client, key, {"phone": "2125550101"})
    assert response.status_code == 201
    assert response.json["status"] == "ineligible"
    assert response.json["reasons"] == ["missing_consent"]
    row = lead_row(dictdb, response.json["lead_id"])
    assert row["status"] == "ineligible" and row["reasons"] == ["missing_consent"]
    assert row["gates"]["consent"]["missing"] == ["consent_timestamp", "consent_text_version"]
    assert dictdb.execute("SELECT count(*) AS n FROM dial_queue WHERE lead_id = %s", (row["id"],)).fetchone()["n"] == 0


@pytest.mark.parametrize("consent, reason", [
    ({"consent_timestamp": "2026-07-05T12:00:00Z"}, "missing_consent"),
    ({"consent_text_version": "v1"}, "missing_consent"),
    ({"consent_timestamp": "yesterday", "consent_text_version": "v1"}, "invalid_consent"),
    ({"consent_timestamp": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat(),
      "consent_text_version": "v1"}, "invalid_consent"),
])
def test_incomplete_or_unusable_consent_fails_closed(client, key, consent, reason):
    response = post(client, key, {"phone": "2125550102", "consent": consent})
    assert response.status_code == 201
    assert (response.json["status"], response.json["reasons"]) == ("ineligible", [reason])


@pytest.mark.parametrize("timestamp", ["2026-07-05T12:00:00Z", "2026-07-05T07:00:00-05:00", "2026-07-05 12:00:00",
                                       "1783252800", 1783252800])
def test_consent_timestamp_formats(client, key, dictdb, timestamp):
    response = post(client, key, {"phone": "2125550103", "consent": {"consent_timestamp": timestamp,
                                                                     "consent_text_version": "v1"}})
    assert (response.status_code, response.json["status"]) == (201, "new"), response.text
    consent = lead_row(dictdb, response.json["lead_id"])["consent"]
    assert consent["consent_timestamp"] == "2026-07-05T12:00:00Z"


def test_suppressed_number_is_held(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    dictdb.execute("SELECT * FROM l2i_suppress(%s, ARRAY['(212) 555-0104'])", (account_id,))
    response = post(client, key, consented("+12125550104"))
    assert response.status_code == 201
    assert (response.json["status"], response.json["reasons"]) == ("ineligible", ["suppressed"])
    # Another account's suppression list does not apply.
    other_key = accounts.with_key()[1]
    assert post(client, other_key, consented("+12125550104")).json["status"] == "new"


def test_every_reason_is_reported(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    dictdb.execute("SELECT * FROM l2i_suppress(%s, ARRAY['2125550105'])", (account_id,))
    response = post(client, key, {"phone": "2125550105"})
    assert response.json["reasons"] == ["suppressed", "missing_consent"]


def test_non_us_number_is_stored_and_held(client, key):
    response = post(client, key, consented("+442079460958"))
    assert response.status_code == 201
    assert (response.json["status"], response.json["reasons"]) == ("ineligible", ["not_us_number"])


def test_duplicate_within_30_days_returns_the_existing_lead_and_stores_nothing(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    first = post(client, key, consented("2125550106", first_name="Ann"))
    again = post(client, key, {"phone": "+1 (212) 555-0106", "first_name": "Someone else"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json == {"outcome": "duplicate", "lead_id": first.json["lead_id"], "status": "new"}
    rows = dictdb.execute("SELECT first_name, duplicate_count FROM leads WHERE account_id = %s",
                          (account_id,)).fetchall()
    assert rows == [{"first_name": "Ann", "duplicate_count": 1}]


def test_duplicate_of_a_held_lead_reports_its_status_and_reasons(client, key):
    first = post(client, key, {"phone": "2125550107"})
    again = post(client, key, consented("2125550107"))
    assert again.status_code == 200
    assert again.json == {"outcome": "duplicate", "lead_id": first.json["lead_id"], "status": "ineligible",
                          "reasons": ["missing_consent"]}


def test_same_number_in_another_account_is_not_a_duplicate(client, accounts):
    first = post(client, accounts.with_key()[1], consented("2125550108"))
    second = post(client, accounts.with_key()[1], consented("2125550108"))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json["lead_id"] != second.json["lead_id"]


def test_after_30_days_the_same_number_is_a_new_lead(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    old = post(client, key, consented("2125550109")).json["lead_id"]
    dictdb.execute("UPDATE leads SET created_at = now() - interval '30 days 1 minute' WHERE id = %s", (old,))
    fresh = post(client, key, consented("2125550109"))
    assert fresh.status_code == 201 and fresh.json["lead_id"] != old
    assert post(client, key, consented("2125550109")).json == {
        "outcome": "duplicate", "lead_id": fresh.json["lead_id"], "status": "new"}
    flags = dict(dictdb.execute("SELECT id::text, dedupe_open FROM leads WHERE account_id = %s",
                                (account_id,)).fetchall() and
                 [(r["id"], r["dedupe_open"]) for r in dictdb.execute(
                     "SELECT id::text, dedupe_open FROM leads WHERE account_id = %s", (account_id,))])
    assert flags == {old: False, fresh.json["lead_id"]: True}


def test_just_inside_30_days_is_still_a_duplicate(client, key, dictdb):
    old = post(client, key, consented("2125550110")).json["lead_id"]
    dictdb.execute("UPDATE leads SET created_at = now() - interval '29 days 23 hours' WHERE id = %s", (old,))
    assert post(client, key, consented("2125550110")).json["lead_id"] == old


def test_camel_case_and_other_platforms_spellings(client, key, dictdb):
    response = post(client, key, {
        "phoneNumber": "2125550111", "firstName": "Jane", "lastName": "Doe", "postalCode": "10001",
        "subId": "aff-7", "utmSource": "facebook", "landingPage": "https://example.com/lp",
        "externalId": "crm-1", "trustedFormUrl": "https://cert.trustedform.com/abc",
        "consent": {"consentTimestamp": "2026-07-05T12:00:00Z", "consentTextVersion": "v3"},
    })
    assert (response.status_code, response.json["status"]) == (201, "new"), response.text
    row = lead_row(dictdb, response.json["lead_id"])
    assert (row["first_name"], row["last_name"], row["zip"], row["sub_id"], row["utm_source"], row["landing_page"],
            row["external_id"]) == ("Jane", "Doe", "10001", "aff-7", "facebook", "https://example.com/lp", "crm-1")
    assert row["consent"]["trustedform_cert_url"] == "https://cert.trustedform.com/abc"
    assert row["consent"]["consent_text_version"] == "v3"


def test_unknown_fields_and_custom_pairs_are_kept(client, key, dictdb):
    response = post(client, key, {"phone": "2125550112", "custom": {"loan_amount": 25000, "notes": "call pm"},
                                  "favorite_color": "blue", "nested": {"a": [1, 2]},
                                  "consent": {"checkbox_label": "I agree"}})
    row = lead_row(dictdb, response.json["lead_id"])
    assert row["custom"] == {"loan_amount": 25000, "notes": "call pm"}
    assert row["extra"] == {"favorite_color": "blue", "nested": {"a": [1, 2]}}
    # ip: the client's address (falcon.testing's 127.0.0.1), as no consent.ip was sent (tests/test_nginx.py)
    assert row["consent"] == {"checkbox_label": "I agree", "ip": "127.0.0.1"}


def test_form_post_with_flat_and_bracketed_fields(client, key, dictdb):
    body = urlencode({"phone": "212-555-0113", "first_name": "Form", "consent_timestamp": "2026-07-05T12:00:00Z",
                      "consent[consent_text_version]": "form-v1", "custom[plan]": "gold", "hidden_field": "x"})
    response = client.simulate_post("/v1/leads", body=body, headers={
        **bearer(key), "Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json["status"]) == (201, "new"), response.text
    row = lead_row(dictdb, response.json["lead_id"])
    assert row["first_name"] == "Form" and row["custom"] == {"plan": "gold"} and row["extra"] == {"hidden_field": "x"}
    assert row["consent"]["consent_text_version"] == "form-v1"


def test_query_string_only_post(client, key, dictdb):
    response = client.simulate_post("/v1/leads", query_string=urlencode(
        {"caller_id": "+12125550114", "first_name": "Query", "utm_campaign": "spring"}), headers=bearer(key))
    assert response.status_code == 201, response.text
    row = lead_row(dictdb, response.json["lead_id"])
    assert (row["phone"], row["first_name"], row["utm_campaign"]) == ("+12125550114", "Query", "spring")


def test_body_wins_over_query_string(client, key, dictdb):
    response = client.simulate_post("/v1/leads", query_string="first_name=FromQuery&source=q&phone=2125550000",
                                     json={"phone": "2125550115", "first_name": "FromBody"}, headers=bearer(key))
    row = lead_row(dictdb, response.json["lead_id"])
    assert (row["phone"], row["first_name"], row["source"]) == ("+12125550115", "FromBody", "q")


def test_state_by_name_and_area_code_rules(client, key, dictdb):
    by_name = lead_row(dictdb, post(client, key, consented("2125550116", state="new york")).json["lead_id"])
    assert by_name["state"] == "NY"
    # No state: the area code decides (212 is New York City, one zone).
    no_state = lead_row(dictdb, post(client, key, consented("2125550117")).json["lead_id"])
    assert no_state["state"] is None
    assert no_state["gates"]["calling_window"]["states"] == ["NY"]
    assert no_state["gates"]["calling_window"]["zones"] == ["America/New_York"]
    # An area code with no place (555) and no state: legal in every US zone at once.
    unknown = lead_row(dictdb, post(client, key, consented("5551230000")).json["lead_id"])
    assert len(unknown["gates"]["calling_window"]["zones"]) == 7
    # (That one's type is unknown, so l2i.phones asks the library's checked lookups, not the geographical ones
    # it uses for a number it has typed as geographical.) A toll-free number is known but not geographical: no
    # state of its own, the library's zones for the whole +1 range.
    toll_free = lead_row(dictdb, post(client, key, consented("8005550118")).json["lead_id"])
    number = phonenumbers.parse("+18005550118")
    assert toll_free["gates"]["phone"]["area_state"] is None
    assert toll_free["gates"]["calling_window"]["zones"] == sorted(phone_zones.time_zones_for_number(number))


@pytest.mark.parametrize("body, content_type, status, code", [
    (b'{"phone": "5551234567"', "application/json", 400, "malformed_body"),
    (b'["5551234567"]', "application/json", 400, "malformed_body"),
    (b'{"phone": NaN}', "application/json", 400, "malformed_body"),
    (b'{"phone": 1e999}', "application/json", 400, "malformed_body"),
    (b'\xff\xfe\x00', "application/json", 400, "malformed_body"),
    # Deeper than 32 levels is refused before (or instead of) finding where the JSON breaks: 422 (test_bodies.py).
    (b"[" * 50000, "application/json", 422, "validation_failed"),
    (b"phone=%ff", "application/x-www-form-urlencoded", 400, "malformed_body"),
    (b"<lead/>", "application/xml", 415, "unsupported_media_type"),
    (b'{"phone": "5551234567"}', None, 415, "unsupported_media_type"),
    (b'{"phone": "5551234567", "custom": {"a": "\\u0000"}}', "application/json", 422, "validation_failed"),
    (b'{"phone": "5551234567", "city": "\\ud800"}', "application/json", 422, "validation_failed"),
])
def test_bad_bodies(client, key, body, content_type, status, code):
    headers = bearer(key)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.simulate_post("/v1/leads", body=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_body_too_large_is_413(client, key):
    response = post(client, key, {"phone": "5551234567", "custom": {"blob": "x" * 70000}})
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_json_with_charset_is_accepted(client, key):
    response = client.simulate_post("/v1/leads", body='{"phone": "2125550118"}',
                                    headers={**bearer(key), "Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


def test_non_us_number_with_a_state_gets_that_states_window(client, key, dictdb):
    response = post(client, key, consented("+442079460958", state="FL"))
    row = lead_row(dictdb, response.json["lead_id"])
    assert row["reasons"] == ["not_us_number"]
    assert row["gates"]["calling_window"]["zones"] == ["America/Chicago", "America/New_York"]
    no_state = lead_row(dictdb, post(client, key, consented("+33 1 42 68 53 00")).json["lead_id"])
    assert no_state["reasons"] == ["not_us_number"] and no_state["gates"]["calling_window"]["zones"] == []


def test_a_refused_lead_leaves_no_reference_cycle():
    """A 422 must not leave garbage for the cycle collector (an import of many bad rows would pile it up)."""
    import gc

    from l2i.fields import ValidationError, parse_lead

    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            with pytest.raises(ValidationError):
                parse_lead({"phone": "12", "email": "bad", "state": "ZZ"})
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_the_calling_window_is_computed_once_per_intake(accounts, dictdb):
    """lead_intake reads the gate's not_before twice; if the gate CTE were inlined, the calling-window function
    would run twice per intake (it did: half the statement's time, bench/RESULTS.md). Counted in this transaction
    with track_functions on."""
    from l2i import intake
    from l2i.fields import parse_lead
    account_id = accounts.create()
    with dictdb.transaction():
        dictdb.execute("SET LOCAL track_functions = 'pl'")
        intake.submit(dictdb, account_id=account_id, api_key_id=None,
                      lead=parse_lead({**QUICKSTART_LEAD, "phone": "+12145550100"}))
        calls = dictdb.execute("""
            SELECT p.proname, pg_stat_get_xact_function_calls(p.oid) AS calls FROM pg_proc AS p
            WHERE p.proname LIKE 'l2i\\_next\\_%' AND pg_stat_get_xact_function_calls(p.oid) > 0""").fetchall()
    assert calls and all(row["calls"] == 1 for row in calls), calls
