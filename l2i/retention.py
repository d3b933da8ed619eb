"""`l2i retention apply`: remove the personal data of leads older than their account's retention (cron).

Per account, in this order, each step in batches of at most `batch` rows, each batch its own transaction (no
long locks: intake goes on meanwhile): anonymize the leads created before the cut-off (keeping their consent as
evidence while the 4-year hold runs), delete consent evidence whose hold ran out, delete old call attempts,
delete old import row outcomes, clear old unmatched postbacks' caller ids. Idempotent: a second run finds nothing.
Why, and the legal sources: sql/migrations/0013_retention.sql. One log line per account, greppable:

    retention account=UUID retention_days=1461 cutoff=... leads=N events=N queue=N evidence=N transfers=N ...

Partitions: a whole month of lead_events past every account's retention can be dropped instead of deleted row by
row: SQL's l2i_retention_droppable(table, upper bound) says when, and l2i_partition_drop drops it (an operator's
step, README "Partitions"; this pass does not drop anything).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from l2i import sql

log = logging.getLogger("l2i.retention")

BATCH = 1000
# A run stops an account's step after this many batches (it goes on at the next run): bounded, like dial reap.
MAX_BATCHES = 100_000
_FIRST = (datetime(1, 1, 1, tzinfo=timezone.utc), UUID(int=0))

# The counts of one account, in the order of the log line.
COUNTS = ("leads", "events", "queue", "evidence", "transfers", "postbacks", "attempts", "evidence_expired",
          "import_rows", "unmatched_postbacks")


def _loop(conn, name: str, column: str, batch: int, **params) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        with conn.transaction():
            n = sql.one(conn, name, batch=batch, **params)[column]
        total += n
        if n < batch:
            break
    return total


def _anonymize(conn, account: dict, batch: int) -> dict[str, int]:
    counts = dict.fromkeys(("leads", "events", "queue", "evidence", "transfers", "postbacks"), 0)
    after_created, after_id = _FIRST
    for _ in range(MAX_BATCHES):
        with conn.transaction():
            row = sql.one(conn, "retention_batch", account_id=account["account_id"], start=account["start"],
                          cutoff=account["cutoff"], after_created=after_created, after_id=after_id, batch=batch)
        for name in counts:
            counts[name] += row[name]
        if row["scanned"] < batch:
            sql.run(conn, "retention_done", account_id=account["account_id"], cutoff=account["cutoff"])
            break
        after_created, after_id = row["last_created"], row["last_id"]
    return counts


def apply_account(conn, account: dict, batch: int = BATCH, dry_run: bool = False) -> dict[str, int]:
    """One account's pass (account: a row of retention_accounts); its counts."""
    params = {k: account[k] for k in ("account_id", "start", "cutoff", "attempts_before", "hold_before")}
    if dry_run:
        row = sql.one(conn, "retention_preview", **params)
        return {name: row[name] for name in COUNTS}
    counts = _anonymize(conn, account, batch)
    counts["evidence_expired"] = _loop(conn, "retention_evidence_sweep", "deleted", batch,
                                       account_id=account["account_id"], hold_before=account["hold_before"])
    counts["attempts"] = _loop(conn, "retention_attempts_sweep", "deleted", batch, account_id=account["account_id"],
                               attempts_before=account["attempts_before"])
    counts["import_rows"] = _loop(conn, "retention_import_rows_sweep", "deleted", batch,
                                  account_id=account["account_id"], cutoff=account["cutoff"])
    counts["unmatched_postbacks"] = _loop(conn, "retention_postbacks_sweep", "cleared", batch,
                                          account_id=account["account_id"], cutoff=account["cutoff"])
    return {name: counts[name] for name in COUNTS}


def log_line(account: dict, counts: dict[str, int], dry_run: bool) -> str:
    return (f"retention account={account['account_id']} retention_days={account['retention_days']} "
            f"cutoff={account['cutoff'].isoformat()} "
            + " ".join(f"{name}={counts[name]}" for name in COUNTS)
            + f" dry_run={'yes' if dry_run else 'no'}")


def apply(database_url: str, batch: int = BATCH, dry_run: bool = False, out=print) -> list[dict]:
    """Every account, one after the other; prints one line per account; returns each account's counts."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    results = []
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        for account in sql.many(conn, "retention_accounts"):
            counts = apply_account(conn, account, batch, dry_run)
            line = log_line(account, counts, dry_run)
            log.info(line)
            out(line)
            results.append({"account_id": account["account_id"], **counts})
    return results
