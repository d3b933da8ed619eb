"""The dialing side end to end through HTTP: intake -> claim -> outcome -> transfer, with leases, retries,
windows, the state machine, the event history, opt-outs, remove and requeue.

The dialing resources read the time from the app's `clock`; these tests build the app with a clock they set
(a fixed instant a week ahead, on a weekday, inside Texas's calling window), so nothing depends on the hour
the suite runs at and nothing sleeps. Intake computes not_before from the real clock; `due()` moves a queued
lead's not_before into the past so that any pinned instant may claim it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import falcon.testing
import psycopg
import pytest

from l2i.app import create_app
from tests.conftest import QUICKSTART_LEAD, bearer


def _next_wednesday_1800_utc() -> datetime:
    day = datetime.now(timezone.utc).date() + timedelta(days=7)
    day += timedelta(days=(2 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, 18, 0, tzinfo=timezone.utc)


# 12:00/13:00 in Chicago, 11:00/12:00 in Denver: legal for Texas (09:00-21:00) and for the federal floor.
NOON = _next_wednesday_1800_utc()


class Clock:
    """The app's clock: returns the instant the test set."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock(NOON)


@pytest.fixture
def client(config, pool, clock):
    return falcon.testing.TestClient(create_app(config, pool, clock=clock))


@pytest.fixture
def dialer(accounts):
    """An account with one key that may write, read and dial."""
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    return account_id, bearer(key)


def due(db, lead_id):
    db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE lead_id = %s", (lead_id,))


def post_lead(client, headers, db, **fields) -> str:
    response = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json["status"] == "new", response.json
    due(db, response.json["lead_id"])
    return response.json["lead_id"]


