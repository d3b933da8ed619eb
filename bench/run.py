"""`make bench`: how fast intake is next to its own SQL and its framework, on this machine, in one run.

Everything runs here and talks to 127.0.0.1 only: a scratch database (created, dropped at the end), the real
gunicorn with the production config (gunicorn.conf.py), wrk as the load generator (bench/intake.lua, get.lua),
pgbench for the SQL floor. Prints the figures and writes bench/RESULTS.md; asserts nothing about time.

1. intake: POST /v1/leads at 16, 32, 64 connections (20 keys, 95% new numbers, 5% duplicates)
2. floor: the statements one intake sends (key_hit, lead_intake), same data mix, pgbench -M prepared
3. ceiling: bench/ceiling_app.py (parse the same body, answer 201) under the same gunicorn config
4. L = 1 / (1/floor + 1/ceiling) and the ratios intake/L, intake/floor, intake/ceiling
5. GET /v1/leads?limit=50 on an account with 1,000,000 leads
6. worker RSS over an intake run of --soak seconds (SOAK=300 for the 5-minute run)
7. CSV import rows/s, and queue claims: leads/s with 8 concurrent dialers draining 20,000 queued leads
8. intake through a source token (POST /v1/sources/{token}/leads) beside intake through a key, same body, same
   connections, runs interleaved (key, source, key, source)
9. intake through pgbouncer (transaction pooling, L2I_PGBOUNCER=1, 8 server connections) next to direct, at 32
   connections, interleaved; and direct with L2I_POOL_CHECK=0 (what the pool's connection check costs)
10. rounds against the reference (issue 13): three rounds at 32 connections, each one a calibration figure (ms for
   a fixed CPU loop: the machine's speed right then), the reference's floor and intake
   (`<reference>/run.sh`, when the folder exists: L2I_REFERENCE, else ../shared/perf-reference beside the
   checkout), then l2i's floor and intake; prints floor / reference floor and intake / reference per round.
   The machine is shared and its speed drifts: only these same-round ratios are compared.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from gunicorn_server import running_gunicorn  # noqa: E402
from pgbouncer_server import running_pgbouncer  # noqa: E402
from l2i import intake, sql  # noqa: E402
from l2i.config import Config  # noqa: E402
from l2i.fields import parse_lead  # noqa: E402
from l2i.migrate import migrate  # noqa: E402

OUT = BENCH / "out"
KEYS = 20
CONNECTIONS = (16, 32, 64)
GET_CONNECTIONS = (4, 32)
ALL_PARTS = ("intake", "floor", "ceiling", "get", "soak", "import", "claim", "source", "bouncer", "rounds")
BOUNCER_SERVER_CONNECTIONS = 8
BOUNCER_ROUNDS = 2
BOUNCER_RUNS = (8, 10, 11, 12, 13, 14)  # AREAS indexes no other part posts under (BOUNCER_ROUNDS x 3 of them)
ROUNDS = 3
CLAIM_LEADS = 20_000
# Texas area codes (the bodies say state TX): each run posts under its own, so no run repeats an earlier number.
AREAS = ("214", "469", "972", "512", "737", "713", "281", "832", "210", "726", "817", "682", "915", "806", "903",
         "430", "936", "979", "254", "325", "361")
# The body intake.lua sends, for the floor's parameters (the phone varies per request).
BODY = {"source": "vendor-a", "first_name": "Jane", "last_name": "Doe", "phone": "2142000001",
        "email": "jane.doe@example.com", "state": "TX", "zip": "75201", "city": "Dallas", "address1": "1 Main St",
        "utm_source": "google", "utm_campaign": "spring-quotes", "sub_id": "pub-1234",
        "consent": {"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "webform-v2",
                    "source_url": "https://example.com/quote", "ip": "203.0.113.7",
                    "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 "
                                  "Safari/537.36",
                    "trustedform_cert_url": "https://cert.trustedform.com/0123456789abcdef0123456789abcdef01234567"}}


# --campaign: a campaign as a buyer would set one up; the posts (BODY, intake.lua) have every required field.
CAMPAIGN = "BENCH"
CAMPAIGN_SETTINGS = {"name": "Bench auto insurance", "required_fields": ["first_name", "last_name", "state",
                                                                        "consent_timestamp"],
                     "states": ["TX", "OK", "LA"], "hours": {day: "09:00-20:00" for day in
                                                             ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
                     "agent": "bench-agent", "cost_per_lead_cents": 1500, "max_attempts": 4}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the database --------------------------------------------------------------------------------------------

class Database:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.name = f"l2i_bench_{uuid.uuid4().hex[:8]}"
        self.url = make_conninfo(base_url, dbname=self.name)

    def __enter__(self):
        with psycopg.connect(make_conninfo(self.base_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        migrate(self.url)
        return self

    def __exit__(self, *exc):
        with psycopg.connect(make_conninfo(self.base_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def campaigns(self, keys: list[dict]) -> None:
        """Gives each key's account the campaign CAMPAIGN (bench/run.py --campaign, bench/campaign_cost.py)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for key in keys:
                conn.execute("SELECT l2i_campaign_create(%s, %s)",
                             (key["account_id"], Jsonb({"code": CAMPAIGN, **CAMPAIGN_SETTINGS})))

    def keys(self, count: int, scopes: str = "write,read") -> list[dict]:
        """count accounts with one key each (rate limit 1,000,000 a minute): key, hash, account and key ids."""
        made = []
        with psycopg.connect(self.url, autocommit=True) as conn:
            for i in range(count):
                account_id = conn.execute("SELECT l2i_account_create(%s)", (f"bench {i}",)).fetchone()[0]
                key = conn.execute("SELECT l2i_key_create(%s, string_to_array(%s, ','), 1000000, 'bench')",
                                   (account_id, scopes)).fetchone()[0]
                key_id, key_hash = conn.execute("SELECT id, key_hash FROM api_keys WHERE account_id = %s",
                                                (account_id,)).fetchone()
                made.append({"key": key, "account_id": str(account_id), "key_id": str(key_id),
                             "key_hash": "\\x" + bytes(key_hash).hex()})
        return made

    def sources(self, keys: list[dict]) -> list[str]:
        """One source (limit 1,000,000 a minute) in each key's account: the tokens."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            return [conn.execute("SELECT token FROM l2i_source_create(%s, 'bench', p_rate_limit => 1000000)",
                                 (k["account_id"],)).fetchone()[0] for k in keys]


# --- wrk -----------------------------------------------------------------------------------------------------

def wrk(url: str, script: str, connections: int, seconds: int, env: dict) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(BENCH / script), url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60,
                          env={**os.environ, "L2I_BENCH_DIR": str(BENCH), **env})
    line = next((l for l in done.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("WRKJSON "))
    statuses = {int(k): v for k, v in result["statuses"].items()}
    result["statuses"] = statuses
    result["created"] = statuses.get(201, 0)
    result["duplicates"] = statuses.get(200, 0)
    result["errors"] = result["socket_errors"] + sum(n for s, n in statuses.items() if not 200 <= s < 300)
    return result


def intake_env(keys: list[dict], run: int) -> dict:
    return {"L2I_BENCH_KEYS": ",".join(k["key"] for k in keys), "L2I_BENCH_AREA": AREAS[run % len(AREAS)]}


# --- pgbench: the SQL floor ----------------------------------------------------------------------------------

class Capture:
    """Stands in for a connection: records what l2i.intake.submit sends, answers 'created'."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def execute(self, text, params):
        self.sent.append((text, params))
        return self

    def fetchone(self):
        return {"id": None, "status": "new", "reasons": [], "created": True, "dedupe_open": True,
                "not_before": None, "refused": None, "missing": [], "campaign": None}


