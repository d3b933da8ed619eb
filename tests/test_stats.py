"""GET /v1/stats: the funnel and revenue per source, day, sub_id and buyer; and the analyst views and role."""

from __future__ import annotations

from urllib.parse import urlencode

import psycopg
import pytest
from psycopg import sql as pgsql

from tests.conftest import QUICKSTART_LEAD, bearer

CONSENT = QUICKSTART_LEAD["consent"]


@pytest.fixture
def funnel(client, accounts, db):
    """Five leads from two sources: one duplicate, one held, one dialed and unreached, one transferred and paid."""
    account_id, key = accounts.with_key()
    token = db.execute("SELECT l2i_postback_token_create(%s)", (account_id,)).fetchone()[0]

    def lead(phone, source, sub_id, consent=True):
        body = {"phone": phone, "source": source, "sub_id": sub_id, **({"consent": CONSENT} if consent else {})}
        return client.simulate_post("/v1/leads", json=body, headers=bearer(key)).json["lead_id"]

    web1 = lead("2125550601", "web", "a")
    lead("2125550601", "web", "a")  # duplicate
    lead("2125550602", "web", "b", consent=False)  # held: missing_consent
    vendor1 = lead("2125550603", "vendor", "a")
    lead("2125550604", "vendor", None)
    db.execute("UPDATE leads SET status = 'dialing', attempts = 1 WHERE id = ANY(%s)", ([web1, vendor1],))
    db.execute("UPDATE leads SET status = 'transferred', closed_at = now() WHERE id = %s", (web1,))
    db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
               "VALUES (%s, %s, '+18005550000', '+12125550601', now())", (web1, account_id))
    client.simulate_get("/v1/postbacks/calls", query_string=urlencode(
        {"token": token, "caller_id": "+12125550601", "payout": "40", "buyer": "Acme"}))
    return account_id, key


def stats(client, key, **params):
    return client.simulate_get("/v1/stats", params=params, headers=bearer(key))


def test_stats_by_source(client, funnel):
    _, key = funnel
    response = stats(client, key, group_by="source")
    assert response.status_code == 200
    groups = {g["group"]: g for g in response.json["groups"]}
    assert set(groups) == {"web", "vendor"}
    web = groups["web"]
    assert {k: web[k] for k in ("received", "leads", "duplicates", "ineligible", "queued", "dialed", "qualified",
                                "transferred", "revenue_cents")} == {
        "received": 3, "leads": 2, "duplicates": 1, "ineligible": 1, "queued": 1, "dialed": 1, "qualified": 1,
        "transferred": 1, "revenue_cents": 4000}
    assert web["ineligible_by_reason"] == {"missing_consent": 1}
    assert web["revenue_per_lead_cents"] == 2000
    vendor = groups["vendor"]
    assert (vendor["leads"], vendor["dialed"], vendor["transferred"], vendor["revenue_cents"]) == (2, 1, 0, 0)


def test_stats_by_buyer_sub_id_and_day(client, funnel):
    _, key = funnel
    by_buyer = {g["group"]: g for g in stats(client, key, group_by="buyer").json["groups"]}
    assert by_buyer["Acme"]["revenue_cents"] == 4000 and by_buyer["Acme"]["leads"] == 1
    assert by_buyer[None]["leads"] == 3
    by_sub = {g["group"]: g["leads"] for g in stats(client, key, group_by="sub_id").json["groups"]}
    assert by_sub == {"a": 2, "b": 1, None: 1}
    days = stats(client, key).json
    assert days["group_by"] == "day" and len(days["groups"]) == 1 and days["groups"][0]["leads"] == 4


def test_stats_range_excludes_other_times_and_accounts(client, funnel, accounts):
    _, key = funnel
    assert stats(client, key, to="2020-01-02T00:00:00Z", **{"from": "2020-01-01T00:00:00Z"}).json["groups"] == []
    _, stranger = accounts.with_key()
    assert stats(client, stranger).json["groups"] == []


@pytest.mark.parametrize("params, field", [
    ({"group_by": "color"}, "group_by"), ({"from": "soon"}, "from"),
    ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
])
def test_bad_stats_parameters_are_422(client, accounts, params, field):
    _, key = accounts.with_key()
    response = stats(client, key, **params)
    assert response.status_code == 422
    assert response.json["error"]["fields"][0]["field"] == field


def test_stats_needs_the_read_scope(client, accounts):
    account_id = accounts.create()
    assert stats(client, accounts.key(account_id, scopes=["write"])).status_code == 403


def test_funnel_view_agrees_with_the_stats(funnel, db):
    account_id, _ = funnel
    rows = db.execute("SELECT source, leads, duplicates, ineligible, transferred, revenue_cents "
                      "FROM analytics_funnel_daily WHERE account_id = %s ORDER BY source", (account_id,)).fetchall()
    assert rows == [("vendor", 2, 0, 0, 0, 0), ("web", 2, 1, 1, 1, 4000)]
    buyers = db.execute("SELECT buyer, transfers, revenue_cents FROM analytics_revenue_by_buyer "
                        "WHERE account_id = %s", (account_id,)).fetchall()
    assert buyers == [("Acme", 1, 4000)]


def test_analyst_role_sees_views_and_no_secrets(database_url, funnel):
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The database's own analyst role (migration 0010: l2i_<database>_analyst; tests/test_analyst.py).
        role = conn.execute("SELECT l2i_analyst_role()").fetchone()[0]
        conn.execute(pgsql.SQL("SET ROLE {}").format(pgsql.Identifier(role)))
        assert conn.execute("SELECT count(*) FROM analytics_funnel_daily").fetchone()[0] >= 2
        assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] >= 4
        for secret in ("api_keys", "postback_tokens", "rate_limit_windows", "postback_rate_limit_windows"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {secret} LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM leads")


def test_views_are_documented(db):
    undocumented = db.execute("""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'v' AND obj_description(c.oid, 'pg_class') IS NULL
    """).fetchall()
    assert undocumented == []
