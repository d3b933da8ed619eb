"""CSV import: POST /v1/leads/import and `l2i import`, the same row loop over the intake of POST /v1/leads, run as
jobs (l2i/import_jobs.py) by the session's runner; the answer is read with Prefer: wait and GET /v1/imports/{id}."""

from __future__ import annotations

import io
import json
import os
import tracemalloc

import falcon.testing
import jsonschema
import psycopg
import pytest

from l2i import csv_import, import_cli
from l2i.app import create_app
from l2i.cli import main
from tests.conftest import QUICKSTART_LEAD, bearer

pytestmark = pytest.mark.usefixtures("import_runner")

CONSENT = "2026-01-01T00:00:00Z"


def post_csv(client, key, body, *, params=None, content_type="text/csv", prefer="wait=30"):
    if isinstance(body, str):
        body = body.encode()
    headers = {"Content-Type": content_type, **bearer(key)}
    if prefer:
        headers["Prefer"] = prefer
    return client.simulate_post("/v1/leads/import", body=body, params=params, headers=headers)


def result(client, key, response, schema=None) -> dict:
    """The import's whole result: its job once done (a 202 is followed up with GET Location and Prefer: wait), with
    every row, read page by page. schema: the documented answer, checked on every page."""
    assert response.status_code in (200, 202), response.text
    location = response.headers["content-location"]
    answer = response.json
    while answer["status"] not in ("done", "failed"):
        answer = client.simulate_get(location, headers={**bearer(key), "Prefer": "wait=30"}).json
    assert answer["status"] == "done", answer
    rows, cursor = [], None
    while True:
        page = client.simulate_get(location, params={"limit": 1000, **({"cursor": cursor} if cursor else {})},
                                   headers=bearer(key)).json
        if schema:
            jsonschema.Draft202012Validator(schema).validate(page)
        rows += page["rows"]
        cursor = page["next_cursor"]
        if not cursor:
            return {**page, "rows": rows}


def imported(client, key, body, **kwargs) -> dict:
    return result(client, key, post_csv(client, key, body, **kwargs))


def lead_count(db, account_id) -> int:
    return db.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account_id,)).fetchone()[0]