def _pg_literal(value) -> str:
    if isinstance(value, Jsonb):
        return json.dumps(value.obj, separators=(",", ":"))
    if isinstance(value, (list, tuple)):
        return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
    return str(value)


def floor_scripts(keys: list[dict]) -> tuple[list[Path], list[str]]:
    """One pgbench script per key (chosen at random, like wrk's keys), sending the statements intake sends, with
    the parameters intake builds for BODY. Returns the script paths and the -D options.

    The phone is the only parameter that varies: `('+' || :ph)` (pgbench variables are numbers). Parameters
    psycopg sends typed (uuid, jsonb, text[]) get an explicit cast, since pgbench sends untyped parameters;
    parameters that are None become NULL."""
    capture = Capture()
    intake.submit(capture, account_id=uuid.UUID(int=0), api_key_id=uuid.UUID(int=0), lead=parse_lead(BODY, {}))
    (text, params), = capture.sent
    defines = []
    for name, value in params.items():
        if name not in ("phone", "account_id", "api_key_id") and value is not None:
            defines += ["-D", f"p_{name}={_pg_literal(value)}"]
    casts = {name: "::jsonb" if isinstance(v, Jsonb) else "::text[]" if isinstance(v, (list, tuple)) else ""
             for name, v in params.items()}

    def lead_sql(k: int) -> str:
        def sub(match):
            name = match[1]
            if name == "phone":
                return "('+' || :ph)"
            if name == "account_id":
                return f":acct{k}::uuid"
            if name == "api_key_id":
                return f":kid{k}::uuid"
            if params[name] is None:
                return "NULL"
            return f":p_{name}{casts[name]}"
        return re.sub(r"%\((\w+)\)s", sub, text)

    key_hit = sql.QUERIES["key_hit"].text
    OUT.mkdir(exist_ok=True)
    paths = []
    for k, key in enumerate(keys):
        defines += ["-D", f"kh{k}={key['key_hash']}", "-D", f"acct{k}={key['account_id']}",
                    "-D", f"kid{k}={key['key_id']}", "-D", f"s{k}=0"]
        script = "\n".join([
            f"-- key {k}: 5% of posts repeat this client's last number for the key, 95% are new numbers",
            r"\set r random(1, 100)",
            rf"\if :r <= 5 and :s{k} > 0",
            r"\else",
            rf"\set s{k} :s{k} + 1",
            r"\endif",
            rf"\set ph :base + :client_id * 50000 + :s{k}",
            re.sub(r"%\(key_hash\)s", f":kh{k}", key_hit).rstrip().rstrip(";") + ";",
            lead_sql(k).rstrip().rstrip(";") + ";",
            "",
        ])
        path = OUT / f"floor_{k:02d}.sql"
        path.write_text(script)
        paths.append(path)
    return paths, defines


