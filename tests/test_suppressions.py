"""The suppression list: the HTTP API (adding: scope write or suppressions; listing and removing: scope
suppressions only), protected opt-outs, bulk loads from a file with the CLI and with psql, and the pull of queued
leads when a number is suppressed."""

from __future__ import annotations

import subprocess

import pytest

from l2i.cli import main
from l2i.sql import SQL_DIR
from tests.conftest import QUICKSTART_LEAD, bearer


@pytest.fixture
def seller(accounts):
    """The account owner's key: may manage the suppression list."""
    account_id, key = accounts.with_key(scopes=("write", "read", "suppressions"))
    return account_id, bearer(key)


def suppress(client, headers, **body):
    return client.simulate_post("/v1/suppressions", json=body, headers=headers)


def test_add_list_and_delete(client, seller):
    _, headers = seller
    first = suppress(client, headers, phone="(212) 555-0100", reason="complaint")
    assert first.status_code == 201, first.text
    assert first.json["phone"] == "+12125550100" and first.json["reason"] == "complaint" and first.json["added"]
    again = suppress(client, headers, phone="+1 212 555 0100")
    assert again.status_code == 200 and again.json["added"] is False and again.json["reason"] == "complaint"
    for phone in ("3125550100", "4155550100", "6175550100"):
        assert suppress(client, headers, phone=phone).status_code == 201

    page = client.simulate_get("/v1/suppressions", params={"limit": "3"}, headers=headers)
    assert page.status_code == 200
    assert [row["phone"] for row in page.json["data"]] == ["+12125550100", "+13125550100", "+14155550100"]
    rest = client.simulate_get("/v1/suppressions", params={"cursor": page.json["next_cursor"]}, headers=headers)
    assert [row["phone"] for row in rest.json["data"]] == ["+16175550100"] and rest.json["next_cursor"] is None

    gone = client.simulate_delete("/v1/suppressions/%2B12125550100", headers=headers)
    assert gone.status_code == 204
    assert client.simulate_delete("/v1/suppressions/2125550100", headers=headers).status_code == 404
    assert client.simulate_delete("/v1/suppressions/not-a-phone", headers=headers).status_code == 422
    listed = client.simulate_get("/v1/suppressions", headers=headers).json["data"]
    assert "+12125550100" not in [row["phone"] for row in listed]


def test_validation_scope_and_isolation(client, seller, accounts):
    _, headers = seller
    for body, field in [({}, "phone"), ({"phone": "12"}, "phone"), ({"phone": True}, "phone"),
                        ({"phone": "2125550100", "reason": "x" * 201}, "reason"),
                        ({"phone": "2125550100", "why": "no"}, "why")]:
        response = suppress(client, headers, **body)
        assert response.status_code == 422, body
        assert [f["field"] for f in response.json["error"]["fields"]] == [field]
    bad_page = client.simulate_get("/v1/suppressions", params={"limit": "0", "cursor": "!!"}, headers=headers)
    assert bad_page.status_code == 422
    assert sorted(f["field"] for f in bad_page.json["error"]["fields"]) == ["cursor", "limit"]

    _, read_only = accounts.with_key(scopes=("read",))
    assert suppress(client, bearer(read_only), phone="2125550100").status_code == 403

    assert suppress(client, headers, phone="2125550111").status_code == 201
    _, other = accounts.with_key(scopes=("write", "suppressions"))
    assert client.simulate_get("/v1/suppressions", headers=bearer(other)).json["data"] == []
    assert client.simulate_delete("/v1/suppressions/2125550111", headers=bearer(other)).status_code == 404


def test_suppressing_pulls_queued_leads_and_holds_new_ones(client, seller, dictdb):
    _, headers = seller
    queued = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=headers).json
    assert queued["status"] == "new"
    assert suppress(client, headers, phone=QUICKSTART_LEAD["phone"], reason="asked").status_code == 201
    lead = client.simulate_get(f"/v1/leads/{queued['lead_id']}", headers=headers).json
    assert lead["status"] == "ineligible" and lead["reasons"] == ["suppressed"] and lead["queue"] is None
    assert [(e["type"], e["detail"]) for e in lead["events"]] == [("suppressed", {"reason": "asked"})]
    assert dictdb.execute("SELECT count(*) AS n FROM dial_queue WHERE lead_id = %s",
                          (queued["lead_id"],)).fetchone()["n"] == 0
    # Unsuppressing does not bring the held lead back; a new post of the number is a duplicate of it.
    assert client.simulate_delete("/v1/suppressions/5551234567", headers=headers).status_code == 204
    assert client.simulate_get(f"/v1/leads/{queued['lead_id']}", headers=headers).json["status"] == "ineligible"


