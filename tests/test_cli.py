"""The `l2i` CLI and the psql scripts in sql/admin/: the same operations, on the same SQL."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from l2i.cli import main
from l2i.sql import SQL_DIR
from tests.conftest import bearer

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def l2i(database_url, capsys):
    def run(*args):
        code = main(["--database-url", database_url, *args])
        out, err = capsys.readouterr()
        return code, out.rstrip("\n").splitlines(), err
    return run


def psql(database_url, script, **variables):
    args = ["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-f", str(SQL_DIR / "admin" / f"{script}.sql")]
    for name, value in variables.items():
        args[3:3] = ["-v", f"{name}={value}"]
    result = subprocess.run(args, capture_output=True, text=True)
    return result.returncode, result.stdout.strip().splitlines(), result.stderr


def test_account_and_key_lifecycle(l2i, client):
    code, out, _ = l2i("account", "create", "Acme Leads")
    assert code == 0 and len(out) == 1 and UUID.match(out[0])
    account_id = out[0]

    code, out, _ = l2i("key", "create", account_id, "--scopes", "write,read", "--rate-limit", "77", "--name", "site")
    assert code == 0
    key = out[-1]
    assert re.fullmatch(r"l2i_[0-9a-f]{64}", key)
    response = client.simulate_get("/v1/leads", headers=bearer(key))
    assert response.status_code == 200 and response.headers["x-ratelimit-limit"] == "77"

    code, out, _ = l2i("key", "list", account_id)
    assert code == 0 and out[0].split("\t")[:5] == ["id", "label", "prefix", "scopes", "rate_limit"]
    row = out[1].split("\t")
    assert row[1:5] == ["site", key[:12], "read,write", "77"] and row[7] == ""
    assert key[12:] not in "\n".join(out)

    code, out, _ = l2i("key", "revoke", key)
    assert code == 0 and out[0].startswith(f"revoked {row[0]}")
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 401
    assert l2i("key", "list", account_id)[1][1].split("\t")[7] != ""


def test_key_revoke_by_id_and_unknown_key(l2i, accounts):
    account_id, key = accounts.with_key()
    key_id = l2i("key", "list", account_id)[1][1].split("\t")[0]
    assert l2i("key", "revoke", key_id)[0] == 0
    code, _, err = l2i("key", "revoke", str(uuid.uuid4()))
    assert code == 1 and "no such key" in err


def test_cli_refuses_bad_input_clearly(l2i):
    code, _, err = l2i("key", "create", "not-a-uuid", "--scopes", "write")
    assert code == 1 and "UUID" in err
    code, _, err = l2i("key", "create", str(uuid.uuid4()), "--scopes", "write")
    assert code == 1 and "no such account" in err
    with pytest.raises(SystemExit, match="write and/or read"):
        main(["key", "create", str(uuid.uuid4()), "--scopes", "root"])  # admin is a scope since issue 9
    with pytest.raises(SystemExit, match="not-a-phone"):
        main(["suppress", str(uuid.uuid4()), "not-a-phone"])


def test_suppress_and_unsuppress_normalize_numbers(l2i, accounts, client, db):
    account_id, key = accounts.with_key()
    code, out, _ = l2i("suppress", account_id, "(212) 555-0400", "+1 212 555 0401", "--reason", "complaint")
    assert code == 0 and out == ["+12125550400\tadded", "+12125550401\tadded"]
    assert l2i("suppress", account_id, "2125550400")[1] == ["+12125550400\talready suppressed"]
    held = client.simulate_post("/v1/leads", json={"phone": "212.555.0400"}, headers=bearer(key))
    assert "suppressed" in held.json["reasons"]
    assert l2i("unsuppress", account_id, "212-555-0400", "2125550499")[1] == [
        "+12125550400\tremoved", "+12125550499\twas not suppressed"]
    reasons = db.execute("SELECT phone, reason FROM suppressions WHERE account_id = %s", (account_id,)).fetchall()
    assert reasons == [("+12125550401", "complaint")]


def test_psql_scripts_do_the_same(database_url, client):
    code, out, err = psql(database_url, "account_create", name="From psql")
    assert code == 0, err
    account_id = out[0]
    assert UUID.match(account_id)
    code, out, err = psql(database_url, "key_create", account_id=account_id, scopes="write,read")
    assert code == 0, err
    key = out[-1]
    response = client.simulate_post("/v1/leads", json={"phone": "2125550410"}, headers=bearer(key))
    assert response.status_code == 201 and response.headers["x-ratelimit-limit"] == "120"

    code, out, err = psql(database_url, "suppress", account_id=account_id, phones="(212) 555-0411,2125550412")
    assert code == 0 and out == ["+12125550411|t", "+12125550412|t"], err
    code, out, err = psql(database_url, "suppress", account_id=account_id, phones="555-CALL-NOW")
    assert code != 0 and "not a phone number" in err
    code, out, _ = psql(database_url, "unsuppress", account_id=account_id, phones="+12125550411")
    assert out == ["+12125550411|t|f"]
    code, out, _ = psql(database_url, "key_list", account_id=account_id)
    assert len(out) == 1 and key[:12] in out[0] and key[12:] not in out[0]
    code, out, _ = psql(database_url, "key_revoke", key=key)
    assert code == 0 and len(out) == 1
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 401


def test_migrate_command_reports_nothing_to_apply(l2i):
    assert l2i("migrate") == (0, ["nothing to apply"], "")


def test_postback_token_rematch_and_lead_find(l2i, accounts, client, db, database_url):
    account_id, key = accounts.with_key()
    code, out, _ = l2i("postback-token", "create", account_id, "--name", "ringba")
    token = out[-1]
    assert code == 0 and re.fullmatch(r"l2ipb_[0-9a-f]{64}", token) and token in out[-2]
    waiting = client.simulate_get("/v1/postbacks/calls", params={"token": token, "caller_id": "2125550700",
                                                                 "payout": "12.34"})
    assert waiting.status_code == 202
    lead_id = client.simulate_post("/v1/leads", json={"phone": "2125550700", "source": "web"},
                                   headers=bearer(key)).json["lead_id"]
    db.execute("ALTER TABLE transfers DISABLE TRIGGER transfers_match_postbacks")
    try:
        db.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at) "
                   "VALUES (%s, %s, '+18005550000', '+12125550700', now())", (lead_id, account_id))
    finally:
        db.execute("ALTER TABLE transfers ENABLE TRIGGER transfers_match_postbacks")
    assert l2i("postbacks", "rematch", account_id)[1] == ["matched 1"]
    code, out, _ = l2i("lead", "find", account_id, "(212) 555-0700")
    assert code == 0 and len(out) == 2
    row = dict(zip(out[0].split("\t"), out[1].split("\t")))
    assert (row["id"], row["source"], row["payout_cents"]) == (lead_id, "web", "1234")
    code, out, _ = psql(database_url, "lead_find", account_id=account_id, phone="212.555.0700")
    assert code == 0 and out[0].startswith(lead_id)
    assert l2i("postback-token", "revoke", token)[0] == 0
    assert client.simulate_get("/v1/postbacks/calls", params={"token": token, "caller_id": "2125550700"}).status_code == 401
    code, _, err = l2i("postback-token", "revoke", token[:-1] + "0" if token[-1] != "0" else token[:-1] + "1")
    assert code == 1 and "no such postback token" in err


def test_dial_reap_gives_back_run_out_leases_without_a_claim(l2i, accounts, client, db):
    account_id, key = accounts.with_key()
    body = {"phone": "2125550800", "consent": {"consent_timestamp": "2026-07-05T12:00:00Z",
                                               "consent_text_version": "v1"}}
    lead_id = client.simulate_post("/v1/leads", json=body, headers=bearer(key)).json["lead_id"]
    db.execute("UPDATE leads SET status = 'dialing', attempts = 1 WHERE id = %s", (lead_id,))
    db.execute("UPDATE dial_queue SET leased_until = now() - interval '1 minute', lease_id = gen_random_uuid() "
               "WHERE lead_id = %s", (lead_id,))
    assert l2i("dial", "reap", account_id) == (0, ["new\t1"], "")
    assert db.execute("SELECT status FROM leads WHERE id = %s", (lead_id,)).fetchone() == ("new",)
    events = db.execute("SELECT type FROM lead_events WHERE lead_id = %s", (lead_id,)).fetchall()
    assert ("lease_expired",) in events
    assert l2i("dial", "reap", account_id)[1] == ["nothing to reap"]
