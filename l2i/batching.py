"""Group commit for single-lead posts (L2I_INTAKE_BATCH > 1: under gunicorn, the worker's threads): the leads one
worker process is taking in at the same moment share one transaction and one round trip to the database.

Without it, each POST /v1/leads (or source post) holds a connection of its own to send one lead_intake and wait
for its own commit: as many backends as request threads, one WAL flush and one round trip per lead. Here the
thread that finds no batch running leads one: it takes the leads queued by then (its own first; at most
L2I_INTAKE_BATCH), sends them in one pipeline inside one transaction, commits, and hands each thread its row. The
threads that queue meanwhile wait, and the first of them leads the next batch. A lead that finds nothing running
and nobody queued (a service at rest) goes alone, one statement in autocommit, as before.

What stays as it was, lead by lead:
- a lead is answered only once the transaction that stores it has committed;
- the gates and the dedupe are lead_intake's, on the same unique key: two posts of one number in one batch are
  decided as if one came after the other (the second is the duplicate of the first);
- rate limits are counted before, one statement per request (l2i.middleware);
- a batch the database refuses (one lead's data, a deadlock or a serialization failure with another writer, a
  statement timeout) is replayed lead by lead, each in its own transaction, so each lead gets what it would have
  got alone. A lost connection is every lead's error, as it would have been for each.
Within a batch the leads go in (account, phone) order, so that two workers' batches take the numbers' dedupe
keys in the same order and cannot wait on each other in a cycle.

Measured (docs/scaling.md, l2i/gunicorn_conf.py): PostgreSQL CPU per intake 0.77 -> 0.59 ms at 32 connections on
the 2-core bench machine; throughput there within the noise (Python is the larger half), p99 57 -> 66 ms.
"""

from __future__ import annotations

import threading

import psycopg

from l2i import intake


class _Lead:
    """One thread's lead in the queue: its parameters, then its row or its error."""

    __slots__ = ("params", "done", "leads", "row", "error")

    def __init__(self, params: dict):
        self.params = params
        self.done = threading.Event()
        self.leads = False  # set before done: this thread leads the next batch
        self.row: dict | None = None
        self.error: BaseException | None = None

    def answer(self) -> dict:
        if self.error is not None:
            raise self.error
        return self.row


class IntakeBatcher:
    def __init__(self, pool, max_batch: int):
        self.pool = pool
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Lead] = []
        self._running = False

    def submit(self, params: dict) -> dict:
        """lead_intake's row for params (intake.intake_params), once committed; raises what the database raised
        for this lead."""
        if self.max_batch == 1:  # off: each post on a connection of its own, at once
            with self.pool.connection() as conn:
                return intake.send(conn, params).fetchone()
        mine = _Lead(params)
        with self._lock:
            self._queue.append(mine)
            leading = not self._running
            self._running = True
        if not leading:
            mine.done.wait()
            if not mine.leads:
                return mine.answer()
        with self._lock:  # mine is first in the queue: queued into an idle batcher, or handed the lead
            batch = self._queue[:self.max_batch]
            del self._queue[:self.max_batch]
        try:
            self._run(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.leads = True
                    following.done.set()
                else:
                    self._running = False
        return mine.answer()

    def _run(self, batch: list[_Lead]) -> None:
        try:
            with self.pool.connection() as conn:
                if len(batch) == 1:
                    self._alone(conn, batch[0])
                else:
                    self._together(conn, batch)
        except BaseException as exc:  # no connection, or it broke: each lead without an answer gets the error
            for lead in batch:
                if lead.row is None and lead.error is None:
                    lead.error = exc
        finally:
            for lead in batch:
                lead.done.set()

    @staticmethod
    def _alone(conn, lead: _Lead) -> None:
        try:
            lead.row = intake.send(conn, lead.params).fetchone()
        except psycopg.Error as exc:
            if conn.broken:
                raise
            lead.error = exc

    def _together(self, conn, batch: list[_Lead]) -> None:
        ordered = sorted(batch, key=lambda lead: (str(lead.params["account_id"]), lead.params["phone"]))
        try:
            with conn.transaction():
                with conn.pipeline():
                    sent = [intake.send(conn, lead.params) for lead in ordered]
                rows = [cursor.fetchone() for cursor in sent]
        except psycopg.Error:
            if conn.broken:
                raise
            for lead in ordered:  # rolled back: each again, alone
                self._alone(conn, lead)
            return
        for lead, row in zip(ordered, rows):
            lead.row = row
