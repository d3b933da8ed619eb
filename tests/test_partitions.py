"""leads partitioned by month (0014): partitions made ahead, rows of any time stored, the 30-day dedupe across a
month boundary under parallel posts, claims and GET across partitions, the partition helpers, and the migration
of a populated unpartitioned leads."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import falcon.testing
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from l2i import sql
from l2i.app import create_app
from l2i.cli import main
from l2i.migrate import MIGRATIONS_DIR, migrate
from tests.conftest import BASE_URL, QUICKSTART_LEAD, bearer, create_scratch_database, drop_database
from tests.test_concurrency import in_parallel
from tests.test_dialing import NOON, Clock


def month_name(at: datetime) -> str:
    return f"leads_{at.year:04d}_{at.month:02d}"


def partition_of(db, lead_id) -> str:
    return db.execute("SELECT tableoid::regclass::text FROM leads WHERE id = %s", (lead_id,)).fetchone()[0]


def post(client, key, phone="2125550199", **fields):
    return client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "phone": phone, **fields},
                                headers=bearer(key))


def test_ensure_makes_the_months_ahead_once(database_url, db, capsys):
    assert main(["--database-url", database_url, "partitions", "ensure", "--months-ahead", "14"]) == 0
    printed = capsys.readouterr().out.splitlines()
    months = db.execute("SELECT to_char(now() AT TIME ZONE 'UTC' + make_interval(months => i), 'YYYY_MM') "
                        "FROM generate_series(0, 14) AS i").fetchall()
    # Each month: its partition of leads, then of lead_events (0015), made together.
    names = [f"{table}_{m}" for (m,) in months for table in ("leads", "lead_events")]
    assert [line.split("\t")[0] for line in printed] == names
    for name in names:
        bound = db.execute("SELECT c.relispartition, pg_get_expr(c.relpartbound, c.oid) FROM pg_class AS c "
                           "WHERE c.relname = %s", (name,)).fetchone()
        year, month = name[-7:-3], name[-2:]
        assert bound and bound[0] and bound[1].startswith(f"FOR VALUES FROM ('{year}-{month}-01 00:00:00+00')")
        parent = "lead_events" if name.startswith("lead_events_") else "leads"
        assert db.execute("SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass",
                          (name,)).fetchone() == (parent,)
    # Again: everything is there already.
    assert main(["--database-url", database_url, "partitions", "ensure", "--months-ahead", "14"]) == 0
    assert {line.split("\t")[1] for line in capsys.readouterr().out.splitlines()} == {"there"}
    assert main(["--database-url", database_url, "partitions", "list"]) == 0
    listed = capsys.readouterr().out
    assert "leads_default" in listed and "lead_events_default" in listed and f"lead_events_{months[14][0]}" in listed
    assert main(["--database-url", database_url, "partitions", "ensure", "--months-ahead", "500"]) == 2


def test_a_lead_of_any_time_is_stored_and_a_later_partition_takes_it_in(client, accounts, db):
    account_id, key = accounts.with_key()
    old = post(client, key, "2125550190").json["lead_id"]
    future = post(client, key, "2125550191").json["lead_id"]
    # Far outside every month partition: the rows move to leads_default, with their queue rows (ON UPDATE CASCADE).
    db.execute("UPDATE leads SET created_at = '1999-03-15T10:00:00Z' WHERE id = %s", (old,))
    db.execute("UPDATE leads SET created_at = '2199-07-01T00:00:00Z' WHERE id = %s", (future,))
    assert partition_of(db, old) == partition_of(db, future) == "leads_default"
    assert db.execute("SELECT lead_created_at FROM dial_queue WHERE lead_id = %s", (old,)).fetchone()[0] == \
        datetime(1999, 3, 15, 10, tzinfo=timezone.utc)
    # An insert straight into such a month works too (no partition needed).
    direct = db.execute("INSERT INTO leads (account_id, phone, status, created_at) "
                        "VALUES (%s, '+12125550192', 'new', '1999-03-31T23:59:59Z') RETURNING id",
                        (account_id,)).fetchone()[0]
    assert partition_of(db, direct) == "leads_default"
    # Making the month moves its rows out of leads_default; what points at them still does.
    assert db.execute("SELECT l2i_partition_create('1999-03-02T00:00:00Z')").fetchone() == (True,)
    assert partition_of(db, old) == partition_of(db, direct) == "leads_1999_03"
    assert partition_of(db, future) == "leads_default"
    assert db.execute("SELECT count(*) FROM dial_queue AS q JOIN leads AS l "
                      "ON l.id = q.lead_id AND l.created_at = q.lead_created_at WHERE q.lead_id = %s",
                      (old,)).fetchone() == (1,)
    assert client.simulate_get(f"/v1/leads/{old}", headers=bearer(key)).json["id"] == old
    # Partition helpers for retention: a month still in use is not dropped; an old empty one is.
    assert db.execute("SELECT before FROM l2i_partitions('2000-01-01') WHERE partition_name = 'leads_1999_03'"
                      ).fetchone() == (True,)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT l2i_partition_drop(%s, now())", (month_name(datetime.now(timezone.utc)),))
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # the queue row still points at a lead there
        db.execute("SELECT l2i_partition_drop('leads_1999_03', '2000-01-01')")
    db.execute("DELETE FROM leads WHERE id IN (%s, %s)", (old, direct))
    db.execute("SELECT l2i_partition_drop('leads_1999_03', '2000-01-01')")
    assert db.execute("SELECT to_regclass('leads_1999_03')").fetchone() == (None,)


def test_a_leads_queue_row_and_dedupe_key_follow_it(client, accounts, db):
    """dial_queue and lead_dedupe_keys name their lead without a foreign key (0016): l2i_lead_rows_follow does
    what its cascades did. A created_at changed within the month or across months is followed; a deleted lead
    takes both rows with it, and its number is then a new lead."""
    account_id, key = accounts.with_key()
    lead = post(client, key, "2125550188").json["lead_id"]

    def rows():
        return db.execute(
            "SELECT l.created_at, (SELECT q.lead_created_at FROM dial_queue AS q WHERE q.lead_id = l.id) AS queue, "
            "(SELECT k.lead_created_at FROM lead_dedupe_keys AS k WHERE k.lead_id = l.id) AS dedupe "
            "FROM leads AS l WHERE l.id = %s", (lead,)).fetchone()

    for change in ("now() - interval '1 minute'", "now() - interval '2 months'"):
        before = partition_of(db, lead)
        (created,) = db.execute(f"UPDATE leads SET created_at = {change} WHERE id = %s RETURNING created_at",
                                (lead,)).fetchone()
        assert (partition_of(db, lead) == before) == ("minute" in change)
        assert rows() == (created, created, created)
    db.execute("DELETE FROM leads WHERE id = %s", (lead,))
    assert db.execute("SELECT (SELECT count(*) FROM dial_queue WHERE account_id = %(a)s) AS queue, "
                          "(SELECT count(*) FROM lead_dedupe_keys WHERE account_id = %(a)s) AS dedupe",
                          {"a": account_id}).fetchone() == (0, 0)
    again = post(client, key, "2125550188")
    assert again.status_code == 201 and again.json["lead_id"] != lead


def test_parallel_duplicates_across_a_month_boundary(app, accounts, dictdb):
    """The open lead is in last month's partition, the posts land in this month's: the dedupe key row decides,
    exactly once, whatever the partitions."""
    account_id, key = accounts.with_key()
    client = falcon.testing.TestClient(app)
    old = post(client, key, "2125550193").json["lead_id"]
    dictdb.execute("SELECT l2i_partition_create(date_trunc('month', now()) - interval '1 day')")
    # The last minute of last month (UTC): within 30 days of now on most days of a month, not on all.
    within = dictdb.execute(
        "UPDATE leads SET created_at = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
        "- interval '1 minute' WHERE id = %s RETURNING created_at > now() - interval '30 days' AS within, "
        "tableoid::regclass::text AS partition", (old,)).fetchone()
    assert within["partition"] != "leads_default"
    responses = in_parallel(20, lambda i: post(client, key, "2125550193"))
    ids = {r.json["lead_id"] for r in responses}
    assert len(ids) == 1
    if within["within"]:
        assert ids == {old} and sorted(r.status_code for r in responses) == [200] * 20
        assert dictdb.execute("SELECT duplicate_count FROM leads WHERE id = %s", (old,)).fetchone() == \
            {"duplicate_count": 20}
    else:
        assert old not in ids and sorted(r.status_code for r in responses) == [200] * 19 + [201]
    assert dictdb.execute("SELECT count(*) AS n FROM leads WHERE account_id = %s AND dedupe_open",
                          (account_id,)).fetchone()["n"] == 1


def test_parallel_posts_replace_an_expired_lead_of_an_old_month_once(app, accounts, dictdb):
    account_id, key = accounts.with_key()
    client = falcon.testing.TestClient(app)
    old = post(client, key, "2125550194").json["lead_id"]
    dictdb.execute("UPDATE leads SET created_at = now() - interval '75 days' WHERE id = %s", (old,))
    responses = in_parallel(20, lambda i: post(client, key, "2125550194"))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [201]
    (new,) = {r.json["lead_id"] for r in responses}
    flags = dictdb.execute("SELECT id::text, dedupe_open, tableoid::regclass::text AS partition FROM leads "
                           "WHERE account_id = %s ORDER BY created_at", (account_id,)).fetchall()
    assert [(f["id"], f["dedupe_open"]) for f in flags] == [(old, False), (new, True)]
    assert flags[0]["partition"] != flags[1]["partition"]
    assert dictdb.execute("SELECT lead_id::text FROM lead_dedupe_keys WHERE account_id = %s",
                          (account_id,)).fetchall() == [{"lead_id": new}]


def test_claims_and_reads_across_partitions(config, pool, accounts, db):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    client = falcon.testing.TestClient(create_app(config, pool, clock=Clock(NOON)))
    ids = [post(client, key, f"21255502{i:02d}").json["lead_id"] for i in range(6)]
    # Two leads each in this month, 2 months back and 14 months back (each its own partition).
    for i, lead_id in enumerate(ids):
        db.execute("UPDATE leads SET created_at = now() - %s * interval '1 month' WHERE id = %s",
                   ([0, 2, 14][i // 2], lead_id))
        db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE lead_id = %s", (lead_id,))
    db.execute("SELECT l2i_partition_create(now() - interval '14 months')")
    assert len({partition_of(db, i) for i in ids}) == 3
    claimed = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10, "lease_seconds": 60},
                                   headers=bearer(key)).json["data"]
    assert sorted(c["lead_id"] for c in claimed) == sorted(ids)
    for c in claimed:
        lead = client.simulate_get(f"/v1/leads/{c['lead_id']}", headers=bearer(key)).json
        assert lead["status"] == "dialing" and [e["type"] for e in lead["events"]] == ["claimed"]
    done = client.simulate_post(f"/v1/leads/{ids[5]}/outcome", headers=bearer(key), json={
        "outcome": "transferred", "destination": "+18005550100", "caller_id": "(555) 123-4567", "call_id": "p-1",
        "transferred_at": NOON.isoformat()})
    assert done.status_code == 200, done.text
    assert client.simulate_get(f"/v1/leads/{ids[5]}", headers=bearer(key)).json["transfer"]["call_id"] == "p-1"
    page = client.simulate_get("/v1/leads", params={"limit": "4"}, headers=bearer(key)).json
    rest = client.simulate_get("/v1/leads", params={"limit": "4", "cursor": page["next_cursor"]},
                               headers=bearer(key)).json
    # Newest first across the partitions (each UPDATE above ran at a later now()).
    assert [d["id"] for d in page["data"] + rest["data"]] == [ids[1], ids[0], ids[3], ids[2], ids[5], ids[4]]
    assert db.execute("SELECT count(*) FROM call_attempts WHERE account_id = %s AND lead_created_at IS NOT NULL",
                      (account_id,)).fetchone() == (6,)


def test_the_migration_partitions_a_populated_leads(tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < 14:
            shutil.copy(path, before / path.name)
    name = create_scratch_database("l2i_partitions_mig")
    url = make_conninfo(BASE_URL, dbname=name)
    try:
        migrate(url, before)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            account = conn.execute("SELECT l2i_account_create('old') AS id").fetchone()["id"]
            ids = []
            for i, created in enumerate(["2024-01-10Z", "2025-06-30T23:59:59Z", "now"]):
                lead = conn.execute(
                    "INSERT INTO leads (account_id, phone, status, created_at, dedupe_open) "
                    "VALUES (%s, %s, 'new', %s::timestamptz, %s) RETURNING id",
                    (account, f"+1212555030{i}", created, i > 0)).fetchone()["id"]
                conn.execute("INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before) "
                             "VALUES (%s, %s, %s, '{NY}', '{America/New_York}', now())",
                             (lead, account, f"+1212555030{i}"))
                conn.execute("INSERT INTO lead_events (lead_id, account_id, type) VALUES (%s, %s, 'requeued')",
                             (lead, account))
                ids.append(lead)
            conn.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
                         "VALUES (%s, %s, '+18005550100', '+12125550000', now())", (ids[0], account))
            conn.execute("INSERT INTO call_attempts (account_id, phone, lead_id, claimed_at) "
                         "VALUES (%s, '+12125550300', %s, now())", (account, ids[0]))
        assert [n for n in migrate(url) if "partitions" in n]
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            rows = conn.execute("SELECT id, tableoid::regclass::text AS partition FROM leads ORDER BY created_at"
                                ).fetchall()
            now = datetime.now(timezone.utc)
            assert [(r["id"], r["partition"]) for r in rows] == [
                (ids[0], "leads_2024_01"), (ids[1], "leads_2025_06"), (ids[2], month_name(now))]
            assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'leads'").fetchone()["relkind"] == "p"
            for table in ("dial_queue", "lead_events"):
                assert conn.execute(f"SELECT count(*) AS n FROM {table} AS x JOIN leads AS l "
                                    "ON l.id = x.lead_id AND l.created_at = x.lead_created_at").fetchone()["n"] == 3
            for table in ("transfers", "call_attempts"):
                assert conn.execute(f"SELECT lead_created_at FROM {table}").fetchone()["lead_created_at"] == \
                    datetime(2024, 1, 10, tzinfo=timezone.utc)
            assert {r["lead_id"] for r in conn.execute("SELECT lead_id FROM lead_dedupe_keys")} == set(ids[1:])
            names = {r["n"] for r in conn.execute(
                "SELECT conname AS n FROM pg_constraint WHERE conrelid = 'leads'::regclass "
                "UNION ALL SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'leads'::regclass "
                "UNION ALL SELECT tgname FROM pg_trigger WHERE tgrelid = 'leads'::regclass")}
            assert {"leads_pkey", "leads_account_id_fkey", "leads_api_key_id_fkey", "leads_campaign_id_fkey",
                    "leads_source_id_fkey", "leads_status_check", "leads_phone_check", "leads_account_created_idx",
                    "leads_account_phone_idx", "leads_campaign_cap_idx", "leads_status_transition"} <= names
            role = conn.execute("SELECT l2i_analyst_role() AS r").fetchone()["r"]
            for relation in ("leads", "analytics_funnel_daily", "analytics_revenue_by_buyer"):
                assert conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT') AS ok",
                                    (role, relation)).fetchone()["ok"]
            assert conn.execute("SELECT sum(transferred) AS n FROM analytics_funnel_daily").fetchone()["n"] == 1
            # The state machine's trigger came along.
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("UPDATE leads SET status = 'qualified', closed_at = now() WHERE id = %s", (ids[2],))
    finally:
        drop_database(name)


@pytest.mark.parametrize("table", ["leads", "lead_events"])
def test_readyz_says_when_next_months_partition_is_missing(client, db, caplog, table):
    assert "partitions" not in client.simulate_get("/readyz").json
    name = db.execute("SELECT %s || '_' || to_char((now() + interval '1 month') AT TIME ZONE 'UTC', 'YYYY_MM')",
                      (table,)).fetchone()[0]
    db.execute(f"ALTER TABLE {name} RENAME TO {name}_away")
    try:
        response = client.simulate_get("/readyz")
    finally:
        db.execute(f"ALTER TABLE {name}_away RENAME TO {name}")
    assert response.status_code == 200  # still ready: intake lands in leads_default meanwhile
    assert "l2i partitions ensure" in response.json["partitions"]
    assert any("partition" in r.getMessage() for r in caplog.records if r.name == "l2i.health")


def test_posts_waiting_on_the_dedupe_key_replace_an_expired_lead_once(app, accounts, dictdb, database_url):
    """The race made wide: a transaction holds the number's key row while 8 posts of the number arrive (the old
    lead is past 30 days, so each would replace it). Released, exactly one makes the new lead; the others are
    its duplicates, because each re-reads the key under its lock."""
    account_id, key = accounts.with_key()
    client = falcon.testing.TestClient(app)
    old = post(client, key, "2125550195").json["lead_id"]
    dictdb.execute("UPDATE leads SET created_at = now() - interval '31 days' WHERE id = %s", (old,))
    with psycopg.connect(database_url) as blocker:  # not autocommit: the row lock stays until rollback
        blocker.execute("SELECT 1 FROM lead_dedupe_keys WHERE account_id = %s AND phone = '+12125550195' "
                        "FOR UPDATE", (account_id,))
        with ThreadPoolExecutor(max_workers=8) as executor:
            futures = [executor.submit(post, client, key, "2125550195") for _ in range(8)]
            for _ in range(200):  # until all 8 wait for a lock (at most 10 s)
                waiting = dictdb.execute("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = "
                                         "current_database() AND wait_event_type = 'Lock'").fetchone()["n"]
                if waiting >= 8:
                    break
                time.sleep(0.05)
            assert waiting >= 8
            blocker.rollback()
            responses = [f.result() for f in futures]
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    (new,) = {r.json["lead_id"] for r in responses}
    assert new != old
    assert dictdb.execute("SELECT count(*) AS n FROM leads WHERE account_id = %s", (account_id,)).fetchone()["n"] == 2


def event_partition_of(db, lead_id) -> list[str]:
    return [r[0] for r in db.execute("SELECT tableoid::regclass::text FROM lead_events WHERE lead_id = %s ORDER BY id",
                                     (lead_id,))]


def test_events_land_in_the_partition_of_their_month(config, pool, accounts, db):
    """lead_events is partitioned by its own time (at, 0015), not by its lead's created_at."""
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    client = falcon.testing.TestClient(create_app(config, pool, clock=Clock(NOON)))
    lead = post(client, key, "2125550260").json["lead_id"]
    # The lead of 14 months ago (its own partition); its event, at the app's clock (NOON, within a week), goes to
    # that month's partition.
    db.execute("SELECT l2i_partition_create(now() - interval '14 months')")
    db.execute("UPDATE leads SET created_at = now() - interval '14 months' WHERE id = %s", (lead,))
    db.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE lead_id = %s", (lead,))
    claimed = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10, "lease_seconds": 60},
                                   headers=bearer(key)).json["data"]
    assert [c["lead_id"] for c in claimed] == [lead]
    assert event_partition_of(db, lead) == [f"lead_events_{NOON:%Y_%m}"]
    assert partition_of(db, lead) != f"leads_{NOON:%Y_%m}"
    # An insert that leaves lead_created_at to the trigger (l2i_lead_created_at_fill) is routed by at, too.
    db.execute("INSERT INTO lead_events (lead_id, account_id, type, at) VALUES (%s, %s, 'requeued', %s)",
               (lead, account_id, NOON))
    assert db.execute("SELECT count(*) FROM lead_events AS e JOIN leads AS l ON l.id = e.lead_id "
                      "AND l.created_at = e.lead_created_at WHERE e.lead_id = %s", (lead,)).fetchone() == (2,)
    assert [e["type"] for e in client.simulate_get(f"/v1/leads/{lead}", headers=bearer(key)).json["events"]] == \
        ["claimed", "requeued"]


