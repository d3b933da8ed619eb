"""Campaigns through HTTP: routing a lead to its campaign at intake (marketplace-shaped posts), required fields,
states served, campaign hours inside the legal window, the daily cap, pause and resume, dialers per campaign,
stats by campaign, and the migration that gives existing accounts a default campaign.

The dialing side reads the time from the app's clock (as in test_dialing.py): the tests pin it to an instant in
Georgia's local time (America/New_York; Georgia's calling rules are the federal 08:00-21:00 every day, no banned
holidays), so nothing depends on the hour the suite runs at. Intake decides its gates at the app's clock too, but
the daily cap counts the database's UTC day; `due()` moves a queued lead's not_before into the past so that a
pinned instant may claim it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import falcon.testing
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from l2i.app import create_app
from l2i.migrate import MIGRATIONS_DIR, migrate
from psycopg.conninfo import make_conninfo

from tests.conftest import BASE_URL, bearer, create_scratch_database, drop_database, migrated_database
from tests.test_dialing import Clock, due

NEW_YORK = ZoneInfo("America/New_York")
CONSENT = {"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "webform-v2"}


def next_wednesday(hour: int, minute: int = 0) -> datetime:
    """Next week's Wednesday at hour:minute in New York (Georgia's time), as an aware instant."""
    day = datetime.now(NEW_YORK).date() + timedelta(days=7)
    day += timedelta(days=(2 - day.weekday()) % 7)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK).astimezone(timezone.utc)


@pytest.fixture
def clock():
    return Clock(next_wednesday(12))


@pytest.fixture
def client(config, pool, clock):
    return falcon.testing.TestClient(create_app(config, pool, clock=clock))


@pytest.fixture
def buyer(accounts):
    """An account with one key for everything: writing leads, reading, dialing and managing campaigns."""
    account_id, key = accounts.with_key(scopes=("write", "read", "dial", "admin"))
    return account_id, bearer(key)


def create_campaign(client, headers, **settings) -> dict:
    response = client.simulate_post("/v1/campaigns", json=settings, headers=headers)
    assert response.status_code == 201, response.text
    return response.json


_numbers = iter(range(2_000_000, 9_000_000))


def georgia_lead(**fields) -> dict:
    return {"phone": f"404{next(_numbers)}", "first_name": "Ann", "last_name": "Lee", "state": "GA",
            "consent": CONSENT, **fields}


def post(client, headers, body) -> falcon.testing.Result:
    return client.simulate_post("/v1/leads", json=body, headers=headers)


def claim(client, headers, **body) -> list[dict]:
    response = client.simulate_post("/v1/dial-queue/claim", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json["data"]


def count_leads(db, account_id) -> int:
    return db.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account_id,)).fetchone()[0]


# --- intake --------------------------------------------------------------------------------------------------

def test_a_marketplace_post_is_routed_by_category_and_refused_without_its_required_fields(client, buyer, db):
    account_id, headers = buyer
    # The marketplace's posting API (https://routio.io/api-docs, "Lead Ingestion API"): the body names the
    # `seller` (its 8-character code), the `category`, which "must match an active campaign" ("No matching
    # campaign" otherwise), and "required fields depend on the campaign category"; fields are camelCase
    # (firstName, lastName), phone as 555-123-4567, state as a 2-letter code. Its example body, with a Georgia
    # number and consent evidence added (l2i holds a lead without consent).
    auto = create_campaign(client, headers, name="Auto Insurance", agent="auto-agent-v3",
                           required_fields=["firstName", "lastName", "state", "consent_timestamp"])
    assert len(auto["code"]) == 8 and auto["code"].isalnum() and auto["code"].isupper()
    assert auto["required_fields"] == ["first_name", "last_name", "state", "consent_timestamp"]
    create_campaign(client, headers, name="Solar", code="solar")
    body = {"seller": "ACME1234", "category": "Auto Insurance", "firstName": "John", "lastName": "Doe",
            "email": "john.doe@email.com", "phone": "404-555-0123", "state": "GA", "zip": "30301",
            "city": "Atlanta", "consent": CONSENT}

    accepted = post(client, headers, body)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json["status"] == "new" and accepted.json["campaign"] == auto["code"]
    lead = client.simulate_get(f"/v1/leads/{accepted.json['lead_id']}", headers=headers).json
    assert lead["campaign"] == auto["code"]
    assert lead["extra"] == {"seller": "ACME1234"}  # not an l2i field: kept as sent
    assert lead["gates"]["campaign"]["code"] == auto["code"]
    assert lead["gates"]["campaign"]["sent"] == "Auto Insurance"
    assert lead["gates"]["campaign"]["required_fields"] == ["first_name", "last_name", "state", "consent_timestamp"]
    # By code, under another alias, in any case: the same campaign.
    without = {key: value for key, value in body.items() if key != "category"}
    by_code = post(client, headers, {**without, "campaign_code": "solar", "phone": "404-555-0124"})
    assert by_code.status_code == 201 and by_code.json["campaign"] == "SOLAR"

    stored = count_leads(db, account_id)
    unknown = post(client, headers, {**body, "category": "Boats", "phone": "404-555-0125"})
    assert unknown.status_code == 422
    assert unknown.json["error"]["fields"] == [
        {"field": "category", "code": "unknown",
         "message": "No matching campaign: 'Boats' is not a campaign of this account."}]
    missing = post(client, headers, {key: value for key, value in body.items()
                                     if key not in ("lastName", "state", "consent")} | {"phone": "404-555-0126"})
    assert missing.status_code == 422
    assert [(f["field"], f["code"]) for f in missing.json["error"]["fields"]] == [
        ("last_name", "required"), ("state", "required"), ("consent_timestamp", "required")]
    nothing = post(client, headers, {**without, "phone": "404-555-0127"})
    assert nothing.status_code == 422
    assert nothing.json["error"]["fields"][0]["field"] == "campaign"
    assert nothing.json["error"]["fields"][0]["message"].startswith("No matching campaign")
    assert client.simulate_patch("/v1/campaigns/SOLAR", json={"active": False}, headers=headers).status_code == 200
    inactive = post(client, headers, {**body, "category": "solar", "phone": "404-555-0128"})
    assert inactive.status_code == 422 and inactive.json["error"]["fields"][0]["code"] == "inactive"
    assert count_leads(db, account_id) == stored  # refused posts store nothing


def test_dedupe_stays_per_account_and_the_duplicate_says_which_campaign_holds_the_lead(client, buyer):
    _, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR")
    create_campaign(client, headers, name="Medicare", code="MEDICARE")
    first = post(client, headers, georgia_lead(campaign="SOLAR", phone="4045550199"))
    again = post(client, headers, georgia_lead(campaign="MEDICARE", phone="(404) 555-0199"))
    assert again.status_code == 200
    assert again.json == {"outcome": "duplicate", "lead_id": first.json["lead_id"], "status": "new",
                          "campaign": "SOLAR"}


def test_a_key_with_a_default_campaign_routes_leads_that_name_none(client, buyer, database_url):
    account_id, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR")
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = conn.execute("SELECT l2i_key_campaign(l2i_key_create(%s, '{write,read}'), 'solar')",
                           (account_id,)).fetchone()[0]
    routed = post(client, bearer(key), georgia_lead())
    assert routed.status_code == 201 and routed.json["campaign"] == "SOLAR"
    named = post(client, bearer(key), georgia_lead(campaign="nope"))
    assert named.status_code == 422  # a campaign the post names wins over the key's default


def test_a_source_with_a_default_campaign_routes_its_leads(client, buyer):
    _, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR")
    create_campaign(client, headers, name="Auto", code="AUTO")
    source = client.simulate_post("/v1/sources", json={"name": "solar form", "defaults": {"campaign": "solar"}},
                                  headers=headers)
    assert source.status_code == 201, source.text
    routed = client.simulate_post(source.json["url"], json=georgia_lead())
    assert routed.status_code == 201 and routed.json["campaign"] == "SOLAR"
    named = client.simulate_post(source.json["url"], json=georgia_lead(category="Auto"))
    assert named.status_code == 201 and named.json["campaign"] == "AUTO"  # what the post names wins


def test_a_lead_outside_the_states_served_is_stored_and_held(client, buyer):
    _, headers = buyer
    create_campaign(client, headers, name="Texas solar", code="TXSOLAR", states=["tx", "OK"])
    held = post(client, headers, georgia_lead(campaign="TXSOLAR"))
    assert held.status_code == 201
    assert held.json["status"] == "ineligible" and held.json["reasons"] == ["state_not_served"]
    lead = client.simulate_get(f"/v1/leads/{held.json['lead_id']}", headers=headers).json
    assert lead["gates"]["campaign"]["state_served"] is False and lead["queue"] is None
    served = post(client, headers, georgia_lead(campaign="TXSOLAR", state="TX", phone="2145550100"))
    assert served.json["status"] == "new"


@pytest.mark.usefixtures("import_runner")
def test_a_csv_import_routes_each_row_to_its_category_and_refuses_rows_without_one(client, buyer, db):
    account_id, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR", required_fields=["first_name"])
    csv = ("phone,first_name,state,category,consent_timestamp,consent_text_version\n"
           "4045550301,Ann,GA,Solar,2026-07-05T12:00:00Z,v1\n"
           "4045550302,,GA,solar,2026-07-05T12:00:00Z,v1\n"
           "4045550303,Bo,GA,Boats,2026-07-05T12:00:00Z,v1\n")
    from tests.test_import import imported
    rows = imported(client, headers["Authorization"].split()[1], csv)["rows"]
    assert [row["outcome"] for row in rows] == ["created", "invalid", "invalid"]
    assert rows[1]["errors"][0]["field"] == "first_name" and rows[2]["errors"][0]["field"] == "category"
    assert db.execute("SELECT k.code FROM leads AS l JOIN campaigns AS k ON k.id = l.campaign_id "
                      "WHERE l.account_id = %s", (account_id,)).fetchall() == [("SOLAR",)]


# --- claims --------------------------------------------------------------------------------------------------

def test_campaign_hours_narrow_the_legal_window_and_never_widen_it(client, buyer, clock, db):
    _, headers = buyer
    create_campaign(client, headers, name="Daytime", code="DAY", hours={"mon-fri": "10:00-16:00"}, agent="day-1")
    create_campaign(client, headers, name="Always", code="ALWAYS", hours={"mon-sun": "00:00-24:00"})
    day = post(client, headers, georgia_lead(campaign="DAY"))
    # The intake's not_before already lies inside the campaign's hours, on a weekday.
    queue = client.simulate_get(f"/v1/leads/{day.json['lead_id']}", headers=headers).json["queue"]
    not_before = datetime.fromisoformat(queue["not_before"]).astimezone(NEW_YORK)
    assert not_before.weekday() < 5 and 10 <= not_before.hour < 16, not_before
    always = post(client, headers, georgia_lead(campaign="ALWAYS"))
    due(db, day.json["lead_id"])
    due(db, always.json["lead_id"])

    clock.at = next_wednesday(7, 30)  # legal nowhere in Georgia before 08:00, whatever the campaign says
    assert claim(client, headers) == []
    clock.at = next_wednesday(9, 30)  # legal, but the daytime campaign opens at 10:00
    assert [lead["campaign"] for lead in claim(client, headers, limit=5)] == ["ALWAYS"]
    clock.at = next_wednesday(10, 0)
    claimed = claim(client, headers, limit=5)
    assert [(lead["lead_id"], lead["campaign"], lead["agent"]) for lead in claimed] == [
        (day.json["lead_id"], "DAY", "day-1")]


def test_campaign_hours_never_widen_the_strictest_window_of_every_state_that_applies(client, buyer, clock, db):
    # Facts (sql/migrations/0009_calling_rules_reviewed.sql): Florida allows 08:00-20:00 (Fla. Stat. 501.616(6)(a))
    # and a number with a Florida area code (305) is presumed to be in Florida; Georgia has the federal 08:00-21:00.
    # A Georgia lead with a 305 number is under both: at 20:30 in New York nothing is legal for it, whatever hours
    # its campaign has; a Georgia-only number of the same campaign is.
    _, headers = buyer
    create_campaign(client, headers, name="Always", code="ALWAYS", hours={"mon-sun": "00:00-24:00"})
    clock.at = next_wednesday(20, 30)
    both = post(client, headers, georgia_lead(campaign="ALWAYS", phone="3055550177")).json
    georgia = post(client, headers, georgia_lead(campaign="ALWAYS")).json
    assert both["status"] == georgia["status"] == "new"
    lead = client.simulate_get(f"/v1/leads/{both['lead_id']}", headers=headers).json
    assert lead["gates"]["calling_window"]["states"] == ["GA", "FL"]
    not_before = datetime.fromisoformat(lead["queue"]["not_before"])
    legal = db.execute("SELECT l2i_next_call_time(zones, states, %s) FROM dial_queue WHERE lead_id = %s",
                       (clock.at, both["lead_id"])).fetchone()[0]
    assert not_before == legal > clock.at  # the legal window of both states, not the campaign's all-day hours
    assert not_before.astimezone(NEW_YORK).date() > clock.at.astimezone(NEW_YORK).date()
    due(db, both["lead_id"])
    due(db, georgia["lead_id"])
    assert [c["lead_id"] for c in claim(client, headers, limit=5)] == [georgia["lead_id"]]


def test_two_dialers_on_two_campaigns_never_see_each_others_leads(buyer, db, config, pool, clock):
    account_id, headers = buyer
    client = falcon.testing.TestClient(create_app(config, pool, clock=clock))
    ids = {code: create_campaign(client, headers, name=code, code=code)["id"] for code in ("SOLAR", "AUTO")}
    queued = {}
    for code, campaign_id in ids.items():
        rows = db.execute("""
            WITH ins AS (
                INSERT INTO leads (account_id, phone, status, consent, campaign_id)
                SELECT %(account)s, '+1404' || lpad(i::text, 7, '0'), 'new', %(consent)s, %(campaign)s
                FROM generate_series(%(first)s, %(first)s + 299) AS i
                RETURNING id, phone)
            INSERT INTO dial_queue (lead_id, account_id, campaign_id, phone, states, zones, not_before)
            SELECT id, %(account)s, %(campaign)s, phone, ARRAY['GA'], ARRAY['America/New_York'], '2000-01-01Z' FROM ins
            RETURNING lead_id""", {"account": account_id, "campaign": campaign_id,
                                   "consent": psycopg.types.json.Jsonb(CONSENT),
                                   "first": 3_000_000 if code == "SOLAR" else 4_000_000}).fetchall()
        queued[code] = {str(row[0]) for row in rows}
    start = threading.Barrier(8)

    def dialer(code):
        got = []
        start.wait()
        while batch := claim(client, headers, campaign=code, limit=7):
            got.extend((lead["lead_id"], lead["campaign"]) for lead in batch)
        return code, got

    with ThreadPoolExecutor(8) as threads:  # 4 dialers per campaign, each its own pooled connection
        results = list(threads.map(dialer, ["SOLAR", "AUTO"] * 4))
    for code in ids:
        handed = [lead for dialer_code, got in results if dialer_code == code for lead, _ in got]
        assert {campaign for dialer_code, got in results if dialer_code == code for _, campaign in got} == {code}
        assert [lead for lead, n in Counter(handed).items() if n > 1] == []
        assert set(handed) == queued[code]


def test_a_claim_naming_an_unknown_campaign_is_a_422(client, buyer):
    _, headers = buyer
    response = client.simulate_post("/v1/dial-queue/claim", json={"campaign": ["NOPE"]}, headers=headers)
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == "campaign"


def test_the_claim_by_campaign_is_served_by_its_index():
    # Its own database: the plan follows the statistics, and the shared test database holds every other test's
    # queue rows (run after tests/test_intake.py, this test saw another plan).
    with migrated_database("l2i_claim_plan") as (_, url), \
            psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        account_id = conn.execute("SELECT l2i_account_create('buyer') AS id").fetchone()["id"]
        # 20 campaigns of 100 waiting leads each; the claim for one of them reads that campaign's rows only.
        ids = [conn.execute("SELECT id FROM l2i_campaign_create(%s, %s)",
                            (account_id, Jsonb({"name": f"c{n}"}))).fetchone()["id"] for n in range(20)]
        conn.execute("""
            WITH ins AS (
                INSERT INTO leads (account_id, phone, status, campaign_id)
                SELECT %(account)s, '+1404' || lpad(i::text, 7, '0'), 'new', (%(ids)s::uuid[])[1 + i %% 20]
                FROM generate_series(5000000, 5001999) AS i
                RETURNING id, created_at, phone, campaign_id)
            INSERT INTO dial_queue (lead_id, lead_created_at, account_id, campaign_id, phone, states, zones,
                                    not_before)
            SELECT id, created_at, %(account)s, campaign_id, phone, ARRAY['GA'], ARRAY['America/New_York'],
                   '2000-01-01Z' FROM ins""", {"account": account_id, "ids": ids})
        conn.execute("ANALYZE dial_queue")
        conn.execute("ANALYZE leads")
        from l2i import sql
        text = sql.QUERIES["dial_claim"].text
        conn.execute("BEGIN")
        try:
            plan = conn.execute("EXPLAIN " + text, {
                "now": "2030-01-02T17:00:00Z", "account_id": account_id, "api_key_id": None, "limit": 10,
                "lease_seconds": 60, "campaign_ids": [ids[3]]}).fetchall()
        finally:
            conn.execute("ROLLBACK")
    plan_text = "\n".join(row["QUERY PLAN"] for row in plan)
    assert "dial_queue_campaign_claim_idx" in plan_text, plan_text


def test_the_daily_cap_holds_leads_and_releases_them_the_next_day_or_when_raised(client, buyer, db, config, pool):
    account_id, headers = buyer
    create_campaign(client, headers, name="Small", code="SMALL", daily_cap=2)
    answers = [post(client, headers, georgia_lead(campaign="SMALL")).json for _ in range(4)]
    assert all("status" in a for a in answers), answers
    assert [a["status"] for a in answers] == ["new", "new", "ineligible", "ineligible"]
    assert answers[2]["reasons"] == ["campaign_cap"]
    assert client.simulate_get("/v1/campaigns/SMALL", headers=headers).json["queued_today"] == 2

    today = falcon.testing.TestClient(create_app(config, pool))  # the database's clock: today
    claim(today, headers, campaign="SMALL")  # a claim releases what today's cap has room for: nothing
    status = dict(db.execute("SELECT id::text, status FROM leads WHERE account_id = %s", (account_id,)).fetchall())
    assert status[answers[2]["lead_id"]] == "ineligible"  # today's cap is full: still held

    raised = client.simulate_patch("/v1/campaigns/SMALL", json={"daily_cap": 3}, headers=headers)
    assert raised.status_code == 200 and raised.json["daily_cap"] == 3
    status = dict(db.execute("SELECT id::text, status FROM leads WHERE account_id = %s", (account_id,)).fetchall())
    assert status[answers[2]["lead_id"]] == "new" and status[answers[3]["lead_id"]] == "ineligible"
    events = client.simulate_get(f"/v1/leads/{answers[2]['lead_id']}", headers=headers).json["events"]
    assert [(e["type"], e["from_status"], e["to_status"]) for e in events] == [("released", "ineligible", "new")]

    # A claim on another day (the pinned clock, next week) releases the last one first, and may hand it out.
    handed = {lead["lead_id"] for lead in claim(client, headers, campaign="SMALL", limit=10)}
    assert answers[3]["lead_id"] in handed


def test_pausing_holds_the_queue_and_resuming_keeps_its_order(client, buyer, db):
    _, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR")
    leads = [post(client, headers, georgia_lead(campaign="SOLAR")).json["lead_id"] for _ in range(3)]
    for lead in leads:
        due(db, lead)
    paused = client.simulate_patch("/v1/campaigns/SOLAR", json={"paused": True}, headers=headers)
    assert paused.status_code == 200 and paused.json["paused"] is True
    assert claim(client, headers) == [] and claim(client, headers, campaign="SOLAR") == []
    lead = client.simulate_get(f"/v1/leads/{leads[0]}", headers=headers).json
    assert lead["status"] == "new" and lead["queue"] is not None  # still queued, nothing lost
    client.simulate_patch("/v1/campaigns/SOLAR", json={"paused": False}, headers=headers)
    assert [lead["lead_id"] for lead in claim(client, headers, limit=10)] == leads


def test_campaign_priority_orders_claims_across_campaigns(client, buyer, db):
    _, headers = buyer
    create_campaign(client, headers, name="Low", code="LOW")
    create_campaign(client, headers, name="High", code="HIGH", priority=5)
    low = post(client, headers, georgia_lead(campaign="LOW")).json["lead_id"]
    high = post(client, headers, georgia_lead(campaign="HIGH")).json["lead_id"]
    due(db, low)
    due(db, high)
    assert [lead["campaign"] for lead in claim(client, headers, limit=2)] == ["HIGH", "LOW"]


def test_the_attempt_policy_is_the_campaigns(client, buyer, db):
    _, headers = buyer
    create_campaign(client, headers, name="Once", code="ONCE", max_attempts=1)
    create_campaign(client, headers, name="Busy", code="BUSY", max_attempts=5, retry_backoff_s=600,
                    backoff_s={"busy": 60})
    once = post(client, headers, georgia_lead(campaign="ONCE")).json["lead_id"]
    busy = post(client, headers, georgia_lead(campaign="BUSY")).json["lead_id"]
    due(db, once)
    due(db, busy)
    claims = {lead["campaign"]: lead for lead in claim(client, headers, limit=2)}
    first = client.simulate_post(f"/v1/leads/{once}/outcome", headers=headers,
                                 json={"outcome": "no_answer", "claim_id": claims["ONCE"]["claim_id"]})
    assert first.json["status"] == "unreached"  # one attempt, as the campaign allows
    second = client.simulate_post(f"/v1/leads/{busy}/outcome", headers=headers,
                                  json={"outcome": "busy", "claim_id": claims["BUSY"]["claim_id"]})
    assert second.json["status"] == "new"
    waited = datetime.fromisoformat(second.json["next_attempt_at"]) - datetime.fromisoformat(
        claims["BUSY"]["lease_expires_at"]) + timedelta(seconds=300)
    assert waited == timedelta(seconds=60)  # busy's own back-off, not the campaign's 600 s


# --- managing ------------------------------------------------------------------------------------------------

def test_campaigns_need_the_admin_scope_and_keep_their_code(client, accounts, buyer):
    _, writer = accounts.with_key(scopes=("write", "read", "dial"))
    assert client.simulate_get("/v1/campaigns", headers=bearer(writer)).status_code == 403
    _, headers = buyer
    made = create_campaign(client, headers, name="Solar", code="SOLAR", hours={"mon-fri": "09:00-17:00"},
                           cost_per_lead_cents=1250)
    assert made["hours"] == {"mon": "09:00-17:00", "tue": "09:00-17:00", "wed": "09:00-17:00",
                             "thu": "09:00-17:00", "fri": "09:00-17:00"}
    changed = client.simulate_patch("/v1/campaigns/SOLAR", json={"code": "OTHER", "name": "x"}, headers=headers)
    assert changed.status_code == 422 and changed.json["error"]["fields"][0]["code"] == "immutable"
    renamed = client.simulate_patch("/v1/campaigns/SOLAR", json={"name": "Solar East"}, headers=headers)
    assert renamed.json["code"] == "SOLAR" and renamed.json["name"] == "Solar East"
    again = client.simulate_post("/v1/campaigns", json={"name": "solar east"}, headers=headers)
    assert again.status_code == 409 and again.json["error"]["code"] == "campaign_exists"
    bad = client.simulate_post("/v1/campaigns", headers=headers, json={
        "name": "B", "states": ["XX"], "hours": {"mon": "16:00-10:00"}, "required_fields": ["shoe_size"],
        "daily_cap": -1, "colour": "red"})
    assert {f["field"] for f in bad.json["error"]["fields"]} == {"states", "hours.mon", "required_fields",
                                                                   "daily_cap", "colour"}
    listed = client.simulate_get("/v1/campaigns", headers=headers).json["data"]
    assert [c["code"] for c in listed] == ["SOLAR"]
    from tests.test_docs import validate
    spec = client.simulate_get("/v1/openapi.json").json
    validate(spec, "Campaign", listed[0])
    validate(spec, "CampaignIn", {"name": "Solar", "code": "SOLAR", "hours": {"mon-fri": "09:00-17:00"}})
    assert client.simulate_get("/v1/campaigns/NOPE", headers=headers).status_code == 404


# --- stats ---------------------------------------------------------------------------------------------------

def test_stats_by_campaign_carry_revenue_cost_and_margin(client, buyer, db):
    account_id, headers = buyer
    create_campaign(client, headers, name="Solar", code="SOLAR", cost_per_lead_cents=1500)
    create_campaign(client, headers, name="Auto", code="AUTO", cost_per_lead_cents=400)
    solar = [post(client, headers, georgia_lead(campaign="SOLAR")).json["lead_id"] for _ in range(2)]
    post(client, headers, georgia_lead(campaign="AUTO"))
    db.execute("UPDATE leads SET status = 'dialing', attempts = 1 WHERE id = %s", (solar[0],))
    db.execute("UPDATE leads SET status = 'transferred', closed_at = now() WHERE id = %s", (solar[0],))
    db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at, payout_cents) "
               "VALUES (%s, %s, '+18005550100', '+14045550000', now(), 4500)", (solar[0], account_id))
    stats = client.simulate_get("/v1/stats?group_by=campaign", headers=headers).json
    groups = {g["group"]: g for g in stats["groups"]}
    assert {name: (g["leads"], g["revenue_cents"], g["cost_cents"], g["margin_cents"])
            for name, g in groups.items()} == {"SOLAR": (2, 4500, 3000, 1500), "AUTO": (1, 0, 400, -400)}
    rows = db.execute("SELECT k.code, f.leads, f.cost_cents FROM analytics_funnel_daily AS f "
                      "JOIN analytics_campaigns AS k ON k.campaign_id = f.campaign_id "
                      "WHERE f.account_id = %s ORDER BY 1", (account_id,)).fetchall()
    assert rows == [("AUTO", 1, 400), ("SOLAR", 2, 3000)]


# --- the migration -------------------------------------------------------------------------------------------

def test_the_migration_gives_accounts_with_leads_a_default_campaign_and_changes_nothing(tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0011":
            shutil.copy(path, before / path.name)
    name = create_scratch_database("l2i_campaigns_mig")
    url = make_conninfo(BASE_URL, dbname=name)
    try:
        migrate(url, before)
        with psycopg.connect(url, autocommit=True) as conn:
            busy = conn.execute("SELECT l2i_account_create('busy')").fetchone()[0]
            idle = conn.execute("SELECT l2i_account_create('idle')").fetchone()[0]
            conn.execute("UPDATE accounts SET max_attempts = 7, retry_backoff_s = 900 WHERE id = %s", (busy,))
            lead = conn.execute("INSERT INTO leads (account_id, phone, status) VALUES (%s, '+14045550100', 'new') "
                                "RETURNING id", (busy,)).fetchone()[0]
            conn.execute("INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before) "
                         "VALUES (%s, %s, '+14045550100', '{GA}', '{America/New_York}', now())", (lead, busy))
        assert migrate(url)[0] == "0011_campaigns.sql"  # and any later migration
        with psycopg.connect(url, autocommit=True) as conn:
            campaigns = conn.execute("SELECT account_id, code, is_default, max_attempts, retry_backoff_s, "
                                     "required_fields, states, hours_start, daily_cap FROM campaigns").fetchall()
            assert campaigns == [(busy, "DEFAULT", True, 7, 900, [], None, None, None)]
            assert conn.execute("SELECT l.campaign_id = q.campaign_id AND l.campaign_id IS NOT NULL "
                                "FROM leads AS l JOIN dial_queue AS q ON q.lead_id = l.id").fetchone() == (True,)
            # Leads that name no campaign, or one it does not have, still go in (to the default campaign).
            row = conn.execute("SELECT refused, code FROM l2i_campaign_gate(%s, 'Solar', NULL, '{phone}', 'GA')",
                               (busy,)).fetchone()
            assert row == (None, "DEFAULT")
            assert conn.execute("SELECT refused, code FROM l2i_campaign_gate(%s, NULL, NULL, '{phone}', 'GA')",
                                (idle,)).fetchone() == (None, None)
    finally:
        drop_database(name)


# --- the CLI and the psql scripts ----------------------------------------------------------------------------

def test_the_cli_and_the_psql_scripts_manage_campaigns(database_url, capsys, client, db):
    from l2i.cli import main
    from tests.test_cli import psql

    def l2i(*args):
        code = main(["--database-url", database_url, *args])
        out, err = capsys.readouterr()
        return code, out.rstrip("\n").splitlines(), err

    _, (account_id,), _ = l2i("account", "create", "Campaign CLI")
    code, out, _ = l2i("campaign", "create", account_id, "Solar", "--code", "solar", "--states", "TX,GA",
                       "--hours", "mon-fri=10:00-16:00", "--daily-cap", "100", "--agent", "solar-v1",
                       "--required-fields", "firstName,custom.roof_type", "--backoff", "busy=300")
    assert code == 0 and out[-1] == "SOLAR"
    with pytest.raises(SystemExit, match="(?s)states: .*hours.mon: "):  # every problem, as the API's 422 lists
        l2i("campaign", "create", account_id, "Bad", "--states", "XX", "--hours", "mon=9-5")
    # psql: the same statements, with the API's JSON as the settings.
    code, out, err = psql(database_url, "campaign_create", account_id=account_id, name="Auto",
                          settings='{"code": "AUTO", "priority": 3}')
    assert code == 0 and out[0].startswith("AUTO|"), err
    code, out, _ = l2i("campaign", "list", account_id)
    assert [line.split("\t")[0] for line in out[1:]] == ["SOLAR", "AUTO"]
    code, out, _ = l2i("campaign", "update", account_id, "solar", "--daily-cap", "none", "--inactive")
    shown = json.loads("\n".join(out))
    assert code == 0 and shown["daily_cap"] is None and shown["active"] is False
    assert shown["required_fields"] == ["first_name", "custom.roof_type"] and shown["backoff_s"] == {"busy": 300}
    assert l2i("campaign", "pause", account_id, "AUTO")[1] == ["campaign AUTO: paused"]
    code, out, err = psql(database_url, "campaign_resume", account_id=account_id, campaign="auto")
    assert code == 0 and out == ["AUTO|f"], err
    assert l2i("campaign", "show", account_id, "NOPE")[0] == 1
    # A key whose leads go to AUTO unless they name another campaign.
    code, out, _ = l2i("key", "create", account_id, "--scopes", "write,read", "--campaign", "Auto")
    answer = post(client, bearer(out[-1]), georgia_lead())
    assert answer.status_code == 201 and answer.json["campaign"] == "AUTO"
