"""What a campaign costs intake: database CPU per lead_intake, with and without a campaign, in one run.

On a shared machine, throughput (make bench's floor, pgbench) swings by a third from one run to the next; the
CPU time the server's backend spends on each statement does not. This opens one connection per account kind,
reads the backend's CPU time (utime + stime in /proc/PID/stat, so the server must run on this machine) around
blocks of intakes, and alternates the two kinds block by block so that whatever else the machine does falls on
both alike. The posts are bench/run.py's BODY (95% new numbers); "with" names a campaign like
`bench/run.py --campaign` (required fields, states, hours, cost). Prints the figures; asserts nothing.

    .venv/bin/python bench/campaign_cost.py [--blocks 6] [--per-block 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench.run import BODY, CAMPAIGN, CAMPAIGN_SETTINGS, Database  # noqa: E402
from l2i import intake  # noqa: E402
from l2i.config import Config  # noqa: E402
from l2i.fields import parse_lead  # noqa: E402


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6, help="blocks of each kind, alternating (default 6)")
    parser.add_argument("--per-block", type=int, default=400, help="intakes per block (default 400)")
    args = parser.parse_args()
    with Database(os.environ.get("DATABASE_URL") or Config.database_url) as db:
        plain, named = db.keys(2)
        db.campaigns([named])
        kinds = {"without": (plain, dict(BODY)), "with": (named, {**BODY, "campaign": CAMPAIGN})}
        conns = {kind: psycopg.connect(db.url, autocommit=True, row_factory=dict_row) for kind in kinds}
        pids = {kind: conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] for kind, conn in conns.items()}
        cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
        wall: dict[str, list[float]] = {kind: [] for kind in kinds}
        number = 2_000_000
        for block in range(args.blocks + 1):  # block 0 warms both sessions up (plans, caches) and is not counted
            for kind, (key, body) in kinds.items():
                conn = conns[kind]
                leads = []
                for _ in range(args.per_block):
                    number += 1
                    leads.append(parse_lead({**body, "phone": f"214{number:07d}"}))
                before, started = cpu_ms(pids[kind]), time.perf_counter()
                for lead in leads:
                    row = intake.submit(conn, account_id=uuid.UUID(key["account_id"]),
                                        api_key_id=uuid.UUID(key["key_id"]), lead=lead)
                    assert row["created"] and (row["campaign"] == CAMPAIGN) == (kind == "with"), row
                if block:
                    cpu[kind].append((cpu_ms(pids[kind]) - before) / args.per_block)
                    wall[kind].append((time.perf_counter() - started) * 1000 / args.per_block)
        for conn in conns.values():
            conn.close()
    print(f"campaign: {CAMPAIGN} {CAMPAIGN_SETTINGS}")
    print(f"{args.blocks} alternating blocks of {args.per_block} intakes each")
    for kind in kinds:
        print(f"{kind:>8}: database CPU {statistics.median(cpu[kind]):.3f} ms/intake (median; blocks "
              f"{', '.join(f'{v:.3f}' for v in cpu[kind])}), round trip {statistics.median(wall[kind]):.3f} ms")
    ratio = statistics.median(cpu["with"]) / statistics.median(cpu["without"])
    print(f"with / without, database CPU: {ratio:.3f} ({(ratio - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
