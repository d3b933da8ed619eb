"""Retention (l2i retention apply) and erasure (l2i lead erase), migration 0013_retention: old leads lose their
personal data and keep their counts, consent evidence outlives them exactly as long as the hold says, a consumer's
number goes everywhere but the suppression list, and all of it runs beside intake."""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from l2i import retention, sql
from l2i.cli import main
from tests.conftest import QUICKSTART_LEAD, bearer, migrated_database

CONSENT = QUICKSTART_LEAD["consent"]
NOW = datetime.now(timezone.utc)
FIVE_YEARS_AGO = NOW - timedelta(days=5 * 365)


def post(client, key, phone, **fields):
    body = {"phone": phone, "consent": CONSENT, "first_name": "Jane", "last_name": "Doe", "email": "jane@example.com",
            "state": "TX", "zip": "75001", "source": "web", "sub_id": "a", "custom": {"color": "blue"},
            "favourite": "tea", **fields}
    response = client.simulate_post("/v1/leads", json=body, headers=bearer(key))
    assert response.status_code in (200, 201), response.json
    return response.json["lead_id"]


def backdate(db, lead_ids, when):
    """Moves leads (and their events) to another creation time, as if they had come in then."""
    db.execute("UPDATE leads SET created_at = %s, updated_at = %s WHERE id = ANY(%s::uuid[])",
               (when, when, list(lead_ids)))
    db.execute("UPDATE lead_events SET at = %s WHERE lead_id = ANY(%s::uuid[])", (when, list(lead_ids)))


def apply_one(conn, account_id, **kwargs):
    """retention apply for one account only (the session database is shared with every other test)."""
    account = next(a for a in sql.many(conn, "retention_accounts") if str(a["account_id"]) == str(account_id))
    return retention.apply_account(conn, account, **kwargs)


@pytest.fixture
def rconn(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def stats_of(client, key, since, until):
    out = {}
    for group_by in ("day", "source", "sub_id", "buyer", "campaign"):
        response = client.simulate_get("/v1/stats", headers=bearer(key), params={
            "group_by": group_by, "from": since.isoformat(), "to": until.isoformat()})
        assert response.status_code == 200, response.json
        out[group_by] = response.json["groups"]
    return out


def funnel_rows(db, account_id):
    return db.execute("SELECT * FROM analytics_funnel_daily WHERE account_id = %s ORDER BY day, source", (account_id,)
                      ).fetchall() + db.execute("SELECT * FROM analytics_revenue_by_buyer WHERE account_id = %s "
                                                "ORDER BY day, buyer", (account_id,)).fetchall()


@pytest.fixture
def old_and_young(client, accounts, db):
    """An account with three old leads (5 years: one transferred and paid, one held, one still queued) and a young
    one; returns (account_id, key, old ids, young id)."""
    account_id, key = accounts.with_key()
    token = db.execute("SELECT l2i_postback_token_create(%s)", (account_id,)).fetchone()[0]
    paid = post(client, key, "2125550701")
    held = post(client, key, "2125550702", consent=None, sub_id="b")
    queued = post(client, key, "2125550703", source="vendor")
    young = post(client, key, "2125550704")
    db.execute("DELETE FROM dial_queue WHERE lead_id = %s", (paid,))
    db.execute("UPDATE leads SET status = 'dialing', attempts = 1 WHERE id = %s", (paid,))
    db.execute("UPDATE leads SET status = 'transferred', closed_at = now() WHERE id = %s", (paid,))
    db.execute("INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status) "
               "VALUES (%s, %s, 'transferred', 'dialing', 'transferred')", (paid, account_id))
    db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
               "VALUES (%s, %s, '+18005550000', '+12125550701', %s)", (paid, account_id, FIVE_YEARS_AGO))
    response = client.simulate_get("/v1/postbacks/calls", params={
        "token": token, "caller_id": "+12125550701", "payout": "40", "buyer": "Acme",
        "call_time": FIVE_YEARS_AGO.isoformat()})
    assert response.status_code == 200 and response.json["outcome"] == "matched", response.json
    backdate(db, [paid, held, queued], FIVE_YEARS_AGO)
    return account_id, key, [paid, held, queued], young