@pytest.fixture
def l2i(database_url, capsys):
    def run(*args):
        code = main(["--database-url", database_url, *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(scope="module")
def import_answer_schema(app):
    spec = falcon.testing.TestClient(app).simulate_get("/v1/openapi.json").json
    return spec["paths"]["/v1/leads/import"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]


def phone(n: int) -> str:
    return f"212{2000000 + n:07d}"


# --- through HTTP ---

def test_aliases_bom_and_mixed_outcomes_with_exact_totals(client, accounts, import_answer_schema):
    account_id, key = accounts.with_key()
    body = "\ufeff" + "\r\n".join([
        "Phone Number,firstName,Last-Name,consentTimestamp,consent_text_version,custom[color],custom.size,notes,"
        "lead_source,Email",
        f"(212) 200-0001,Ann,Lee,{CONSENT},v1,blue,L,call after 5,,",          # 2 created, default source
        "212.200.0002,Bob,,,,,,,fair,",                                        # 3 ineligible: no consent
        f"+1 212 200 0001,Ann,Again,{CONSENT},v1,,,,,",                         # 4 duplicate of row 2
        "12345,Bad,,,,,,,,",                                                   # 5 invalid phone
        f"2122000003,Eve,,{CONSENT},v1,,,,,not-an-email",                      # 6 invalid email
        ",,,,,,,,,",                                                           # 7 blank
        '2122000004,"Multi\nLine",,' + f"{CONSENT},v1,,,,,",                   # 8 created, a quoted newline
        f"2122000005,Zed,,{CONSENT},v1,,,,,",                                  # 9 created after the invalid rows
    ]) + "\r\n"
    response = post_csv(client, key, body, params={"source": "upload-1"})
    assert response.status_code in (200, 202), response.text
    assert response.headers["content-type"].startswith("application/json")
    jsonschema.Draft202012Validator(import_answer_schema).validate(response.json)
    answer = result(client, key, response, import_answer_schema)
    assert answer["progress"] == {"rows_total": 8, "rows_done": 8}
    assert answer["totals"] == {"rows": 8, "created": 3, "duplicate": 1, "ineligible": 1, "invalid": 2, "blank": 1}
    rows = {row["row"]: row for row in answer["rows"]}
    assert [row["row"] for row in answer["rows"]] == [2, 3, 4, 5, 6, 8, 9]
    assert {n: rows[n]["outcome"] for n in rows} == {2: "created", 3: "ineligible", 4: "duplicate", 5: "invalid",
                                                       6: "invalid", 8: "created", 9: "created"}
    assert rows[2]["status"] == "new" and "reasons" not in rows[2]
    assert rows[3] == {"row": 3, "outcome": "ineligible", "lead_id": rows[3]["lead_id"], "status": "ineligible",
                       "reasons": ["missing_consent"]}
    assert rows[4]["lead_id"] == rows[2]["lead_id"] and rows[4]["status"] == "new"
    assert [e["field"] for e in rows[5]["errors"]] == ["Phone Number"] and "lead_id" not in rows[5]
    assert rows[6]["errors"] == [{"field": "Email", "code": "invalid", "message": "is not an email address"}]

    lead = client.simulate_get(f"/v1/leads/{rows[2]['lead_id']}", headers=bearer(key)).json
    assert (lead["phone"], lead["first_name"], lead["last_name"], lead["source"]) == (
        "+12122000001", "Ann", "Lee", "upload-1")
    assert lead["consent"]["consent_text_version"] == "v1" and lead["consent"]["consent_timestamp"] == CONSENT
    assert lead["custom"] == {"color": "blue", "size": "L"}
    assert lead["extra"] == {"notes": "call after 5"}  # empty cells are absent: no "Email": ""
    bob = client.simulate_get(f"/v1/leads/{rows[3]['lead_id']}", headers=bearer(key)).json
    assert bob["source"] == "fair"  # the row's own source wins over ?source=
    assert client.simulate_get(f"/v1/leads/{rows[8]['lead_id']}", headers=bearer(key)).json["first_name"] == \
        "Multi\nLine"


def test_duplicates_of_earlier_leads_and_a_second_import_of_the_same_file(client, accounts, db):
    account_id, key = accounts.with_key()
    first = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key)).json
    body = f"phone,first_name\n555-123-4567,Jane\n{phone(7)},Sam\n"
    answer = imported(client, key, body)
    assert answer["rows"][0] == {"row": 2, "outcome": "duplicate", "lead_id": first["lead_id"], "status": "new"}
    assert answer["rows"][1]["outcome"] == "ineligible"
    again = imported(client, key, body)
    assert [r["outcome"] for r in again["rows"]] == ["duplicate", "duplicate"]
    assert again["rows"][1]["lead_id"] == answer["rows"][1]["lead_id"]
    assert again["totals"]["duplicate"] == 2 and lead_count(db, account_id) == 2


def test_suppressed_rows_are_held_as_by_the_api(client, accounts, l2i):
    account_id, key = accounts.with_key()
    assert l2i("suppress", account_id, phone(9))[0] == 0
    answer = imported(client, key, f"phone,consent_timestamp,consent_text_version\n{phone(9)},{CONSENT},v1\n")
    assert answer["rows"][0]["outcome"] == "ineligible" and answer["rows"][0]["reasons"] == ["suppressed"]


@pytest.mark.parametrize("body, status, code, says", [
    (b"phone,first_name\n2122000001,Jos\xe9\n", 400, "malformed_body", "not UTF-8"),
    (b'phone,first_name\n2122000001,"Ann"x\n', 400, "malformed_body", "line 2"),
    (b'phone,first_name\n2122000001,Ann\n2122000002,"Bob\n', 400, "malformed_body", "malformed"),
    (b"", 422, "validation_failed", "empty"),
    (b"\xef\xbb\xbf\r\n", 422, "validation_failed", "empty"),
    (b"first_name,email\nAnn,a@example.com\n", 422, "validation_failed", "no phone column"),
    (b"phone,name,name\n2122000001,a,b\n", 422, "validation_failed", "repeats"),
])
def test_a_malformed_file_is_refused_whole_and_stores_nothing(client, accounts, db, body, status, code, says):
    account_id, key = accounts.with_key()
    # The good rows come first: the whole file is checked before anything is stored.
    response = post_csv(client, key, body)
    assert response.status_code == status, response.text
    error = response.json["error"]
    assert error["code"] == code and error["request_id"]
    assert says in error["message"] or any(says in f["message"] for f in error.get("fields", []))
    assert lead_count(db, account_id) == 0


