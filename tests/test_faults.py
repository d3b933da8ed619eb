"""Fault tests against a real gunicorn and a real PostgreSQL: the database goes away under load, the database is
slow, a worker dies. Each test has its own scratch database (they terminate backends and hold locks), sends
traffic to 127.0.0.1 only, and every loop stops by itself, bounded in count and time.

What must hold, whatever the fault: a request gets a 2xx or a clean 503 with Retry-After in the standard error
shape (never a 500, never a hang); the service recovers by itself; every lead acknowledged with 201 is in the
database, and a client that retries what failed ends with every lead stored exactly once.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from conftest import BASE_URL, QUICKSTART_LEAD, migrated_database
from gunicorn_server import running_gunicorn

pytestmark = pytest.mark.slow

# Generous bound on one request: a request that takes this long is a hang, whatever the load.
REQUEST_TIMEOUT_S = 20
# What the service is told: short timeouts, so faults surface quickly.
FAULT_ENV = {"L2I_POOL_SIZE": "2", "L2I_POOL_TIMEOUT": "2", "L2I_CONNECT_TIMEOUT": "2",
             "L2I_STATEMENT_TIMEOUT_MS": "1000", "L2I_RETRY_AFTER": "1"}


@dataclass
class Scratch:
    name: str
    url: str
    account_id: str
    key: str

    def admin(self):
        """An autocommit connection to the maintenance database (works while this one refuses connections)."""
        return psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True)

    def connect(self):
        return psycopg.connect(self.url, autocommit=True)

    def service_backends(self, conn) -> list[tuple[int, str, str | None]]:
        return conn.execute(
            "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE datname = %s AND application_name = 'l2i'",
            (self.name,)).fetchall()


@pytest.fixture
def scratch():
    with migrated_database("l2i_fault") as (name, url):
        with psycopg.connect(url, autocommit=True) as conn:
            account_id = str(conn.execute("SELECT l2i_account_create('fault tests')").fetchone()[0])
            key = conn.execute("SELECT l2i_key_create(%s, ARRAY['write','read'], 1000000, 'fault')",
                               (account_id,)).fetchone()[0]
        yield Scratch(name, url, account_id, key)


# --- a small retrying client ----------------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    headers: dict
    body: dict | None


def post_lead(base_url: str, key: str, phone: str) -> Response:
    """One POST /v1/leads on a new connection. Raises OSError / http.client errors when the connection fails."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_S)
    try:
        body = json.dumps({**QUICKSTART_LEAD, "phone": phone})
        conn.request("POST", "/v1/leads", body=body,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = {"unparsed": raw[:500].decode(errors="replace")}
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed)
    finally:
        conn.close()