def pgbench(db: Database, scripts: list[Path], defines: list[str], clients: int, seconds: int, run: int) -> dict:
    base = 10_000_000_000 + int(AREAS[run % len(AREAS)]) * 10_000_000 + 2_000_000
    args = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(seconds),
            "-D", f"base={base}", *defines]
    for path in scripts:
        args += ["-f", f"{path}@1"]
    args.append(db.url)
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 or not tps:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {"tps": float(tps[1]), "latency_ms": float(latency[1]) if latency else None,
            "failed": int(failed[1]) if failed else 0}


# --- the reference, and the machine's speed --------------------------------------------------------------------

def reference_dir() -> Path | None:
    """The yardstick's folder: L2I_REFERENCE, else ../shared/perf-reference next to this checkout (a worktree
    one level deeper looks two levels up). None when there is none: the rounds then say "reference: skipped"."""
    candidates = [os.environ.get("L2I_REFERENCE")] if os.environ.get("L2I_REFERENCE") else \
        [ROOT.parent / "shared" / "perf-reference", ROOT.parent.parent / "shared" / "perf-reference"]
    return next((Path(c) for c in candidates if c and (Path(c) / "run.sh").is_file()), None)


def calibrate() -> float:
    """ms for a fixed single-threaded CPU loop, best of 3 (the reference's calib.py, same loop)."""
    best = 1e9
    for _ in range(3):
        started = time.perf_counter()
        x = 0
        for i in range(1_000_000):
            x += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best * 1000


def reference_run(folder: Path, seconds: int, connections: int) -> dict:
    """`run.sh SECONDS CONNECTIONS` on a free port: its floor (tps) and intake (req/s, p50, p99, errors)."""
    from gunicorn_server import free_port
    done = subprocess.run(["bash", str(folder / "run.sh"), str(seconds), str(connections)], capture_output=True,
                          text=True, timeout=2 * seconds + 900, env={**os.environ, "PORT": str(free_port())})
    floor = re.search(r"reference floor c=\d+: ([0-9.]+) tps", done.stdout)
    served = re.search(r"reference intake c=\d+: ([0-9.]+) req/s p50 ([0-9.]+) ms p99 ([0-9.]+) ms errors (\d+)",
                       done.stdout)
    if done.returncode != 0 or not floor or not served:
        raise RuntimeError(f"reference run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {"floor_tps": float(floor[1]), "rps": float(served[1]), "p50_ms": float(served[2]),
            "p99_ms": float(served[3]), "errors": int(served[4])}


# --- memory --------------------------------------------------------------------------------------------------

def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class RSSSampler(threading.Thread):
    def __init__(self, base_url, every_s: float, stop_after_s: float):
        super().__init__(daemon=True)
        self.base_url, self.every_s, self.stop_after_s = base_url, every_s, stop_after_s
        self.samples: dict[int, list[tuple[float, int]]] = {}
        self.stop = threading.Event()

    def run(self):
        started = time.monotonic()
        while not self.stop.is_set() and time.monotonic() - started < self.stop_after_s:
            now = time.monotonic() - started
            for pid in self.base_url.worker_pids():
                kb = rss_kb(pid)
                if kb:
                    self.samples.setdefault(pid, []).append((now, kb))
            self.stop.wait(self.every_s)

    def summary(self) -> list[dict]:
        """Per worker: RSS at its first and last sample (a worker replaced by max_requests shows as two rows,
        the second starting small: a fresh fork)."""
        rows = []
        for pid, samples in sorted(self.samples.items(), key=lambda item: item[1][0][0]):
            first, last = samples[0][1], samples[-1][1]
            rows.append({"pid": pid, "samples": len(samples), "from_s": round(samples[0][0]),
                         "to_s": round(samples[-1][0]), "first_mb": first / 1024, "last_mb": last / 1024,
                         "max_mb": max(kb for _, kb in samples) / 1024, "change_pct": 100 * (last - first) / first})
        return rows


# --- the run -------------------------------------------------------------------------------------------------