def test_old_leads_are_anonymized_young_ones_untouched_stats_unchanged(client, db, dictdb, rconn, old_and_young):
    account_id, key, old, young = old_and_young
    window = (FIVE_YEARS_AGO - timedelta(days=10), FIVE_YEARS_AGO + timedelta(days=10))
    stats_before, funnel_before = stats_of(client, key, *window), funnel_rows(db, account_id)
    young_before = dictdb.execute("SELECT * FROM leads WHERE id = %s", (young,)).fetchone()
    assert stats_before["buyer"][0]["revenue_cents"] == 4000 and stats_before["day"][0]["leads"] == 3

    counts = apply_one(rconn, account_id)

    assert counts["leads"] == 3 and counts["queue"] == 1 and counts["transfers"] == 1 and counts["postbacks"] == 1
    assert counts["events"] >= 1
    assert stats_of(client, key, *window) == stats_before
    assert funnel_rows(db, account_id) == funnel_before
    for row in dictdb.execute("SELECT * FROM leads WHERE id = ANY(%s::uuid[])", (old,)).fetchall():
        assert row["anonymized_at"] is not None and row["dedupe_open"] is False
        assert [row[k] for k in ("phone", "first_name", "last_name", "email", "zip", "consent")] == [None] * 6
        assert row["custom"] == {} and row["extra"] == {} and "e164" not in row["gates"].get("phone", {})
        assert row["source"] in ("web", "vendor") and row["state"] == "TX"
    statuses = dict(db.execute("SELECT id::text, status FROM leads WHERE id = ANY(%s::uuid[])", (old,)).fetchall())
    assert statuses == {old[0]: "transferred", old[1]: "ineligible", old[2]: "expired"}
    assert db.execute("SELECT count(*) FROM lead_events WHERE lead_id = ANY(%s::uuid[])", (old,)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM dial_queue WHERE lead_id = ANY(%s::uuid[])", (old,)).fetchone()[0] == 0
    assert db.execute("SELECT caller_id FROM transfers WHERE lead_id = %s", (old[0],)).fetchone() == (None,)
    assert db.execute("SELECT caller_id, fields FROM postbacks WHERE account_id = %s", (account_id,)
                      ).fetchone() == (None, {})
    assert dictdb.execute("SELECT * FROM leads WHERE id = %s", (young,)).fetchone() == young_before
    # No table holds an old number any more (no call on them within 4 years: no consent evidence either).
    for phone in ("+12125550701", "+12125550702", "+12125550703"):
        assert _tables_holding(db, phone) == [], phone
    assert _tables_holding(db, "+12125550704") != []
    # The API still shows the old lead, without its number; it cannot be queued again.
    shown = client.simulate_get(f"/v1/leads/{old[2]}", headers=bearer(key))
    assert shown.status_code == 200 and shown.json["phone"] is None and shown.json["first_name"] is None
    again = client.simulate_post(f"/v1/leads/{old[2]}/requeue", json={"position": "end"}, headers=bearer(key))
    assert again.status_code == 409


def test_apply_twice_changes_nothing_the_second_time(client, dictdb, rconn, old_and_young):
    account_id, *_ = old_and_young
    first = apply_one(rconn, account_id)
    snapshot = dictdb.execute("SELECT * FROM leads WHERE account_id = %s ORDER BY id", (account_id,)).fetchall()
    evidence = dictdb.execute("SELECT * FROM consent_evidence WHERE account_id = %s", (account_id,)).fetchall()
    second = apply_one(rconn, account_id)
    assert first["leads"] == 3 and set(second.values()) == {0}
    assert dictdb.execute("SELECT * FROM leads WHERE account_id = %s ORDER BY id", (account_id,)).fetchall() == snapshot
    assert dictdb.execute("SELECT * FROM consent_evidence WHERE account_id = %s", (account_id,)).fetchall() == evidence


def test_dry_run_counts_and_changes_nothing(rconn, dictdb, old_and_young):
    account_id, *_ = old_and_young
    before = dictdb.execute("SELECT * FROM leads WHERE account_id = %s ORDER BY id", (account_id,)).fetchall()
    preview = apply_one(rconn, account_id, dry_run=True)
    assert (preview["leads"], preview["queue"], preview["transfers"]) == (3, 1, 1)
    assert dictdb.execute("SELECT * FROM leads WHERE account_id = %s ORDER BY id", (account_id,)).fetchall() == before
    done = apply_one(rconn, account_id)
    assert {k: done[k] for k in ("leads", "queue", "transfers", "evidence")} == {
        k: preview[k] for k in ("leads", "queue", "transfers", "evidence")}


def test_consent_evidence_outlives_the_lead_until_the_last_call_is_four_years_old(client, accounts, db, rconn):
    account_id, key = accounts.with_key()
    called, quiet = post(client, key, "2125550711"), post(client, key, "2125550712")
    backdate(db, [called, quiet], FIVE_YEARS_AGO)
    # A call on the first number three years ago: its consent must be kept one more year.
    db.execute("INSERT INTO call_attempts (account_id, phone, lead_id, claimed_at) VALUES (%s, '+12125550711', %s, "
               "now() - interval '3 years')", (account_id, called))
    consent = db.execute("SELECT consent FROM leads WHERE id = %s", (called,)).fetchone()[0]
    assert consent["consent_text_version"] == CONSENT["consent_text_version"]
    counts = apply_one(rconn, account_id)
    assert counts["leads"] == 2 and counts["evidence"] == 1 and counts["attempts"] == 0
    kept = db.execute("SELECT lead_id::text, phone, consent FROM consent_evidence WHERE account_id = %s",
                      (account_id,)).fetchall()
    assert kept == [(called, "+12125550711", consent)]
    assert db.execute("SELECT phone FROM leads WHERE id = %s", (called,)).fetchone() == (None,)
    assert set(apply_one(rconn, account_id).values()) == {0}  # the hold still runs: nothing moves

    # A year and a day later (the attempt is now older than 4 years): the evidence and the attempt go.
    db.execute("UPDATE call_attempts SET claimed_at = now() - interval '4 years 1 day' WHERE account_id = %s",
               (account_id,))
    counts = apply_one(rconn, account_id)
    assert (counts["evidence_expired"], counts["attempts"]) == (1, 1)
    assert db.execute("SELECT count(*) FROM consent_evidence WHERE account_id = %s", (account_id,)).fetchone() == (0,)


def test_each_account_keeps_leads_as_long_as_it_says(client, accounts, db, rconn, l2i_cli):
    short_id, short_key = accounts.with_key()
    long_id, long_key = accounts.with_key()
    code, out, _ = l2i_cli("account", "retention", short_id, "365")
    assert code == 0 and out == [f"account {short_id}: retention 365 days"]
    assert l2i_cli("account", "retention", long_id)[1] == [f"account {long_id}: retention 1461 days"]
    code, _, err = l2i_cli("account", "retention", long_id, "0")
    assert code == 1 and "accounts_retention_days_check" in err
    two_years_ago = NOW - timedelta(days=730)
    short_lead, long_lead = post(client, short_key, "2125550721"), post(client, long_key, "2125550721")
    backdate(db, [short_lead], two_years_ago)
    backdate(db, [long_lead], two_years_ago)
    assert apply_one(rconn, short_id)["leads"] == 1 and apply_one(rconn, long_id)["leads"] == 0
    assert db.execute("SELECT id::text FROM leads WHERE phone IS NULL AND id = ANY(%s::uuid[])",
                      ([short_lead, long_lead],)).fetchall() == [(short_lead,)]
    # The short account's consent evidence stays: the lead is two years old, the hold is four.
    assert db.execute("SELECT count(*) FROM consent_evidence WHERE lead_id = %s", (short_lead,)).fetchone() == (1,)
    db.execute("UPDATE consent_evidence SET lead_created_at = now() - interval '4 years 1 day' WHERE lead_id = %s",
               (short_lead,))
    assert apply_one(rconn, short_id)["evidence_expired"] == 1


@pytest.fixture
def l2i_cli(database_url, capsys):
    def run(*args):
        code = main(["--database-url", database_url, *args])
        out, err = capsys.readouterr()
        return code, out.rstrip("\n").splitlines(), err
    return run


def _tables_holding(db, text):
    """Every table of the schema with a row whose text holds `text`."""
    tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()]
    return sorted(t for t in tables
                  if db.execute(f'SELECT EXISTS (SELECT 1 FROM "{t}" AS x WHERE x::text LIKE %s)',
                                (f"%{text}%",)).fetchone()[0])


