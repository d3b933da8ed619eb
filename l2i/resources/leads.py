"""POST /v1/leads (scope write, or a source token), GET /v1/leads and GET /v1/leads/{lead_id} (scope read)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import falcon

from l2i import sql
from l2i.bodies import query_fields
from l2i.errors import APIError, FieldError, validation_failed
from l2i.fields import LEAD_COLUMNS, first_bad_text, parse_timestamp
from l2i.resources.sources import Intake

# The lead state machine (sql/migrations/0003_dialing.sql: leads_status_check, l2i_lead_transition_allowed).
STATUSES = ("new", "ineligible", "dialing", "qualified", "transferred", "not_interested", "not_qualified",
            "unreached", "wrong_number", "opted_out", "expired", "removed")
ATTRIBUTION = ("sub_id", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer",
               "landing_page")
CONTACT = tuple(name for name in LEAD_COLUMNS if name not in ATTRIBUTION)
PAGE_DEFAULT, PAGE_MAX = 20, 100
_NEWEST = ("infinity", "ffffffff-ffff-ffff-ffff-ffffffffffff")


class LeadsCollection:
    scopes = {"POST": "write", "GET": "read"}
    # POST also takes a source token instead of a key (?lead_token=, a lead_token field, X-Source-Id/X-Source-Key):
    # without an Authorization header, l2i.resources.sources.Intake authenticates the source.
    source_methods = ("POST",)

    def __init__(self, pool, config, batcher, clock=lambda: None):
        """batcher: the worker's group commit (l2i.batching). clock: the instant intake decides the calling window
        at; None (the service) = the database's now()."""
        self.pool = pool
        self.intake = Intake(pool, config, batcher, clock)

    def on_post(self, req, resp):
        self.intake.post(req, resp)

    def on_get(self, req, resp):
        params, errors = _page_params(query_fields(req))
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            rows = sql.many(conn, "leads_page", account_id=req.context.key["account_id"], **params)
        more = len(rows) > params["limit"] - 1
        rows = rows[: params["limit"] - 1]
        resp.media = {"data": rows, "next_cursor": _cursor(rows[-1]) if more and rows else None}


class LeadsItem:
    scopes = {"GET": "read"}

    def __init__(self, pool):
        self.pool = pool

    def on_get(self, req, resp, lead_id):
        try:
            lead_uuid = uuid.UUID(lead_id)
        except ValueError:
            raise _not_found() from None
        with self.pool.connection() as conn:
            row = sql.one(conn, "lead_get", id=lead_uuid, account_id=req.context.key["account_id"])
        if row is None:
            raise _not_found()
        resp.media = lead_document(row)


def lead_document(row: dict) -> dict:
    """The whole lead as GET /v1/leads/{id} shows it."""
    queued = row["queue_not_before"] is not None
    return {
        "id": row["id"],
        "status": row["status"],
        "reasons": row["reasons"],
        "phone": row["phone"],
        "campaign": row["campaign"],
        **{name: row[name] for name in CONTACT},
        "consent": row["consent"],
        "attribution": {name: row[name] for name in ATTRIBUTION},
        "custom": row["custom"],
        "extra": row["extra"],
        "gates": row["gates"],
        "queue": {"not_before": row["queue_not_before"], "enqueued_at": row["queue_enqueued_at"],
                  "lease_expires_at": row["queue_leased_until"]} if queued else None,
        "priority": row["priority"],
        "expires_at": row["expires_at"],
        "attempts": row["attempts"],
        "closed_at": row["closed_at"],
        "cost_cents": row["cost_cents"],
        "transfer": row["transfer"],
        "events": row["events"],
        "duplicate_count": row["duplicate_count"],
        "last_duplicate_at": row["last_duplicate_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _not_found():
    return APIError(falcon.HTTP_404, "not_found", "No lead with this id in your account.")


def _single(query: dict, name: str, errors: list[FieldError]) -> str | None:
    value = query.get(name)
    if isinstance(value, list):
        errors.append(FieldError(name, "repeated", "must be given once"))
        return None
    return value.strip() if value and value.strip() else None


def _page_params(query: dict) -> tuple[dict, list[FieldError]]:
    errors: list[FieldError] = []
    params = {"status": _single(query, "status", errors), "source": _single(query, "source", errors)}
    if params["status"] is not None and params["status"] not in STATUSES:
        errors.append(FieldError("status", "invalid", f"must be one of: {', '.join(STATUSES)}"))
    if params["source"] is not None and first_bad_text(params["source"]) is not None:
        errors.append(FieldError("source", "invalid", "may not contain NUL bytes"))

    raw_limit = _single(query, "limit", errors)
    limit = PAGE_DEFAULT
    if raw_limit is not None:
        if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= PAGE_MAX:
            errors.append(FieldError("limit", "invalid", f"must be a whole number from 1 to {PAGE_MAX}"))
        else:
            limit = int(raw_limit)
    params["limit"] = limit + 1  # one more than asked tells whether there is a next page

    for name, default in (("since", "-infinity"), ("until", "infinity")):
        raw = _single(query, name, errors)
        parsed = parse_timestamp(raw) if raw is not None else None
        if raw is not None and parsed is None:
            errors.append(FieldError(name, "invalid", "must be an ISO 8601 time or Unix seconds"))
        params[name] = parsed or default

    params["before_created"], params["before_id"] = _NEWEST
    raw_cursor = _single(query, "cursor", errors)
    if raw_cursor is not None:
        try:
            created, lead_id = base64.urlsafe_b64decode(raw_cursor + "=" * (-len(raw_cursor) % 4)).decode().split("|")
            params["before_created"], params["before_id"] = datetime.fromisoformat(created), uuid.UUID(lead_id)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            errors.append(FieldError("cursor", "invalid", "is not a cursor this API returned"))
    return params, errors


def _cursor(row: dict) -> str:
    raw = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