def server_env() -> dict:
    # The production defaults, except what the environment of `make bench` overrides (L2I_WORKERS, ...).
    env = {"L2I_LOG_LEVEL": os.environ.get("L2I_LOG_LEVEL", "info")}
    for name in ("L2I_POOL_SIZE", "L2I_POOL_TIMEOUT", "L2I_STATEMENT_TIMEOUT_MS", "L2I_WORKER_CLASS",
                 "L2I_THREADS", "L2I_MAX_REQUESTS", "L2I_INTAKE_BATCH"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def workers_setting():
    return int(os.environ["L2I_WORKERS"]) if os.environ.get("L2I_WORKERS") else None


def load_million(db: Database, key: dict, rows: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("""
            INSERT INTO leads (account_id, api_key_id, phone, status, reasons, source, first_name, last_name, state,
                               gates, created_at, updated_at)
            SELECT %(account_id)s, %(key_id)s, '+1' || (2000000000 + i)::text, 'new', '{}', 'bulk', 'Jane', 'Doe',
                   'TX', '{}', now() - i * interval '1 second', now() - i * interval '1 second'
            FROM generate_series(1, %(rows)s) AS i""", {**key, "rows": rows})
        conn.execute("VACUUM ANALYZE leads")
    return rows / (time.perf_counter() - started)


def csv_import(url: str, key: str, rows: int, area: str) -> dict:
    """POST /v1/leads/import with a CSV of `rows` new leads (quickstart columns with consent), then GET its job
    with Prefer: wait until it is done: rows/s from the upload to the job's end."""
    import http.client
    lines = ["phone,first_name,last_name,email,state,zip,source,consent_timestamp,consent_text_version"]
    lines += [f"{area}{3000000 + i:07d},Jane,Doe,jane.doe@example.com,TX,75201,csv-bench,2026-07-05T12:00:00Z,"
              "webform-v2" for i in range(rows)]
    body = ("\n".join(lines) + "\n").encode()
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=600)
    started = time.perf_counter()
    conn.request("POST", "/v1/leads/import", body=body,
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv", "Prefer": "wait=30"})
    resp = conn.getresponse()
    answer, status = json.loads(resp.read()), resp.status
    while status in (200, 202) and answer.get("status") not in ("done", "failed"):
        conn.request("GET", f"/v1/imports/{answer['id']}", headers={"Authorization": f"Bearer {key}",
                                                                     "Prefer": "wait=30"})
        resp = conn.getresponse()
        answer, status = json.loads(resp.read()), resp.status
    seconds = time.perf_counter() - started
    conn.close()
    totals = answer.get("totals") if answer.get("status") == "done" else None
    return {"status": status, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "totals": totals if totals is not None else json.dumps(answer)[-300:]}


def load_queue(db: Database, key: dict, rows: int) -> str:
    """rows queued leads for one account, every one legal to call right now: their zone is one where it is
    mid-day at this moment (no state: the federal window), so the measurement does not depend on the hour."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        zone = conn.execute("""
            SELECT name FROM pg_timezone_names
            WHERE (now() AT TIME ZONE name)::time BETWEEN '10:00' AND '18:00' AND name ~ '^[A-Z][a-z]+/[A-Za-z_]+$'
            ORDER BY name LIMIT 1""").fetchone()[0]
        conn.execute("""
            WITH new_leads AS (
                INSERT INTO leads (account_id, api_key_id, phone, status, reasons, source, gates, consent)
                SELECT %(account_id)s, %(key_id)s, '+1' || (3000000000 + i)::text, 'new', '{}', 'claim-bench', '{}',
                       '{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v1"}'
                FROM generate_series(1, %(rows)s) AS i
                RETURNING id, account_id, phone)
            INSERT INTO dial_queue (lead_id, account_id, phone, zones, not_before)
            SELECT id, account_id, phone, ARRAY[%(zone)s], now() - interval '1 minute' FROM new_leads""",
                     {**key, "rows": rows, "zone": zone})
        conn.execute("VACUUM ANALYZE leads, dial_queue")
    return zone


def claimers(url: str, key: str, threads: int, batch: int) -> dict:
    """`threads` dialers, each on its own keep-alive HTTP connection, claim `batch` leads at a time until the
    queue is empty: leads/s over the whole drain, and whether any lead was handed out twice."""
    import http.client
    host, port = url.removeprefix("http://").split(":")
    handed: list[list[str]] = [[] for _ in range(threads)]
    failures: list[str] = []
    body = json.dumps({"limit": batch, "lease_seconds": 600})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def dialer(n: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        for _ in range(100_000):  # bounded: stops at the first empty answer
            conn.request("POST", "/v1/dial-queue/claim", body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 200:
                failures.append(f"{resp.status} {answer[:200]!r}")
                break
            data = json.loads(answer)["data"]
            if not data:
                break
            handed[n].extend(row["lead_id"] for row in data)
        conn.close()

    started = time.perf_counter()
    workers = [threading.Thread(target=dialer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    seconds = time.perf_counter() - started
    every = [lead for mine in handed for lead in mine]
    return {"threads": threads, "batch": batch, "leads": len(every), "twice": len(every) - len(set(every)),
            "seconds": seconds, "leads_per_s": len(every) / seconds, "failures": failures[:3]}


def rounds(db: Database, keys: list[dict], env: dict, workers, seconds: int) -> dict:
    """ROUNDS rounds at 32 connections, interleaved: calibration, reference floor + intake, l2i floor, l2i intake."""
    folder = reference_dir()
    log(f"reference: {folder}" if folder else "reference: skipped (no ../shared/perf-reference; set L2I_REFERENCE)")
    scripts, defines = floor_scripts(keys)
    done = []
    with running_gunicorn(db.url, env=env, workers=workers) as url:
        wrk(url, "intake.lua", 32, max(5, seconds // 3), intake_env(keys, 8))  # warm-up
        for n in range(1, ROUNDS + 1):
            row = {"round": n, "calib_ms": calibrate(), "load": os.getloadavg()[0]}
            if folder:
                row["reference"] = reference_run(folder, seconds, 32)
            row["floor"] = pgbench(db, scripts, defines, 32, seconds, 8 + 2 * n)
            row["intake"] = wrk(url, "intake.lua", 32, seconds, intake_env(keys, 9 + 2 * n))
            ref = row.get("reference")
            log(f"round {n}: calibration {row['calib_ms']:.0f} ms, load {row['load']:.1f}; "
                + (f"reference floor {ref['floor_tps']:.0f} tps, intake {ref['rps']:.0f} req/s p99 "
                   f"{ref['p99_ms']:.1f} ms errors {ref['errors']}; " if ref else "reference skipped; ")
                + f"l2i floor {row['floor']['tps']:.0f} tps, intake {row['intake']['rps']:.0f} req/s p99 "
                  f"{row['intake']['p99_ms']:.1f} ms errors {row['intake']['errors']}"
                + (f"; floor/ref {row['floor']['tps'] / ref['floor_tps']:.2f}, intake/ref "
                   f"{row['intake']['rps'] / ref['rps']:.2f}" if ref else ""))
            done.append(row)
    return {"reference": str(folder) if folder else None, "rounds": done}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15, help="length of each measurement (default 15)")
    parser.add_argument("--soak", type=int, default=60, help="length of the memory run (default 60; 300 = 5 min)")
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads loaded for the GET measurement")
    parser.add_argument("--import-rows", type=int, default=20_000, help="rows in the CSV import measurement")
    parser.add_argument("--only", choices=ALL_PARTS, action="append",
                        help="run only these parts (repeatable); RESULTS.md is written only by a full run")
    parser.add_argument("--connections", type=int, action="append", help="override 16, 32, 64 (repeatable)")
    parser.add_argument("--campaign", action="store_true",
                        help="every account has a campaign (required fields, states, hours) that every post names: "
                             "intake with its campaign checks, to compare with a run without")
    args = parser.parse_args()
    parts = set(args.only or ALL_PARTS)
    conns = tuple(args.connections or CONNECTIONS)
    for tool in ("wrk", "pgbench"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: `make bench` installs wrk; pgbench comes with PostgreSQL")
    base_url = os.environ.get("DATABASE_URL") or Config.database_url
    results: dict = {"intake": {}, "floor": {}, "ceiling": {}, "get": None, "soak": None, "import": None,
                     "claim": None, "source": None, "bouncer": None, "rounds": None}
    env, workers = server_env(), workers_setting()
    log(f"server env {env} workers {workers or 'config default'}; {args.seconds} s per measurement")

    with Database(base_url) as db:
        keys = db.keys(KEYS)
        if args.campaign:
            db.campaigns(keys)
            BODY["campaign"] = CAMPAIGN
            os.environ["L2I_BENCH_CAMPAIGN"] = CAMPAIGN
            log(f"every account has campaign {CAMPAIGN}: {json.dumps(CAMPAIGN_SETTINGS)}")
        if "intake" in parts or "soak" in parts:
            with running_gunicorn(db.url, env=env, workers=workers) as url:
                log(f"gunicorn {url} workers {url.worker_pids()}")
                warm = wrk(url, "intake.lua", 32, max(5, args.seconds // 3), intake_env(keys, 0))
                log(f"warm-up: {warm['rps']:.0f} req/s, statuses {warm['statuses']}")
                if "intake" in parts:
                    for run, c in enumerate(conns, start=1):
                        r = results["intake"][c] = wrk(url, "intake.lua", c, args.seconds, intake_env(keys, run))
                        log(f"intake c={c}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
                            f"errors {r['errors']} statuses {r['statuses']}")
                if "soak" in parts and args.soak:
                    sampler = RSSSampler(url, every_s=max(1.0, args.soak / 60), stop_after_s=args.soak + 30)
                    sampler.start()
                    r = wrk(url, "intake.lua", 32, args.soak, intake_env(keys, 7))
                    sampler.stop.set()
                    sampler.join()
                    results["soak"] = {"wrk": r, "rss": sampler.summary(), "seconds": args.soak}
                    log(f"soak {args.soak} s: {r['rps']:.0f} req/s p99 {r['p99_ms']:.1f} ms errors {r['errors']}")
                    for row in results["soak"]["rss"]:
                        log("  worker {pid}: {first_mb:.1f} -> {last_mb:.1f} MB (max {max_mb:.1f}, "
                            "{change_pct:+.1f}%, {samples} samples {from_s}-{to_s} s)".format(**row))
        if "rounds" in parts:
            with Database(base_url) as own:  # its own database: its numbers meet no other part's
                results["rounds"] = rounds(own, own.keys(KEYS), env, workers, args.seconds)
        if "source" in parts:
            tokens = db.sources(keys)
            with running_gunicorn(db.url, env=env, workers=workers) as url:
                source_env = lambda run: {**intake_env(keys, run), "L2I_BENCH_KEYS": ",".join(tokens),  # noqa: E731
                                          "L2I_BENCH_SOURCES": "1"}
                wrk(url, "intake.lua", 32, max(5, args.seconds // 3), intake_env(keys, 15))
                wrk(url, "intake.lua", 32, max(5, args.seconds // 3), source_env(16))
                runs = {"key": [], "source": []}
                for run in range(2):
                    runs["key"].append(wrk(url, "intake.lua", 32, args.seconds, intake_env(keys, 17 + 2 * run)))
                    runs["source"].append(wrk(url, "intake.lua", 32, args.seconds, source_env(18 + 2 * run)))
                results["source"] = runs
                for kind, done in runs.items():
                    for r in done:
                        log(f"intake via {kind} c=32: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms "
                            f"p99 {r['p99_ms']:.1f} ms errors {r['errors']} statuses {r['statuses']}")
        if "import" in parts:
            with running_gunicorn(db.url, env=env, workers=workers) as url:
                r = results["import"] = csv_import(url, keys[0]["key"], args.import_rows, AREAS[9])
                log(f"CSV import of {r['rows']} rows: {r['rows_per_s']:.0f} rows/s ({r['seconds']:.1f} s, "
                    f"HTTP {r['status']}, totals {r['totals']})")
        if "floor" in parts:
            scripts, defines = floor_scripts(keys)
            for run, c in enumerate(conns, start=4):
                r = results["floor"][c] = pgbench(db, scripts, defines, c, args.seconds, run)
                log(f"floor c={c}: {r['tps']:.0f} tps (latency {r['latency_ms']} ms, failed {r['failed']})")
        if "ceiling" in parts:
            with running_gunicorn(db.url, env=env, workers=workers, app="bench.ceiling_app:app") as url:
                wrk(url, "intake.lua", 32, max(3, args.seconds // 5), intake_env(keys, 0))
                for c in conns:
                    r = results["ceiling"][c] = wrk(url, "intake.lua", c, args.seconds, intake_env(keys, 0))
                    log(f"ceiling c={c}: {r['rps']:.0f} req/s p99 {r['p99_ms']:.1f} ms errors {r['errors']}")
        if "claim" in parts:
            dialer_key = db.keys(1, scopes="dial")[0]
            zone = load_queue(db, dialer_key, CLAIM_LEADS)
            with running_gunicorn(db.url, env=env, workers=workers) as url:
                r = results["claim"] = claimers(url, dialer_key["key"], threads=8, batch=10)
                r["zone"] = zone
                log(f"claim: 8 dialers x 10 a claim drained {r['leads']} leads ({zone}) at {r['leads_per_s']:.0f} "
                    f"leads/s in {r['seconds']:.1f} s; handed out twice: {r['twice']}; failures {r['failures']}")
        if "bouncer" in parts:
            results["bouncer"] = bouncer(db, keys, env, workers, args.seconds)
        if "get" in parts:
            bulk = db.keys(1)[0]
            rate = load_million(db, bulk, args.leads)
            log(f"loaded {args.leads} leads at {rate:.0f} rows/s (one INSERT ... SELECT generate_series)")
            with running_gunicorn(db.url, env=env, workers=workers) as url:
                path = url + "/v1/leads?limit=50"
                wrk(path, "get.lua", 32, max(3, args.seconds // 5), {"L2I_BENCH_KEYS": bulk["key"]})
                results["get"] = {"leads": args.leads, "load_rows_per_s": rate, "by_connections": {}}
                for c in GET_CONNECTIONS:
                    r = results["get"]["by_connections"][c] = wrk(path, "get.lua", c, args.seconds,
                                                                  {"L2I_BENCH_KEYS": bulk["key"]})
                    log(f"GET /v1/leads?limit=50 on {args.leads} leads c={c}: {r['rps']:.0f} req/s "
                        f"p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms errors {r['errors']}")

    table = report(results, conns)
    print(table)
    if parts == set(ALL_PARTS) and not args.connections:
        write_results(table, args)
    (OUT).mkdir(exist_ok=True)
    (OUT / "last.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


def bouncer(db: Database, keys: list[dict], env: dict, workers, seconds: int) -> dict:
    """Intake at 32 connections: direct, direct without the pool's connection check, and through pgbouncer; the
    three servers run side by side and are measured in turn, BOUNCER_ROUNDS times, so drift hits all three."""
    variants = {"direct": {}, "direct, L2I_POOL_CHECK=0": {"L2I_POOL_CHECK": "0"},
                "pgbouncer": {"L2I_PGBOUNCER": "1"}}
    out: dict = {name: [] for name in variants}
    with running_pgbouncer(db.url, pool_size=BOUNCER_SERVER_CONNECTIONS) as bouncer_url:
        urls = {}
        with contextlib.ExitStack() as stack:
            for name, extra in variants.items():
                target = bouncer_url if name == "pgbouncer" else db.url
                urls[name] = stack.enter_context(running_gunicorn(target, env={**env, **extra}, workers=workers))
                wrk(urls[name], "intake.lua", 32, max(3, seconds // 5), intake_env(keys, 0))
            for run in range(BOUNCER_ROUNDS):
                for i, name in enumerate(variants):
                    r = wrk(urls[name], "intake.lua", 32, seconds, intake_env(keys, BOUNCER_RUNS[run * 3 + i]))
                    out[name].append(r)
                    log(f"{name} c=32: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
                        f"errors {r['errors']}")
            pools = [p for p in bouncer_url.show("POOLS") if p["database"] != "pgbouncer"]
        out["server_connections"] = sum(p["sv_active"] + p["sv_idle"] + p["sv_used"] for p in pools)
        out["client_connections"] = (workers or os.cpu_count()) * int(env.get("L2I_POOL_SIZE") or
                                                                       env.get("L2I_THREADS") or 8)
    return out


def report(results: dict, conns) -> str:
    lines = ["| connections | intake req/s | p50 ms | p99 ms | errors | dup 200s | floor tps | ceiling req/s | "
             "L | intake/L | intake/floor | intake/ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if not (results["intake"] or results["floor"] or results["ceiling"]):
        lines = []  # a run of other parts only (--only get, --only bouncer, ...)
    for c in conns if lines else ():
        i, f, ce = results["intake"].get(c), results["floor"].get(c), results["ceiling"].get(c)
        limit = 1 / (1 / f["tps"] + 1 / ce["rps"]) if f and ce else None

        def ratio(den):
            return f"{i['rps'] / den:.2f}" if i and den else "-"
        if not (i or f or ce):
            continue
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            c, f"{i['rps']:.0f}" if i else "-", f"{i['p50_ms']:.1f}" if i else "-",
            f"{i['p99_ms']:.1f}" if i else "-", i["errors"] if i else "-", i["duplicates"] if i else "-",
            f"{f['tps']:.0f}" if f else "-", f"{ce['rps']:.0f}" if ce else "-", f"{limit:.0f}" if limit else "-",
            ratio(limit), ratio(f["tps"] if f else None), ratio(ce["rps"] if ce else None)))
    g = results.get("get")
    if g:
        lines += ["", f"GET /v1/leads?limit=50 with {g['leads']:,} leads in the account (loaded at "
                      f"{g['load_rows_per_s']:,.0f} rows/s by one INSERT ... SELECT generate_series):", "",
                  "| connections | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
        for c, r in g["by_connections"].items():
            lines.append(f"| {c} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |")
    s = results.get("soak")
    if s:
        w = s["wrk"]
        lines += ["", f"Worker RSS over a {s['seconds']} s intake run at 32 connections ({w['rps']:.0f} req/s, "
                      f"p99 {w['p99_ms']:.1f} ms, errors {w['errors']}):", "",
                  "| worker pid | samples (s) | first MB | last MB | max MB | change |", "|---|---|---|---|---|---|"]
        for row in s["rss"]:
            lines.append("| {pid} | {samples} ({from_s}-{to_s}) | {first_mb:.1f} | {last_mb:.1f} | {max_mb:.1f} | "
                         "{change_pct:+.1f}% |".format(**row))
    imp = results.get("import")
    if imp:
        lines += ["", f"CSV import (POST /v1/leads/import, {imp['rows']:,} new leads, as a job, upload to end): "
                      f"{imp['rows_per_s']:,.0f} rows/s, HTTP {imp['status']}, totals {imp['totals']}."]
    src = results.get("source")
    if src:
        lines += ["", "Intake through a source token (POST /v1/sources/{token}/leads) beside intake through a key "
                      "(POST /v1/leads with Authorization), same body, 32 connections, runs interleaved:", "",
                  "| credential | run | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
        for kind in ("key", "source"):
            for n, r in enumerate(src[kind], start=1):
                lines.append(f"| {kind} | {n} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |")
        mean = {kind: sum(r["rps"] for r in src[kind]) / len(src[kind]) for kind in src}
        lines.append(f"\nsource/key throughput: {mean['source'] / mean['key']:.2f}")
    rd = results.get("rounds")
    if rd:
        lines += ["", "Against the reference (issue 13), 32 connections, three interleaved rounds (calibration: ms for a "
                      "fixed CPU loop at the round's start, higher = slower machine; load: 1-minute load average):", ""]
        if not rd["reference"]:
            lines.append("reference: skipped (no ../shared/perf-reference)")
        lines += ["| round | calibration ms | load | ref floor tps | l2i floor tps | **floor/ref** | ref req/s | ref p99 ms "
                  "| l2i req/s | l2i p99 ms | l2i errors | **intake/ref** |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rd["rounds"]:
            ref, f, i = row.get("reference"), row["floor"], row["intake"]
            lines.append(f"| {row['round']} | {row['calib_ms']:.0f} | {row['load']:.1f} | "
                         f"{ref['floor_tps']:.0f} | " if ref else f"| {row['round']} | {row['calib_ms']:.0f} | "
                         f"{row['load']:.1f} | - | ")
            lines[-1] += (f"{f['tps']:.0f} | {f['tps'] / ref['floor_tps']:.2f} | {ref['rps']:.0f} | {ref['p99_ms']:.1f} | "
                          if ref else f"{f['tps']:.0f} | - | - | - | ")
            lines[-1] += (f"{i['rps']:.0f} | {i['p99_ms']:.1f} | {i['errors']} | "
                          + (f"{i['rps'] / ref['rps']:.2f} |" if ref else "- |"))
        if rd["reference"] and rd["rounds"]:
            def median(values):
                values = sorted(values)
                return values[len(values) // 2] if len(values) % 2 else sum(values[len(values) // 2 - 1:][:2]) / 2
            rows = [r for r in rd["rounds"] if r.get("reference")]
            lines.append(f"\nmedian of the rounds: floor/ref {median([r['floor']['tps'] / r['reference']['floor_tps'] for r in rows]):.2f}, "
                         f"intake/ref {median([r['intake']['rps'] / r['reference']['rps'] for r in rows]):.2f}")
    c = results.get("claim")
    if c:
        lines += ["", f"Queue claim (POST /v1/dial-queue/claim over HTTP, {c['threads']} dialers claiming {c['batch']} at "
                      f"a time, each on its own connection, until {c['leads']:,} queued leads were drained): "
                      f"{c['leads_per_s']:,.0f} leads/s; leads handed out twice: {c['twice']}."]
    b = results.get("bouncer")
    if b:
        lines += ["", f"Intake at 32 connections through pgbouncer 1.18 (transaction pooling, {b['client_connections']}"
                      f" pool connections of gunicorn onto {b['server_connections']} server connections) next to "
                      f"direct, {BOUNCER_ROUNDS} interleaved runs each:", "",
                  "| path | req/s (each run) | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
        for name in ("direct", "direct, L2I_POOL_CHECK=0", "pgbouncer"):
            runs = b[name]

            def each(field, digits, runs=runs):
                return " / ".join(f"{r[field]:.{digits}f}" for r in runs)
            lines.append(f"| {name} | {each('rps', 0)} | {each('p50_ms', 1)} | {each('p99_ms', 1)} | "
                         f"{sum(r['errors'] for r in runs)} |")
    return "\n".join(lines)


def write_results(table: str, args) -> None:
    path = BENCH / "RESULTS.md"
    previous = path.read_text() if path.exists() else ""
    history = re.findall(r"^- \d{4}-\d\d-\d\d .*$", previous.split("## History", 1)[1], re.M) if "## History" in \
        previous else []
    notes = previous.split("<!-- notes -->", 2)[1] if previous.count("<!-- notes -->") == 2 else "\n"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    row32 = next((l for l in table.splitlines() if l.startswith("| 32 |")), "")
    cells = [c.strip() for c in row32.strip("|").split("|")]
    summary = (f"- {now}: c=32 intake {cells[1]} req/s, p99 {cells[3]} ms, errors {cells[4]}, L {cells[8]}, "
               f"intake/L {cells[9]}" if len(cells) > 9 else f"- {now}")
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    pg = subprocess.run(["pg_config", "--version"], capture_output=True, text=True).stdout.strip() or "PostgreSQL"
    wrk_version = "wrk " + subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
    env = " ".join(f"{k}={v}" for k, v in sorted(server_env().items()))
    path.write_text(f"""# Benchmark results

Written by `make bench` (bench/run.py); the ratios measured in one run are what we track, since absolute
figures drift between runs and machines. Figures to reach (issue 5): intake at 32 connections >= 0.6 x L, p99 under
50 ms, zero errors; GET /v1/leads?limit=50 over 1M leads p99 under 20 ms; worker RSS flat (+-10%) over 5 minutes.

## Latest: {now}

- Machine: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB; {platform.platform()}; Python {platform.python_version()};
  {pg}; {wrk_version}. Load generator, gunicorn and PostgreSQL share the machine.
- Command: `make bench` (`bench/run.py --seconds {args.seconds} --soak {args.soak}`), server env: {env},
  workers: {workers_setting() or 'gunicorn.conf.py default'}.
- Intake: wrk -t2 with bench/intake.lua (20 keys, 95% new numbers, 5% duplicates: the 200s); floor: pgbench -M
  prepared -j2 with the statements intake sends (bench/out/floor_*.sql); ceiling: bench/ceiling_app.py under
  gunicorn.conf.py. L = 1 / (1/floor + 1/ceiling).

{table}

## Notes
<!-- notes -->{notes}<!-- notes -->

## History (c=32, newest first, last 8)
{chr(10).join([summary] + history[:7])}
""")
    log(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
