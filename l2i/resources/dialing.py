"""The dialing side: POST /v1/dial-queue/claim and POST /v1/leads/{lead_id}/outcome (scope dial), and the
seller's POST /v1/leads/{lead_id}/remove and POST /v1/leads/{lead_id}/requeue (scope write).

Every statement takes the time from `clock`: a callable that returns None in the service (the database's
now()) and a fixed instant in tests, which is how the tests pin calling windows and leases without mocking.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import falcon
import psycopg
from psycopg.types.json import Jsonb

from l2i import phones, sql
from l2i.bodies import body_fields
from l2i.errors import APIError, FieldError, validation_failed
from l2i.fields import first_bad_text as first_bad, parse_timestamp

Clock = Callable[[], "datetime | None"]

OUTCOMES = ("no_answer", "busy", "voicemail", "not_interested", "not_qualified", "wrong_number", "qualified",
            "transferred", "opted_out")
RETRY_OUTCOMES = ("no_answer", "busy", "voicemail")
TRANSFER_FIELDS = ("destination", "caller_id", "transferred_at")
CLAIM_LIMIT_MAX, CLAIM_LIMIT_DEFAULT = 100, 10
LEASE_MIN, LEASE_MAX, LEASE_DEFAULT = 10, 3600, 300
FUTURE_SKEW = timedelta(minutes=5)  # a transferred_at later than this after now is refused


def database_clock() -> None:
    """The service's clock: None tells every statement to use the database's now()."""
    return None


def lead_uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found() from None


def not_found() -> APIError:
    return APIError(falcon.HTTP_404, "not_found", "No lead with this id in your account.")


def refuse_unknown(body: dict, known: set[str], errors: list[FieldError]) -> None:
    for name in body:
        if name not in known:
            errors.append(FieldError(str(name), "unknown", "is not a field of this request"))


def whole_number(body: dict, name: str, low: int, high: int, default: int, errors: list[FieldError]) -> int:
    """A whole number from a JSON body (an integer) or a form (digits), within [low, high]."""
    value = body.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 9:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError(name, "invalid_type", "must be a whole number"))
        return default
    if not low <= value <= high:
        errors.append(FieldError(name, "out_of_range", f"must be from {low} to {high}"))
        return default
    return value


def short_text(body: dict, name: str, max_length: int, errors: list[FieldError]) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, "invalid_type", "must be a string"))
        return None
    text = value.strip()
    if not text:
        return None
    if len(text) > max_length:
        errors.append(FieldError(name, "too_long", f"must be at most {max_length} characters"))
        return None
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        errors.append(FieldError(name, "invalid", "may not contain control characters"))
        return None
    return text


class _DialingResource:
    """What every resource here holds: the pool, the body limit and the clock (None: the database's now())."""

    def __init__(self, pool, max_body_bytes: int, clock: Clock = database_clock):
        self.pool = pool
        self.max_body_bytes = max_body_bytes
        self.clock = clock


class DialQueueClaim(_DialingResource):
    """POST /v1/dial-queue/claim {"limit": n, "lease_seconds": s, "campaign": "SOLAR" or [...]}: up to n leads,
    each handed out once; with campaign, only leads of those campaigns."""

    scopes = {"POST": "dial"}

    def on_post(self, req, resp):
        body = body_fields(req, self.max_body_bytes)
        errors: list[FieldError] = []
        refuse_unknown(body, {"limit", "lease_seconds", "campaign"}, errors)
        limit = whole_number(body, "limit", 1, CLAIM_LIMIT_MAX, CLAIM_LIMIT_DEFAULT, errors)
        lease = whole_number(body, "lease_seconds", LEASE_MIN, LEASE_MAX, LEASE_DEFAULT, errors)
        names = campaign_names(body, errors)
        if errors:
            raise validation_failed(errors)
        key = req.context.key
        now = self.clock()
        with self.pool.connection() as conn:
            campaign_ids = None
            if names:
                found = sql.many(conn, "campaign_ids", account_id=key["account_id"], names=names)
                unknown = [row["name"] for row in found if row["id"] is None]
                if unknown:
                    raise validation_failed([FieldError("campaign", "unknown", "No matching campaign: "
                                                        + ", ".join(map(repr, unknown)))])
                campaign_ids = [row["id"] for row in found]
            # Leads held over a campaign's daily cap go to the queue when today's cap has room; leases that ran
            # out go back (each its own statement: neither waits for a lock, SKIP LOCKED).
            sql.one(conn, "campaign_release", now=now, account_id=key["account_id"])
            sql.many(conn, "dial_reap", now=now, account_id=key["account_id"])
            rows = sql.many(conn, "dial_claim", now=now, account_id=key["account_id"], api_key_id=key["id"],
                            limit=limit, lease_seconds=lease, campaign_ids=campaign_ids)
        resp.media = {"data": rows}


CLAIM_CAMPAIGNS_MAX = 20


def campaign_names(body: dict, errors: list[FieldError]) -> list[str] | None:
    """The claim's campaign: one code or name, or a list of them (a form repeats the field). None: all."""
    value = body.get("campaign")
    if value is None or value == "" or value == []:
        return None
    values = value if isinstance(value, list) else [value]
    if len(values) > CLAIM_CAMPAIGNS_MAX or not all(isinstance(v, str) and 0 < len(v.strip()) <= 200
                                                    and first_bad(v) is None for v in values):
        errors.append(FieldError("campaign", "invalid", f"must be a campaign's code or name, or a list of at most "
                                                        f"{CLAIM_CAMPAIGNS_MAX} of them"))
        return None
    return [v.strip() for v in values]


class LeadOutcome(_DialingResource):
    """POST /v1/leads/{lead_id}/outcome: what the call did. Only a lead in dialing takes an outcome (else 409)."""

    scopes = {"POST": "dial"}

    def on_post(self, req, resp, lead_id):
        lead = lead_uuid(lead_id)
        now = self.clock()
        params = parse_outcome(body_fields(req, self.max_body_bytes), now or datetime.now(timezone.utc))
        key = req.context.key
        with self.pool.connection() as conn:
            try:
                with conn.transaction():
                    row = sql.one(conn, "dial_outcome", now=now, lead_id=lead, account_id=key["account_id"],
                                  api_key_id=key["id"], **params)
                    if row is not None and row["outcome"] == "opted_out":
                        # The number goes on the account's suppression list at once, which also pulls its other
                        # queued leads; in the same transaction as the outcome.
                        sql.many(conn, "suppress_numbers", account_id=key["account_id"], phones=[row["phone"]],
                                 reason="opted_out", api_key_id=key["id"])
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name == "transfers_account_call_id_key":
                    raise APIError(falcon.HTTP_409, "duplicate_call_id",
                                   "Another transfer of this account already has this call_id.") from None
                raise
            if row is None:
                state = sql.one(conn, "lead_state", lead_id=lead, account_id=key["account_id"])
        if row is None:
            if state is None:
                raise not_found()
            if state["status"] == "dialing":
                raise APIError(falcon.HTTP_409, "claim_mismatch",
                               "This lead is in dialing under another claim_id: its lease ran out and it was "
                               "claimed again.")
            raise APIError(falcon.HTTP_409, "illegal_transition",
                           f"This lead is {state['status']}, not dialing: only a claimed lead takes an outcome.")
        resp.media = {"lead_id": row["lead_id"], "status": row["status"], "outcome": row["outcome"],
                      "attempts": row["attempts"], "next_attempt_at": row["next_attempt_at"],
                      "transfer": row["transfer"]}


def parse_outcome(body: dict, now: datetime) -> dict[str, Any]:
    """The outcome's statement parameters, or a 422 listing every problem."""
    errors: list[FieldError] = []
    refuse_unknown(body, {"outcome", "claim_id", "call_id", "note", *TRANSFER_FIELDS}, errors)
    outcome = body.get("outcome")
    if outcome is None or outcome == "":
        errors.append(FieldError("outcome", "required", f"is required: one of {', '.join(OUTCOMES)}"))
    elif not isinstance(outcome, str) or outcome not in OUTCOMES:
        errors.append(FieldError("outcome", "invalid", f"must be one of: {', '.join(OUTCOMES)}"))
        outcome = None
    claim_id = None
    if body.get("claim_id") not in (None, ""):
        try:
            claim_id = uuid.UUID(str(body["claim_id"])) if isinstance(body["claim_id"], str) else None
        except ValueError:
            pass
        if claim_id is None:
            errors.append(FieldError("claim_id", "invalid", "must be the claim_id the claim returned (a UUID)"))
    call_id = short_text(body, "call_id", 200, errors)
    note = short_text(body, "note", 1000, errors)

    destination = caller_id = transferred_at = None
    if outcome == "transferred":
        for name in TRANSFER_FIELDS:
            if body.get(name) in (None, ""):
                errors.append(FieldError(name, "required", "is required for a transferred outcome"))
        destination = _destination(body.get("destination"), errors)
        caller_id = _phone(body.get("caller_id"), "caller_id", errors)
        raw_at = body.get("transferred_at")
        if raw_at not in (None, ""):
            transferred_at = parse_timestamp(str(raw_at)) if isinstance(raw_at, (str, int)) else None
            if transferred_at is None or isinstance(raw_at, bool):
                errors.append(FieldError("transferred_at", "invalid", "must be an ISO 8601 time or Unix seconds"))
            elif transferred_at > now + FUTURE_SKEW:
                errors.append(FieldError("transferred_at", "in_future", "may not be in the future"))
    elif outcome is not None:
        for name in TRANSFER_FIELDS:
            if body.get(name) not in (None, ""):
                errors.append(FieldError(name, "not_allowed", "goes only with a transferred outcome"))
    if errors:
        raise validation_failed(errors)
    detail = {name: value for name, value in (("call_id", call_id), ("note", note)) if value is not None}
    return {"outcome": outcome, "claim_id": claim_id, "call_id": call_id, "destination": destination,
            "caller_id": caller_id, "transferred_at": transferred_at, "detail": Jsonb(detail)}


def _phone(value, name: str, errors: list[FieldError]) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append(FieldError(name, "invalid_type", "must be a phone number"))
        return None
    try:
        return phones.normalize(str(value)).e164
    except phones.NotAPhone as exc:
        errors.append(FieldError(name, "invalid", f"{exc} (send E.164, 10 digits or 1 + 10 digits)"))
        return None


def _destination(value, errors: list[FieldError]) -> str | None:
    """Where the call went: a phone number (stored as E.164) or a sip:/sips: URI."""
    if isinstance(value, str) and value.strip().lower().startswith(("sip:", "sips:")):
        text = value.strip()
        if len(text) > 255 or any(ord(c) <= 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
            errors.append(FieldError("destination", "invalid", "must be a phone number or a sip: URI"))
            return None
        return text
    return _phone(value, "destination", errors)


class LeadRemove(_DialingResource):
    """POST /v1/leads/{lead_id}/remove: off the queue for good (status removed)."""

    scopes = {"POST": "write"}

    def on_post(self, req, resp, lead_id):
        lead = lead_uuid(lead_id)
        errors: list[FieldError] = []
        refuse_unknown(body_fields(req, self.max_body_bytes), set(), errors)
        if errors:
            raise validation_failed(errors)
        key = req.context.key
        with self.pool.connection() as conn:
            row = sql.one(conn, "lead_remove", now=self.clock(), lead_id=lead, account_id=key["account_id"],
                          api_key_id=key["id"])
            state = sql.one(conn, "lead_state", lead_id=lead, account_id=key["account_id"]) if row is None else None
        if row is None:
            if state is None:
                raise not_found()
            if state["status"] != "removed":
                raise APIError(falcon.HTTP_409, "illegal_transition",
                               f"This lead is {state['status']}: only a new (waiting) or ineligible lead can be "
                               "removed" + (" (its call's outcome is on its way)." if state["status"] == "dialing"
                                            else "."))
        resp.media = {"lead_id": lead, "status": "removed"}


class LeadRequeue(_DialingResource):
    """POST /v1/leads/{lead_id}/requeue {"position": "end"}: to the end of the queue."""

    scopes = {"POST": "write"}

    def on_post(self, req, resp, lead_id):
        lead = lead_uuid(lead_id)
        body = body_fields(req, self.max_body_bytes)
        errors: list[FieldError] = []
        refuse_unknown(body, {"position"}, errors)
        if body.get("position") not in (None, "", "end"):
            errors.append(FieldError("position", "invalid", "must be \"end\""))
        if errors:
            raise validation_failed(errors)
        key = req.context.key
        with self.pool.connection() as conn:
            row = sql.one(conn, "lead_requeue", now=self.clock(), lead_id=lead, account_id=key["account_id"],
                          api_key_id=key["id"])
            state = sql.one(conn, "lead_state", lead_id=lead, account_id=key["account_id"]) if row is None else None
        if row is None:
            if state is None:
                raise not_found()
            raise APIError(falcon.HTTP_409, "illegal_transition",
                           f"This lead is {state['status']}: only a new, unreached or expired lead can be requeued.")
        resp.media = {"lead_id": row["lead_id"], "status": row["status"], "position": "end",
                      "not_before": row["not_before"]}
