"""`make bench-partitions`: intake, GET and claims with many leads over 24 months, partitioned (0014) and not.

Two scratch databases side by side (created, dropped at the end): (a) every migration, leads partitioned by
month, 24 past month partitions made up front; (b) the migrations before 0014_partitions: one plain leads table
(its indexes as they were: leads_dedupe_key, leads_account_created_idx, leads_stats_idx, ...). Each gets the same
rows with INSERT ... SELECT generate_series (no HTTP): --leads leads (default 10,000,000) over 10 accounts, spread
evenly over the last 24 months, and --queue queued leads of a dialer account spread over the same 24 months (so a
claim meets every partition). Then, the same gunicorn config against each, one after the other:

- intake: POST /v1/leads at 32 connections (bench/intake.lua: 20 keys, 95% new numbers, 5% duplicates), req/s
- GET /v1/leads?limit=50 of the account with the most leads (a tenth of them), 32 connections: p99
- claims: 8 dialers x 10 a claim draining the queue: leads/s

Prints the figures and EXPLAIN (ANALYZE) summaries (planning time, partitions touched) of the claim, GET
/v1/leads/{id} and the page; writes bench/out/partitions.json. Asserts nothing about time.
  .venv/bin/python bench/partitions.py --leads 1000000      # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH.parent), str(BENCH.parent / "tests"), str(BENCH)]

from run import KEYS, OUT, Database, claimers, intake_env, log, server_env, workers_setting, wrk  # noqa: E402
import gunicorn_server  # noqa: E402
from l2i import sql  # noqa: E402
from l2i.config import Config  # noqa: E402
from l2i.migrate import migrate  # noqa: E402

ACCOUNTS = 10
MONTHS = 24


class PlainDatabase(Database):
    """A scratch database built from the migrations before 0014_partitions (leads is one table), served by the
    code from before them too: the tree of plain_revision(), exported to a temporary folder."""

    def __enter__(self):
        self.folder = tempfile.TemporaryDirectory(prefix="l2i-plain-")
        self.root = Path(self.folder.name)
        base = plain_revision()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", base], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.root)], input=archive, check=True)
        self.base = base
        with psycopg.connect(make_conninfo(self.base_url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        migrate(self.url, self.root / "sql" / "migrations")
        return self

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.folder.cleanup()


def plain_revision() -> str:
    """The newest commit of this checkout's history whose leads is one table (its sql/schema.sql has no
    leads_default): main just before the partitions, wherever this runs. L2I_PLAIN_REV names another."""
    if os.environ.get("L2I_PLAIN_REV"):
        return os.environ["L2I_PLAIN_REV"]
    commits = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--date-order", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.split()
    for commit in commits:
        schema = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:sql/schema.sql"], capture_output=True,
                                text=True)
        if schema.returncode == 0 and "leads_default" not in schema.stdout:
            return commit
    raise RuntimeError("no commit with an unpartitioned leads in this history")


def partitioned(conn) -> bool:
    return conn.execute("SELECT relkind = 'p' FROM pg_class WHERE relname = 'leads'").fetchone()[0]


def load(db: Database, leads: int, queue: int) -> dict:
    """The bulk leads and the queue, spread over MONTHS months; returns the bulk key, the dialer key, timings."""
    bulk = db.keys(ACCOUNTS)
    dialer = db.keys(1, scopes="dial")[0]
    started = time.perf_counter()
    with psycopg.connect(db.url, autocommit=True) as conn:
        if partitioned(conn):
            conn.execute("SELECT l2i_partition_create(now() - make_interval(months => i)) "
                         "FROM generate_series(1, %s) AS i", (MONTHS,))
        span = f"{MONTHS * 30.44:.0f} days"
        # Round-robin over the accounts, newest first, evenly over the span.
        conn.execute(f"""
            INSERT INTO leads (account_id, api_key_id, phone, status, reasons, source, first_name, last_name, state,
                               gates, created_at, updated_at, dedupe_open)
            SELECT a.account_id, a.key_id, '+1' || (2000000000 + i)::text, 'new', '{{}}', 'bulk', 'Jane', 'Doe',
                   'TX', '{{}}', now() - (i::float8 / %(leads)s) * interval '{span}',
                   now() - (i::float8 / %(leads)s) * interval '{span}', false
            FROM generate_series(1, %(leads)s) AS i
            JOIN (SELECT row_number() OVER () - 1 AS n, account_id::uuid, key_id::uuid
                  FROM json_to_recordset(%(accounts)s::json) AS x (account_id text, key_id text)) AS a
              ON a.n = i %% {ACCOUNTS}""",
                     {"leads": leads, "accounts": json.dumps([{"account_id": k["account_id"], "key_id": k["key_id"]}
                                                              for k in bulk])})
        loaded = time.perf_counter() - started
        zone = conn.execute("""
            SELECT name FROM pg_timezone_names
            WHERE (now() AT TIME ZONE name)::time BETWEEN '10:00' AND '18:00' AND name ~ '^[A-Z][a-z]+/[A-Za-z_]+$'
            ORDER BY name LIMIT 1""").fetchone()[0]
        created = "lead_created_at, " if partitioned(conn) else ""
        conn.execute(f"""
            WITH new_leads AS (
                INSERT INTO leads (account_id, api_key_id, phone, status, reasons, source, gates, consent, created_at)
                SELECT %(account_id)s, %(key_id)s, '+1' || (3000000000 + i)::text, 'new', '{{}}', 'claim-bench',
                       '{{}}', '{{"consent_timestamp": "2026-07-05T12:00:00Z", "consent_text_version": "v1"}}',
                       now() - (i::float8 / %(rows)s) * interval '{span}'
                FROM generate_series(1, %(rows)s) AS i
                RETURNING id, account_id, phone, created_at)
            INSERT INTO dial_queue (lead_id, {created}account_id, phone, zones, not_before)
            SELECT id, {'created_at, ' if created else ''}account_id, phone, ARRAY[%(zone)s],
                   now() - interval '1 minute'
            FROM new_leads""", {**dialer, "rows": queue, "zone": zone})
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return {"bulk": bulk[0], "dialer": dialer, "load_s": loaded, "total_load_s": time.perf_counter() - started,
            "size": size, "zone": zone}


def explain(db: Database, bulk: dict, dialer: dict) -> dict:
    """EXPLAIN (ANALYZE) of the claim (in a rolled-back transaction), GET /v1/leads/{id} and the first page:
    planning and execution time, and how many partitions of leads each touched."""
    out = {}
    queries = sql.load(getattr(db, "root", ROOT) / "sql" / "queries")
    with psycopg.connect(db.url) as conn:
        lead_id = conn.execute("SELECT id FROM leads WHERE account_id = %s ORDER BY created_at LIMIT 1 OFFSET 100",
                               (bulk["account_id"],)).fetchone()[0]
        cases = {
            "claim": ("dial_claim", {"now": None, "account_id": dialer["account_id"], "limit": 10,
                                     "lease_seconds": 600, "campaign_ids": None, "api_key_id": dialer["key_id"]}),
            "lead_get": ("lead_get", {"id": lead_id, "account_id": bulk["account_id"]}),
            "leads_page": ("leads_page", {"account_id": bulk["account_id"], "before_created": "infinity",
                                          "before_id": "ffffffff-ffff-ffff-ffff-ffffffffffff",
                                          "since": "-infinity", "until": "infinity", "status": None, "source": None,
                                          "limit": 51}),
        }
        for name, (query, params) in cases.items():
            conn.execute(queries[query].text, params)  # warm the caches once
            conn.rollback()
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[query].text,
                                                        params).fetchall())
            conn.rollback()
            # The distinct partitions of leads some scan of the plan ran on (pruned ones say "never executed", or
            # are left out as "Subplans Removed"). A claim of 10 leads of 10 months scans 10, one a lead.
            touched = {m[1] for line in plan.splitlines() if "never executed" not in line
                       and (m := re.search(r"Scan .*on (leads_\w+) ", line))}
            out[name] = {"planning_ms": float(re.search(r"Planning Time: ([\d.]+)", plan)[1]),
                         "execution_ms": float(re.search(r"Execution Time: ([\d.]+)", plan)[1]),
                         "partitions_touched": len(touched)}
            (OUT / f"partitions_{db.kind}_{name}.plan").write_text(plan)
    return out


def measure(db: Database, loaded: dict, seconds: int, env: dict, workers) -> dict:
    keys = db.keys(KEYS)
    result = {"load": loaded, "explain": explain(db, loaded["bulk"], loaded["dialer"])}
    gunicorn_server.ROOT = getattr(db, "root", ROOT)  # the plain database runs the code from before 0014
    try:
        with gunicorn_server.running_gunicorn(db.url, env=env, workers=workers) as url:
            wrk(url, "intake.lua", 32, max(5, seconds // 3), intake_env(keys, 2))  # warm-up
            result["intake"] = wrk(url, "intake.lua", 32, seconds, intake_env(keys, 3))
            path = url + "/v1/leads?limit=50"
            wrk(path, "get.lua", 32, max(3, seconds // 5), {"L2I_BENCH_KEYS": loaded["bulk"]["key"]})
            result["get"] = wrk(path, "get.lua", 32, seconds, {"L2I_BENCH_KEYS": loaded["bulk"]["key"]})
            result["claim"] = claimers(url, loaded["dialer"]["key"], threads=8, batch=10)
    finally:
        gunicorn_server.ROOT = ROOT
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=int(os.environ.get("L2I_BENCH_LEADS", 10_000_000)),
                        help="bulk leads over 24 months (default 10,000,000; env L2I_BENCH_LEADS)")
    parser.add_argument("--queue", type=int, default=20_000, help="queued leads the claims drain (default 20,000)")
    parser.add_argument("--seconds", type=int, default=15, help="length of each measurement (default 15)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or Config.database_url
    env, workers = server_env(), workers_setting()
    OUT.mkdir(exist_ok=True)
    results = {"leads": args.leads, "queue": args.queue, "months": MONTHS}
    for kind, cls in (("partitioned", Database), ("plain", PlainDatabase)):
        with cls(base_url) as db:
            db.kind = kind
            log(f"{kind}: loading {args.leads} leads over {MONTHS} months and {args.queue} queued")
            loaded = load(db, args.leads, args.queue)
            log(f"{kind}: loaded in {loaded['load_s']:.0f} s ({args.leads / loaded['load_s']:.0f} rows/s), "
                f"database {loaded['size']}")
            r = results[kind] = measure(db, loaded, args.seconds, env, workers)
            log(f"{kind}: intake c=32 {r['intake']['rps']:.0f} req/s p99 {r['intake']['p99_ms']:.1f} ms errors "
                f"{r['intake']['errors']}; GET ?limit=50 c=32 {r['get']['rps']:.0f} req/s p99 "
                f"{r['get']['p99_ms']:.1f} ms; claims {r['claim']['leads_per_s']:.0f} leads/s "
                f"(twice {r['claim']['twice']}, failures {r['claim']['failures']}); explain {r['explain']}")
    print(table(results))
    (OUT / "partitions.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


def table(results: dict) -> str:
    rows = [f"Leads: {results['leads']:,} over {results['months']} months (10 accounts), {results['queue']:,} queued.",
            "", "| | partitioned (0014) | one table | ratio |", "|---|---|---|---|"]
    p, o = results["partitioned"], results["plain"]
    figures = [
        ("intake c=32, req/s", p["intake"]["rps"], o["intake"]["rps"]),
        ("intake c=32, p99 ms", p["intake"]["p99_ms"], o["intake"]["p99_ms"]),
        ("GET /v1/leads?limit=50 c=32, req/s", p["get"]["rps"], o["get"]["rps"]),
        ("GET /v1/leads?limit=50 c=32, p99 ms", p["get"]["p99_ms"], o["get"]["p99_ms"]),
        ("claims (8 x 10), leads/s", p["claim"]["leads_per_s"], o["claim"]["leads_per_s"]),
    ]
    for name in ("claim", "lead_get", "leads_page"):
        for what in ("planning_ms", "execution_ms"):
            figures.append((f"EXPLAIN {name} {what}", p["explain"][name][what], o["explain"][name][what]))
    for name, a, b in figures:
        rows.append(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |" if b else f"| {name} | {a:.1f} | {b} | |")
    rows.append(f"| partitions of leads scanned: claim of 10 / lead_get / leads_page | "
                f"{p['explain']['claim']['partitions_touched']} / {p['explain']['lead_get']['partitions_touched']} / "
                f"{p['explain']['leads_page']['partitions_touched']} | 1 table | |")
    rows.append(f"| load (INSERT ... generate_series), s | {p['load']['load_s']:.0f} | {o['load']['load_s']:.0f} | |")
    rows.append(f"| database size | {p['load']['size']} | {o['load']['size']} | |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
