"""Intake sources (issue 9 §1 and §6): tokens in the path, as ?lead_token=, as a body field or as
X-Source-Id/X-Source-Key; write-only to their own account; revocable; their own rate limit; never in a log line,
an error body or a stored lead; the admin API; consent on submit; defaults; Idempotency-Key; test submissions."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import threading
import time
import uuid

import psycopg
import pytest

from l2i.sql import SQL_DIR
from tests.conftest import QUICKSTART_LEAD, bearer
from tests.sourcekit import lead_of, lead_row, make_source

FORM_LEAD = {"phone": "2125550181", "first_name": "Ana", "state": "NY"}


@pytest.fixture
def account(accounts):
    return accounts.create()


def test_a_token_in_the_path_takes_a_lead_for_its_account(client, accounts, account, database_url):
    source_id, token = make_source(database_url, account)
    response = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD)
    assert response.status_code == 201, response.text
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert lead["phone"] == "+12125550181" and lead["first_name"] == "Ana"
    row = lead_row(database_url, response.json["lead_id"])
    assert str(row["source_id"]) == source_id and row["api_key_id"] is None and str(row["account_id"]) == account
    assert response.headers["x-ratelimit-limit"] == "120"


@pytest.mark.parametrize("how", ["query", "body", "headers", "form"])
def test_every_other_way_to_present_the_token(client, accounts, account, database_url, how):
    source_id, token = make_source(database_url, account)
    lead = {**FORM_LEAD, "phone": "2125550182"}
    if how == "query":  # Trackdrive's spelling: POST /api/v1/leads?lead_token=...
        response = client.simulate_post("/v1/leads", params={"lead_token": token}, json=lead)
    elif how == "body":
        response = client.simulate_post("/v1/leads", json={**lead, "lead_token": token})
    elif how == "form":
        response = client.simulate_post("/v1/leads", body=f"lead_token={token}&phone=2125550182&first_name=Ana",
                                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:  # Leadping's shape: the source id and its key in two headers
        response = client.simulate_post("/v1/leads", json=lead,
                                        headers={"X-Source-Id": source_id, "X-Source-Key": token})
    assert response.status_code == 201, response.text
    row = lead_row(database_url, response.json["lead_id"])
    assert str(row["source_id"]) == source_id
    assert "lead_token" not in row["extra"] and token not in str(row["extra"])


def test_x_source_id_must_be_the_tokens_source(client, account, database_url):
    _, token = make_source(database_url, account)
    other_id, _ = make_source(database_url, account, "other")
    response = client.simulate_post("/v1/leads", json=FORM_LEAD, headers={"X-Source-Id": other_id,
                                                                          "X-Source-Key": token})
    assert response.status_code == 401


def test_a_token_is_write_only_and_revocable(client, accounts, account, database_url, db):
    source_id, token = make_source(database_url, account)
    # It reads nothing: not as a bearer key, not as lead_token on a GET.
    assert client.simulate_get("/v1/leads", headers=bearer(token)).status_code == 401
    assert client.simulate_get("/v1/leads", params={"lead_token": token}).status_code == 401
    assert client.simulate_get(f"/v1/sources/{source_id}", params={"lead_token": token}).status_code == 401
    assert client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD).status_code == 201
    revoked = db.execute("SELECT id FROM l2i_source_revoke(%s)", (token,)).fetchall()
    assert [str(r[0]) for r in revoked] == [source_id]
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={**FORM_LEAD, "phone": "2125550183"})
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"


def test_a_source_leads_go_to_its_own_account_only(client, accounts, database_url):
    first, second = accounts.create(), accounts.create()
    _, token = make_source(database_url, first)
    response = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD)
    second_key = accounts.key(second, scopes=["read"])
    assert client.simulate_get(f"/v1/leads/{response.json['lead_id']}", headers=bearer(second_key)).status_code == 404


@pytest.mark.parametrize("token", ["l2is_" + "0" * 64, "l2is_short", "l2i_" + "a" * 64])
def test_unknown_or_malformed_tokens_are_401_without_echoing_them(client, token):
    response = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD)
    assert response.status_code == 401
    assert token not in response.text


def test_the_source_rate_limit_is_its_own_fixed_window(client, account, database_url, accounts):
    _, token = make_source(database_url, account, rate_limit=2)
    _, key = accounts.with_key(rate_limit=2)
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    seen = []
    for i in range(2):
        response = client.simulate_post(f"/v1/sources/{token}/leads", json={**FORM_LEAD, "phone": f"212555019{i}"})
        assert response.status_code == 201
        seen.append(response.headers["x-ratelimit-remaining"])
        assert response.headers["x-ratelimit-limit"] == "2"
        assert int(response.headers["x-ratelimit-reset"]) % 60 == 0
    assert seen == ["1", "0"]
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={**FORM_LEAD, "phone": "2125550199"})
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    # a key of the same size is not touched by the source's counter
    assert client.simulate_get("/v1/leads", headers=bearer(key)).headers["x-ratelimit-remaining"] == "1"


def test_tokens_never_reach_the_access_log_or_an_error_body(client, account, database_url, caplog):
    _, token = make_source(database_url, account)
    caplog.set_level(logging.INFO, logger="l2i")
    client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD)
    bad = client.simulate_post(f"/v1/sources/{token}/leads", json={"phone": "not a phone"})
    assert bad.status_code == 422 and token not in bad.text
    client.simulate_post("/v1/leads", params={"lead_token": token}, json={**FORM_LEAD, "phone": "2125550184"})
    lines = [r.getMessage() for r in caplog.records if r.name == "l2i.access"]
    assert len(lines) == 3
    assert all(token not in line for line in lines)
    assert f"path=/v1/sources/{token[:13]}.../leads" in lines[0] and f"key={token[:13]}" in lines[0]


# --- the admin API and the admin scope ---------------------------------------------------------------------------

def test_the_admin_api_creates_shows_lists_and_revokes_sources(client, accounts, account):
    admin = accounts.key(account, scopes=["admin"])
    writer = accounts.key(account, scopes=["write", "read", "dial"])
    body = {"name": "Quote form", "adapter": "typeform", "defaults": {"source": "typeform-quote", "utm_source": "tf"},
            "mapping": {"answers.3.text": "phone"}, "consent_on_submit": True, "consent_text_version": "quote-v3",
            "consent_text": "By submitting you agree to be called.", "rate_limit": 60, "signing_secret": "tf-secret"}
    assert client.simulate_post("/v1/sources", json=body, headers=bearer(writer)).status_code == 403  # never write
    created = client.simulate_post("/v1/sources", json=body, headers=bearer(admin))
    assert created.status_code == 201, created.text
    doc = created.json
    assert re.fullmatch(r"l2is_[0-9a-f]{64}", doc["token"]) and doc["url"] == f"/v1/sources/{doc['token']}/leads"
    assert doc["prefix"] == doc["token"][:13] and doc["has_signing_secret"] is True
    assert "signing_secret" not in doc and "tf-secret" not in created.text

    shown = client.simulate_get(f"/v1/sources/{doc['id']}", headers=bearer(admin))
    assert shown.status_code == 200
    assert shown.json["mapping"] == {"answers.3.text": "phone"} and shown.json["defaults"]["source"] == "typeform-quote"
    assert doc["token"] not in shown.text and "tf-secret" not in shown.text and "token" not in shown.json
    listed = client.simulate_get("/v1/sources", headers=bearer(admin)).json["data"]
    assert [s["id"] for s in listed] == [doc["id"]] and doc["token"] not in str(listed)

    other_admin = accounts.key(accounts.create(), scopes=["admin"])
    assert client.simulate_get(f"/v1/sources/{doc['id']}", headers=bearer(other_admin)).status_code == 404
    revoked = client.simulate_delete(f"/v1/sources/{doc['id']}", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json["revoked_at"]
    assert client.simulate_post(doc["url"], json=FORM_LEAD).status_code == 401


def test_the_admin_api_refuses_bad_settings_all_at_once(client, accounts, account):
    admin = accounts.key(account, scopes=["admin"])
    response = client.simulate_post("/v1/sources", headers=bearer(admin), json={
        "name": "", "adapter": "myspace", "defaults": {"phone": "2125550100", "state": "Atlantis"},
        "mapping": {"q1": "favourite_colour"}, "consent_on_submit": True, "colour": "red"})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json["error"]["fields"]}
    assert fields == {"colour", "name", "adapter", "defaults.phone", "defaults.state", "mapping.q1",
                      "consent_text_version"}


def test_the_analyst_role_reads_sources_but_never_their_secrets_or_hashes(database_url, account):
    make_source(database_url, account, signing_secret="s3cret", page_token="EAAB-page-token")
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The database's own analyst role (migration 0010: l2i_<database>_analyst).
        conn.execute("SELECT set_config('role', l2i_analyst_role(), false)")
        assert conn.execute("SELECT count(*) FROM sources WHERE account_id = %s", (account,)).fetchone()[0] == 1
        for query in ("SELECT * FROM source_secrets", "SELECT token_hash FROM sources"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(query)
            conn.rollback() if not conn.autocommit else None


# --- consent on submit and defaults ------------------------------------------------------------------------------

def test_consent_on_submit_fills_what_the_lead_lacks_and_says_where_it_came_from(client, accounts, account,
                                                                                   database_url):
    _, token = make_source(database_url, account, consent_on_submit=True, consent_text_version="form-v7",
                           consent_text="I agree to be called.",
                           defaults={"source": "landing-a", "utm_source": "facebook", "sub_id": "pub-9",
                                     "custom": {"campaign_group": "spring"}})
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={**FORM_LEAD, "utm_source": "google"})
    assert response.status_code == 201 and response.json["status"] == "new", response.text
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert lead["consent"]["consent_text_version"] == "form-v7"
    assert lead["consent"]["consent_text"] == "I agree to be called."
    assert lead["gates"]["consent"]["origin"] == {"consent_timestamp": "source:arrival_time",
                                                  "consent_text_version": "source", "consent_text": "source"}
    arrived = lead["consent"]["consent_timestamp"]
    assert abs(lead_row(database_url, lead["id"])["created_at"].timestamp() - _epoch(arrived)) < 5
    # defaults only where the lead has nothing
    assert lead["source"] == "landing-a" and lead["attribution"]["utm_source"] == "google"
    assert lead["attribution"]["sub_id"] == "pub-9" and lead["custom"] == {"campaign_group": "spring"}


def _epoch(iso: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_the_leads_own_consent_fields_win(client, accounts, account, database_url):
    _, token = make_source(database_url, account, consent_on_submit=True, consent_text_version="form-v7")
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={
        **FORM_LEAD, "consent_timestamp": "2026-07-05T12:00:00Z"})
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert lead["consent"]["consent_timestamp"] == "2026-07-05T12:00:00Z"
    assert lead["gates"]["consent"]["origin"] == {"consent_timestamp": "lead", "consent_text_version": "source"}
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={
        **FORM_LEAD, "phone": "2125550185", "consent": {"consent_timestamp": "2026-07-05T12:00:00Z",
                                                        "consent_text_version": "their-v1"}})
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert lead["consent"]["consent_text_version"] == "their-v1" and lead["gates"]["consent"]["origin"] == {
        "consent_timestamp": "lead", "consent_text_version": "lead"}


def test_consent_on_submit_never_applies_without_it_or_to_keys(client, accounts, account, database_url):
    _, token = make_source(database_url, account, consent_text_version="form-v7")  # declared, but not on submit
    response = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD)
    assert response.json["reasons"] == ["missing_consent"]
    key = accounts.key(account)
    response = client.simulate_post("/v1/leads", json={**FORM_LEAD, "phone": "2125550186"}, headers=bearer(key))
    assert response.json["reasons"] == ["missing_consent"]


def test_consent_on_submit_needs_a_text_version(database_url, account):
    with pytest.raises(psycopg.errors.CheckViolation):
        make_source(database_url, account, consent_on_submit=True)


# --- Idempotency-Key ---------------------------------------------------------------------------------------------

def test_a_retried_request_gets_the_first_answer_back(client, accounts, account, database_url, db):
    key = accounts.key(account)
    headers = {**bearer(key), "Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=headers)
    again = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
    count = db.execute("SELECT count(*), sum(duplicate_count) FROM leads WHERE account_id = %s", (account,)).fetchone()
    assert count == (1, 0)  # not even counted as a duplicate
    other = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "first_name": "Janet"}, headers=headers)
    assert other.status_code == 409 and other.json["error"]["code"] == "idempotency_key_reused"
    # without the header, the same body is the usual duplicate
    plain = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key))
    assert plain.status_code == 200 and plain.json["outcome"] == "duplicate"


def test_idempotency_on_source_intake_and_after_24_hours(client, account, database_url, db):
    _, token = make_source(database_url, account)
    headers = {"Idempotency-Key": "typeform-event-01"}
    first = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD, headers=headers)
    again = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD, headers=headers)
    assert first.status_code == 201 and again.status_code == 201 and again.json == first.json
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE account_id = %s",
               (account,))
    later = client.simulate_post(f"/v1/sources/{token}/leads", json=FORM_LEAD, headers=headers)
    assert later.status_code == 200 and later.json["outcome"] == "duplicate"  # a new request: the usual dedupe
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE account_id = %s",
               (account,))
    from l2i.cli import main
    assert main(["--database-url", database_url, "idempotency", "sweep"]) == 0
    assert db.execute("SELECT count(*) FROM idempotency_keys WHERE account_id = %s", (account,)).fetchone()[0] == 0


def test_a_failed_first_request_leaves_the_key_free(client, accounts, account):
    key = accounts.key(account)
    headers = {**bearer(key), "Idempotency-Key": "k-1"}
    assert client.simulate_post("/v1/leads", json={"phone": "nope"}, headers=headers).status_code == 422
    assert client.simulate_post("/v1/leads", json=FORM_LEAD, headers=headers).status_code == 201
    bad = client.simulate_post("/v1/leads", json=FORM_LEAD, headers={**bearer(key), "Idempotency-Key": "a b"})
    assert bad.status_code == 400 and bad.json["error"]["code"] == "malformed_idempotency_key"


# --- test submissions --------------------------------------------------------------------------------------------

def test_a_test_submission_runs_every_gate_and_stores_nothing(client, accounts, account, database_url, db):
    key = accounts.key(account)
    db.execute("SELECT l2i_suppress(%s, ARRAY['2125550187'])", (account,))
    response = client.simulate_post("/v1/leads", json={**FORM_LEAD, "phone": "2125550187", "test": True},
                                    headers=bearer(key))
    assert response.status_code == 200
    assert response.json == {"outcome": "test", "stored": False, "would_be": "created", "status": "ineligible",
                             "reasons": ["suppressed", "missing_consent"]}
    _, token = make_source(database_url, account, consent_on_submit=True, consent_text_version="v1")
    response = client.simulate_post(f"/v1/sources/{token}/leads", body="phone=2125550188&test=true",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json["would_be"] == "created" and response.json["status"] == "new"
    assert db.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account,)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM dial_queue WHERE account_id = %s", (account,)).fetchone()[0] == 0
    # a test of a number already taken says it would be a duplicate, and counts nothing
    real = client.simulate_post("/v1/leads", json=FORM_LEAD, headers=bearer(key)).json
    test = client.simulate_post("/v1/leads", json={**FORM_LEAD, "test": True}, headers=bearer(key)).json
    assert test["would_be"] == "duplicate" and test["lead_id"] == real["lead_id"]
    assert db.execute("SELECT duplicate_count FROM leads WHERE id = %s", (real["lead_id"],)).fetchone()[0] == 0


def test_the_openapi_document_covers_sources_and_their_answers(client, accounts, account, database_url):
    from tests.test_docs import validate
    spec = client.simulate_get("/v1/openapi.json").json
    assert {"/v1/sources", "/v1/sources/{source_ref}", "/v1/sources/{source_ref}/leads"} <= set(spec["paths"])
    assert {p["name"] for p in spec["paths"]["/v1/leads"]["post"]["parameters"]} == {"Idempotency-Key"}
    admin = accounts.key(account, scopes=["admin"])
    created = client.simulate_post("/v1/sources", json={"name": "x", "adapter": "zapier"}, headers=bearer(admin))
    validate(spec, "SourceCreated", created.json)
    validate(spec, "Source", client.simulate_get(f"/v1/sources/{created.json['id']}", headers=bearer(admin)).json)
    test = client.simulate_post(created.json["url"], json={**FORM_LEAD, "test": True}).json
    validate(spec, "TestResult", test)


def test_racing_requests_with_one_idempotency_key_store_one_lead(app, accounts, account, db):
    """Eight parallel requests (eight database connections) with the same key and body: one lead, and every answer
    is that lead's 201, or a 409 idempotency_in_progress while the first was still running."""
    import concurrent.futures

    import falcon.testing

    key = accounts.key(account)
    headers = {**bearer(key), "Idempotency-Key": "race-1"}
    barrier = threading.Barrier(8)

    def send(_):
        client = falcon.testing.TestClient(app)
        barrier.wait()
        return client.simulate_post("/v1/leads", json={**FORM_LEAD, "phone": "2125550189"}, headers=headers)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))
    created = {a.json["lead_id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    assert all(a.status_code == 201 or a.json["error"]["code"] == "idempotency_in_progress" for a in answers)
    assert db.execute("SELECT count(*), sum(duplicate_count) FROM leads WHERE account_id = %s",
                      (account,)).fetchone() == (1, 0)


# --- secrets kept out of the process list ------------------------------------------------------------------------

def stored_secrets(database_url, source_id) -> tuple:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT signing_secret, verify_token, page_token FROM source_secrets "
                            "WHERE source_id = %s", (source_id,)).fetchone()


def test_source_secrets_from_a_file_stdin_or_the_environment_never_the_command_line(database_url, account,
                                                                                   tmp_path, monkeypatch, capsys):
    # `ps` shows every process's arguments to every user; a file, a pipe or the environment does not.
    from l2i.cli import main
    (tmp_path / "page-token.txt").write_text("EAAB-from-a-file\n")
    monkeypatch.setattr("sys.stdin", io.StringIO("whsec-from-stdin\n"))
    monkeypatch.setenv("L2I_SOURCE_VERIFY_TOKEN", "verify-from-env")
    argv = ["--database-url", database_url, "source", "create", account, "FB form", "--adapter", "facebook",
            "--page-token-file", str(tmp_path / "page-token.txt"), "--signing-secret-file", "-"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    source_id = out.splitlines()[0].split()[2]
    assert stored_secrets(database_url, source_id) == ("whsec-from-stdin", "verify-from-env", "EAAB-from-a-file")
    for secret in ("whsec-from-stdin", "verify-from-env", "EAAB-from-a-file"):
        assert secret not in out and all(secret not in arg for arg in argv)

    # The command line still works, and wins over the environment; a flag and its file together are refused,
    # and so are two options reading standard input or an empty file.
    assert main(["--database-url", database_url, "source", "create", account, "x", "--verify-token", "v2"]) == 0
    source_id = capsys.readouterr().out.splitlines()[0].split()[2]
    assert stored_secrets(database_url, source_id) == (None, "v2", None)
    (tmp_path / "empty").write_text("\n")
    for extra, says in ((["--page-token", "a", "--page-token-file", "-"], "not both"),
                        (["--page-token-file", "-", "--signing-secret-file", "-"], "standard input"),
                        (["--page-token-file", str(tmp_path / "empty")], "is empty"),
                        (["--page-token-file", str(tmp_path / "missing")], "cannot read")):
        with pytest.raises(SystemExit, match=says):
            main(["--database-url", database_url, "source", "create", account, "y", *extra])


def test_psql_takes_source_secrets_from_the_environment(database_url, account):
    script = str(SQL_DIR / "admin" / "source_create.sql")
    env = {**os.environ, "L2I_SOURCE_PAGE_TOKEN": "EAAB-psql-env", "L2I_SOURCE_SIGNING_SECRET": "psql-secret"}
    result = subprocess.run(["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", f"account_id={account}",
                             "-v", "name=psql FB", "-v", "verify_token=from-v", "-f", script],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    source_id = result.stdout.split("|")[0]
    assert stored_secrets(database_url, source_id) == ("psql-secret", "from-v", "EAAB-psql-env")
