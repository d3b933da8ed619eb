"""Buyer platforms' postbacks: recognizing their many spellings and reading the values l2i needs.

Field names are set by whoever configures the pixel, so each value has a list of names, tried in order
(spelling-insensitive: `callerId`, `caller_id` and `Caller-ID` are one name). The names come from Ringba's,
Retreaver's, Trackdrive's and others' public documentation. A value that is still an unfilled platform token
(`[Call:ConversionPayout]`) is absent, never data. Every field the platform sent is kept with the postback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from l2i import phones
from l2i.errors import FieldError
from l2i.fields import parse_timestamp, squash

CALLER_ID = ("caller_id", "callerid", "caller", "caller_number", "ani", "phone", "phone_number", "from",
             "from_number", "from_nr", "inbound_number", "inbound_phone_number", "number")
DURATION = ("duration", "call_duration", "call_length", "duration_s", "duration_seconds", "call_length_in_seconds",
            "duration_in_seconds", "connected_call_length_in_seconds", "dialed_call_duration", "total_duration",
            "billable_duration", "seconds")
BUYER = ("buyer", "buyer_name", "target", "target_name", "buyer_id", "target_id")
PAYOUT_CENTS = ("payout_cents", "revenue_cents", "amount_cents")
PAYOUT = ("payout", "conversion_payout", "revenue", "call_revenue", "conversion_amount", "amount", "payout_amount",
          "postback_value", "value", "sale_amount", "price")
CALL_ID = ("call_id", "callid", "call_uuid", "inbound_call_id", "call_sid", "call_key", "call_log_id", "uuid")
CALL_TIME = ("call_time", "timestamp", "call_start", "start_time", "call_date", "called_at", "time", "date")

MAX_PAYOUT_CENTS = 10_000_000  # $100,000 for one call: anything above is a mistake, not revenue
_UNFILLED = re.compile(r"^\s*\[[^\]]*\]\s*$")
_DOLLARS = re.compile(r"^\$?\s*([0-9]{1,12}(?:\.[0-9]*)?|\.[0-9]+)$")


@dataclass
class Postback:
    caller_id: str
    call_time: datetime | None
    call_id: str | None
    buyer: str | None
    duration_s: int | None
    payout_cents: int | None
    fields: dict[str, Any]


def _pick(fields: dict[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of names the platform sent with a usable value: (the name as sent, the value). A name sent
    twice (?call_id=a&call_id=b) comes back with its list of values, for the caller to refuse."""
    by_squashed: dict[str, tuple[str, Any]] = {}
    for key, value in fields.items():
        if value is None or isinstance(value, dict):
            continue
        if isinstance(value, list):
            by_squashed.setdefault(squash(key), (key, value))
            continue
        text = str(value).strip()
        if text == "" or _UNFILLED.match(text):
            continue
        by_squashed.setdefault(squash(key), (key, value))
    for name in names:
        found = by_squashed.get(squash(name))
        if found:
            return found
    return None


def parse(fields: dict[str, Any]) -> Postback:
    """Read a postback's fields; raises a list of FieldError (as PostbackInvalid) naming each bad one."""
    errors: list[FieldError] = []
    for names in (CALLER_ID, PAYOUT_CENTS, PAYOUT, DURATION, CALL_TIME, CALL_ID, BUYER):
        picked = _pick(fields, names)
        if picked is not None and isinstance(picked[1], list):
            errors.append(FieldError(picked[0], "repeated", "must be given once"))
    if errors:
        raise PostbackInvalid(errors)

    caller = _pick(fields, CALLER_ID)
    caller_id = None
    if caller is None:
        errors.append(FieldError("caller_id", "required", "is required (also accepted as: "
                                 + ", ".join(CALLER_ID[1:]) + ")"))
    else:
        try:
            caller_id = phones.normalize(str(caller[1])).e164
        except phones.NotAPhone as exc:
            errors.append(FieldError(caller[0], "invalid", str(exc)))

    payout_cents = None
    cents = _pick(fields, PAYOUT_CENTS)
    dollars = _pick(fields, PAYOUT) if cents is None else None
    if cents is not None:
        text = str(cents[1]).strip()
        if isinstance(cents[1], bool) or not re.fullmatch(r"-?[0-9]+(\.0+)?", text):
            errors.append(FieldError(cents[0], "invalid", "must be a whole number of cents"))
        else:
            payout_cents = _check_amount(int(Decimal(text)), cents[0], errors)
    elif dollars is not None:
        text = str(dollars[1]).replace(",", "").strip()
        match = _DOLLARS.match(text) if not isinstance(dollars[1], bool) else None
        if text.startswith("-") or text.startswith("$-"):
            errors.append(FieldError(dollars[0], "invalid", "may not be negative"))
        elif match is None:
            errors.append(FieldError(dollars[0], "invalid", "must be an amount in dollars, such as 38.50"))
        else:
            try:
                amount = (Decimal(match[1]) * 100).quantize(Decimal(1))
                payout_cents = _check_amount(int(amount), dollars[0], errors)
            except InvalidOperation:
                errors.append(FieldError(dollars[0], "invalid", "must be an amount in dollars, such as 38.50"))

    duration_s = None
    duration = _pick(fields, DURATION)
    if duration is not None:
        duration_s = _seconds(str(duration[1]).strip())
        if duration_s is None or isinstance(duration[1], bool):
            errors.append(FieldError(duration[0], "invalid", "must be whole seconds (or mm:ss), at most a day"))
            duration_s = None

    call_time = None
    when = _pick(fields, CALL_TIME)
    if when is not None:
        call_time = parse_timestamp(str(when[1]))
        if call_time is None:
            errors.append(FieldError(when[0], "invalid", "must be an ISO 8601 time or Unix seconds"))

    call_id = _pick(fields, CALL_ID)
    buyer = _pick(fields, BUYER)
    for picked, limit in ((call_id, 200), (buyer, 200)):
        if picked is not None and len(str(picked[1]).strip()) > limit:
            errors.append(FieldError(picked[0], "too_long", f"must be at most {limit} characters"))

    if errors:
        raise PostbackInvalid(errors)
    return Postback(caller_id=caller_id, call_time=call_time,
                    call_id=str(call_id[1]).strip() if call_id else None,
                    buyer=str(buyer[1]).strip() if buyer else None,
                    duration_s=duration_s, payout_cents=payout_cents, fields=fields)


class PostbackInvalid(Exception):
    def __init__(self, errors: list[FieldError]):
        super().__init__(f"{len(errors)} field errors")
        self.errors = errors


def _check_amount(cents: int, name: str, errors: list[FieldError]) -> int | None:
    if cents < 0:
        errors.append(FieldError(name, "invalid", "may not be negative"))
        return None
    if cents > MAX_PAYOUT_CENTS:
        errors.append(FieldError(name, "out_of_range", f"is more than ${MAX_PAYOUT_CENTS // 100:,} for one call"))
        return None
    return cents


def _seconds(text: str) -> int | None:
    if re.fullmatch(r"[0-9]{1,9}(\.[0-9]+)?", text):  # more digits: float() is inf, and round(inf) raises
        value = round(float(text))
    elif re.fullmatch(r"([0-9]+:)?[0-9]{1,2}:[0-9]{2}", text):
        parts = [int(p) for p in text.split(":")]
        value = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    else:
        return None
    return value if 0 <= value <= 86400 else None
