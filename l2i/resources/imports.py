"""POST /v1/leads/import (scope write): a CSV file of leads, each through the same intake as POST /v1/leads.

The body is spooled (in memory up to SPOOL_IN_MEMORY bytes, then on disk) and checked whole before anything is
stored; the answer is then streamed while the rows are imported, one chunk per committed batch, so that neither
the file nor the list of outcomes is ever held in memory. The request counts once against the key's rate limit.
"""

from __future__ import annotations

import logging
import re
import tempfile

import falcon
import psycopg
import psycopg_pool

from l2i import csv_import
from l2i.bodies import media_type, query_fields
from l2i.errors import APIError, FieldError, validation_failed

log = logging.getLogger("l2i.import")

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")
CHARSETS = ("utf-8", "utf8", "us-ascii", "utf-16", "utf-16le", "utf-16be")  # the file's own bytes decide which
SPOOL_IN_MEMORY = 1 << 20
_CHUNK = 1 << 16
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]+)", re.IGNORECASE)


class LeadsImport:
    scopes = {"POST": "write"}

    def __init__(self, pool, max_import_bytes: int):
        self.pool = pool
        self.max_import_bytes = max_import_bytes

    def on_post(self, req, resp):
        kind = media_type(req)
        if kind not in CSV_TYPES:
            raise APIError(falcon.HTTP_415, "unsupported_media_type", "Send the file as text/csv (UTF-8)"
                           + (f", not {kind}." if kind else " (the Content-Type header is missing)."))
        charset = _CHARSET.search(req.content_type or "")
        if charset and charset[1].lower() not in CHARSETS:
            raise APIError(falcon.HTTP_415, "unsupported_media_type",
                           f"Send the file as UTF-8 or UTF-16, not {charset[1]} (save it as CSV UTF-8).")
        source = _source(query_fields(req))
        spool = self._spool(req)
        try:
            csv_import.scan(spool)
            conn = self.pool.getconn()
        except csv_import.FileError as exc:
            spool.close()
            raise exc.api_error() from None
        except BaseException:
            spool.close()
            raise
        key = req.context.key
        job = csv_import.Import(conn, account_id=key["account_id"], api_key_id=key["id"], source=source,
                                default_campaign_id=key["default_campaign_id"])
        resp.content_type = falcon.MEDIA_JSON
        resp.stream = _Answer(self.pool, conn, spool, job, req.context.request_id)

    def _spool(self, req) -> tempfile.SpooledTemporaryFile:
        too_large = APIError(falcon.HTTP_413, "payload_too_large",
                             f"The file may be at most {self.max_import_bytes} bytes (L2I_MAX_IMPORT_BYTES); "
                             "split it, or import it with `l2i import`.")
        if req.content_length is not None and req.content_length > self.max_import_bytes:
            raise too_large
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="l2i-import-")
        size = 0
        try:
            while chunk := req.bounded_stream.read(_CHUNK):
                size += len(chunk)
                if size > self.max_import_bytes:
                    raise too_large
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool


def _source(query: dict) -> str | None:
    value = query.get("source")
    if isinstance(value, list):
        raise validation_failed([FieldError("source", "repeated", "must be given once")])
    try:
        return csv_import.check_source(value)
    except FieldError as exc:
        raise validation_failed([exc]) from None


class _Answer:
    """The streamed JSON answer. It owns the pooled connection and the spooled file, and gives both back when
    the server closes it, whether the answer was sent whole, cut short, or never started.

    If the database fails part-way, the rows already listed are stored (their batches were committed), the rest
    are not, and the answer ends with an "error" member in the standard error shape: send the file again, the
    stored rows come back as duplicates."""

    def __init__(self, pool, conn, spool, job: csv_import.Import, request_id: str):
        self.pool, self.conn, self.spool, self.job, self.request_id = pool, conn, spool, job, request_id
        self.chunks = csv_import.json_chunks(job, self._batches(), self._error)
        self.closed = False

    def _batches(self):
        try:
            yield from self.job.batches(self.spool)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("import stopped: database unavailable request_id=%s rows=%s error=%s",
                        self.request_id, self.job.totals["rows"], type(exc).__name__)
            self.error = ("unavailable", "The database failed part-way: the rows listed are stored, the others "
                          "are not. Send the file again: the stored rows will come back as duplicate.")
        except Exception:
            log.exception("import stopped: unexpected error request_id=%s", self.request_id)
            self.error = ("internal_error", "Something went wrong on our side part-way (it has been logged): the "
                          "rows listed are stored, the others are not.")

    error = None

    def _error(self) -> dict:
        if self.error is None:
            return {}
        code, message = self.error
        return {"error": {"code": code, "message": message, "request_id": self.request_id}}

    def __iter__(self):
        return self.chunks

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.chunks.close()
        finally:
            self.spool.close()
            self.pool.putconn(self.conn)
