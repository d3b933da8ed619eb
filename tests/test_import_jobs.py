"""CSV import jobs (l2i/import_jobs.py): one tenant's imports do not stall the others, the per-account and total
limits hold under concurrent claims, and a runner killed in the middle of a batch is resumed without deciding a
row twice.

Nothing here measures time. A job is held "in progress" for as long as a test needs by a row lock: the file has,
after its first batch, the phone of a lead that the test keeps locked (SELECT ... FOR UPDATE), so the job's second
batch waits on it, with its first batch committed. What the tests assert is an order of events: the other
account's read was answered while every import was still at that point (by its recorded progress).

Each test has a scratch database of its own: the session's in-process runner must not take these jobs.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import Accounts, migrated_database
from gunicorn_server import ROOT, running_gunicorn
from l2i import csv_import, import_jobs, intake, sql
from l2i.config import Config
from l2i.fields import parse_lead

pytestmark = pytest.mark.slow

BATCH = csv_import.BATCH_ROWS
CONSENT = "2026-01-01T00:00:00Z"
DEADLINE_S = 120  # how long a test waits for a state it needs before it gives up (a hang, not a measurement)


def until(check, what: str):
    """Wait for check() to be true (a state of the system, polled); fail if it never comes."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def csv_file(first: int, rows: int, locked_phone: str | None = None) -> str:
    """A file of `rows` new leads with consent (phones 212-3xx-xxxx from `first` on); the locked phone, if given,
    is row BATCH + 50: in the second batch, once the first is committed."""
    lines = ["phone,first_name,consent_timestamp,consent_text_version"]
    for n in range(rows):
        number = locked_phone if locked_phone and n == BATCH + 48 else f"212{3000000 + first + n:07d}"
        lines.append(f"{number},Row{n},{CONSENT},v1")
    return "\n".join(lines) + "\n"


@pytest.fixture
def scratch():
    with migrated_database("l2i_jobs") as (name, url):
        yield name, url


