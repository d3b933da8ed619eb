"""POST /v1/leads/import (scope write): a CSV file of leads, queued as a job; GET /v1/imports/{id} (scope read or
write): the job's progress and every row's outcome.

The body is spooled (in memory up to SPOOL_IN_MEMORY bytes, then on disk) and checked whole before anything is
stored: a malformed file is refused at once (400/422) and stores nothing. A good file is stored with its job
(l2i/import_jobs.py) and the answer is 202 with the job's Location; runners import it, away from the request
threads and their connections. `Prefer: wait=N` (RFC 7240) waits up to N seconds (at most L2I_IMPORT_MAX_WAIT_S)
for the job's end and then answers 200 with the result, but only when every row was decided and committed. The
request counts once against the key's rate limit.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import uuid

import falcon

from l2i import csv_import, import_jobs
from l2i.bodies import MULTIPART_TYPE, Multipart, media_type, query_fields, read_multipart, request_stream
from l2i.errors import APIError, FieldError, validation_failed

log = logging.getLogger("l2i.import")

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")
# A file part's type is what the sender's browser or tool guessed from the file name: curl says
# application/octet-stream for .csv, Windows browsers application/vnd.ms-excel. The file's bytes decide.
FILE_PART_TYPES = (*CSV_TYPES, "", "application/octet-stream", "application/vnd.ms-excel")
CHARSETS = ("utf-8", "utf8", "us-ascii", "utf-16", "utf-16le", "utf-16be")  # the file's own bytes decide which
SPOOL_IN_MEMORY = 1 << 20
_CHUNK = 1 << 16
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)
_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d{1,9})\"?\s*$", re.IGNORECASE)
OUTCOME_FILTERS = ("created", "duplicate", "ineligible", "invalid")


class _Waiting:
    """How long a request may wait for its job (Prefer: wait=N), and how many requests of this process may wait at
    once: a waiting request holds a request thread (never a connection), so the others are answered 202 at once
    (a server may ignore a preference, RFC 7240 section 2)."""

    def __init__(self, pool, config):
        self.pool, self.max_wait_s = pool, config.import_max_wait_s
        self.slots = threading.BoundedSemaphore(config.import_waiters) if config.import_waiters else None

    def preferred(self, req) -> int | None:
        for preference in (req.get_header("Prefer") or "").split(","):
            match = _WAIT.match(preference.split(";")[0])
            if match:
                return min(int(match[1]), self.max_wait_s)
        return None

    def job(self, req, job: dict) -> dict:
        seconds = self.preferred(req)
        if not seconds or job["status"] in import_jobs.FINAL or self.slots is None:
            return job
        if not self.slots.acquire(blocking=False):
            return job
        try:
            return import_jobs.wait_for_end(self.pool, job["id"], job["account_id"], seconds) or job
        finally:
            self.slots.release()


def _answer(pool, resp, job: dict, page: dict) -> None:
    """200 with the result when the job is done; 202 while it is queued or running (the caller polls Location);
    a failed job is an error, never a 200."""
    location = f"/v1/imports/{job['id']}"
    resp.set_header("Content-Location", location)
    if job["status"] == "failed":
        raise APIError(falcon.HTTP_500, "import_failed", f"The import {job['id']} failed: {job['error']} "
                       f"(GET {location} lists the rows decided before it stopped).")
    with pool.connection() as conn:
        resp.media = import_jobs.document(conn, job, **page)
    if job["status"] != "done":
        resp.status = falcon.HTTP_202
        resp.location = location
        resp.set_header("Retry-After", "1")


class LeadsImport:
    scopes = {"POST": "write"}

    def __init__(self, pool, config):
        self.pool = pool
        self.max_import_bytes = config.max_import_bytes
        self.waiting = _Waiting(pool, config)

    def on_post(self, req, resp):
        query, content_type = query_fields(req), req.content_type
        if media_type(req) == MULTIPART_TYPE:
            spool, form = self._spool_upload(req)
            query.setdefault("source", dict(form.pairs).get("source"))
            content_type = form.file_type
        else:
            _check_type(content_type)
            spool = self._spool(req)
        key = req.context.key
        with spool:
            source = _source(query)
            try:
                rows_total = csv_import.scan(spool)
            except csv_import.FileError as exc:
                raise exc.api_error() from None
            with self.pool.connection() as conn:
                job = import_jobs.store(conn, spool, account_id=key["account_id"], api_key_id=key["id"],
                                        source=source, content_type=content_type, rows_total=rows_total)
        log.info("import accepted request_id=%s import_id=%s", req.context.request_id, job["id"])
        _answer(self.pool, resp, self.waiting.job(req, job), {})

    def _too_large(self) -> APIError:
        return APIError(falcon.HTTP_413, "payload_too_large",
                        f"The file may be at most {self.max_import_bytes} bytes (L2I_MAX_IMPORT_BYTES); "
                        "split it, or import it with `l2i import`.")

    def _spool(self, req) -> tempfile.SpooledTemporaryFile:
        if req.content_length is not None and req.content_length > self.max_import_bytes:
            raise self._too_large()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="l2i-import-")
        try:
            # request_stream: chunked uploads too; _Bounded: never more than the limit
            stream = _Bounded(request_stream(req), self.max_import_bytes, self._too_large)
            while chunk := stream.read(_CHUNK):
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def _spool_upload(self, req) -> tuple[tempfile.SpooledTemporaryFile, Multipart]:
        """A multipart/form-data upload (a browser form's or `curl -F file=@leads.csv`): its first file part is
        spooled as it arrives, the whole body bounded like a plain upload; its other parts are small text fields."""
        if req.content_length is not None and req.content_length > self.max_import_bytes:
            raise self._too_large()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="l2i-import-")
        try:
            form = read_multipart(_Bounded(request_stream(req), self.max_import_bytes, self._too_large),
                                  req.content_type, file_to=spool, max_text_bytes=4096)
            if form.file_name is None:
                raise validation_failed([FieldError("file", "required", "send the CSV file as a file part "
                                                    "(curl -F file=@leads.csv)")])
            _check_type(form.file_type, FILE_PART_TYPES)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, form


class _Bounded:
    """A request stream that refuses to give more than max_bytes (413), whatever Content-Length said."""

    def __init__(self, stream, max_bytes: int, too_large):
        self.stream, self.left, self.too_large = stream, max_bytes, too_large

    def read(self, size: int) -> bytes:
        chunk = self.stream.read(size)
        self.left -= len(chunk)
        if self.left < 0:
            raise self.too_large()
        return chunk


def _check_type(content_type: str | None, types: tuple = CSV_TYPES) -> None:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind not in types:
        raise APIError(falcon.HTTP_415, "unsupported_media_type", "Send the file as text/csv (UTF-8), or as the "
                       "file part of a multipart/form-data form"
                       + (f", not {kind}." if kind else " (the Content-Type header is missing)."))
    charset = _CHARSET.search(content_type or "")
    if charset and charset[1].lower() not in CHARSETS:
        raise APIError(falcon.HTTP_415, "unsupported_media_type",
                       f"Send the file as UTF-8 or UTF-16, not {charset[1]} (save it as CSV UTF-8).")


def _source(query: dict) -> str | None:
    value = query.get("source")
    if isinstance(value, list):
        raise validation_failed([FieldError("source", "repeated", "must be given once")])
    try:
        return csv_import.check_source(value)
    except FieldError as exc:
        raise validation_failed([exc]) from None


class ImportsItem:
    """GET /v1/imports/{import_id}: the job as it is now (200 whatever its status), with a page of row outcomes:
    limit (1-1000, default 100), cursor (a next_cursor), outcome (created, duplicate, ineligible or invalid only).
    Prefer: wait=N waits for the job's end as the POST does. A key with write scope may read the imports it sent."""

    scopes = {"GET": ("read", "write")}

    def __init__(self, pool, waiting: _Waiting):
        self.pool = pool
        self.waiting = waiting  # the POST's: one count of waiting requests for the process

    def on_get(self, req, resp, import_id):
        try:
            import_uuid = uuid.UUID(import_id)
        except ValueError:
            raise _not_found() from None
        page = _page(query_fields(req))
        account_id = req.context.key["account_id"]
        with self.pool.connection() as conn:
            job = import_jobs.get(conn, import_uuid, account_id)
        if job is None:
            raise _not_found()
        job = self.waiting.job(req, job)
        with self.pool.connection() as conn:
            resp.media = import_jobs.document(conn, job, **page)
        if job["status"] not in import_jobs.FINAL:
            resp.set_header("Retry-After", "1")


def _not_found() -> APIError:
    return APIError(falcon.HTTP_404, "not_found", "There is no such import in your account.")


def _page(query: dict) -> dict:
    errors, page = [], {}
    for name in ("limit", "cursor", "outcome"):
        if isinstance(query.get(name), list):
            errors.append(FieldError(name, "repeated", "must be given once"))
            query.pop(name)
    limit = query.get("limit")
    if limit is not None:
        if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= import_jobs.PAGE_MAX):
            errors.append(FieldError("limit", "invalid", f"must be a whole number from 1 to {import_jobs.PAGE_MAX}"))
        else:
            page["limit"] = int(limit)
    cursor = query.get("cursor")
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 9):
            errors.append(FieldError("cursor", "invalid", "must be a next_cursor from an earlier page"))
        else:
            page["after"] = int(cursor)
    outcome = query.get("outcome")
    if outcome is not None:
        if outcome not in OUTCOME_FILTERS:
            errors.append(FieldError("outcome", "invalid", "must be one of " + ", ".join(OUTCOME_FILTERS)))
        else:
            page["outcome"] = outcome
    if errors:
        raise validation_failed(errors)
    return page
