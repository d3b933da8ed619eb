"""Issue 8 through HTTP: the defects a review of the rules against the statutes found, each shown on a lead.

The app's clock is pinned to instants of 2027 (intake decides the calling window at it, claims and outcomes run at
it), so each case is exact. Each test failed before migration 0009:
  - Pennsylvania (Act 47 of 2026): a lead posted on Saturday evening waited for Sunday 13:30; now Monday 09:00;
  - an Oregon number (503) with a Texas address got Texas's 21:00 end; now Oregon's 20:00;
  - a Florida number could be claimed any number of times a day; now at most 3 claims in 24 hours;
  - emergencies: there was no way to hold a state's leads; now a blackout holds them and ending it releases them;
  - the territories: Guam and American Samoa numbers get their own zones and the federal window.
(The suppression scope's 403 is in tests/test_suppressions.py; the oracle in tests/test_calling_oracle.py.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import falcon.testing
import pytest

from l2i.app import create_app
from l2i.cli import main
from tests.conftest import bearer

CONSENT = {"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "webform-v2"}


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


@pytest.fixture
def clock():
    return Clock(at("2027-01-12 12:00-05:00"))  # a Tuesday


@pytest.fixture
def client(config, pool, clock):
    return falcon.testing.TestClient(create_app(config, pool, clock=clock))


@pytest.fixture
def headers(accounts):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    return bearer(key)


def post_lead(client, headers, **fields) -> dict:
    response = client.simulate_post("/v1/leads", json={"consent": CONSENT, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    lead = client.simulate_get(f"/v1/leads/{response.json['lead_id']}", headers=headers)
    assert lead.status_code == 200
    return lead.json


def claim(client, headers) -> list[str]:
    response = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10}, headers=headers)
    assert response.status_code == 200, response.text
    return [row["lead_id"] for row in response.json["data"]]


def queued_at(lead: dict) -> datetime:
    return datetime.fromisoformat(lead["queue"]["not_before"].replace("Z", "+00:00"))


def test_pennsylvania_saturday_evening_waits_for_monday_nine(client, headers, clock):
    # 73 P.S. 2245(a)(1) as amended by Act 47 of 2026: 09:00-19:00, never on Sunday (was 08:00-21:00, Sunday
    # from 13:30). 2027-01-09 is a Saturday.
    clock.at = at("2027-01-09 19:30-05:00")
    lead = post_lead(client, headers, phone="2155550101", state="PA")
    assert lead["status"] == "new"
    assert queued_at(lead) == at("2027-01-11 09:00-05:00")
    window = lead["gates"]["calling_window"]
    assert window["states"] == ["PA"]
    assert [(r["state"], r["effective_from"]) for r in window["rules"]] == [("PA", "2026-10-18")]
    assert "Act 47 of 2026" in window["rules"][0]["citation"]
    clock.at = at("2027-01-10 14:00-05:00")  # Sunday afternoon: no longer
    assert claim(client, headers) == []
    clock.at = at("2027-01-11 09:00-05:00")
    assert claim(client, headers) == [lead["id"]]


def test_before_an_amendments_date_the_rule_in_force_decides_and_is_recorded(client, headers, clock):
    # Act 47 of 2026 is on file from 2026-10-18; a lead posted before that day is decided (and recorded) by the
    # rule it replaces: Sunday calls from 13:30 (0016: the latest row is not the one in force).
    clock.at = at("2026-10-11 12:00-04:00")  # a Sunday
    lead = post_lead(client, headers, phone="2155550103", state="PA")
    window = lead["gates"]["calling_window"]
    assert [(r["state"], r["effective_from"]) for r in window["rules"]] == [("PA", "2000-01-01")]
    assert window["zones"] == ["America/New_York"]
    assert queued_at(lead) == at("2026-10-11 13:30-04:00")


def test_an_oregon_number_with_a_texas_address_ends_at_oregons_eight_pm(client, headers, clock):
    # ORS 646.563 (HB 3865, in force 2026-01-01): 08:00-20:00, and Oregon presumes a 503 number is in Oregon.
    # Texas (Tex. Bus. & Com. Code 301.051) allows until 21:00. Both apply, in every zone of each.
    clock.at = at("2027-01-12 12:00-06:00")
    lead = post_lead(client, headers, phone="5035550102", state="TX")
    window = lead["gates"]["calling_window"]
    assert window["states"] == ["TX", "OR"]
    assert set(window["zones"]) == {"America/Chicago", "America/Denver", "America/Los_Angeles", "America/Boise"}
    assert [r["state"] for r in window["rules"]] == ["OR", "TX"]
    assert queued_at(lead) == clock.at
    clock.at = at("2027-01-12 20:00-06:00")  # 20:00 in Texas (Chicago): Oregon's end, in every zone
    assert claim(client, headers) == []
    clock.at = at("2027-01-12 19:59-06:00")
    assert claim(client, headers) == [lead["id"]]
    # A lead posted at 20:00 waits for the next morning: 09:00 in Los Angeles, the last zone to open under Texas.
    clock.at = at("2027-01-12 20:00-06:00")
    later = post_lead(client, headers, phone="5035550103", state="TX")
    assert queued_at(later) == at("2027-01-13 09:00-08:00")


def test_a_fourth_florida_claim_within_24_hours_waits_until_the_first_ages_out(client, headers, clock, db):
    # Fla. Stat. 501.616(6)(b): at most 3 solicitation calls to a person in 24 hours.
    account_id = db.execute("SELECT account_id FROM api_keys WHERE key_hash = sha256(convert_to(%s, 'UTF8'))",
                            (headers["Authorization"].split()[1],)).fetchone()[0]
    db.execute("UPDATE accounts SET max_attempts = 10, retry_backoff_s = 60 WHERE id = %s", (account_id,))
    first = at("2027-01-12 10:00-05:00")
    clock.at = first
    lead = post_lead(client, headers, phone="3055550104", state="FL")
    for n in range(3):
        clock.at = first + timedelta(hours=n)
        assert claim(client, headers) == [lead["id"]], n
        done = client.simulate_post(f"/v1/leads/{lead['id']}/outcome", json={"outcome": "no_answer"},
                                    headers=headers)
        assert done.status_code == 200, done.text
    # The next legal time already respects the cap: 24 hours after the first claim.
    assert at(done.json["next_attempt_at"].replace("Z", "+00:00")) == first + timedelta(hours=24)
    # Even when it is due (an operator moved it), the claim refuses a fourth attempt and moves it back.
    db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE lead_id = %s", (lead["id"],))
    clock.at = first + timedelta(hours=3)
    assert claim(client, headers) == []
    after = client.simulate_get(f"/v1/leads/{lead['id']}", headers=headers).json
    assert after["status"] == "new" and queued_at(after) == first + timedelta(hours=24)
    assert after["events"][-1]["type"] == "deferred"
    assert after["events"][-1]["detail"]["reason"] == "attempt_cap"
    assert at(after["events"][-1]["detail"]["not_before"]) == first + timedelta(hours=24)
    db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE lead_id = %s", (lead["id"],))
    clock.at = first + timedelta(hours=24) - timedelta(seconds=1)
    assert claim(client, headers) == []
    clock.at = first + timedelta(hours=24)
    assert claim(client, headers) == [lead["id"]]
    # A new lead of the same number in the account counts the same attempts (per number, across the account).
    attempts = db.execute("SELECT count(*) FROM call_attempts WHERE account_id = %s AND phone = '+13055550104'",
                          (account_id,)).fetchone()[0]
    assert attempts == 4


def test_a_blackout_holds_a_states_leads_and_ending_it_releases_them(client, headers, clock, db):
    # La. R.S. 45:844.31: no unsolicited calls into an area under a declared state of emergency.
    clock.at = at("2027-01-12 12:00-06:00")
    waiting = post_lead(client, headers, phone="5045550105", state="LA")
    elsewhere = post_lead(client, headers, phone="2145550106", state="TX")
    blackout = db.execute(
        "SELECT id FROM l2i_blackout_add('la', %s, %s, 'Hurricane test, proclamation 2027-1', ARRAY['Orleans'])",
        (clock.at - timedelta(hours=1), clock.at + timedelta(days=2))).fetchone()[0]
    try:
        assert claim(client, headers) == [elsewhere["id"]]  # Texas is not blacked out
        # A Louisiana number with another address is held too (the area code's state).
        held_by_area = post_lead(client, headers, phone="5045550107", state="TX")
        during = post_lead(client, headers, phone="5045550108", state="LA")
        assert queued_at(during) == at("2027-01-14 12:00-06:00")  # the blackout's end (a Thursday noon)
        assert queued_at(held_by_area) == at("2027-01-14 12:00-06:00")
        clock.at = at("2027-01-13 10:00-06:00")
        assert claim(client, headers) == []
        ended = db.execute("SELECT released, ends_at FROM l2i_blackout_end(%s, %s)", (blackout, clock.at)).fetchone()
        assert ended == (2, clock.at)
        assert set(claim(client, headers)) == {waiting["id"], during["id"], held_by_area["id"]}
    finally:
        db.execute("DELETE FROM calling_blackouts WHERE id = %s", (blackout,))


@pytest.mark.parametrize("phone, zone, state", [
    ("6715550109", "Pacific/Guam", "GU"),
    ("6845550110", "Pacific/Pago_Pago", "AS"),
    ("7875550111", "America/Puerto_Rico", "PR"),
])
def test_territories_get_their_zone_and_the_federal_window(client, headers, clock, phone, zone, state):
    lead = post_lead(client, headers, phone=phone)
    assert lead["status"] == "new" and not lead["reasons"]
    window = lead["gates"]["calling_window"]
    assert (window["zones"], window["states"]) == ([zone], [state])
    local = queued_at(lead).astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) >= (8, 0) and local.hour < 21


def test_rules_show_prints_the_rule_in_force(database_url, capsys):
    assert main(["--database-url", database_url, "rules", "show", "pa", "--at", "2027-01-09T20:00-05:00"]) == 0
    out = capsys.readouterr().out
    assert "effective_from: 2026-10-18" in out and "weekdays: 09:00-19:00" in out and "sunday: no calls" in out
    assert "2027-11-02 Election Day" in out and "Act 47 of 2026" in out
    assert main(["--database-url", database_url, "rules", "show", "PA", "--at", "2026-10-01T12:00-04:00"]) == 0
    before = capsys.readouterr().out
    assert "effective_from: 2000-01-01" in before and "sunday: 13:30-21:00" in before
    assert main(["--database-url", database_url, "rules", "show", "MS"]) == 0
    assert "clock: fixed UTC-06:00" in capsys.readouterr().out
    assert main(["--database-url", database_url, "rules", "show", "ZZ"]) == 1


def test_blackout_commands(database_url, capsys, db):
    code = main(["--database-url", database_url, "blackout", "add", "NY", "--from", "2030-06-01T00:00-04:00",
                 "--until", "2030-06-03T00:00-04:00", "--reason", "test storm", "--counties", "Kings, Queens"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    blackout_id = lines[1].split("\t")[0]
    try:
        assert lines[1].split("\t")[1:3] == ["NY", "['Kings', 'Queens']"]
        assert main(["--database-url", database_url, "blackout", "list", "NY"]) == 0
        assert blackout_id in [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()[1:]]
        assert main(["--database-url", database_url, "blackout", "end", blackout_id]) == 0
        ends_at = db.execute("SELECT ends_at = starts_at, ended_at IS NOT NULL FROM calling_blackouts WHERE id = %s",
                             (int(blackout_id),)).fetchone()
        assert ends_at == (True, True)  # ended before it began: it never holds anything
        assert main(["--database-url", database_url, "blackout", "add", "NY", "--until", "not a time",
                     "--reason", "x"]) == 1
    finally:
        db.execute("DELETE FROM calling_blackouts WHERE id = %s", (int(blackout_id),))