def test_a_write_key_may_add_numbers_but_not_list_or_remove_them(client, accounts, dictdb):
    """Issue 8: a `write` key (lead vendors, web forms) could list and delete the suppression list, opted-out
    numbers included, and the number was then dialed again. Managing the list needs `suppressions`."""
    account_id = accounts.create()
    vendor = bearer(accounts.key(account_id, scopes=("write", "read")))
    owner = bearer(accounts.key(account_id, scopes=("suppressions",)))
    assert suppress(client, vendor, phone="2125550160", reason="complaint").status_code == 201
    for response in (client.simulate_delete("/v1/suppressions/2125550160", headers=vendor),
                     client.simulate_get("/v1/suppressions", headers=vendor)):
        assert response.status_code == 403
        assert response.json["error"]["code"] == "forbidden" and "'suppressions'" in response.json["error"]["message"]
    assert [row["phone"] for row in client.simulate_get("/v1/suppressions", headers=owner).json["data"]] == [
        "+12125550160"]
    assert suppress(client, owner, phone="2125550161").status_code == 201  # the suppressions scope adds too
    assert client.simulate_delete("/v1/suppressions/2125550160", headers=owner).status_code == 204
    # Every change is an event, with the key that made it.
    events = dictdb.execute("""
        SELECT e.phone, e.type, e.reason, k.scopes
        FROM suppression_events AS e JOIN api_keys AS k ON k.id = e.api_key_id
        WHERE e.account_id = %s ORDER BY e.id""", (account_id,)).fetchall()
    assert [(e["phone"], e["type"], e["reason"], e["scopes"]) for e in events] == [
        ("+12125550160", "added", "complaint", ["read", "write"]),
        ("+12125550161", "added", None, ["suppressions"]),
        ("+12125550160", "removed", "complaint", ["suppressions"])]


def test_an_opted_out_number_comes_off_only_by_the_operator_script(client, accounts, dictdb, database_url):
    account_id = accounts.create()
    owner = bearer(accounts.key(account_id, scopes=("write", "suppressions")))
    # A consumer's request sent by the seller: reason opted_out. A number already suppressed for another reason
    # becomes protected when it opts out.
    assert suppress(client, owner, phone="2125550170", reason="opted_out").status_code == 201
    assert suppress(client, owner, phone="2125550171", reason="complaint").status_code == 201
    assert suppress(client, owner, phone="2125550171", reason="opted_out").status_code == 200
    for phone in ("2125550170", "2125550171"):
        refused = client.simulate_delete(f"/v1/suppressions/{phone}", headers=owner)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "opted_out_protected"
    # Nor with the CLI's unsuppress, nor a bare DELETE in psql.
    assert main(["--database-url", database_url, "unsuppress", account_id, "2125550170"]) == 0
    with pytest.raises(Exception, match="opted out"):
        dictdb.execute("DELETE FROM suppressions WHERE account_id = %s", (account_id,))
    listed = client.simulate_get("/v1/suppressions", headers=owner).json["data"]
    assert [(row["phone"], row["reason"]) for row in listed] == [("+12125550170", "opted_out"),
                                                                 ("+12125550171", "opted_out")]
    # The operator's script: who and why are required, and recorded.
    script = str(SQL_DIR / "admin" / "opt_out_remove.sql")
    base = ["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", f"account_id={account_id}",
            "-v", "phone=(212) 555-0170"]
    refused = subprocess.run([*base, "-v", "operator=", "-v", "why=x", "-f", script], capture_output=True, text=True)
    assert refused.returncode != 0 and "who you are" in refused.stderr
    done = subprocess.run([*base, "-v", "operator=Jane Ops", "-v", "why=new written consent, ticket 4411",
                           "-f", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split() == ["+12125550170|t"], done.stderr
    removal = dictdb.execute("""
        SELECT type, reason, operator, why, db_user, api_key_id FROM suppression_events
        WHERE account_id = %s AND phone = '+12125550170' ORDER BY id DESC LIMIT 1""", (account_id,)).fetchone()
    assert removal == {"type": "removed", "reason": "opted_out", "operator": "Jane Ops",
                       "why": "new written consent, ticket 4411", "db_user": removal["db_user"], "api_key_id": None}
    assert removal["db_user"]
    assert [row["phone"] for row in client.simulate_get("/v1/suppressions", headers=owner).json["data"]] == [
        "+12125550171"]


@pytest.fixture
def numbers_file(tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("(212) 555-0101\n+1 312 555 0101\n\n14155550101\n6175550101")  # no final newline
    return path


def test_cli_suppress_file_loads_with_copy_all_or_nothing(database_url, accounts, capsys, numbers_file, tmp_path,
                                                         dictdb):
    account_id = accounts.create()
    assert main(["--database-url", database_url, "suppress", account_id, "--file", str(numbers_file),
                 "--reason", "dnc-list"]) == 0
    assert capsys.readouterr().out.strip() == "4 added, 0 already suppressed"
    rows = dictdb.execute("SELECT phone, reason FROM suppressions WHERE account_id = %s ORDER BY phone",
                          (account_id,)).fetchall()
    assert rows == [{"phone": p, "reason": "dnc-list"} for p in
                    ("+12125550101", "+13125550101", "+14155550101", "+16175550101")]

    bad = tmp_path / "bad.txt"
    bad.write_text("2125550199\nnot a number\n")
    assert main(["--database-url", database_url, "suppress", account_id, "--file", str(bad)]) == 1
    assert "not a phone number" in capsys.readouterr().err
    assert dictdb.execute("SELECT count(*) AS n FROM suppressions WHERE account_id = %s AND phone = '+12125550199'",
                          (account_id,)).fetchone()["n"] == 0


def test_psql_suppress_file_does_the_same(database_url, accounts, numbers_file, dictdb):
    account_id = accounts.create()
    with open(numbers_file) as stdin:
        result = subprocess.run(["psql", database_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v",
                                 f"account_id={account_id}", "-f", str(SQL_DIR / "admin" / "suppress_file.sql")],
                                stdin=stdin, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "4|0"
    assert dictdb.execute("SELECT count(*) AS n FROM suppressions WHERE account_id = %s",
                          (account_id,)).fetchone()["n"] == 4