def test_an_event_of_any_time_is_stored_and_its_month_takes_it_in(client, accounts, db):
    account_id, key = accounts.with_key()
    lead = post(client, key, "2125550261").json["lead_id"]
    for at in ("1998-05-20T08:00:00Z", "2198-02-01T00:00:00Z", "1998-05-31T23:59:59.999Z"):
        db.execute("INSERT INTO lead_events (lead_id, account_id, type, at) VALUES (%s, %s, 'requeued', %s)",
                   (lead, account_id, at))
    assert event_partition_of(db, lead) == ["lead_events_default"] * 3
    try:
        # Making the month (both tables: 0014's signature) moves its events out of lead_events_default.
        assert db.execute("SELECT l2i_partition_create('1998-05-02T00:00:00Z')").fetchone() == (True,)
        assert event_partition_of(db, lead) == ["lead_events_1998_05", "lead_events_default", "lead_events_1998_05"]
        assert db.execute("SELECT to_regclass('leads_1998_05') IS NOT NULL").fetchone() == (True,)
        assert db.execute("SELECT l2i_partition_create('lead_events', '2198-02-28T00:00:00Z')").fetchone() == (True,)
        assert event_partition_of(db, lead) == ["lead_events_1998_05", "lead_events_2198_02", "lead_events_1998_05"]
        assert db.execute("SELECT to_regclass('leads_2198_02')").fetchone() == (None,)
        assert db.execute("SELECT l2i_partition_create('lead_events', '2198-02-01T00:00:00Z')").fetchone() == (False,)
        assert len(client.simulate_get(f"/v1/leads/{lead}", headers=bearer(key)).json["events"]) == 3
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            db.execute("SELECT l2i_partition_create('dial_queue', now())")
        # The drop guard: a month not wholly before the time given, a default partition, another table: refused.
        for name, before in [(f"lead_events_{datetime.now(timezone.utc):%Y_%m}", "now()"),
                             ("lead_events_2198_02", "'2198-02-15'"), ("lead_events_default", "'2999-01-01'"),
                             ("dial_queue", "'2999-01-01'"), ("lead_events_1998_05", "'1998-05-31'")]:
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                db.execute(f"SELECT l2i_partition_drop(%s, {before})", (name,))
        assert db.execute("SELECT before FROM l2i_partitions('1998-06-01') WHERE partition_name = "
                          "'lead_events_1998_05'").fetchone() == (True,)
        # Nothing points at events: an old month of them goes whole, with its rows.
        db.execute("SELECT l2i_partition_drop('lead_events_1998_05', '1998-06-01')")
        assert event_partition_of(db, lead) == ["lead_events_2198_02"]
        db.execute("SELECT l2i_partition_drop('leads_1998_05', '1998-06-01')")
        assert db.execute("SELECT to_regclass('lead_events_1998_05'), to_regclass('leads_1998_05')"
                          ).fetchone() == (None, None)
    finally:
        db.execute("DROP TABLE IF EXISTS lead_events_1998_05, leads_1998_05, lead_events_2198_02")