def test_content_type_size_scope_and_rate_limit(client, accounts, config, pool):
    _, key = accounts.with_key(rate_limit=3)
    body = "phone\n" + "".join(f"{phone(n)}\n" for n in range(50))
    assert post_csv(client, key, body, content_type="application/json").status_code == 415
    assert post_csv(client, key, body, content_type="text/csv; charset=latin-1").status_code == 415
    ok = post_csv(client, key, body, content_type="text/csv; charset=utf-8", prefer=None)
    assert ok.status_code == 202 and ok.json["progress"]["rows_total"] == 50
    assert ok.headers["x-ratelimit-remaining"] == "0"  # 415, 415, then one import of 50 rows: 3 requests
    assert post_csv(client, key, body, prefer=None).status_code == 429

    small = falcon.testing.TestClient(create_app(config.__class__(**{**config.__dict__, "max_import_bytes": 1024}),
                                                 pool))
    _, key = accounts.with_key()
    big = post_csv(small, key, body * 3)
    assert big.status_code == 413 and big.json["error"]["code"] == "payload_too_large"
    assert imported(small, key, "phone\n2122000001\n")["totals"]["rows"] == 1

    _, reader = accounts.with_key(scopes=("read",))
    assert post_csv(client, reader, body).status_code == 403
    assert client.simulate_get("/v1/leads/import", headers=bearer(key)).status_code == 405  # not a lead id


def test_bad_source_parameter_is_a_422(client, accounts):
    _, key = accounts.with_key()
    response = post_csv(client, key, "phone\n2122000001\n", params={"source": "x" * 101})
    assert response.status_code == 422 and response.json["error"]["fields"][0]["field"] == "source"


def test_a_row_the_database_refuses_fails_alone(client, accounts, db):
    account_id, key = accounts.with_key()
    # A rule the validation does not know: the batch is rolled back and replayed row by row.
    db.execute("ALTER TABLE leads ADD CONSTRAINT test_import_refuse CHECK (first_name <> 'REFUSE-ME') NOT VALID")
    try:
        body = "phone,first_name\n" + "".join(
            f"{phone(n)},{'REFUSE-ME' if n == 3 else 'ok'}\n" for n in range(6))
        answer = imported(client, key, body)
    finally:
        db.execute("ALTER TABLE leads DROP CONSTRAINT test_import_refuse")
    assert answer["totals"] == {"rows": 6, "created": 0, "duplicate": 0, "ineligible": 5, "invalid": 1, "blank": 0}
    assert answer["rows"][3]["outcome"] == "invalid" and answer["rows"][3]["errors"][0]["code"] == "rejected"
    assert lead_count(db, account_id) == 5


def test_a_database_failure_part_way_is_resumed_without_deciding_a_row_twice(client, accounts, db, pool,
                                                                             monkeypatch):
    """The connection fails in the middle of the second batch: that batch is rolled back, the runner gives the job
    back, and the next claim resumes after the first batch. Every row ends decided exactly once, and the answer
    is a 200 only once all of them are (never a 200 with an error inside)."""
    account_id, key = accounts.with_key()
    real_send, calls = csv_import.intake.send, []

    def failing_send(conn, params):  # each row's lead_intake, sent in its batch's pipeline
        calls.append(1)
        if len(calls) == csv_import.BATCH_ROWS + 10:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return real_send(conn, params)

    monkeypatch.setattr(csv_import.intake, "send", failing_send)
    body = "phone\n" + "".join(f"{phone(n)}\n" for n in range(csv_import.BATCH_ROWS * 2))
    answer = imported(client, key, body)
    assert "error" not in answer and answer["totals"]["ineligible"] == csv_import.BATCH_ROWS * 2
    assert [row["row"] for row in answer["rows"]] == list(range(2, csv_import.BATCH_ROWS * 2 + 2))
    assert {row["outcome"] for row in answer["rows"]} == {"ineligible"}  # none came back as its own duplicate
    assert lead_count(db, account_id) == csv_import.BATCH_ROWS * 2
    assert len(calls) == csv_import.BATCH_ROWS * 2 + 10  # batch 1, batch 2 up to the failure, batch 2 again
    attempts, last_row = db.execute("SELECT attempts, last_row FROM imports WHERE id = %s",
                                    (answer["id"],)).fetchone()
    assert (attempts, last_row) == (2, csv_import.BATCH_ROWS * 2 + 1)
    assert pool.get_stats()["pool_available"] == pool.get_stats()["pool_size"]  # intake's connections all back


