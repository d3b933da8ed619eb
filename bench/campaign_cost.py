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
import itertools
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

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


def blocks(pids: dict[str, int], prepare: Callable[[str], Callable[[], None]], count: int,
           per_block: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Database CPU and wall time (ms) per operation, name by name, block by block. For each of count + 1 rounds,
    each name in turn: prepare(name) makes a block's work (outside the measurement), and the returned callable
    runs its per_block operations on the session whose backend pid is pids[name]. The names alternate block by
    block, so whatever else the machine does falls on all alike; round 0 warms every session up (plans, caches)
    and is not counted. bench/intake_cost.py measures with it too."""
    cpu: dict[str, list[float]] = {name: [] for name in pids}
    wall: dict[str, list[float]] = {name: [] for name in pids}
    for block in range(count + 1):
        for name, pid in pids.items():
            work = prepare(name)
            before, started = cpu_ms(pid), time.perf_counter()
            work()
            if block:
                cpu[name].append((cpu_ms(pid) - before) / per_block)
                wall[name].append((time.perf_counter() - started) * 1000 / per_block)
    return cpu, wall


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
        numbers = itertools.count(2_000_001)

        def prepare(kind: str) -> Callable[[], None]:
            key, body = kinds[kind]
            leads = [parse_lead({**body, "phone": f"214{next(numbers):07d}"}) for _ in range(args.per_block)]

            def work() -> None:
                for lead in leads:
                    row = intake.submit(conns[kind], account_id=uuid.UUID(key["account_id"]),
                                        api_key_id=uuid.UUID(key["key_id"]), lead=lead)
                    assert row["created"] and (row["campaign"] == CAMPAIGN) == (kind == "with"), row
            return work

        cpu, wall = blocks(pids, prepare, args.blocks, args.per_block)
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