def test_a_leads_events_are_an_index_lookup_in_each_partition(db, accounts):
    """GET /v1/leads/{id}'s events subquery (lead_get) probes lead_events_lead_idx in every populated partition
    (lead_events is partitioned by at, the lookup is by lead_id): no partition is read whole."""
    account_id, _ = accounts.with_key()
    months = [datetime.now(timezone.utc), *(
        db.execute("SELECT now() - %s * interval '1 month'", (i,)).fetchone()[0] for i in (1, 2))]
    for at in months[1:]:
        db.execute("SELECT l2i_partition_create(%s)", (at,))
    db.execute("INSERT INTO leads (account_id, phone, status) SELECT %s, '+1646555' || lpad(i::text, 4, '0'), "
               "'new' FROM generate_series(1, 3000) AS i", (account_id,))
    db.execute("INSERT INTO lead_events (lead_id, lead_created_at, account_id, type, at) "
               "SELECT l.id, l.created_at, l.account_id, 'requeued', m.at FROM leads AS l, unnest(%s::timestamptz[]) "
               "AS m(at) WHERE l.account_id = %s", (months, account_id))
    populated = [f"lead_events_{at:%Y_%m}" for at in months]
    for name in populated:
        db.execute(f"ANALYZE {name}")
    lead = db.execute("SELECT id FROM leads WHERE account_id = %s LIMIT 1", (account_id,)).fetchone()[0]
    text = sql.QUERIES["lead_get"].text
    with db.transaction():
        db.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        plan = "\n".join(r[0] for r in db.execute("EXPLAIN " + text, {"id": lead, "account_id": account_id}))
    for name in populated:
        assert "Index Cond: (lead_id = l.id)" in plan and f"{name}_lead_id_id_idx" in plan, plan
        assert f"Seq Scan on {name} " not in plan, plan