def test_prefer_wait_202_location_and_the_job_resource(client, accounts, database_url):
    account_id, key = accounts.with_key()
    other_key = accounts.with_key()[1]
    _, writer = accounts.with_key(scopes=("write",))
    body = f"phone,first_name\n{phone(31)},Ann\nnope,Bad\n{phone(32)},Cy\n"

    # Without Prefer: 202 at once, with the job's Location.
    accepted = post_csv(client, key, body, prefer=None)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    assert location == f"/v1/imports/{accepted.json['id']}" == accepted.headers["content-location"]
    assert accepted.json["status"] in ("queued", "running", "done") and accepted.headers["retry-after"]
    done = client.simulate_get(location, headers={**bearer(key), "Prefer": "wait=30"})
    assert done.status_code == 200 and done.json["status"] == "done"
    assert done.json["totals"] == {"rows": 3, "created": 0, "duplicate": 0, "ineligible": 2, "invalid": 1,
                                   "blank": 0}
    assert done.json["finished_at"] and "retry-after" not in done.headers
    invalid = client.simulate_get(location, params={"outcome": "invalid"}, headers=bearer(key)).json
    assert [row["row"] for row in invalid["rows"]] == [3] and invalid["next_cursor"] is None
    page = client.simulate_get(location, params={"limit": 1}, headers=bearer(key)).json
    assert [row["row"] for row in page["rows"]] == [2] and page["next_cursor"] == "2"
    page = client.simulate_get(location, params={"limit": 1, "cursor": "2"}, headers=bearer(key)).json
    assert [row["row"] for row in page["rows"]] == [3]
    assert client.simulate_get(location, headers=bearer(writer)).status_code == 404  # another account's job
    assert client.simulate_get(location, headers=bearer(other_key)).status_code == 404
    assert client.simulate_get("/v1/imports/nope", headers=bearer(key)).status_code == 404
    bad = client.simulate_get(location, params={"limit": "0", "outcome": "x"}, headers=bearer(key))
    assert bad.status_code == 422 and {f["field"] for f in bad.json["error"]["fields"]} == {"limit", "outcome"}

    # A key with only the write scope reads the imports it sends.
    mine = post_csv(client, writer, body)
    assert client.simulate_get(mine.headers["content-location"], headers=bearer(writer)).status_code == 200

    # A job that cannot end in time: the wait ends with a 202, never a 200 before every row is committed. The
    # second row's phone is that of a lead another transaction holds locked, so its batch cannot commit.
    first = client.simulate_post("/v1/leads", json={"phone": phone(40)}, headers=bearer(key)).json
    with psycopg.connect(database_url) as locker:
        locker.execute("SELECT 1 FROM leads WHERE id = %s FOR UPDATE", (first["lead_id"],))
        waiting = post_csv(client, key, f"phone\n{phone(41)}\n{phone(40)}\n", prefer="respond-async, wait=1")
        assert waiting.status_code == 202 and waiting.json["status"] in ("queued", "running")
        assert waiting.json["rows"] == [] and waiting.json["progress"]["rows_done"] == 0
    answer = result(client, key, waiting)
    assert [row["outcome"] for row in answer["rows"]] == ["ineligible", "duplicate"]


def test_a_large_file_imports_with_exact_totals(client, accounts, db):
    account_id, key = accounts.with_key()
    rows, expected = ["phone,first_name,consent_timestamp,consent_text_version"], {
        "rows": 20_000, "created": 0, "duplicate": 0, "ineligible": 0, "invalid": 0, "blank": 0}
    for n in range(20_000):
        if n % 50 == 7:
            rows.append(f"not-a-phone,{n},,")
            expected["invalid"] += 1
        elif n % 20 == 3:
            rows.append(f"{phone(n - 3)},{n},{CONSENT},v1")  # the row 3 rows above (a new lead) again
            expected["duplicate"] += 1
        elif n % 4 == 1:
            rows.append(f"{phone(n)},{n},,")
            expected["ineligible"] += 1
        else:
            rows.append(f"{phone(n)},{n},{CONSENT},v1")
            expected["created"] += 1
    answer = imported(client, key, "\n".join(rows) + "\n")
    assert answer["totals"] == expected
    assert len(answer["rows"]) == 20_000 and answer["rows"][-1]["row"] == 20_001
    assert lead_count(db, account_id) == expected["created"] + expected["ineligible"]
    assert db.execute("SELECT count(*) FROM dial_queue WHERE account_id = %s",
                      (account_id,)).fetchone()[0] == expected["created"]


# --- through the CLI ---

