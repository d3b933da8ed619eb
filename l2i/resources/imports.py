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
from l2i.bodies import MULTIPART_TYPE, Multipart, media_type, query_fields, read_multipart
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


class LeadsImport:
    scopes = {"POST": "write"}

    def __init__(self, pool, max_import_bytes: int):
        self.pool = pool
        self.max_import_bytes = max_import_bytes

    def on_post(self, req, resp):
        query = query_fields(req)
        if media_type(req) == MULTIPART_TYPE:
            spool, form = self._spool_upload(req)
            query.setdefault("source", dict(form.pairs).get("source"))
        else:
            _check_type(req.content_type)
            spool = self._spool(req)
        try:
            source = _source(query)
            csv_import.scan(spool)
            conn = self.pool.getconn()
        except csv_import.FileError as exc:
            spool.close()
            raise exc.api_error() from None
        except BaseException:
            spool.close()
            raise
        key = req.context.key
        job = csv_import.Import(conn, account_id=key["account_id"], api_key_id=key["id"], source=source)
        resp.content_type = falcon.MEDIA_JSON
        resp.stream = _Answer(self.pool, conn, spool, job, req.context.request_id)

    def _too_large(self) -> APIError:
        return APIError(falcon.HTTP_413, "payload_too_large",
                        f"The file may be at most {self.max_import_bytes} bytes (L2I_MAX_IMPORT_BYTES); "
                        "split it, or import it with `l2i import`.")

    def _spool(self, req) -> tempfile.SpooledTemporaryFile:
        if req.content_length is not None and req.content_length > self.max_import_bytes:
            raise self._too_large()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, prefix="l2i-import-")
        try:
            stream = _Bounded(req.bounded_stream, self.max_import_bytes, self._too_large)
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
            form = read_multipart(_Bounded(req.bounded_stream, self.max_import_bytes, self._too_large),
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
