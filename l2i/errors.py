"""One error shape for every HTTP error.

Every error response, whether raised by l2i or by Falcon itself (404, 405, ...), has this JSON body:

    {"error": {"code": "validation_failed", "message": "...", "request_id": "...",
               "fields": [{"field": "phone", "code": "invalid", "message": "..."}]}}

`fields` is present on 422 only. `code` is stable and machine-readable; `message` is for people.
"""

from __future__ import annotations

import logging
import math

import falcon
import psycopg
import psycopg_pool

from l2i.logs import log_path

log = logging.getLogger("l2i.errors")

# The code for errors Falcon raises itself, by status.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

_MESSAGES = {
    404: "There is nothing at this path.",
    405: "This path does not take this method.",
}


class APIError(falcon.HTTPError):
    """An error with a stable code and, for validation, the list of field errors."""

    def __init__(self, status, code: str, message: str, *, fields: list[dict] | None = None, headers=None):
        super().__init__(status, title=code, description=message, headers=headers, code=code)
        self.fields = fields


class FieldError(Exception):
    """One field failed validation; collected into a 422 by the caller."""

    def __init__(self, field: str, code: str, message: str):
        super().__init__(message)
        self.field, self.code, self.message = field, code, message

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class ClientTimeout(TimeoutError):
    """The client sent its request body too slowly (l2i/guard.py): a 408, and the connection is closed."""


def validation_failed(errors: list[FieldError]) -> APIError:
    count = len(errors)
    return APIError(
        falcon.HTTP_422,
        "validation_failed",
        f"The request failed validation ({count} field error{'s' if count != 1 else ''}).",
        fields=[e.as_dict() for e in errors],
    )


def unauthorized(message: str) -> APIError:
    return APIError(falcon.HTTP_401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def rate_limit_headers(resp, hit: dict) -> None:
    """X-RateLimit-Limit/Remaining/Reset from one fixed-window count (a key_hit, source_hit or postback token row:
    rate_limit, hits, reset_at)."""
    resp.set_header("X-RateLimit-Limit", str(hit["rate_limit"]))
    resp.set_header("X-RateLimit-Remaining", str(max(0, hit["rate_limit"] - hit["hits"])))
    resp.set_header("X-RateLimit-Reset", str(hit["reset_at"]))


def refuse_over_limit(hit: dict, allowance: str) -> None:
    """A 429 with Retry-After (the seconds left in the window, at least 1) once the window's count is over the
    limit. allowance says what the limit is, e.g. "This API key may make 120 requests a minute"."""
    if hit["hits"] > hit["rate_limit"]:
        wait = max(1, math.ceil(hit["reset_at"] - float(hit["now_epoch"])))
        raise APIError(falcon.HTTP_429, "rate_limited", f"{allowance}; retry in {wait} s.",
                       headers={"Retry-After": str(wait)})

def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    status = exc.status_code
    code = exc.code if isinstance(exc.code, str) else _CODES.get(status, "error")
    message = exc.description or _MESSAGES.get(status) or exc.title or falcon.code_to_http_status(status)
    body = {"code": code, "message": message, "request_id": req.context.get("request_id")}
    if getattr(exc, "fields", None):
        body["fields"] = exc.fields
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"error": body}


# SQLSTATEs that mean "the database cannot do this now; the same request will work later" (PostgreSQL's
# Appendix A, https://www.postgresql.org/docs/15/errcodes-appendix.html). Not all are OperationalErrors in
# psycopg: 25006 (read_only_sql_transaction: a standby, a failover in progress, default_transaction_read_only)
# is an InternalError, and without this list it was a 500 on every route that writes.
RETRY_LATER_SQLSTATES = frozenset({
    "25006",  # read_only_sql_transaction
    "25P03",  # idle_in_transaction_session_timeout
    "25P04",  # transaction_timeout (PostgreSQL 17)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now (starting up, in recovery without hot standby)
    "57P04",  # database_dropped
    "57P05",  # idle_session_timeout
    "58000",  # system_error
    "58030",  # io_error
    "53000", "53100", "53200", "53300", "53400",  # insufficient resources: disk, memory, too many connections
    "08000", "08001", "08003", "08004", "08006", "08007", "08P01",  # connection exceptions
})


def retry_later(exc: BaseException) -> bool:
    """The database error is one to retry: a connection or pool failure, or a try-again SQLSTATE."""
    if isinstance(exc, (psycopg_pool.PoolTimeout, psycopg.OperationalError)):
        return True
    return isinstance(exc, psycopg.Error) and exc.sqlstate in RETRY_LATER_SQLSTATES


def _database_unavailable(config_retry_after: int):
    def handle(req, resp, exc, params):
        if not retry_later(exc):
            _unexpected(req, resp, exc, params)
        # The database is down, restarting, read-only, overloaded or too slow: a clean 503 the client can retry.
        log.warning("database unavailable request_id=%s error=%s: %s",
                    req.context.get("request_id"), type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        raise APIError(falcon.HTTP_503, "unavailable",
                       "The database is unavailable; retry after the number of seconds in Retry-After.",
                       headers={"Retry-After": str(config_retry_after)})
    return handle


def _unexpected(req, resp, exc, params):
    log.exception("unhandled error request_id=%s method=%s path=%s",
                  req.context.get("request_id"), req.method, log_path(req.path))
    raise APIError(falcon.HTTP_500, "internal_error", "Something went wrong on our side; it has been logged.")


def _client_timeout(req, resp, exc, params):
    raise APIError(falcon.HTTP_408, "request_timeout", str(exc))


def install(app: falcon.App, retry_after_s: int) -> None:
    app.set_error_serializer(serialize)
    # Falcon picks the handler registered for the nearest class in the exception's MRO, so HTTPError keeps
    # Falcon's own handler (and this serializer). OperationalError covers lost connections, server shutdown
    # and statement_timeout (QueryCanceled); PoolTimeout, no free connection in time; any other database error
    # is a 503 when its SQLSTATE says "try again" (RETRY_LATER_SQLSTATES), else a 500.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(psycopg.Error, _database_unavailable(retry_after_s))
    app.add_error_handler(psycopg_pool.PoolTimeout, _database_unavailable(retry_after_s))
    app.add_error_handler(ClientTimeout, _client_timeout)