def test_erase_removes_the_number_everywhere_but_the_suppression_list(client, accounts, db, l2i_cli, tmp_path):
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    csv_file = tmp_path / "leads.csv"
    csv_file.write_text("phone,first_name,consent_timestamp,consent_text_version\n"
                        "(212) 555-0731,Jane,2026-07-05T12:00:00Z,v1\n2125550732,John,2026-07-05T12:00:00Z,v1\n")
    assert l2i_cli("import", account_id, str(csv_file))[0] == 0
    token = db.execute("SELECT l2i_postback_token_create(%s)", (account_id,)).fetchone()[0]
    phone = "+12125550731"
    first = post(client, key, "212-555-0731")
    backdate(db, [first], NOW - timedelta(days=40))
    headers = {**bearer(key), "Idempotency-Key": "erase-me"}
    second = client.simulate_post("/v1/leads", json={"phone": phone, "consent": CONSENT}, headers=headers).json
    db.execute("INSERT INTO call_attempts (account_id, phone, lead_id, claimed_at) VALUES (%s, %s, %s, now())",
               (account_id, phone, second["lead_id"]))
    db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
               "VALUES (%s, %s, '+18005550000', %s, now())", (first, account_id, phone))
    client.simulate_get("/v1/postbacks/calls", params={"token": token, "caller_id": phone, "payout": "12"})
    db.execute("INSERT INTO consent_evidence (lead_id, account_id, phone, consent, lead_created_at) "
               "VALUES (gen_random_uuid(), %s, %s, '{}', now())", (account_id, phone))
    other_account, _ = accounts.with_key()
    db.execute("INSERT INTO suppressions (account_id, phone) VALUES (%s, %s)", (other_account, phone))
    assert {"leads", "dial_queue", "call_attempts", "transfers", "postbacks", "consent_evidence"} <= set(
        _tables_holding(db, phone))
    rows = "SELECT count(*) FROM import_rows AS r JOIN imports AS i ON i.id = r.import_id WHERE i.account_id = %s"
    assert db.execute(rows, (account_id,)).fetchone() == (2,)
    keys = "SELECT count(*) FROM idempotency_keys WHERE account_id = %s"
    assert db.execute(keys, (account_id,)).fetchone() == (1,)  # its stored answer names the lead

    code, out, err = l2i_cli("lead", "erase", account_id, "(212) 555-0731", "--operator", "Jane Ops, ticket 44")
    assert code == 0, err
    assert out[0].startswith("erasure ") and " leads=2 " in out[0] and "suppression_added=True" in out[0]
    assert " import_rows=1 " in out[0]

    assert _tables_holding(db, phone) == ["suppression_events", "suppressions"]
    assert db.execute(keys, (account_id,)).fetchone() == (0,)
    assert db.execute(rows, (account_id,)).fetchone() == (1,)  # the other number's row stays
    assert _tables_holding(db, "2125550731") == ["suppression_events", "suppressions"]
    assert db.execute("SELECT reason FROM suppressions WHERE account_id = %s AND phone = %s",
                      (account_id, phone)).fetchone() == ("opted_out",)
    assert db.execute("SELECT count(*) FROM suppressions WHERE account_id = %s", (other_account,)).fetchone() == (1,)
    digest = hashlib.sha256(f"{account_id}:{phone}".encode()).hexdigest()
    audit = db.execute("SELECT phone_sha256, operator, removed FROM lead_erasures WHERE account_id = %s",
                       (account_id,)).fetchone()
    assert audit[0] == digest and audit[1] == "Jane Ops, ticket 44"
    assert {k: audit[2][k] for k in ("leads", "call_attempts", "consent_evidence", "idempotency_keys")} == {
        "leads": 2, "call_attempts": 1, "consent_evidence": 1, "idempotency_keys": 1}
    # The stats keep counting the erased leads; a new post of the number is held as suppressed.
    groups = client.simulate_get("/v1/stats", headers=bearer(key), params={
        "from": (NOW - timedelta(days=50)).isoformat()}).json["groups"]
    assert sum(g["leads"] for g in groups) == 3  # the two erased, and the other number's
    again = client.simulate_post("/v1/leads", json={"phone": phone, "consent": CONSENT}, headers=bearer(key)).json
    assert again["status"] == "ineligible" and "suppressed" in again["reasons"]
    # Erasing again is harmless and recorded again.
    code, out, _ = l2i_cli("lead", "erase", account_id, phone)
    assert code == 0 and " leads=1 " in out[0] and "suppression_added=False" in out[0]
    with pytest.raises(SystemExit, match="not a phone"):
        l2i_cli("lead", "erase", account_id, "not a phone")


