"""`l2i import ACCOUNT_ID FILE.csv` and `l2i worker`: CSV import jobs from the command line.

`l2i import` checks the file (as the HTTP import does), stores it as a job, and runs a runner for that job only
(within the same per-account and total limits), so it needs no running service; if the service's runners take
the job first, it simply watches. It shows a progress bar on stderr and prints the same totals as the HTTP answer.
`l2i worker` runs import jobs for every account until it is stopped (SIGTERM or Ctrl-C), on any host.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import uuid
from dataclasses import replace

import psycopg
import psycopg_pool

from l2i import csv_import, import_jobs, sql
from l2i.config import Config
from l2i.db import open_pool
from l2i.errors import FieldError

PROGRESS_EVERY_S = 1.0  # a progress line this often when stderr is not a terminal (a bar redrawn when it is)
POLL_S = 0.2
BAR_WIDTH = 30


def command(database_url: str, account_id: str, path: str, *, source: str | None = None, as_json: bool = False,
            out=None, err=None) -> int:
    """Exit 0 when the job is done (even with invalid rows), 1 when the file could not be imported."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        source = csv_import.check_source(source)
    except FieldError as exc:
        print(f"l2i: --source {exc.message}", file=err)
        return 1
    try:
        binary = open(path, "rb")
    except OSError as exc:
        print(f"l2i: cannot read {path}: {exc.strerror}", file=err)
        return 1
    try:
        account = uuid.UUID(account_id)
    except ValueError:
        print(f"l2i: {account_id!r} is not an account id (a UUID)", file=err)
        return 1
    config = replace(Config.from_env(), database_url=database_url, pool_size=1)
    with binary:
        try:
            total = csv_import.scan(binary)
        except csv_import.FileError as exc:
            print(f"l2i: {path}: {exc}", file=err)
            return 1
        pool = open_pool(config, name="l2i-import")
        try:
            with pool.connection() as conn:
                if sql.one(conn, "import_account", account_id=account) is None:
                    print("l2i: no such account", file=err)
                    return 1
                job = import_jobs.store(conn, binary, account_id=account, api_key_id=None, source=source,
                                        content_type="text/csv", rows_total=total)
            return _run_and_report(config, pool, job, as_json, out, err)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            print(f"l2i: the database failed during the import: {str(exc).strip().splitlines()[0]}; importing "
                  "the file again is safe (its stored rows come back as duplicate)", file=err)
            return 1
        finally:
            pool.close()


def _run_and_report(config: Config, pool, job: dict, as_json: bool, out, err) -> int:
    runner = import_jobs.Runner(config, threads=1, import_id=job["id"], name="l2i-import-runner").start()
    progress = _Progress(job["rows_total"], err)
    try:
        while True:
            with pool.connection() as conn:
                job = import_jobs.get(conn, job["id"], job["account_id"])
            progress.show(job)
            if job["status"] in import_jobs.FINAL:
                break
            with import_jobs._signal:
                import_jobs._signal.wait(POLL_S)
    except KeyboardInterrupt:
        progress.end()
        print(f"l2i: interrupted; import {job['id']} is kept and goes on where a runner runs (the service, "
              "l2i worker)", file=err)
        return 1
    finally:
        runner.stop()
    progress.end(job)
    if job["status"] == "failed":
        print(f"l2i: the import failed: {job['error']}", file=err)
        return 1
    with pool.connection() as conn:
        if as_json:
            first = import_jobs.document(conn, job, limit=0)
            head = {name: first[name] for name in ("id", "status", "source", "totals")}
            out.write(json.dumps(head, default=str)[:-1] + ',"rows":[')
            separator = ""
            for row in _rows(conn, job):
                out.write(separator + json.dumps(row, separators=(",", ":"), ensure_ascii=False))
                separator = ","
            out.write("]}\n")
        else:
            for row in _rows(conn, job, outcome="invalid"):
                print(f"row {row['row']}\tinvalid\t" + "; ".join(
                    f"{e['field']}: {e['message']}" for e in row["errors"]), file=out)
            totals = {**csv_import.empty_totals(), **job["totals"]}
            print("\t".join(f"{name} {count}" for name, count in totals.items()), file=out)
    return 0


def _rows(conn, job: dict, outcome: str | None = None):
    """Every row outcome of the job, page by page (never all in memory)."""
    after = 1
    while True:
        page = sql.many(conn, "import_rows_page", import_id=job["id"], after=after, outcome=outcome,
                        limit=import_jobs.PAGE_MAX)
        for row in page:
            yield row["result"]
        if len(page) < import_jobs.PAGE_MAX:
            return
        after = page[-1]["result"]["row"]


class _Progress:
    """On a terminal, a bar redrawn in place; otherwise a line at most every PROGRESS_EVERY_S seconds (so none for
    a small file). Rows done (committed), of the file's rows, and rows per second."""

    def __init__(self, total: int, err):
        self.total, self.err = total, err
        self.tty = hasattr(err, "isatty") and err.isatty()
        self.started = self.last = time.monotonic()
        self.drawn = False

    def show(self, job: dict) -> None:
        now = time.monotonic()
        if not self.tty and now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        done = job["totals"].get("rows", 0)
        if job["status"] == "queued":
            text = "l2i import: queued, waiting for a free runner (limits: L2I_IMPORTS_PER_ACCOUNT, L2I_IMPORTS_TOTAL)"
        else:
            share = done / max(self.total, 1)
            bar = "#" * int(BAR_WIDTH * share) + "-" * (BAR_WIDTH - int(BAR_WIDTH * share))
            text = (f"l2i import: [{bar}] {done}/{self.total} rows ({int(100 * share)}%), "
                    f"{done / max(now - self.started, 1e-9):.0f} rows/s")
        if self.tty:
            print("\r" + text + "\x1b[K", end="", file=self.err, flush=True)
            self.drawn = True
        else:
            print(text, file=self.err, flush=True)

    def end(self, job: dict | None = None) -> None:
        if self.drawn:
            print(file=self.err)
        if job is not None:
            elapsed = time.monotonic() - self.started
            rows = job["totals"].get("rows", 0)
            print(f"l2i import: {rows} rows in {elapsed:.1f} s ({rows / max(elapsed, 1e-9):.0f} rows/s)",
                  file=self.err, flush=True)


def worker(database_url: str, threads: int | None = None) -> int:
    """Run import jobs until SIGTERM or Ctrl-C; the jobs in hand are given back for another runner."""
    from l2i.app import configure_logging
    configure_logging()  # the runner's lines (claimed, done, given back) on stderr, as in the service
    config = replace(Config.from_env(), database_url=database_url)
    runner = import_jobs.Runner(config, threads=threads or max(1, config.import_threads), name="l2i-worker")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    runner.start()
    print(f"l2i worker: {runner.threads} threads; at most {config.imports_per_account} import(s) at once per "
          f"account and {config.imports_total} in all", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    runner.stop(timeout=30)
    print("l2i worker: stopped", file=sys.stderr, flush=True)
    return 0