@dataclass
class Load:
    """Threads that post leads with new phones, each retried until it gets a 201 or a 200 (the duplicate of an
    earlier attempt that was stored but not acknowledged). Bounded: `leads_per_thread` leads and `deadline_s`."""

    base_url: str
    key: str
    threads: int = 4
    leads_per_thread: int = 400
    deadline_s: float = 45
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter = field(default_factory=Counter)
    acknowledged: dict = field(default_factory=dict)  # phone -> lead_id of its 201
    final: dict = field(default_factory=dict)  # phone -> (status, lead_id) of its last attempt
    bad: list = field(default_factory=list)  # responses that break the contract
    connection_errors: int = 0
    unfinished: list = field(default_factory=list)  # phones that never got a 2xx (deadline)

    def __post_init__(self):
        self.workers = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)]

    def count(self, status) -> int:
        with self.lock:
            return self.statuses[status]

    def wait_for(self, status, at_least: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count(status) >= at_least:
                return True
            time.sleep(0.02)
        return False

    def __enter__(self):
        self.started = time.monotonic()
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for worker in self.workers:
            worker.join(timeout=REQUEST_TIMEOUT_S + 5)
        assert not any(worker.is_alive() for worker in self.workers), "a client thread hung"

    def _run(self, index: int) -> None:
        for n in range(self.leads_per_thread):
            if self.stop.is_set() or time.monotonic() - self.started > self.deadline_s:
                return
            phone = f"+1512{index + 2}{n:06d}"
            self._post_until_stored(phone)

    def _post_until_stored(self, phone: str) -> None:
        for _ in range(500):
            if time.monotonic() - self.started > self.deadline_s:
                break
            try:
                resp = post_lead(self.base_url, self.key, phone)
            except (OSError, http.client.HTTPException) as exc:
                if isinstance(exc, TimeoutError):
                    with self.lock:
                        self.bad.append((phone, "timeout", repr(exc)))
                    return
                # The worker died mid-request (worker crash test): the lead may or may not be stored.
                with self.lock:
                    self.connection_errors += 1
                time.sleep(0.02)
                continue
            with self.lock:
                self.statuses[resp.status] += 1
                if resp.status == 201:
                    self.acknowledged[phone] = resp.body["lead_id"]
                if resp.status in (200, 201):
                    self.final[phone] = (resp.status, resp.body["lead_id"])
                    return
                if not _clean_503(resp):
                    self.bad.append((phone, resp.status, resp.headers, resp.body))
                    return
            time.sleep(0.02)  # a real client would wait Retry-After; a short pause keeps the test quick
        with self.lock:
            self.unfinished.append(phone)


def _clean_503(resp: Response) -> bool:
    return (resp.status == 503 and resp.headers.get("retry-after", "").isdigit()
            and isinstance(resp.body, dict) and resp.body.get("error", {}).get("code") == "unavailable")


def assert_stored_exactly_once(scratch: Scratch, load: Load) -> None:
    assert not load.bad, f"responses that break the contract: {load.bad[:5]}"
    assert not load.unfinished, f"leads never stored before the deadline: {load.unfinished[:5]}"
    assert load.final, "the load sent nothing"
    with scratch.connect() as conn:
        rows = conn.execute("SELECT phone, id::text FROM leads WHERE account_id = %s",
                            (scratch.account_id,)).fetchall()
    stored = Counter(phone for phone, _ in rows)
    assert [p for p, n in stored.items() if n > 1] == [], "a lead was stored twice"
    ids = dict(rows)
    lost = {phone: lead_id for phone, lead_id in load.acknowledged.items() if ids.get(phone) != lead_id}
    assert lost == {}, "leads acknowledged with 201 are missing"
    # Every lead the client finished is stored, once, under the id it was told; nothing else was stored.
    assert {phone: lead_id for phone, (_, lead_id) in load.final.items()} == {p: ids[p] for p in load.final}
    assert set(ids) == set(load.final)


# --- the tests --------------------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_database_outage_under_load_gives_clean_503s_then_recovers_without_losing_leads(scratch):
    with running_gunicorn(scratch.url, env=FAULT_ENV, workers=2) as base_url:
        workers_before = base_url.worker_pids()
        with Load(base_url, scratch.key, threads=4) as load:
            assert load.wait_for(201, 30, timeout_s=20), "no traffic got through before the outage"
            with scratch.admin() as admin:
                # The outage: the database refuses new connections and every backend of the service is
                # terminated, as in a restart or a failover; it lasts until the service has answered 503s.
                admin.execute(f'ALTER DATABASE "{scratch.name}" ALLOW_CONNECTIONS false')
                try:
                    terminated = admin.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = %s AND application_name = 'l2i'", (scratch.name,)).fetchone()[0]
                    assert terminated >= 1
                    saw_503 = load.wait_for(503, 8, timeout_s=20)
                    time.sleep(1)
                finally:
                    admin.execute(f'ALTER DATABASE "{scratch.name}" ALLOW_CONNECTIONS true')
            assert saw_503, "the outage produced no 503"
            created_before = load.count(201)
            assert load.wait_for(201, created_before + 30, timeout_s=25), "the service did not recover"
        log = base_url.log()
        assert base_url.process.poll() is None, "gunicorn died"
        assert base_url.worker_pids() == workers_before, "a worker was replaced (timed out or crashed)"
    assert "Traceback" not in log and "internal_error" not in log, log[-3000:]
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert_stored_exactly_once(scratch, load)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("locked", ["leads", "rate_limit_windows"])
def test_slow_database_gives_bounded_503s_and_no_piled_up_backends(scratch, locked):
    """A lock held on purpose blocks the intake statement (leads) or the key check (the key's rate-limit row):
    the statement timeout turns every stuck request into a 503, and nothing is left waiting afterwards."""
    workers = 2
    with running_gunicorn(scratch.url, env=FAULT_ENV, workers=workers) as base_url:
        workers_before = base_url.worker_pids()
        assert post_lead(base_url, scratch.key, "+15127000000").status == 201  # creates the rate-limit row
        results: list[Response | Exception] = []

        def post(i):
            try:
                results.append(post_lead(base_url, scratch.key, f"+15127{i + 1:06d}"))
            except Exception as exc:  # noqa: BLE001 - a hang or a reset is what this test looks for
                results.append(exc)

        with scratch.connect() as holder:
            with holder.transaction():
                if locked == "leads":
                    holder.execute("LOCK TABLE leads IN SHARE ROW EXCLUSIVE MODE")
                else:
                    holder.execute("SELECT 1 FROM rate_limit_windows FOR UPDATE")
                # More requests than workers: some wait for a worker, each blocked one is cancelled after 1 s.
                threads = [threading.Thread(target=post, args=(i,)) for i in range(3 * workers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=REQUEST_TIMEOUT_S + 5)
                assert not any(thread.is_alive() for thread in threads), "a request hung"
        assert len(results) == 3 * workers
        not_clean = [r if isinstance(r, Exception) else (r.status, r.headers, r.body)
                     for r in results if isinstance(r, Exception) or not _clean_503(r)]
        assert not_clean == [], "every request blocked by the lock must get a clean 503"

        # Nothing piles up: no backend of the service is still waiting, and the service answers again.
        with scratch.connect() as conn:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                backends = scratch.service_backends(conn)
                if not any(state == "active" for _, state, _ in backends):
                    break
                time.sleep(0.1)
            assert [b for b in backends if b[1] == "active"] == []
            assert len(backends) <= workers * int(FAULT_ENV["L2I_POOL_SIZE"])
        assert post_lead(base_url, scratch.key, "+15127999999").status == 201
        assert base_url.worker_pids() == workers_before, "a worker was killed by gunicorn's timeout"
        log = base_url.log()
    assert "Traceback" not in log, log[-3000:]
    with scratch.connect() as conn:
        # The requests that got 503 stored nothing: the statement was cancelled, its transaction rolled back.
        assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] == 2


@pytest.mark.timeout(120)
def test_worker_crash_under_load_is_replaced_and_loses_nothing_acknowledged(scratch):
    with running_gunicorn(scratch.url, env=FAULT_ENV, workers=2) as base_url:
        # 8 client threads keep requests in flight in both workers, so a kill usually cuts some of them off
        # (the client sees a reset and retries; a lead stored before the kill then comes back as a duplicate).
        with Load(base_url, scratch.key, threads=8) as load:
            assert load.wait_for(201, 30, timeout_s=20), "no traffic got through before the crash"
            killed = []
            for _ in range(2):  # kill each worker once, the second after the first was replaced
                before = base_url.worker_pids()
                victim = before[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    now = base_url.worker_pids()
                    if len(now) == len(before) and victim not in now:
                        break
                    time.sleep(0.05)
                assert victim not in base_url.worker_pids() and len(base_url.worker_pids()) == 2, \
                    "gunicorn did not replace the killed worker"
                created = load.count(201)
                assert load.wait_for(201, created + 20, timeout_s=20), "no traffic after the crash"
        assert base_url.process.poll() is None
        assert not set(killed) & set(base_url.worker_pids())
        log = base_url.log()
    assert "Traceback" not in log, log[-3000:]
    assert set(load.statuses) <= {200, 201, 503}, load.statuses
    assert_stored_exactly_once(scratch, load)
