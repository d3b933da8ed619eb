"""CSV import jobs: the file is stored at upload, then runners import it, away from any request.

The request (POST /v1/leads/import, or `l2i import`) checks the whole file as before (csv_import.scan), stores it in
import_chunks and queues a job (`store`); it answers 202 with the job's id at once, or, with `Prefer: wait=N`, the
final result if the job ends within N seconds (`wait_for_end`).

A `Runner` is a few threads with a connection pool of their own (so intake never waits for an import): each
claims one job at a time (l2i_import_claim, migration 0008: FOR UPDATE SKIP LOCKED, at most N jobs at once per
account and M in all) and runs it with `JobImport`, the import loop of csv_import.Import (the same parse_lead and
intake.submit as POST /v1/leads) with one change: each batch's leads, the rows' outcomes and the job's progress
commit together, after checking that the claim is still this runner's. gunicorn starts a runner in every worker
(get_app, after the fork); `l2i worker` runs one on any other host.

A runner that dies mid-batch loses that batch (rolled back with its connection); when its lease runs out, the next
claim resumes after the last committed row (imports.last_row), so every row is decided exactly once.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import replace
from typing import Callable

import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb

from l2i import csv_import, sql
from l2i.config import Config
from l2i.db import open_pool

log = logging.getLogger("l2i.imports")

CHUNK_BYTES = 256 * 1024   # one row of import_chunks
FINAL = ("done", "failed")
IDLE_POLL_S = 1.0          # an idle runner looks for a job this often (at once when this process stores one)
WAIT_POLL_S = 0.25         # a waiting request looks at its job this often (at once when a runner here ends it)
MAX_ATTEMPTS = 10          # claims of one job before it is given up as failed
PAGE_DEFAULT, PAGE_MAX = 100, 1000

# Notified when this process stores a job or one of its runners ends one: wakes idle runners and waiting requests.
_signal = threading.Condition()


def _notify() -> None:
    with _signal:
        _signal.notify_all()


class LostClaim(Exception):
    """The job's lease ran out and another runner claimed it: this runner must not commit anything more."""


class Stopping(Exception):
    """The runner is stopping: it gives its job back between two batches."""


# --- the request's side ---

def store(conn, spool, *, account_id, api_key_id, source: str | None, content_type: str | None,
          rows_total: int) -> dict:
    """Queue a job for a checked file: the job and its file's chunks in one transaction (a runner never sees a job
    whose file is incomplete). Reads the spool one chunk at a time."""
    size = spool.seek(0, io.SEEK_END)
    spool.seek(0)
    with conn.transaction():
        job = sql.one(conn, "import_create", account_id=account_id, api_key_id=api_key_id, source=source,
                      content_type=content_type, file_bytes=size, rows_total=rows_total)
        seq = 0
        while chunk := spool.read(CHUNK_BYTES):
            sql.run(conn, "import_chunk_add", import_id=job["id"], seq=seq, data=chunk)
            seq += 1
    _notify()
    log.info("import queued import_id=%s account=%s bytes=%s rows=%s", job["id"], account_id, size, rows_total)
    return job


def get(conn, import_id, account_id) -> dict | None:
    return sql.one(conn, "import_get", import_id=import_id, account_id=account_id)


def wait_for_end(pool, import_id, account_id, seconds: float) -> dict | None:
    """The job once it has ended, or as it is when `seconds` have passed. Holds no connection while it waits."""
    deadline = time.monotonic() + seconds
    while True:
        with pool.connection() as conn:
            job = get(conn, import_id, account_id)
        remaining = deadline - time.monotonic()
        if job is None or job["status"] in FINAL or remaining <= 0:
            return job
        with _signal:
            _signal.wait(min(WAIT_POLL_S, remaining))