def test_cli_import_prints_invalid_rows_and_totals(l2i, accounts, tmp_path, client):
    account_id, key = accounts.with_key()
    path = tmp_path / "leads.csv"
    path.write_text(f"phone,first_name\n{phone(1)},Ann\nnope,Bad\n{phone(1)},Ann\n")
    code, out, err = l2i("import", account_id, str(path), "--source", "cli-file")
    assert code == 0, err
    assert out.splitlines() == [
        "row 3\tinvalid\tphone: may contain only digits, spaces, + ( ) - . and / (send 10 digits, 1 + 10 digits, "
        "or E.164)",
        "rows 3\tcreated 0\tduplicate 1\tineligible 1\tinvalid 1\tblank 0"]
    assert "rows/s" in err
    lead = client.simulate_get("/v1/leads?limit=1", headers=bearer(key)).json["data"][0]
    assert lead["source"] == "cli-file" and lead["phone"] == "+1" + phone(1)

    code, out, _ = l2i("import", account_id, str(path), "--json")
    answer = json.loads(out)
    assert code == 0 and [r["outcome"] for r in answer["rows"]] == ["duplicate", "invalid", "duplicate"]


def test_cli_file_level_errors_exit_1(l2i, accounts, tmp_path):
    account_id, _ = accounts.with_key()
    good = tmp_path / "good.csv"
    good.write_text("phone\n2122000001\n")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"first_name\nAnn\n")
    assert l2i("import", account_id, str(tmp_path / "missing.csv"))[0] == 1
    code, _, err = l2i("import", account_id, str(bad))
    assert code == 1 and "no phone column" in err
    code, _, err = l2i("import", "00000000-0000-0000-0000-000000000000", str(good))
    assert code == 1 and "no such account" in err
    assert l2i("import", "not-a-uuid", str(good))[0] == 1
    assert l2i("import", account_id, str(good), "--source", "x" * 101)[0] == 1


def test_cli_shows_progress_on_stderr(l2i, accounts, tmp_path, monkeypatch, database_url):
    account_id, _ = accounts.with_key()
    monkeypatch.setattr(import_cli, "PROGRESS_EVERY_S", 0)  # a line at every look at the job, however fast
    rows = csv_import.BATCH_ROWS * 2 + 5
    path = tmp_path / "leads.csv"
    path.write_text("phone\n" + "".join(f"{phone(n)}\n" for n in range(rows)))
    code, out, err = l2i("import", account_id, str(path))
    assert code == 0 and out.splitlines()[-1] == f"rows {rows}\tcreated 0\tduplicate 0\tineligible {rows}\t" \
                                                  "invalid 0\tblank 0"
    progress = [line for line in err.splitlines() if "%" in line]
    assert progress, err
    # The last look is at the finished job: the whole bar, every row.
    assert progress[-1].startswith(f"l2i import: [{'#' * import_cli.BAR_WIDTH}] {rows}/{rows} rows (100%), ")
    assert all("rows/s" in line for line in progress) and err.splitlines()[-1].startswith(f"l2i import: {rows} rows")

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, sink = Terminal(), io.StringIO()
    assert import_cli.command(database_url, account_id, str(path), out=sink, err=terminal) == 0
    drawn = terminal.getvalue()
    assert drawn.startswith("\r") and f"\rl2i import: [{'#' * import_cli.BAR_WIDTH}] {rows}/{rows}" in drawn
    assert sink.getvalue().splitlines()[-1].startswith(f"rows {rows}\tcreated 0\tduplicate {rows}\t")


def test_a_100k_row_file_imports_in_bounded_memory(database_url, accounts, tmp_path):
    """tracemalloc's peak while `l2i import` reads a 100,000-row file from disk stays under a fixed bound that
    reading the file whole would exceed by itself. Most rows are invalid (cheap: no database round trip), so
    that the test stays fast; every row still goes through the same loop and gets its outcome."""
    account_id, _ = accounts.with_key()
    path = tmp_path / "big.csv"
    padding = "x" * 100
    with path.open("w") as f:
        f.write("phone,first_name,notes\n")
        for n in range(100_000):
            f.write(f"{phone(n) if n % 20 == 0 else 'nope'},Person {n},{padding}\n")
    size = os.path.getsize(path)
    bound = 4 * 1024 * 1024
    assert size > 2 * bound  # a whole-file read would exceed the bound by itself

    def run(csv_path) -> int:
        with open(os.devnull, "w") as sink:
            return import_cli.command(database_url, account_id, str(csv_path), out=sink, err=sink)

    warm = tmp_path / "warm.csv"  # first imports of modules and phone metadata are not the loop's memory
    warm.write_text(f"phone\n{phone(500_001)}\nnope\n")
    assert run(warm) == 0
    tracemalloc.start()
    try:
        assert run(path) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < bound, f"peak {peak} bytes for a {size}-byte file"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM leads WHERE account_id = %s",
                            (account_id,)).fetchone()[0] == 5000 + 1
