"""Automatic failover with pg_auto_failover, and analysts on the hot standby (`make ha`; marked ha and slow).

A formation on loopback made by ha/formation.sh (the script the README shows): a monitor, a primary and a
synchronous secondary, each a PostgreSQL 15 on a free port in a scratch directory. l2i (a real gunicorn) connects
with the multi-host conninfo `host=a,b ... target_session_attrs=read-write`, so after a failover its pool's new
connections find the new primary by themselves; the pool checks connections before lending them, so dead ones are
dropped. No restart, nothing told to l2i.

What must hold while clients post leads and dialers claim from the queue, through a planned failover
(`pg_autoctl perform failover`), the secondary's death, then the primary's (keeper and postmaster SIGKILLed):
every request gets a 2xx or a clean 503 with Retry-After (never a hang, never a 500); the service is back on the
new primary within a bounded time; afterwards every lead that got a 201 is on the new primary, none is stored twice (the
clients retry what got a 503), and no queued lead was handed to two dialers.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql
import pytest
from psycopg.conninfo import make_conninfo

from gunicorn_server import free_port, running_gunicorn
from l2i.migrate import migrate
from test_faults import REQUEST_TIMEOUT_S, _clean_503, post_lead
from test_pgbouncer import callable_zone

pytestmark = [pytest.mark.slow, pytest.mark.ha]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ha" / "formation.sh"
HA_ENV = {"L2I_POOL_SIZE": "3", "L2I_POOL_TIMEOUT": "2", "L2I_CONNECT_TIMEOUT": "2",
          "L2I_STATEMENT_TIMEOUT_MS": "2000", "L2I_RETRY_AFTER": "1"}
QUEUED = 6000
# In this order: a planned switch; the secondary's host dying (commits wait for it until the monitor drops the
# synchronous requirement; it is then revived and rejoins); the primary's host dying (the secondary takes over).
FAULTS = {"planned failover": ("failover",), "secondary killed": ("crash", "secondary"),
          "primary killed": ("crash", "primary")}


@dataclass
class Formation:
    dir: str
    url: str

    def run(self, command: str, *args: str, timeout_s: float = 240) -> str:
        done = subprocess.run([str(SCRIPT), command, self.dir, *args], capture_output=True, text=True,
                              timeout=timeout_s)
        assert done.returncode == 0, f"formation.sh {command}: {done.stdout}\n{done.stderr}"
        return done.stdout.strip()

    def connect(self, url: str | None = None):
        return psycopg.connect(url or self.url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def formation():
    if not shutil.which("pg_autoctl"):
        pytest.skip("pg_autoctl is not installed (make ha installs postgresql-15-auto-failover)")
    ports: list[int] = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    scratch = tempfile.mkdtemp(prefix="l2i-ha-")
    try:
        done = subprocess.run([str(SCRIPT), "up", scratch, *map(str, ports)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"formation.sh up: {done.stdout}\n{done.stderr}"
        formation = Formation(scratch, "")
        formation.url = formation.run("url")
        migrate(formation.url)
        yield formation
    finally:
        subprocess.run([str(SCRIPT), "down", scratch], capture_output=True, timeout=120)
        shutil.rmtree(scratch, ignore_errors=True)


def wait_replayed(formation: Formation, standby_url: str, timeout_s: float = 30) -> None:
    """Until the standby has replayed everything the primary had written when this was called."""
    with formation.connect() as primary:
        lsn = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout_s
    with formation.connect(standby_url) as standby:
        while standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0] is not True:
            assert time.monotonic() < deadline, "the standby did not replay the primary's WAL"
            time.sleep(0.1)


# --- 3. analysts on the hot standby -------------------------------------------------------------------------------

def test_analyst_views_run_on_the_hot_standby(formation):
    """The analyst role reads its views on the secondary, so long queries never load the primary: what the primary
    wrote is there once replayed, secrets stay hidden as on the primary, writes are refused."""
    with formation.connect() as primary:
        account_id = str(primary.execute("SELECT l2i_account_create('standby analysts')").fetchone()[0])
        lead_id = primary.execute(
            "INSERT INTO leads (account_id, phone, status, source) VALUES (%s, '+15551230777', 'new', 'web')"
            " RETURNING id", (account_id,)).fetchone()[0]
        primary.execute("INSERT INTO transfers (lead_id, account_id, destination, caller_id, transferred_at, buyer,"
                        " payout_cents) VALUES (%s, %s, '+18005550000', '+15551230777', now(), 'Acme', 4200)",
                        (lead_id, account_id))
        primary.execute("DROP ROLE IF EXISTS standby_alice")
        analyst = primary.execute("SELECT l2i_analyst_role()").fetchone()[0]  # l2i_<database>_analyst (0010)
        primary.execute(sql.SQL("CREATE ROLE standby_alice LOGIN IN ROLE {}").format(sql.Identifier(analyst)))
    standby_url = formation.run("standby-url")
    wait_replayed(formation, standby_url)
    with formation.connect(make_conninfo(standby_url, user="standby_alice")) as alice:
        assert alice.execute("SELECT pg_is_in_recovery(), current_user").fetchone() == (True, "standby_alice")
        funnel = alice.execute("SELECT leads, transferred, revenue_cents FROM analytics_funnel_daily"
                               " WHERE account_id = %s", (account_id,)).fetchall()
        assert funnel == [(1, 1, 4200)]
        by_buyer = alice.execute("SELECT buyer, transfers, revenue_cents FROM analytics_revenue_by_buyer"
                                 " WHERE account_id = %s", (account_id,)).fetchall()
        assert by_buyer == [("Acme", 1, 4200)]
        assert alice.execute("SELECT count(*) FROM analytics_unmatched_postbacks").fetchone()[0] >= 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            alice.execute("SELECT * FROM api_keys")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            alice.execute("CREATE TEMP TABLE scratch (x int)")
        settings = dict(alice.execute("SELECT name, setting FROM pg_settings WHERE name IN"
                                      " ('hot_standby', 'hot_standby_feedback', 'max_standby_streaming_delay')"))
    # As the README says: pg_auto_failover turns feedback on; the streaming delay stays at PostgreSQL's 30 s.
    assert settings == {"hot_standby": "on", "hot_standby_feedback": "on", "max_standby_streaming_delay": "30000"}


# --- 2. failover under load ---------------------------------------------------------------------------------------

@dataclass
class Traffic:
    """Intake clients (new phones, each retried until 201 or 200) and dialers (claims), with every answer's time."""

    base_url: str
    key: str
    dial_key: str
    intake_threads: int = 4
    dialer_threads: int = 4
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    events: list = field(default_factory=list)  # (monotonic time, "intake"|"claim", status)
    acknowledged: dict = field(default_factory=dict)  # phone -> lead_id of its 201
    final: dict = field(default_factory=dict)  # phone -> lead_id of its 2xx
    handed: list = field(default_factory=list)  # every lead id a claim answered with
    bad: list = field(default_factory=list)
    unfinished: list = field(default_factory=list)  # phones never stored before give_up_at
    connection_errors: int = 0
    give_up_at: float = field(default_factory=lambda: time.monotonic() + 400)

    def __enter__(self):
        self.threads = [threading.Thread(target=self._intake, args=(i,), daemon=True)
                        for i in range(self.intake_threads)]
        self.threads += [threading.Thread(target=self._dialer, daemon=True) for _ in range(self.dialer_threads)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT_S * 3)
        assert not any(thread.is_alive() for thread in self.threads), "a client thread hung"

    def count(self, kind: str, statuses=(200, 201)) -> int:
        with self.lock:
            return sum(1 for _, k, s in self.events if k == kind and s in statuses)

    def wait_for(self, kind: str, at_least: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count(kind) >= at_least:
                return True
            time.sleep(0.05)
        return False

    def _record(self, kind: str, status) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, status))

    def _intake(self, index: int) -> None:
        n = 0
        while not self.stop.is_set():
            phone = f"+1512{640 + index}{n:04d}"
            n += 1
            while True:  # retry this lead until it is stored, even after stop: no lead is left half-sent
                if time.monotonic() > self.give_up_at:
                    with self.lock:
                        self.unfinished.append(phone)
                    return
                try:
                    resp = post_lead(self.base_url, self.key, phone)
                except TimeoutError as exc:
                    with self.lock:
                        self.bad.append((phone, "timeout", repr(exc)))
                    return
                except (OSError, http.client.HTTPException):
                    with self.lock:
                        self.connection_errors += 1
                    time.sleep(0.05)
                    continue
                self._record("intake", resp.status)
                if resp.status in (200, 201):
                    with self.lock:
                        if resp.status == 201:
                            self.acknowledged[phone] = resp.body["lead_id"]
                        self.final[phone] = resp.body["lead_id"]
                    break
                if not _clean_503(resp):
                    with self.lock:
                        self.bad.append((phone, resp.status, resp.headers, resp.body))
                    return
                time.sleep(0.05)  # a real client waits Retry-After; a short pause keeps the test quick

    def _dialer(self) -> None:
        host, port = self.base_url.removeprefix("http://").split(":")
        body = json.dumps({"limit": 2, "lease_seconds": 600})
        headers = {"Authorization": f"Bearer {self.dial_key}", "Content-Type": "application/json"}
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(host, int(port), timeout=REQUEST_TIMEOUT_S)
            try:
                conn.request("POST", "/v1/dial-queue/claim", body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
            except TimeoutError as exc:
                with self.lock:
                    self.bad.append(("claim", "timeout", repr(exc)))
                return
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.connection_errors += 1
                time.sleep(0.05)
                continue
            finally:
                conn.close()
            parsed = json.loads(raw) if raw else None
            self._record("claim", resp.status)
            if resp.status == 200:
                with self.lock:
                    self.handed.extend(lead["lead_id"] for lead in parsed["data"])
            elif not (resp.status == 503 and resp.getheader("Retry-After", "").isdigit()
                      and parsed["error"]["code"] == "unavailable"):
                with self.lock:
                    self.bad.append(("claim", resp.status, parsed))
                return
            time.sleep(0.2)

    def outage(self, since: float, until: float) -> tuple[float, Counter]:
        """The longest stretch in [since, until] without a successful intake, and the answers in that window."""
        with self.lock:
            window = [(t, k, s) for t, k, s in self.events if since <= t <= until]
        ok = [since] + [t for t, k, s in window if k == "intake" and s in (200, 201)] + [until]
        return max(b - a for a, b in zip(ok, ok[1:])), Counter((k, s) for _, k, s in window)


def test_failover_under_load_loses_nothing_acknowledged_and_hands_no_lead_out_twice(formation):
    with formation.connect() as conn:
        account_id = str(conn.execute("SELECT l2i_account_create('failover')").fetchone()[0])
        key = conn.execute("SELECT l2i_key_create(%s, ARRAY['write','read'], 1000000, 'intake')",
                           (account_id,)).fetchone()[0]
        dial_key = conn.execute("SELECT l2i_key_create(%s, ARRAY['dial'], 1000000, 'dialer')",
                                (account_id,)).fetchone()[0]
        zone = callable_zone(datetime.now(timezone.utc))
        # Queued leads callable now (their zone's clock is mid-afternoon), on other numbers than the intake's.
        conn.execute("""
            WITH ins AS (
                INSERT INTO leads (account_id, phone, status, consent)
                SELECT %(account)s, '+1512' || lpad(i::text, 7, '0'), 'new',
                       '{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v1"}'
                FROM generate_series(3000000, 3000000 + %(count)s - 1) AS i
                RETURNING id, phone)
            INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before)
            SELECT id, %(account)s, phone, '{}'::text[], ARRAY[%(zone)s], '2000-01-01Z' FROM ins""",
                     {"account": account_id, "zone": zone, "count": QUEUED})
    outages = {}
    with running_gunicorn(formation.url, env=HA_ENV, workers=2) as base_url:
        with Traffic(base_url, key, dial_key) as traffic:
            assert traffic.wait_for("intake", 30, timeout_s=30), "no traffic got through before the failover"
            assert traffic.wait_for("claim", 10, timeout_s=30), "no claims got through before the failover"

            for fault, command in FAULTS.items():
                started = time.monotonic()
                stored_before = traffic.count("intake")
                claimed_before = traffic.count("claim")
                formation.run(*command)
                recovered = (traffic.wait_for("intake", stored_before + 30, timeout_s=90)
                             and traffic.wait_for("claim", claimed_before + 10, timeout_s=30))
                outages[fault] = traffic.outage(started, time.monotonic())
                assert recovered, f"no recovery after {fault}: {outages[fault]}\n{base_url.log()[-3000:]}"
                if fault == "secondary killed":  # it comes back and catches up, ready to take over next
                    formation.run("revive")
                    formation.run("wait")
        log = base_url.log()
        assert base_url.process.poll() is None, "gunicorn died"
    state = formation.run("state")

    assert not traffic.bad, f"answers that break the contract (500, hang, unclean 503): {traffic.bad[:5]}"
    assert not traffic.unfinished, f"leads never stored: {traffic.unfinished[:5]}"
    assert "Traceback" not in log and "internal_error" not in log, log[-3000:]
    with formation.connect() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        rows = conn.execute("SELECT phone, id::text FROM leads WHERE account_id = %s"
                            " AND phone NOT LIKE '+1512300%%'", (account_id,)).fetchall()
        claimed = dict(conn.execute("SELECT status, count(*) FROM leads WHERE account_id = %s"
                                    " AND phone LIKE '+1512300%%' GROUP BY status", (account_id,)).fetchall())
    stored = Counter(phone for phone, _ in rows)
    assert [p for p, n in stored.items() if n > 1] == [], "a lead was stored twice"
    ids = dict(rows)
    lost = {p: lead for p, lead in traffic.acknowledged.items() if ids.get(p) != lead}
    assert lost == {}, f"{len(lost)} leads acknowledged with 201 are not on the new primary"
    assert {p: ids.get(p) for p in traffic.final} == traffic.final
    assert set(ids) == set(traffic.final), "a lead no client was told about was stored"
    handed_twice = [lead for lead, n in Counter(traffic.handed).items() if n > 1]
    assert handed_twice == [], f"{len(handed_twice)} queued leads were handed to two dialers"
    assert claimed.get("dialing", 0) >= len(set(traffic.handed)), claimed

    statuses = Counter((k, s) for _, k, s in traffic.events)
    print(f"\nformation after the faults:\n{state}")
    for fault, (gap, answers) in outages.items():
        print(f"{fault}: longest stretch without a stored lead {gap:.1f} s; answers meanwhile {dict(answers)}")
    print(f"all answers {dict(statuses)}; connection errors {traffic.connection_errors}; "
          f"leads acknowledged with 201: {len(traffic.acknowledged)}, stored: {len(ids)}; "
          f"leads claimed: {len(traffic.handed)} (each once)")