def test_erase_through_psql_does_the_same(database_url, accounts, db, client):
    import subprocess
    from l2i.sql import SQL_DIR
    account_id, key = accounts.with_key()
    post(client, key, "2125550741")
    result = subprocess.run(["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v",
                             f"account_id={account_id}", "-v", "phone=212 555 0741", "-f",
                             str(SQL_DIR / "admin" / "lead_erase.sql")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"leads": 1' in result.stdout
    assert _tables_holding(db, "+12125550741") == ["suppression_events", "suppressions"]


def test_erase_over_http_needs_the_admin_scope(client, accounts, db):
    account_id, admin = accounts.with_key(scopes=("admin",))
    writer = accounts.key(account_id)
    lead = post(client, writer, "2125550751")
    assert client.simulate_post("/v1/erasures", json={"phone": "2125550751"}, headers=bearer(writer)
                                ).status_code == 403
    bad = client.simulate_post("/v1/erasures", json={"phone": "12", "who": "x"}, headers=bearer(admin))
    assert bad.status_code == 422 and {f["field"] for f in bad.json["error"]["fields"]} >= {"phone", "who"}
    response = client.simulate_post("/v1/erasures", json={"phone": "(212) 555-0751", "operator": "ticket 9"},
                                    headers=bearer(admin))
    assert response.status_code == 201, response.json
    assert response.json["removed"]["leads"] == 1 and response.json["operator"] == "ticket 9"
    assert response.json["phone_sha256"] == hashlib.sha256(f"{account_id}:+12125550751".encode()).hexdigest()
    assert "+12125550751" not in response.text
    assert db.execute("SELECT phone, anonymized_at IS NOT NULL FROM leads WHERE id = %s", (lead,)).fetchone() == (
        None, True)
    assert db.execute("SELECT api_key_id IS NOT NULL FROM lead_erasures WHERE account_id = %s", (account_id,)
                      ).fetchone() == (True,)


def test_whole_months_may_be_dropped_only_past_every_retention(db, accounts):
    account_id = accounts.create()
    db.execute("UPDATE accounts SET retention_days = 36525 WHERE id = %s", (account_id,))
    try:
        assert db.execute("SELECT l2i_retention_droppable('lead_events', now() - interval '10 years')"
                          ).fetchone() == (False,)
    finally:
        db.execute("UPDATE accounts SET retention_days = 1461 WHERE id = %s", (account_id,))
    far = "SELECT l2i_retention_droppable(%s, '1900-02-01')"
    assert [db.execute(far, (t,)).fetchone()[0] for t in ("lead_events", "call_attempts", "leads")] == [
        True, True, False]
    assert db.execute("SELECT l2i_retention_droppable('lead_events', now())").fetchone() == (False,)


def test_cli_apply_logs_one_line_per_account(capsys):
    with migrated_database("l2i_test_retention") as (_, url):
        with psycopg.connect(url, autocommit=True) as conn:
            account_id = conn.execute("SELECT l2i_account_create('r')").fetchone()[0]
            conn.execute("INSERT INTO leads (account_id, phone, status, reasons, created_at) "
                         "SELECT %s, '+1212555' || lpad(i::text, 4, '0'), 'ineligible', ARRAY['missing_consent'], "
                         "now() - interval '5 years' FROM generate_series(1, 25) AS i", (account_id,))
        assert main(["--database-url", url, "retention", "apply", "--dry-run"]) == 0
        line = capsys.readouterr().out.strip()
        assert line.startswith(f"retention account={account_id} retention_days=1461 ")
        assert " leads=25 " in line and line.endswith("dry_run=yes")
        assert main(["--database-url", url, "retention", "apply", "--batch", "7"]) == 0
        line = capsys.readouterr().out.strip()
        assert " leads=25 " in line and line.endswith("dry_run=no")
        assert main(["--database-url", url, "retention", "apply"]) == 0
        assert " leads=0 " in capsys.readouterr().out
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM leads WHERE phone IS NOT NULL").fetchone() == (0,)
        with pytest.raises(SystemExit):
            main(["--database-url", url, "retention", "apply", "--batch", "0"])


def test_apply_beside_intake_of_the_same_numbers(client, accounts, db, database_url):
    """Old leads whose dedupe keys are still open, anonymized in small batches while new posts of the very same
    numbers arrive on other connections: no error, every post answered, every old lead anonymized, every new
    lead stored with its number."""
    account_id, key = accounts.with_key()
    numbers = [f"+1212556{i:04d}" for i in range(120)]
    db.execute("INSERT INTO leads (account_id, phone, status, reasons, created_at, consent) "
               "SELECT %s, p, 'ineligible', ARRAY['missing_consent'], now() - interval '5 years', NULL "
               "FROM unnest(%s::text[]) AS p", (account_id, numbers))
    errors, answers = [], []

    def intake(part):
        try:
            for phone in part:
                response = client.simulate_post("/v1/leads", json={"phone": phone, "consent": CONSENT},
                                                 headers=bearer(key))
                answers.append((phone, response.status_code, response.json.get("outcome")))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def apply():
        try:
            with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
                answers.append(("apply", apply_one(conn, account_id, batch=5)["leads"], None))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=intake, args=(numbers[i::4],)) for i in range(4)]
    threads.append(threading.Thread(target=apply))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    posted = [a for a in answers if a[0] != "apply"]
    assert len(posted) == 120 and {status for _, status, _ in posted} == {201}
    assert [a[1] for a in answers if a[0] == "apply"] == [120]
    rows = db.execute("SELECT count(*) FILTER (WHERE phone IS NULL), count(*) FILTER (WHERE phone IS NOT NULL) "
                      "FROM leads WHERE account_id = %s", (account_id,)).fetchone()
    assert rows == (120, 120)
    assert db.execute("SELECT count(DISTINCT phone) FROM leads WHERE account_id = %s AND phone IS NOT NULL",
                      (account_id,)).fetchone() == (120,)