@contextlib.contextmanager
def locked_lead(url: str, account_id: str, phone: str):
    """A lead of the account with this phone, held locked by an open transaction until the block ends."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        lead_id = intake.submit(conn, account_id=account_id, api_key_id=None, lead=parse_lead({"phone": phone}))["id"]
    locker = psycopg.connect(url)
    try:
        locker.execute("SELECT 1 FROM leads WHERE id = %s FOR UPDATE", (lead_id,))
        yield lead_id
    finally:
        locker.rollback()
        locker.close()


def jobs(url: str) -> dict:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {row["id"]: row for row in conn.execute(
            "SELECT id, account_id, status, last_row, totals, attempts, rows_total FROM imports")}


def request(base_url, method, path, key, body=None, headers=None):
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=DEADLINE_S)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {key}", **(headers or {})})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_four_imports_of_one_account_do_not_stall_another_accounts_reads(scratch):
    """One gunicorn worker with 4 request threads and 4 import runner threads. Account A sends four large files;
    each import gets stuck (by the lock) after its first batch. While they are stuck: every POST was answered
    (202), account B's GET /v1/leads is answered, a small import of account C runs to its end (200), and A's fourth
    job waits (at most 3 at once per account) although a runner is free; A's client waiting for its four jobs
    (Prefer: wait) holds only half the request threads. Then the lock goes and every job ends with exact totals.
    Before jobs, each import held a request thread until it ended: B's read waited for them (72 s measured by
    bench/import_stall.py with the same 4 threads, against 0.2 s with jobs)."""
    name, url = scratch
    accounts = Accounts(url)
    account_a, key_a = accounts.with_key()
    account_b, key_b = accounts.with_key()
    _, key_c = accounts.with_key()
    env = {"L2I_THREADS": "4", "L2I_IMPORT_THREADS": "4", "L2I_IMPORTS_PER_ACCOUNT": "3", "L2I_IMPORTS_TOTAL": "4",
           "L2I_STATEMENT_TIMEOUT_MS": str(DEADLINE_S * 1000)}
    rows = BATCH * 5
    with running_gunicorn(url, env=env, workers=1) as base_url:
        status, _, lead_b = request(base_url, "POST", "/v1/leads", key_b, json.dumps({"phone": "2125550100"}),
                                    {"Content-Type": "application/json"})
        assert status == 201
        with locked_lead(url, account_a, "+12125550199"):
            sent = []
            for n in range(4):
                status, headers, answer = request(base_url, "POST", "/v1/leads/import", key_a,
                                                  csv_file(n * 10_000, rows, "2125550199"),
                                                  {"Content-Type": "text/csv"})
                assert status == 202 and headers["location"] == f"/v1/imports/{answer['id']}"
                sent.append(answer["id"])
            stuck = lambda: [j for j in jobs(url).values()  # noqa: E731
                             if j["status"] == "running" and j["last_row"] == BATCH + 1]
            until(lambda: len(stuck()) == 3, "three of A's imports stuck after their first batch")
            # A fourth runner is free, but A has 3 running: C's import, sent after A's fourth, runs first.
            status, _, done = request(base_url, "POST", "/v1/leads/import", key_c, csv_file(90_000, 3),
                                      {"Content-Type": "text/csv", "Prefer": "wait=60"})
            assert status == 200 and done["status"] == "done" and done["totals"]["created"] == 3

            status, _, page = request(base_url, "GET", "/v1/leads?limit=5", key_b)
            assert status == 200 and [lead["id"] for lead in page["data"]] == [lead_b["lead_id"]]

            # All of that happened while A's imports were still where the lock holds them.
            now = jobs(url)
            assert sorted((now[j]["status"], now[j]["last_row"]) for j in map(str_uuid, sent)) == \
                [("queued", 1)] + [("running", BATCH + 1)] * 3
            status, _, progress = request(base_url, "GET", f"/v1/imports/{sent[0]}", key_a)
            assert status == 200 and progress["progress"] == {"rows_total": rows, "rows_done": BATCH}

            # A's client waits for all four jobs at once (Prefer: wait): only half the threads (2) may wait, the
            # other two requests are answered at once, with the jobs as they are; B is still served meanwhile.
            answers = []
            waiters = [threading.Thread(target=lambda i=i: answers.append(request(
                base_url, "GET", f"/v1/imports/{i}", key_a, headers={"Prefer": f"wait={DEADLINE_S}"})))
                for i in sent]
            for thread in waiters:
                thread.start()
            until(lambda: len(answers) == 2, "two of the waiting requests answered at once")
            assert all(status == 200 and job["status"] in ("queued", "running") for status, _, job in answers)
            status, _, page = request(base_url, "GET", "/v1/leads?limit=5", key_b)
            assert status == 200 and len(answers) == 2  # the two waiting ones still wait: the jobs are stuck

        for thread in waiters:
            thread.join(DEADLINE_S)
        assert len(answers) == 4 and all(status == 200 for status, _, _ in answers)
        for import_id in sent:
            status, _, final = request(base_url, "GET", f"/v1/imports/{import_id}?outcome=duplicate", key_a,
                                       headers={"Prefer": "wait=60"})
            while final["status"] != "done":
                status, _, final = request(base_url, "GET", f"/v1/imports/{import_id}?outcome=duplicate", key_a,
                                           headers={"Prefer": "wait=60"})
            assert final["totals"] == {"rows": rows, "created": rows - 1, "duplicate": 1, "ineligible": 0,
                                       "invalid": 0, "blank": 0}
            assert [row["row"] for row in final["rows"]] == [BATCH + 50]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM leads WHERE account_id = %s",
                                (account_a,)).fetchone()[0] == 4 * (rows - 1) + 1
            assert conn.execute("SELECT count(*) FROM import_chunks").fetchone()[0] == 0  # files dropped when done


def str_uuid(value):
    return uuid.UUID(str(value))


def queue(url: str, account_id, body: str) -> dict:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        spool = io.BytesIO(body.encode())
        total = csv_import.scan(spool)
        return import_jobs.store(conn, spool, account_id=account_id, api_key_id=None, source=None,
                                 content_type="text/csv", rows_total=total)


def test_concurrent_claims_keep_the_per_account_and_total_limits(scratch):
    """Nine runners claim at the same moment, on nine connections: 2 jobs per account and 3 in all, whatever the
    interleaving; the accounts with fewer running jobs come first; a job whose lease ran out is claimed again;
    a finished job frees its place."""
    _, url = scratch
    accounts = Accounts(url)
    a, b, c = accounts.create("a"), accounts.create("b"), accounts.create("c")
    for account, count in ((a, 4), (b, 3), (c, 2)):
        for _ in range(count):
            queue(url, account, "phone\n2125550100\n")
    limits = {"max_total": 3, "max_per_account": 2, "lease_s": 60, "import_id": None}
    connections = [psycopg.connect(url, autocommit=True, row_factory=dict_row) for _ in range(9)]
    try:
        barrier, claimed = threading.Barrier(9), []

        def claim(conn):
            barrier.wait()
            claimed.append(sql.one(conn, "import_claim", **limits))

        threads = [threading.Thread(target=claim, args=(conn,)) for conn in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_S)
        got = [job for job in claimed if job]
        assert len(claimed) == 9 and len(got) == 3
        per_account = {account: sum(1 for job in got if str(job["account_id"]) == account) for account in (a, b, c)}
        assert max(per_account.values()) == 1  # three accounts, three places: one each (fewest running first)
        conn = connections[0]
        assert sql.one(conn, "import_claim", **limits) is None  # the total is reached

        # One job finishes: its place goes to its account's next job (now the account with the fewest running).
        first = got[0]
        assert sql.one(conn, "import_finish", import_id=first["id"], claim_id=first["claim_id"],
                       totals=psycopg.types.json.Jsonb({}))["owned"] == 1
        again = sql.one(conn, "import_claim", **limits)
        assert again is not None and again["account_id"] == first["account_id"] and again["id"] != first["id"]
        assert sql.one(conn, "import_claim", **limits) is None

        # A lease that ran out (its runner died): the job is claimed again, with a new claim; the old claim can
        # no longer renew or record anything.
        conn.execute("UPDATE imports SET lease_expires_at = now() - interval '1 second' WHERE id = %s",
                     (again["id"],))
        retaken = sql.one(conn, "import_claim", **{**limits, "import_id": again["id"]})
        assert retaken["id"] == again["id"] and retaken["attempts"] == 2 and retaken["claim_id"] != again["claim_id"]
        assert sql.one(conn, "import_renew", import_id=again["id"], claim_id=again["claim_id"], lease_s=60) is None
        stale = sql.one(conn, "import_record", import_id=again["id"], claim_id=again["claim_id"], lease_s=60,
                        last_row=2, totals=psycopg.types.json.Jsonb({"rows": 1}),
                        rows=psycopg.types.json.Jsonb([{"row": 2, "outcome": "invalid", "errors": []}]))
        assert stale == {"owned": 0, "recorded": 0}
        assert sql.one(conn, "import_finish", import_id=again["id"], claim_id=again["claim_id"],
                       totals=psycopg.types.json.Jsonb({}))["owned"] == 0

        # With higher limits, every account gets at most its own limit and the total holds.
        wide = {**limits, "max_total": 100}
        while sql.one(conn, "import_claim", **wide):
            pass
        running = conn.execute("SELECT account_id, count(*) AS n FROM imports WHERE status = 'running' "
                               "GROUP BY account_id").fetchall()
        assert sorted(row["n"] for row in running) == [2, 2, 2]
    finally:
        for conn in connections:
            conn.close()


def test_a_killed_worker_is_resumed_without_deciding_a_row_twice(scratch):
    """`l2i worker` (a process of its own) imports a file; it is killed (SIGKILL) while its second batch waits on
    the lock, its first batch committed. Another runner claims the job once the lease has run out (and the dead
    worker's transaction is gone), resumes after the first batch, and every row is decided exactly once."""
    name, url = scratch
    accounts = Accounts(url)
    account_id = accounts.create()
    rows = BATCH * 3
    env = {**os.environ, "DATABASE_URL": url, "L2I_IMPORT_LEASE_S": "2",
           "L2I_STATEMENT_TIMEOUT_MS": str(DEADLINE_S * 1000), "L2I_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT)}
    l2i = Path(sys.executable).parent / "l2i"
    with locked_lead(url, account_id, "+12125550199") as lead_id:
        job = queue(url, account_id, csv_file(0, rows, "2125550199"))
        worker = subprocess.Popen([str(l2i), "worker", "--threads", "1"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            until(lambda: jobs(url)[job["id"]]["last_row"] == BATCH + 1, "the first batch committed")
            with psycopg.connect(url) as conn:
                until(lambda: conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'l2i-imports' "
                    "AND wait_event_type = 'Lock'", (name,)).fetchone()[0] == 1, "the second batch waiting")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(DEADLINE_S)
    # The lock is gone: the dead worker's backend finishes its statement, finds no client, and rolls back.
    config = replace(Config(database_url=url), import_lease_s=2, statement_timeout_ms=DEADLINE_S * 1000)
    runner = import_jobs.Runner(config, threads=1, name="l2i-test-resume").start()
    try:
        until(lambda: jobs(url)[job["id"]]["status"] == "done", "the job done by the second runner")
    finally:
        runner.stop()
    final = jobs(url)[job["id"]]
    assert final["attempts"] == 2 and final["last_row"] == rows + 1
    assert final["totals"] == {"rows": rows, "created": rows - 1, "duplicate": 1, "ineligible": 0, "invalid": 0,
                               "blank": 0}
    with psycopg.connect(url) as conn:
        decided = conn.execute("SELECT row_number, outcome, lead_id FROM import_rows WHERE import_id = %s "
                               "ORDER BY row_number", (job["id"],)).fetchall()
        assert [row[0] for row in decided] == list(range(2, rows + 2))
        assert decided[BATCH + 48][1:] == ("duplicate", lead_id)
        assert {row[1] for row in decided[:BATCH + 48] + decided[BATCH + 49:]} == {"created"}
        assert conn.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account_id,)).fetchone()[0] == rows


def test_a_claim_passes_over_a_job_whose_row_is_locked(scratch):
    """A runner inside a batch holds its job's row (import_renew); a claim at that moment must pass over it (SKIP
    LOCKED) and take the next job at once, not wait for the batch (a short lock_timeout turns a wait into an
    error)."""
    _, url = scratch
    account_id = Accounts(url).create()
    first = queue(url, account_id, "phone\n2125550100\n")
    second = queue(url, account_id, "phone\n2125550101\n")
    limits = {"max_total": 10, "max_per_account": 10, "lease_s": 60, "import_id": None}
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        holder.execute("SELECT 1 FROM imports WHERE id = %s FOR UPDATE", (first["id"],))
        conn.execute("SET lock_timeout = '2s'")
        claimed = sql.one(conn, "import_claim", **limits)
        assert claimed["id"] == second["id"]
        assert sql.one(conn, "import_claim", **limits) is None  # the locked one is not handed out meanwhile
        holder.rollback()
        assert sql.one(conn, "import_claim", **limits)["id"] == first["id"]


def test_the_stored_file_reads_back_byte_for_byte_and_seeks(scratch):
    """A job's file, stored in 256 KiB rows, reads back whole, in pieces of any size, and after seeking (the CSV
    reader may read the first bytes and go back)."""
    _, url = scratch
    account_id = Accounts(url).create()
    body = ("phone,notes\n" + "".join(f"212555{n % 10000:04d},{'x' * (n % 97)}\n"
                                       for n in range(12_000))).encode()
    assert len(body) > 2 * import_jobs.CHUNK_BYTES
    job = queue(url, account_id, body.decode())
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        assert conn.execute("SELECT count(*) AS n FROM import_chunks WHERE import_id = %s",
                            (job["id"],)).fetchone()["n"] == len(body) // import_jobs.CHUNK_BYTES + 1
        stored = io.BufferedReader(import_jobs.StoredFile(conn, job["id"], job["file_bytes"]), 1000)
        assert stored.read(7) == body[:7]
        assert stored.seek(0) == 0 and stored.read() == body
        middle = import_jobs.CHUNK_BYTES - 5
        assert stored.seek(middle) == middle and stored.read(10) == body[middle:middle + 10]
        assert stored.tell() == middle + 10
        assert stored.seek(-3, io.SEEK_END) == len(body) - 3 and stored.read() == body[-3:] and stored.read() == b""


def test_l2i_worker_runs_jobs_and_stops_on_sigterm(scratch):
    _, url = scratch
    account_id = Accounts(url).create()
    job = queue(url, account_id, csv_file(0, 5))
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT), "L2I_LOG_LEVEL": "info"}
    worker = subprocess.Popen([str(Path(sys.executable).parent / "l2i"), "worker"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        until(lambda: jobs(url)[job["id"]]["status"] == "done", "the worker ran the job")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=DEADLINE_S)
    assert worker.returncode == 0, err
    assert f"import done import_id={job['id']}" in err and "l2i worker: stopped" in err