def claim(client, headers, **body):
    response = client.simulate_post("/v1/dial-queue/claim", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json["data"]


def outcome(client, headers, lead_id, **body):
    return client.simulate_post(f"/v1/leads/{lead_id}/outcome", json=body, headers=headers)


def get_lead(client, headers, lead_id):
    response = client.simulate_get(f"/v1/leads/{lead_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json


def event_types(lead):
    return [event["type"] for event in lead["events"]]


TRANSFER = {"outcome": "transferred", "destination": "+18005550100", "caller_id": "(555) 123-4567",
            "call_id": "call-1"}


# --- the whole flow ------------------------------------------------------------------------------------------


def test_intake_claim_outcome_transfer_end_to_end(client, dialer, db, dictdb, clock):
    account_id, headers = dialer
    lead_id = post_lead(client, headers, db)

    claimed = claim(client, headers, limit=5, lease_seconds=120)
    assert [c["lead_id"] for c in claimed] == [lead_id]
    handed = claimed[0]
    assert handed["phone"] == "+15551234567" and handed["first_name"] == "Jane" and handed["state"] == "TX"
    assert handed["attempt"] == 1
    assert datetime.fromisoformat(handed["lease_expires_at"]) == NOON + timedelta(seconds=120)
    uuid.UUID(handed["claim_id"])
    assert claim(client, headers) == []  # handed out once

    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "dialing" and lead["attempts"] == 1
    assert lead["queue"]["lease_expires_at"] is not None

    clock.advance(seconds=90)
    transferred_at = (clock.at - timedelta(seconds=10)).isoformat()
    response = outcome(client, headers, lead_id, **TRANSFER, transferred_at=transferred_at,
                       claim_id=handed["claim_id"])
    assert response.status_code == 200, response.text
    body = response.json
    assert body["status"] == "transferred" and body["outcome"] == "transferred" and body["next_attempt_at"] is None
    assert body["transfer"]["caller_id"] == "+15551234567"
    assert body["transfer"]["destination"] == "+18005550100"

    row = dictdb.execute("SELECT * FROM transfers WHERE lead_id = %s", (lead_id,)).fetchone()
    assert str(row["account_id"]) == account_id
    assert row["transferred_at"] == clock.at - timedelta(seconds=10) and row["call_id"] == "call-1"
    assert db.execute("SELECT count(*) FROM dial_queue WHERE lead_id = %s", (lead_id,)).fetchone()[0] == 0

    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "transferred" and lead["closed_at"] is not None and lead["queue"] is None
    assert lead["transfer"]["id"] == body["transfer"]["id"]
    assert event_types(lead) == ["claimed", "transferred"]
    claimed_event, transferred_event = lead["events"]
    assert (claimed_event["from_status"], claimed_event["to_status"]) == ("new", "dialing")
    assert datetime.fromisoformat(claimed_event["at"]) == NOON
    assert (transferred_event["from_status"], transferred_event["to_status"]) == ("dialing", "transferred")
    assert datetime.fromisoformat(transferred_event["at"]) == NOON + timedelta(seconds=90)
    assert transferred_event["detail"]["transfer_id"] == body["transfer"]["id"]

    # A final status takes no second outcome.
    again = outcome(client, headers, lead_id, outcome="qualified")
    assert again.status_code == 409 and again.json["error"]["code"] == "illegal_transition"


@pytest.mark.parametrize("final", ["qualified", "not_interested", "not_qualified", "wrong_number"])
def test_final_outcomes_close_the_lead(client, dialer, db, final):
    _, headers = dialer
    lead_id = post_lead(client, headers, db)
    claim(client, headers)
    response = outcome(client, headers, lead_id, outcome=final, call_id=f"c-{final}", note="spoke to Jane")
    assert response.status_code == 200, response.text
    assert response.json["status"] == final and response.json["transfer"] is None
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == final and lead["queue"] is None and lead["transfer"] is None
    assert lead["events"][-1]["detail"]["call_id"] == f"c-{final}"
    assert lead["events"][-1]["detail"]["note"] == "spoke to Jane"
    assert claim(client, headers) == []


# --- claiming --------------------------------------------------------------------------------------------------


def test_claim_needs_the_dial_scope_and_takes_only_the_keys_account(client, accounts, dialer, db):
    _, headers = dialer
    other_account, other_key = accounts.with_key(scopes=("write", "read", "dial"))
    post_lead(client, bearer(other_key), db)
    mine = post_lead(client, headers, db, phone="5551234568")

    write_only = bearer(accounts.key(other_account, scopes=("write", "read")))
    response = client.simulate_post("/v1/dial-queue/claim", json={}, headers=write_only)
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert client.simulate_post("/v1/dial-queue/claim", json={}).status_code == 401

    assert [c["lead_id"] for c in claim(client, headers, limit=100)] == [mine]


def test_claim_order_is_priority_then_not_before_then_oldest(client, dialer, db):
    _, headers = dialer
    low_old = post_lead(client, headers, db, phone="5550000001")
    high = post_lead(client, headers, db, phone="5550000002", priority=5)
    low_early = post_lead(client, headers, db, phone="5550000003")
    low_new = post_lead(client, headers, db, phone="5550000004")
    db.execute("UPDATE dial_queue SET not_before = '1999-01-01Z' WHERE lead_id = %s", (low_early,))
    order = [claim(client, headers, limit=1)[0]["lead_id"] for _ in range(4)]
    assert order == [high, low_early, low_old, low_new]


def test_claim_limit_and_lease_are_validated(client, dialer):
    _, headers = dialer
    for body, field in [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"),
                        ({"limit": True}, "limit"), ({"lease_seconds": 5}, "lease_seconds"),
                        ({"lease_seconds": 3601}, "lease_seconds"), ({"leases": 10}, "leases")]:
        response = client.simulate_post("/v1/dial-queue/claim", json=body, headers=headers)
        assert response.status_code == 422, body
        assert [f["field"] for f in response.json["error"]["fields"]] == [field]
    form = client.simulate_post("/v1/dial-queue/claim", body="limit=3&lease_seconds=60",
                                headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 200 and form.json == {"data": []}


def test_a_lead_is_never_handed_out_outside_its_calling_window(client, dialer, db, clock):
    _, headers = dialer
    lead_id = post_lead(client, headers, db)  # Texas: Chicago and Denver, 09:00-21:00 on weekdays
    clock.at = NOON.replace(hour=3, minute=30)  # 21:30/22:30 in Chicago (20:30/21:30 Denver): too late
    assert claim(client, headers) == []
    clock.at = NOON.replace(hour=14, minute=30)  # 08:30/09:30 Chicago but 07:30/08:30 Denver: too early there
    assert claim(client, headers) == []
    clock.at = NOON.replace(hour=16, minute=0)  # 09:00/10:00 Denver, 10:00/11:00 Chicago: legal in both
    assert [c["lead_id"] for c in claim(client, headers)] == [lead_id]


def test_sunday_ban_and_a_lead_without_state(client, dialer, db, clock):
    _, headers = dialer
    # Mississippi bans Sunday calls; a 601 number with no state is a Mississippi number by its area code.
    banned = post_lead(client, headers, db, phone="6015550123", state=None)
    assert get_lead(client, headers, banned)["gates"]["calling_window"]["states"] == ["MS"]
    sunday = NOON + timedelta(days=(6 - NOON.weekday()) % 7)
    clock.at = sunday
    assert claim(client, headers) == []
    clock.at = sunday + timedelta(days=1)  # Monday 12:00 Chicago
    assert [c["lead_id"] for c in claim(client, headers)] == [banned]


def test_leases_that_run_out_go_back_and_count_as_attempts(client, accounts, db, dictdb, clock):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    headers = bearer(key)
    db.execute("UPDATE accounts SET max_attempts = 2, retry_backoff_s = 600 WHERE id = %s", (account_id,))
    lead_id = post_lead(client, headers, db)
    first = claim(client, headers, lease_seconds=60)[0]
    clock.advance(seconds=59)
    assert claim(client, headers) == []  # still leased
    clock.advance(seconds=2)
    assert claim(client, headers) == []  # back in the queue, but waiting out the back-off
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "new" and lead["attempts"] == 1
    back = datetime.fromisoformat(lead["queue"]["not_before"])
    assert back >= clock.at + timedelta(seconds=599)
    clock.at = back
    second = claim(client, headers, lease_seconds=60)[0]
    assert second["lead_id"] == lead_id and second["attempt"] == 2 and second["claim_id"] != first["claim_id"]

    # The first dialer's late outcome names a claim that is gone.
    late = outcome(client, headers, lead_id, outcome="qualified", claim_id=first["claim_id"])
    assert late.status_code == 409 and late.json["error"]["code"] == "claim_mismatch"

    clock.advance(seconds=61)
    assert claim(client, headers) == []  # second lease ran out at max_attempts 2: unreached
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "unreached" and lead["queue"] is None
    assert event_types(lead) == ["claimed", "lease_expired", "claimed", "lease_expired"]
    assert [e["to_status"] for e in lead["events"]] == ["dialing", "new", "dialing", "unreached"]


def test_no_answer_busy_voicemail_back_off_then_unreached(client, accounts, db, clock):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    headers = bearer(key)
    db.execute("UPDATE accounts SET max_attempts = 3, retry_backoff_s = 1800 WHERE id = %s", (account_id,))
    lead_id = post_lead(client, headers, db)
    waits = []
    for attempt, result in enumerate(["no_answer", "busy", "voicemail"], start=1):
        handed = claim(client, headers)
        assert [h["attempt"] for h in handed] == [attempt]
        response = outcome(client, headers, lead_id, outcome=result, claim_id=handed[0]["claim_id"])
        assert response.status_code == 200, response.text
        assert response.json["attempts"] == attempt
        if attempt < 3:
            assert response.json["status"] == "new"
            next_at = datetime.fromisoformat(response.json["next_attempt_at"])
            waits.append(next_at - clock.at)
            assert claim(client, headers) == []  # not before the back-off is over
            clock.at = next_at
        else:
            assert response.json["status"] == "unreached" and response.json["next_attempt_at"] is None
    assert waits[0] >= timedelta(seconds=1800) and waits[1] >= timedelta(seconds=3600)  # doubling back-off
    lead = get_lead(client, headers, lead_id)
    assert event_types(lead) == ["claimed", "no_answer", "claimed", "busy", "claimed", "voicemail"]
    assert lead["status"] == "unreached" and lead["closed_at"] is not None


def test_expires_in_drops_a_lead_not_reached_in_time(client, dialer, db):
    _, headers = dialer
    short = post_lead(client, headers, db, phone="5550000011", expires_in=60)
    long = post_lead(client, headers, db, phone="5550000012", expires_in=30 * 86400)
    assert [c["lead_id"] for c in claim(client, headers, limit=10)] == [long]  # the clock is a week ahead
    lead = get_lead(client, headers, short)
    assert lead["status"] == "expired" and lead["queue"] is None and event_types(lead) == ["expired"]
    bad = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "expires_in": "soon", "priority": 10},
                               headers=headers)
    assert bad.status_code == 422
    assert sorted(f["field"] for f in bad.json["error"]["fields"]) == ["expires_in", "priority"]


# --- outcomes: errors and the state machine ----------------------------------------------------------------


def test_outcome_errors(client, dialer, accounts, db):
    _, headers = dialer
    lead_id = post_lead(client, headers, db)
    waiting = outcome(client, headers, lead_id, outcome="qualified")
    assert waiting.status_code == 409 and waiting.json["error"]["code"] == "illegal_transition"
    assert "new" in waiting.json["error"]["message"]
    assert outcome(client, headers, str(uuid.uuid4()), outcome="busy").status_code == 404
    assert outcome(client, headers, "not-a-uuid", outcome="busy").status_code == 404
    _, other_key = accounts.with_key(scopes=("dial",))
    assert outcome(client, bearer(other_key), lead_id, outcome="busy").status_code == 404

    claim(client, headers)
    for body, fields in [
        ({}, ["outcome"]),
        ({"outcome": "hung_up"}, ["outcome"]),
        ({"outcome": "transferred"}, ["destination", "caller_id", "transferred_at"]),
        ({"outcome": "transferred", "destination": "nowhere", "caller_id": "12",
          "transferred_at": "yesterday"}, ["destination", "caller_id", "transferred_at"]),
        ({**TRANSFER, "transferred_at": (NOON + timedelta(hours=1)).isoformat()}, ["transferred_at"]),
        ({"outcome": "busy", "destination": "+18005550100"}, ["destination"]),
        ({"outcome": "busy", "claim_id": "nope"}, ["claim_id"]),
        ({"outcome": "busy", "colour": "red"}, ["colour"]),
    ]:
        response = outcome(client, headers, lead_id, **body)
        assert response.status_code == 422, body
        assert [f["field"] for f in response.json["error"]["fields"]] == fields, body
    assert get_lead(client, headers, lead_id)["status"] == "dialing"  # nothing happened


def test_a_call_id_makes_one_transfer(client, dialer, db):
    _, headers = dialer
    first = post_lead(client, headers, db, phone="5550000021")
    second = post_lead(client, headers, db, phone="5550000022")
    claim(client, headers, limit=2)
    at = NOON.isoformat()
    assert outcome(client, headers, first, **TRANSFER, transferred_at=at).status_code == 200
    response = outcome(client, headers, second, **TRANSFER, transferred_at=at)
    assert response.status_code == 409 and response.json["error"]["code"] == "duplicate_call_id"
    assert get_lead(client, headers, second)["status"] == "dialing"  # rolled back whole
    sip = outcome(client, headers, second, **{**TRANSFER, "call_id": "call-2", "destination": "sip:buyer@example.com"},
                  transferred_at=at)
    assert sip.status_code == 200 and sip.json["transfer"]["destination"] == "sip:buyer@example.com"


def test_the_database_enforces_the_state_machine(client, dialer, db):
    account_id, headers = dialer
    lead_id = post_lead(client, headers, db)
    with pytest.raises(psycopg.errors.CheckViolation) as moved:
        db.execute("UPDATE leads SET status = 'transferred', closed_at = now() WHERE id = %s", (lead_id,))
    assert moved.value.diag.constraint_name == "leads_status_transition"
    with pytest.raises(psycopg.errors.CheckViolation) as unknown:
        db.execute("INSERT INTO leads (account_id, phone, status) VALUES (%s, '+15550009999', 'won')",
                   (account_id,))
    assert unknown.value.diag.constraint_name == "leads_status_check"
    with pytest.raises(psycopg.errors.CheckViolation) as unclosed:
        db.execute("UPDATE leads SET status = 'removed' WHERE id = %s", (lead_id,))
    assert unclosed.value.diag.constraint_name == "leads_closed_check"
    allowed = db.execute("SELECT l2i_lead_transition_allowed('dialing', 'new'), "
                         "l2i_lead_transition_allowed('transferred', 'new')").fetchone()
    assert allowed == (True, False)


# --- opt-outs and suppression after intake -------------------------------------------------------------------


def test_opted_out_suppresses_the_number_and_pulls_its_queued_leads(client, dialer, db, dictdb):
    account_id, headers = dialer
    older = post_lead(client, headers, db)
    db.execute("UPDATE leads SET created_at = now() - interval '31 days' WHERE id = %s", (older,))
    db.execute("UPDATE dial_queue SET not_before = 'infinity' WHERE lead_id = %s", (older,))
    newer = post_lead(client, headers, db)  # same number, a new lead after 30 days
    assert newer != older
    assert [c["lead_id"] for c in claim(client, headers)] == [newer]

    response = outcome(client, headers, newer, outcome="opted_out")
    assert response.status_code == 200 and response.json["status"] == "opted_out"
    suppressed = dictdb.execute("SELECT reason FROM suppressions WHERE account_id = %s AND phone = %s",
                                (account_id, "+15551234567")).fetchone()
    assert suppressed == {"reason": "opted_out"}
    pulled = get_lead(client, headers, older)
    assert pulled["status"] == "ineligible" and pulled["reasons"] == ["suppressed"] and pulled["queue"] is None
    assert event_types(pulled) == ["suppressed"]
    db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE account_id = %s", (account_id,))
    assert claim(client, headers) == []


def test_a_number_suppressed_behind_the_queues_back_is_held_at_claim_time(client, dialer, db):
    account_id, headers = dialer
    lead_id = post_lead(client, headers, db)
    # Straight into the table, as a bulk load might: no pull; the claim itself must re-check.
    db.execute("INSERT INTO suppressions (account_id, phone) VALUES (%s, '+15551234567')", (account_id,))
    assert claim(client, headers) == []
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "ineligible" and lead["reasons"] == ["suppressed"] and lead["queue"] is None
    assert event_types(lead) == ["suppressed"]


def test_consent_older_than_the_account_allows_is_held_at_claim_time(client, accounts, db):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    headers = bearer(key)
    lead_id = post_lead(client, headers, db)  # consent given 2026-07-05
    consent_at = datetime(2026, 7, 5, 12, tzinfo=timezone.utc)
    db.execute("UPDATE accounts SET consent_max_age_days = %s WHERE id = %s",
               ((NOON - consent_at).days + 1, account_id))
    fresh = claim(client, headers)
    assert [c["lead_id"] for c in fresh] == [lead_id]
    outcome(client, headers, lead_id, outcome="no_answer")
    db.execute("UPDATE accounts SET consent_max_age_days = %s WHERE id = %s",
               ((NOON - consent_at).days - 1, account_id))
    due(db, lead_id)
    assert claim(client, headers) == []
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "ineligible" and lead["reasons"] == ["consent_expired"]


# --- remove and requeue --------------------------------------------------------------------------------------


def test_remove_takes_a_lead_off_for_good(client, dialer, db):
    _, headers = dialer
    lead_id = post_lead(client, headers, db)
    in_call = post_lead(client, headers, db, phone="5550000031")
    db.execute("UPDATE dial_queue SET priority = 9 WHERE lead_id = %s", (in_call,))
    assert [c["lead_id"] for c in claim(client, headers, limit=1)] == [in_call]

    response = client.simulate_post(f"/v1/leads/{lead_id}/remove", headers=headers)
    assert response.status_code == 200 and response.json == {"lead_id": lead_id, "status": "removed"}
    assert client.simulate_post(f"/v1/leads/{lead_id}/remove", headers=headers).status_code == 200
    lead = get_lead(client, headers, lead_id)
    assert lead["status"] == "removed" and lead["queue"] is None and event_types(lead) == ["removed"]
    assert claim(client, headers) == []

    busy = client.simulate_post(f"/v1/leads/{in_call}/remove", headers=headers)
    assert busy.status_code == 409 and busy.json["error"]["code"] == "illegal_transition"
    back = client.simulate_post(f"/v1/leads/{lead_id}/requeue", json={"position": "end"}, headers=headers)
    assert back.status_code == 409
    assert client.simulate_post(f"/v1/leads/{uuid.uuid4()}/remove", headers=headers).status_code == 404


def test_requeue_moves_a_lead_to_the_end_and_brings_back_an_unreached_one(client, accounts, db, clock):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    headers = bearer(key)
    first, second, third = (post_lead(client, headers, db, phone=f"555000004{i}") for i in range(3))
    response = client.simulate_post(f"/v1/leads/{first}/requeue", json={"position": "end"}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json["status"] == "new" and response.json["position"] == "end"
    bad = client.simulate_post(f"/v1/leads/{first}/requeue", json={"position": "front"}, headers=headers)
    assert bad.status_code == 422
    assert [c["lead_id"] for c in claim(client, headers, limit=3)] == [second, third, first]

    db.execute("UPDATE accounts SET max_attempts = 1 WHERE id = %s", (account_id,))
    assert outcome(client, headers, first, outcome="busy").json["status"] == "unreached"
    dialing = client.simulate_post(f"/v1/leads/{second}/requeue", headers=headers)
    assert dialing.status_code == 409
    back = client.simulate_post(f"/v1/leads/{first}/requeue", headers=headers)
    assert back.status_code == 200
    again = claim(client, headers)
    assert [(c["lead_id"], c["attempt"]) for c in again] == [(first, 1)]
    assert event_types(get_lead(client, headers, first)) == ["requeued", "claimed", "busy", "requeued", "claimed"]


def _next_spring_forward() -> datetime:
    """The next date New York moves its clocks forward, at 00:00 UTC, a week ahead at least."""
    from zoneinfo import ZoneInfo
    day = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=7)
    ny = ZoneInfo("America/New_York")
    while not (day.astimezone(ny).utcoffset() < (day + timedelta(days=1)).astimezone(ny).utcoffset()):
        day += timedelta(days=1)
    return (day + timedelta(days=1)).replace(hour=0)


def test_the_window_follows_daylight_saving_time(client, dialer, db, clock):
    _, headers = dialer
    lead_id = post_lead(client, headers, db, phone="2125550123", state="NY")
    sunday = _next_spring_forward()  # the Sunday (UTC date) the clocks change
    friday, monday = sunday - timedelta(days=2), sunday + timedelta(days=1)
    clock.at = friday.replace(hour=12, minute=30)  # 07:30 EST: too early
    assert claim(client, headers) == []
    clock.at = monday.replace(hour=12, minute=30)  # the same UTC time is 08:30 EDT: legal
    assert [c["lead_id"] for c in claim(client, headers)] == [lead_id]


def test_cli_makes_dial_keys(client, accounts, database_url, capsys):
    from l2i.cli import main
    account_id = accounts.create()
    assert main(["--database-url", database_url, "key", "create", account_id, "--scopes", "dial"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert client.simulate_post("/v1/dial-queue/claim", json={}, headers=bearer(key)).json == {"data": []}
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 403
