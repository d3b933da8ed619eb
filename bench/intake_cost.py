"""What the schema's integrity costs intake: database CPU per lead_intake as shipped, and in scratch copies of the
same database without the CHECK constraints or the foreign keys of the tables an intake writes, in one run.

Issue 13 asks where the database time of an intake goes. Throughput swings on a shared machine; the CPU time the
server's backend spends per statement does not (bench/campaign_cost.py: /proc of the backend, so the server must
run on this machine). One database is migrated and given a key, then copied (CREATE DATABASE ... TEMPLATE) once per
variant, and each copy loses what its variant names (the constraints read from pg_constraint, so the list follows
the migrations). Blocks of intakes alternate between the variants, so whatever else the machine does falls on all
alike. The posts are bench/run.py's BODY (new numbers); key_hit, the other statement of a POST, is measured beside
them. Prints the figures; asserts nothing. Nothing here is a proposal to drop a constraint: it says what they cost.

    .venv/bin/python bench/intake_cost.py [--blocks 6] [--per-block 1000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import uuid
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench.campaign_cost import blocks  # noqa: E402
from bench.run import BODY, Database  # noqa: E402
from l2i import intake, sql  # noqa: E402
from l2i.config import Config  # noqa: E402
from l2i.fields import parse_lead  # noqa: E402

# variant: (what it lacks, the tables and the constraint type (pg_constraint.contype) it drops)
VARIANTS = {
    "as shipped": ("", (), ""),
    "no CHECK on leads": ("the CHECK constraints of leads", ("leads",), "c"),
    "no CHECK on dial_queue": ("the CHECK constraints of dial_queue", ("dial_queue",), "c"),
    "no FK on leads": ("the foreign keys of leads (accounts, api_keys, sources, campaigns)", ("leads",), "f"),
}


def strip(url: str, tables: tuple[str, ...], contype: str) -> list[str]:
    """Drops the constraints of contype on tables (their own, not those inherited by partitions); their names."""
    dropped = []
    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            names = [r[0] for r in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = %s AND conislocal "
                "ORDER BY conname", (table, contype))]
            for name in names:
                conn.execute(pgsql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    pgsql.Identifier(table), pgsql.Identifier(name)))
            dropped += names
    return dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6, help="blocks of each variant, alternating (default 6)")
    parser.add_argument("--per-block", type=int, default=1000, help="intakes per block (default 1000)")
    args = parser.parse_args()
    base_url = os.environ.get("DATABASE_URL") or Config.database_url
    with Database(base_url) as db:
        key, = db.keys(1)
        copies = {name: f"{db.name}_{n}" for n, name in enumerate(VARIANTS)}
        with psycopg.connect(make_conninfo(base_url, dbname="postgres"), autocommit=True) as admin:
            for copy in copies.values():
                admin.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    pgsql.Identifier(copy), pgsql.Identifier(db.name)))
        try:
            dropped = {name: strip(make_conninfo(base_url, dbname=copies[name]), tables, contype)
                       for name, (_, tables, contype) in VARIANTS.items()}
            cpu = measure(base_url, copies, key, args)
        finally:
            with psycopg.connect(make_conninfo(base_url, dbname="postgres"), autocommit=True) as admin:
                for copy in copies.values():
                    admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        pgsql.Identifier(copy)))
    print(f"{args.blocks} alternating blocks of {args.per_block} intakes per variant; database CPU per statement, "
          "median of the blocks")
    shipped = statistics.median(cpu["as shipped"])
    print(f"  {'key_hit':<36} {statistics.median(cpu['key_hit']):.3f} ms")
    for name, (lacks, _, _) in VARIANTS.items():
        ms = statistics.median(cpu[name])
        line = f"  {'lead_intake, ' + name:<36} {ms:.3f} ms (blocks {', '.join(f'{v:.3f}' for v in cpu[name])})"
        if name != "as shipped":
            line += f"\n  {'':<36} {ms - shipped:+.3f} ms without {lacks}: {', '.join(dropped[name]) or 'none'}"
        print(line)
    return 0


def measure(base_url: str, copies: dict[str, str], key: dict, args) -> dict[str, list[float]]:
    """CPU per statement of each variant's lead_intake, and of key_hit (its own session on the shipped copy)."""
    sessions = {**copies, "key_hit": copies["as shipped"]}
    conns = {name: psycopg.connect(make_conninfo(base_url, dbname=copy), autocommit=True, row_factory=dict_row)
             for name, copy in sessions.items()}
    try:
        key_hash = bytes.fromhex(key["key_hash"].removeprefix("\\x"))
        account_id, api_key_id = uuid.UUID(key["account_id"]), uuid.UUID(key["key_id"])
        numbers = itertools.count(2_000_001)

        def prepare(name: str) -> Callable[[], None]:
            conn = conns[name]
            if name == "key_hit":
                def hits() -> None:
                    for _ in range(args.per_block):
                        assert sql.one(conn, "key_hit", key_hash=key_hash) is not None
                return hits
            leads = [parse_lead({**BODY, "phone": f"214{next(numbers):07d}"}) for _ in range(args.per_block)]

            def intakes() -> None:
                for lead in leads:
                    row = intake.submit(conn, account_id=account_id, api_key_id=api_key_id, lead=lead)
                    assert row["created"], row
            return intakes

        cpu, _ = blocks({name: conn.info.backend_pid for name, conn in conns.items()}, prepare, args.blocks,
                        args.per_block)
        return cpu
    finally:
        for conn in conns.values():
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