def document(conn, job: dict, *, after: int = 1, limit: int = PAGE_DEFAULT, outcome: str | None = None) -> dict:
    """The job as GET /v1/imports/{id} answers it: status, progress, totals, and a page of row outcomes (the rows
    after row `after`, in file order). next_cursor is set when the page is full: ask for the rows after it."""
    rows = [r["result"] for r in sql.many(conn, "import_rows_page", import_id=job["id"], after=after,
                                          outcome=outcome, limit=limit)]
    totals = {**csv_import.empty_totals(), **job["totals"]}
    answer = {
        "id": job["id"],
        "status": job["status"],
        "source": job["source"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
        "progress": {"rows_total": job["rows_total"], "rows_done": totals["rows"]},
        "totals": totals,
        "rows": rows,
        "next_cursor": str(rows[-1]["row"]) if rows and len(rows) == limit else None,
    }
    if job["status"] == "failed":
        answer["failure"] = job["error"]
    return answer


# --- the runner's side ---

class StoredFile(io.RawIOBase):
    """The job's file, read from import_chunks one chunk at a time (wrap it in io.BufferedReader). Seekable, as
    the CSV reader may look at the first bytes and go back: every chunk but the last is CHUNK_BYTES long."""

    def __init__(self, conn, import_id, size: int):
        super().__init__()
        self.conn, self.import_id, self.size = conn, import_id, size
        self.position, self.seq, self.chunk = 0, None, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        seq, offset = divmod(self.position, CHUNK_BYTES)
        if seq != self.seq:
            row = sql.one(self.conn, "import_chunk", import_id=self.import_id, seq=seq)
            self.seq, self.chunk = seq, row["data"] if row else b""
        n = max(0, min(len(buffer), len(self.chunk) - offset))
        buffer[:n] = self.chunk[offset:offset + n]
        self.position += n
        return n


class JobImport(csv_import.Import):
    """csv_import.Import for a claimed job: rows up to the job's last_row were decided by an earlier run and are
    skipped (rows and blank are counted again as the file is read; the outcome counts come from the job). Each
    batch runs in one transaction that starts by renewing the lease (which locks the job's row until it commits)
    and ends by recording the outcomes and the progress, both only while the claim is still this runner's."""

    def __init__(self, conn, job: dict, lease_s: int, stopping: Callable[[], bool] = lambda: False):
        # The key's default campaign as it is now, for rows that name none (issue 11).
        key = sql.one(conn, "key_default_campaign", account_id=job["account_id"],
                                                   api_key_id=job["api_key_id"]) if job["api_key_id"] else None
        super().__init__(conn, account_id=job["account_id"], api_key_id=job["api_key_id"], source=job["source"],
                         default_campaign_id=key["default_campaign_id"] if key else None)
        self.import_id, self.claim_id, self.lease_s, self.stopping = job["id"], job["claim_id"], lease_s, stopping
        self.resume_after = job["last_row"]
        for name in csv_import.OUTCOMES:
            self.totals[name] = job["totals"].get(name, 0)

    def _commit(self, batch: list[tuple[int, list[str]]]) -> list[dict]:
        batch = [(number, item) for number, item in batch if number > self.resume_after]
        if not batch:
            return []
        if self.stopping():
            raise Stopping()
        claim = {"import_id": self.import_id, "claim_id": self.claim_id, "lease_s": self.lease_s}
        with self.conn.transaction():
            if sql.one(self.conn, "import_renew", **claim) is None:
                raise LostClaim()
            try:
                with self.conn.transaction():  # a savepoint: if the database refuses a row, replay one by one
                    outcomes = self._submit_all(batch)
            except (psycopg.errors.DataError, psycopg.errors.IntegrityError):
                outcomes = [self._submit_alone(number, item) for number, item in batch]
            totals = dict(self.totals)
            for outcome in outcomes:
                totals[outcome["outcome"]] += 1
            recorded = sql.one(self.conn, "import_record", **claim, last_row=batch[-1][0], totals=Jsonb(totals),
                               rows=Jsonb(outcomes))
            if not recorded["owned"]:
                raise LostClaim()  # rolls the batch back
        self.totals.update(totals)
        return outcomes


class Runner:
    """`threads` threads claiming and running jobs, on a pool of as many connections of their own.
    import_id: run that job only (`l2i import`)."""

    def __init__(self, config: Config, *, threads: int | None = None, import_id=None, name: str = "l2i-imports"):
        self.config = config
        self.threads = config.import_threads if threads is None else threads
        self.import_id, self.name = import_id, name
        self.pool = open_pool(replace(config, pool_size=max(1, self.threads)), name=name,
                              application_name="l2i-imports")
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> "Runner":
        for n in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"{self.name}-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)
        log.info("import runner started threads=%s per_account=%s total=%s", self.threads,
                 self.config.imports_per_account, self.config.imports_total)
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop after the current batches: their jobs are given back at once, for another runner to resume."""
        self._stop.set()
        _notify()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.pool.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_one()
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                log.warning("import runner: database unavailable error=%s", type(exc).__name__)
                worked = False
            except Exception:
                log.exception("import runner: unexpected error")
                worked = False
            if not worked:
                with _signal:
                    if not self._stop.is_set():
                        _signal.wait(IDLE_POLL_S)

    def run_one(self) -> bool:
        """Claim one job and run it until it ends (or the runner stops); False if no job could be claimed."""
        with self.pool.connection() as conn:
            job = sql.one(conn, "import_claim", max_total=self.config.imports_total,
                          max_per_account=self.config.imports_per_account, lease_s=self.config.import_lease_s,
                          import_id=self.import_id)
            if job is None:
                return False
            try:
                self._run(conn, job)
            finally:
                _notify()
            return True

    def _run(self, conn, job: dict) -> None:
        ids = f"import_id={job['id']} account={job['account_id']} attempt={job['attempts']}"
        claim = {"import_id": job["id"], "claim_id": job["claim_id"]}
        if job["attempts"] > MAX_ATTEMPTS:
            sql.one(conn, "import_fail", **claim, error=f"given up after {MAX_ATTEMPTS} attempts")
            log.warning("import failed: too many attempts %s", ids)
            return
        log.info("import started %s after_row=%s", ids, job["last_row"])
        work = JobImport(conn, job, self.config.import_lease_s, self._stop.is_set)
        try:
            for _ in work.batches(io.BufferedReader(StoredFile(conn, job["id"], job["file_bytes"]), CHUNK_BYTES)):
                pass
            if sql.one(conn, "import_finish", **claim, totals=Jsonb(work.totals))["owned"]:
                log.info("import done %s rows=%s", ids, work.totals["rows"])
            else:
                log.warning("import lost its claim at the end %s", ids)
        except Stopping:
            sql.run(conn, "import_release", **claim)
            log.info("import given back: the runner is stopping %s", ids)
        except LostClaim:
            log.warning("import lost its claim (its lease ran out): another runner has it %s", ids)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("import stopped: database unavailable %s error=%s", ids, type(exc).__name__)
            try:
                sql.run(conn, "import_release", **claim)
            except psycopg.Error:
                pass  # the lease runs out by itself
        except csv_import.FileError as exc:
            sql.one(conn, "import_fail", **claim, error=str(exc))
            log.warning("import failed: the file cannot be read %s", ids)
        except Exception:
            log.exception("import failed: unexpected error %s", ids)
            sql.one(conn, "import_fail", **claim,
                    error=f"Something went wrong on our side (logged with import_id={job['id']}); the rows "
                          "listed are stored, the others are not.")


# --- the runner in each gunicorn worker ---

_local: Runner | None = None


def start_local_runner(config: Config) -> Runner | None:
    """Called by get_app() in each gunicorn worker, after the fork. L2I_IMPORT_THREADS=0: none here."""
    global _local
    if _local is None and config.import_threads > 0:
        _local = Runner(config).start()
    return _local


def stop_local_runner(timeout: float = 10) -> None:
    global _local
    if _local is not None:
        _local.stop(timeout)
        _local = None