@pytest.mark.parametrize("before_0014", [True, False], ids=["unpartitioned", "leads-partitioned"])
def test_the_migration_partitions_a_populated_lead_events(tmp_path, before_0014):
    """From before 0014 (both tables converted) and from 0014 (lead_events converted by 0015)."""
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if int(path.name[:4]) < (14 if before_0014 else 15):
            shutil.copy(path, before / path.name)
    name = create_scratch_database("l2i_events_mig")
    url = make_conninfo(BASE_URL, dbname=name)
    try:
        migrate(url, before)
        ats = ["2024-01-10T00:00:00Z", "2025-06-30T23:59:59Z", "2025-07-01T00:00:00Z", "2199-01-01T00:00:00Z"]
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            account = conn.execute("SELECT l2i_account_create('old') AS id").fetchone()["id"]
            lead = conn.execute("INSERT INTO leads (account_id, phone, status, created_at) "
                                "VALUES (%s, '+12125550310', 'new', '2024-01-10Z') RETURNING id",
                                (account,)).fetchone()["id"]
            ids = [conn.execute("INSERT INTO lead_events (lead_id, account_id, type, at) "
                                "VALUES (%s, %s, 'requeued', %s) RETURNING id", (lead, account, at)).fetchone()["id"]
                   for at in ats]
        assert [n for n in migrate(url) if n.startswith("0015")]
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'lead_events'").fetchone() == \
                {"relkind": "p"}
            rows = conn.execute("SELECT id, tableoid::regclass::text AS p, lead_created_at FROM lead_events "
                                "ORDER BY id").fetchall()
            # Each month of the existing events gets its partition (nothing is left in lead_events_default).
            assert [(r["id"], r["p"]) for r in rows] == list(zip(ids, [
                "lead_events_2024_01", "lead_events_2025_06", "lead_events_2025_07", "lead_events_2199_01"]))
            assert {r["lead_created_at"] for r in rows} == {datetime(2024, 1, 10, tzinfo=timezone.utc)}
            # The identity goes on after the copied ids.
            new = conn.execute("INSERT INTO lead_events (lead_id, account_id, type) VALUES (%s, %s, 'requeued') "
                               "RETURNING id, tableoid::regclass::text AS p", (lead, account)).fetchone()
            assert new["id"] > max(ids) and new["p"] == month_name(datetime.now(timezone.utc)).replace(
                "leads_", "lead_events_")
            names = {r["n"] for r in conn.execute(
                # (Not the foreign key's copies PostgreSQL makes for each partition of leads, nor its triggers.)
                "SELECT conname AS n FROM pg_constraint WHERE conrelid = 'lead_events'::regclass AND conparentid = 0 "
                "UNION ALL SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'lead_events'::regclass "
                "UNION ALL SELECT tgname FROM pg_trigger WHERE tgrelid = 'lead_events'::regclass AND NOT tgisinternal "
                "UNION ALL SELECT relname FROM pg_class WHERE relname LIKE 'lead_events%seq'")}
            assert names == {"lead_events_pkey", "lead_events_lead_id_fkey", "lead_events_type_check",
                             "lead_events_lead_idx", "lead_events_lead_created_at", "lead_events_id_seq"}
            assert conn.execute("SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
                                "WHERE conname = 'lead_events_pkey'").fetchone()["d"] == "PRIMARY KEY (id, at)"
            assert conn.execute("SELECT obj_description('lead_events'::regclass, 'pg_class') IS NOT NULL AND "
                                "col_description('lead_events'::regclass, 4) IS NOT NULL AS ok").fetchone()["ok"]
            role = conn.execute("SELECT l2i_analyst_role() AS r").fetchone()["r"]
            assert conn.execute("SELECT has_table_privilege(%s, 'lead_events', 'SELECT') AS ok",
                                (role,)).fetchone()["ok"]
            assert conn.execute("SELECT to_regclass('lead_events_unpartitioned') AS t").fetchone() == {"t": None}
            # The foreign key and its cascade still hold across the partitions.
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                conn.execute("INSERT INTO lead_events (lead_id, lead_created_at, account_id, type) "
                             "VALUES (%s, now(), %s, 'requeued')", (lead, account))
            conn.execute("DELETE FROM leads WHERE id = %s", (lead,))
            assert conn.execute("SELECT count(*) AS n FROM lead_events").fetchone() == {"n": 0}
    finally:
        drop_database(name)