def test_analysts_read_the_erasures_not_the_consent_evidence(db):
    assert db.execute("SELECT has_table_privilege(l2i_analyst_role(), 'lead_erasures', 'SELECT'), "
                      "has_table_privilege(l2i_analyst_role(), 'consent_evidence', 'SELECT')").fetchone() == (
        True, False)


def test_the_erasure_hash_is_what_sql_computes(db):
    account_id = uuid.uuid4()
    assert db.execute("SELECT l2i_phone_sha256(%s, '+12125550100')", (account_id,)).fetchone()[0] == \
        hashlib.sha256(f"{account_id}:+12125550100".encode()).hexdigest()


def test_apply_beside_dialers_claiming_the_same_old_leads(accounts, db, database_url):
    """Old queued leads anonymized in small batches while four dialers claim from the same queue on their own
    connections: a claim skips the rows a batch holds (SKIP LOCKED), a batch waits for a claim's short transaction
    (it locks the queue row before the lead, as the dialer's statements do); nobody fails, every lead ends
    anonymized (the claimed ones expired) and out of the queue, and none was handed out twice."""
    from tests.test_dialing import NOON
    account_id, _ = accounts.with_key(scopes=("dial",))
    db.execute("""
        WITH ins AS (
            INSERT INTO leads (account_id, phone, status, consent, created_at)
            SELECT %(account)s, '+1512' || lpad(i::text, 7, '0'), 'new', '{"consent_timestamp": "2021-07-05T12:00:00Z"}',
                   now() - interval '5 years'
            FROM generate_series(3000000, 3000399) AS i
            RETURNING id, phone)
        INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before)
        SELECT id, %(account)s, phone, ARRAY['TX'], ARRAY['America/Chicago'], '2000-01-01Z' FROM ins""",
               {"account": account_id})
    errors, handed, start = [], [], threading.Barrier(5)

    def dialer():
        try:
            with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
                start.wait()
                while rows := sql.many(conn, "dial_claim", now=NOON, account_id=account_id, api_key_id=None,
                                       limit=5, lease_seconds=300, campaign_ids=None):
                    handed.extend(str(row["lead_id"]) for row in rows)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def apply():
        try:
            with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
                start.wait()
                apply_one(conn, account_id, batch=5)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=dialer) for _ in range(4)] + [threading.Thread(target=apply)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    assert len(handed) == len(set(handed))
    assert db.execute("SELECT count(*) FILTER (WHERE anonymized_at IS NULL), count(*) FILTER (WHERE status = "
                      "'expired') FROM leads WHERE account_id = %s", (account_id,)).fetchone() == (0, 400)
    assert db.execute("SELECT count(*) FROM dial_queue WHERE account_id = %s", (account_id,)).fetchone() == (0,)


def test_old_import_rows_and_unmatched_postbacks_lose_the_numbers(client, accounts, db, rconn, l2i_cli, tmp_path):
    account_id, key = accounts.with_key()
    token = db.execute("SELECT l2i_postback_token_create(%s)", (account_id,)).fetchone()[0]
    csv_file = tmp_path / "old.csv"
    csv_file.write_text("phone,first_name\n2125550761,Jane\n2125550762,John\n")
    assert l2i_cli("import", account_id, str(csv_file))[0] == 0
    for phone in ("2125550763", "2125550764"):
        assert client.simulate_get("/v1/postbacks/calls", params={"token": token, "caller_id": phone, "payout": "5"}
                                   ).json["outcome"] == "unmatched"
    db.execute("UPDATE imports SET created_at = now() - interval '5 years' WHERE account_id = %s", (account_id,))
    db.execute("UPDATE postbacks SET received_at = now() - interval '5 years' WHERE account_id = %s AND "
               "caller_id = '+12125550763'", (account_id,))
    counts = apply_one(rconn, account_id, batch=1)
    assert (counts["import_rows"], counts["unmatched_postbacks"]) == (2, 1)
    assert db.execute("SELECT count(*), sum(totals['rows']::int) FROM imports WHERE account_id = %s",
                      (account_id,)).fetchone() == (1, 2)  # the job and its totals stay
    assert db.execute("SELECT caller_id, payout_cents FROM postbacks WHERE account_id = %s ORDER BY caller_id",
                      (account_id,)).fetchall() == [("+12125550764", 500), (None, 500)]
