"""The National Do-Not-Call Registry: `l2i dnc load` (COPY + one set-based merge) and psql, the account switch,
holds at intake and at claim time, and failing closed when the loaded data cannot answer.

The registry tables are shared by every account, so this module runs on a scratch database of its own.
"""

from __future__ import annotations

import subprocess

import falcon.testing
import psycopg
import pytest

from l2i.app import create_app
from l2i.cli import main
from l2i.config import Config
from l2i.db import open_pool
from l2i.sql import SQL_DIR
from tests.conftest import QUICKSTART_LEAD, Accounts, bearer, migrated_database
from tests.test_dialing import NOON, Clock


@pytest.fixture(scope="module")
def dnc_url():
    with migrated_database("l2i_dnc") as (_, url):
        yield url


@pytest.fixture(scope="module")
def dnc_client(dnc_url):
    config = Config(database_url=dnc_url, pool_size=4)
    pool = open_pool(config, name="l2i-dnc-test")
    pool.wait(timeout=30)
    yield falcon.testing.TestClient(create_app(config, pool, clock=Clock(NOON)))
    pool.close()


@pytest.fixture
def sql(dnc_url):
    with psycopg.connect(dnc_url, autocommit=True) as conn:
        yield conn


def l2i(dnc_url, capsys, *args):
    code = main(["--database-url", dnc_url, *args])
    out, err = capsys.readouterr()
    return code, out.strip(), err


def connected_account(dnc_url, capsys):
    accounts = Accounts(dnc_url)
    account_id, key = accounts.with_key(scopes=("write", "read", "dial"))
    assert l2i(dnc_url, capsys, "account", "dnc", account_id, "on")[:2] == (
        0, f"account {account_id}: Do-Not-Call Registry on")
    return account_id, bearer(key)


def post(client, headers, phone):
    response = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "phone": phone}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json


def test_dnc_end_to_end(dnc_url, dnc_client, sql, capsys, tmp_path):
    client = dnc_client
    account_id, headers = connected_account(dnc_url, capsys)
    _, plain_key = Accounts(dnc_url).with_key()

    # No registry data yet: a connected account holds every lead (fail closed); others are not affected.
    held = post(client, headers, "5551234567")
    assert (held["status"], held["reasons"]) == ("ineligible", ["dnc_unavailable"])
    assert post(client, bearer(plain_key), "5551234567")["status"] == "new"

    full = tmp_path / "555.txt"
    full.write_text("5551234567\n555-123-0000\nnot a number\n1-555-123-0001\n")
    code, out, err = l2i(dnc_url, capsys, "dnc", "load", "--kind", "full", str(full))
    assert code == 0, err
    assert out == "full load: 4 lines, 1 rejected, 3 added, 0 removed, 1 area codes current, 0 queued leads held"
    assert sql.execute("SELECT array_agg(phone ORDER BY phone) FROM dnc_numbers").fetchone()[0] == [
        5551230000, 5551230001, 5551234567]

    listed = post(client, headers, "5551230000")
    assert (listed["status"], listed["reasons"]) == ("ineligible", ["dnc"])
    gate = client.simulate_get(f"/v1/leads/{listed['lead_id']}", headers=headers).json["gates"]["dnc"]
    assert gate == {"checked": True, "listed": True}
    clear = post(client, headers, "5559990000")
    assert clear["status"] == "new"
    other_area = post(client, headers, "2125550100")
    assert other_area["reasons"] == ["dnc_unavailable"]

    # A change file that lists a queued number holds its lead at once.
    change = tmp_path / "add.txt"
    change.write_text("5559990000\n")
    code, out, _ = l2i(dnc_url, capsys, "dnc", "load", "--kind", "add", str(change))
    assert code == 0 and out.endswith("1 queued leads held")
    lead = client.simulate_get(f"/v1/leads/{clear['lead_id']}", headers=headers).json
    assert (lead["status"], lead["reasons"], [e["type"] for e in lead["events"]]) == ("ineligible", ["dnc"], ["dnc"])

    # A full file replaces its area code's list: numbers not in it are removed.
    full.write_text("5551230000\n")
    code, out, _ = l2i(dnc_url, capsys, "dnc", "load", str(full))
    assert code == 0 and ", 0 added, 3 removed," in out  # 5551230001, 5551234567, 5559990000
    assert sql.execute("SELECT array_agg(phone) FROM dnc_numbers").fetchone()[0] == [5551230000]


def test_claim_time_hold_and_stale_data(dnc_url, dnc_client, sql, capsys, tmp_path):
    client = dnc_client
    account_id, headers = connected_account(dnc_url, capsys)
    area = tmp_path / "617.txt"
    area.write_text("6175550000\n")
    assert l2i(dnc_url, capsys, "dnc", "load", str(area))[0] == 0
    later_listed = post(client, headers, "6175550001")
    waits = post(client, headers, "6175550002")
    assert later_listed["status"] == waits["status"] == "new"
    sql.execute("UPDATE dial_queue SET not_before = '2000-01-01Z' WHERE account_id = %s", (account_id,))

    # Listed behind the queue's back (no merge ran): the claim re-checks and holds it.
    sql.execute("INSERT INTO dnc_numbers VALUES (6175550001)")
    # Data older than 31 days cannot answer: the other lead is not handed out, and waits.
    sql.execute("UPDATE dnc_areas SET updated_at = %s::timestamptz - interval '32 days' WHERE area = 617", (NOON,))
    claimed = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10}, headers=headers)
    assert claimed.status_code == 200 and claimed.json["data"] == []
    first = client.simulate_get(f"/v1/leads/{later_listed['lead_id']}", headers=headers).json
    assert first["status"] == "new"  # stale data: not even the listed one is decided, both wait
    assert client.simulate_get(f"/v1/leads/{waits['lead_id']}", headers=headers).json["status"] == "new"

    sql.execute("UPDATE dnc_areas SET updated_at = now() WHERE area = 617")
    claimed = client.simulate_post("/v1/dial-queue/claim", json={"limit": 10}, headers=headers).json["data"]
    assert [c["lead_id"] for c in claimed] == [waits["lead_id"]]
    first = client.simulate_get(f"/v1/leads/{later_listed['lead_id']}", headers=headers).json
    assert (first["status"], first["reasons"]) == ("ineligible", ["dnc"])

    # Disconnected: the registry no longer applies to the account's new leads.
    assert l2i(dnc_url, capsys, "account", "dnc", account_id, "off")[1].endswith("Registry off")
    assert post(client, headers, "6175550000")["status"] == "new"


def test_psql_load_delete_file_and_cli_errors(dnc_url, sql, capsys, tmp_path):
    sql.execute("INSERT INTO dnc_numbers VALUES (3125550000), (3125550001) ON CONFLICT DO NOTHING")
    delete = tmp_path / "delete.txt"
    delete.write_text("312-555-0000\n")
    with open(delete) as stdin:
        result = subprocess.run(["psql", dnc_url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "kind=delete",
                                 "-f", str(SQL_DIR / "admin" / "dnc_load.sql")], stdin=stdin, capture_output=True,
                                text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("delete|1|0|0|1|")
    assert sql.execute("SELECT array_agg(phone) FROM dnc_numbers WHERE phone / 10000000 = 312").fetchone()[0] == [
        3125550001]

    code, _, err = l2i(dnc_url, capsys, "account", "dnc", "00000000-0000-0000-0000-000000000000", "on")
    assert code == 1 and "no such account" in err
    with pytest.raises(SystemExit):
        main(["--database-url", dnc_url, "dnc", "load", "--kind", "sideways", str(delete)])
