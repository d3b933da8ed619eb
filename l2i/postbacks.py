"""Buyer platforms' postbacks: recognizing their many spellings and reading the values l2i needs.

Field names are set by whoever configures the pixel, so each value has a list of names, tried in order
(spelling-insensitive: `callerId`, `caller_id` and `Caller-ID` are one name). The names come from Ringba's,
Retreaver's, Trackdrive's, CallRail's, Invoca's and others' public documentation. A JSON body may nest the call
(`{"call": {...}}`): a name at the top level wins, then a nested object's own key (`{"caller": {"number": ...}}`),
then its dotted path (`{"call": {"id": ...}}` is call.id, a call id). A value that is still an unfilled
platform token or macro (`[Call:ConversionPayout]`, `{payout}`, `{{payout}}`, `%payout%`, `$payout`) is absent,
never data. Every field the platform sent is kept with the postback.

Sources of the names (beyond the ones of issue 4):
- CallRail calls and webhooks: customer_phone_number, tracking_phone_number, business_phone_number, duration,
  start_time, value, resource_id, company_name (https://apidocs.callrail.com/, "Retrieving a Single Call";
  https://support.callrail.com/hc/en-us/articles/5711246459149-Webhooks), and the deprecated query string of the
  old webhook: callernum, trackingnum, datetime (https://support.callrail.com/hc/en-us/articles/201211133-Webhooks).
- Invoca transactions (the fields its webhooks and reports carry): calling_phone_number ("Caller ID",
  866-555-1234), transaction_id, complete_call_id ("Call Record ID"), duration, connect_duration,
  start_time_utc (milliseconds), advertiser_name, affiliate_payout_localized ("Paid")
  (https://github.com/Invoca/developer-docs/blob/master/source/api_documentation/transactions_api/_network_param_table.rst).
- start_time_t and reference_id are named in issue 9 (reference ids: callscaler.com/docs/api-inbound-webhooks).
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
             "from_number", "from_nr", "inbound_number", "inbound_phone_number", "number",
             "customer_phone_number", "callernum", "customer_number",  # CallRail
             "calling_phone_number")  # Invoca
DURATION = ("duration", "call_duration", "call_length", "duration_s", "duration_seconds", "call_length_in_seconds",
            "duration_in_seconds", "connected_call_length_in_seconds", "dialed_call_duration", "total_duration",
            "billable_duration", "seconds", "connect_duration")
BUYER = ("buyer", "buyer_name", "target", "target_name", "buyer_id", "target_id",
         "advertiser_name", "advertiser", "company_name")
PAYOUT_CENTS = ("payout_cents", "revenue_cents", "amount_cents")
PAYOUT = ("payout", "conversion_payout", "revenue", "call_revenue", "conversion_amount", "amount", "payout_amount",
          "postback_value", "value", "sale_amount", "price", "affiliate_payout_localized")
CALL_ID = ("call_id", "callid", "call_uuid", "inbound_call_id", "call_sid", "call_key", "call_log_id", "uuid",
           "resource_id",  # CallRail
           "complete_call_id", "transaction_id",  # Invoca
           "reference_id")
CALL_TIME = ("call_time", "timestamp", "call_start", "start_time", "call_date", "called_at", "time", "date",
             "start_time_utc", "start_time_t", "datetime", "created_at")

MAX_PAYOUT_CENTS = 10_000_000  # $100,000 for one call: anything above is a mistake, not revenue
# An unfilled token or macro, in every common spelling: [tag] (Ringba, Retreaver), {tag} and {{tag}}, %tag%, $tag
# and ${tag}. "$38.50" is an amount, not a macro: a macro's name starts with a letter or an underscore.
_UNFILLED = re.compile(r"""^\s*(?:
      \[[^\[\]]*\]
    | \{\{?[^{}]*\}\}?
    | %[A-Za-z_][^%\s]*%
    | \$\{?[A-Za-z_][A-Za-z0-9_.:-]*\}?
)\s*$""", re.VERBOSE)
MAX_DEPTH = 4  # nested objects looked into
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


def _usable(value: Any) -> bool:
    if value is None or isinstance(value, dict):
        return False
    if isinstance(value, list):
        return True  # a name sent twice: picked, for the caller to refuse
    text = str(value).strip()
    return text != "" and not _UNFILLED.match(text)


def _index(fields: dict[str, Any]) -> list[dict[str, tuple[str, Any]]]:
    """The fields by squashed name, in tiers tried in order: the top level; then nested objects' own keys
    (breadth first); then nested values by dotted path (call.id). Within a tier the first spelling wins."""
    top: dict[str, tuple[str, Any]] = {}
    leaves: dict[str, tuple[str, Any]] = {}
    paths: dict[str, tuple[str, Any]] = {}
    level: list[tuple[str, dict]] = [("", fields)]
    for _ in range(MAX_DEPTH + 1):
        deeper: list[tuple[str, dict]] = []
        for prefix, obj in level:
            for key, value in obj.items():
                path = f"{prefix}.{key}" if prefix else str(key)
                if isinstance(value, dict):
                    deeper.append((path, value))
                elif _usable(value):
                    if prefix:
                        leaves.setdefault(squash(str(key)), (path, value))
                        paths.setdefault(squash(path), (path, value))
                    else:
                        top.setdefault(squash(path), (path, value))
        level = deeper
        if not level:
            break
    return [top, leaves, paths]


def _pick(index: list[dict[str, tuple[str, Any]]], names: tuple[str, ...]) -> tuple[str, Any] | None:
    """The first of names the platform sent with a usable value, tier by tier: (the name as sent, the value). A
    name sent twice (?call_id=a&call_id=b) comes back with its list of values, for the caller to refuse."""
    for tier in index:
        for name in names:
            found = tier.get(squash(name))
            if found:
                return found
    return None


def parse(fields: dict[str, Any]) -> Postback:
    """Read a postback's fields; raises a list of FieldError (as PostbackInvalid) naming each bad one."""
    errors: list[FieldError] = []
    index = _index(fields)
    for names in (CALLER_ID, PAYOUT_CENTS, PAYOUT, DURATION, CALL_TIME, CALL_ID, BUYER):
        picked = _pick(index, names)
        if picked is not None and isinstance(picked[1], list):
            errors.append(FieldError(picked[0], "repeated", "must be given once"))
    if errors:
        raise PostbackInvalid(errors)

    caller = _pick(index, CALLER_ID)
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
    cents = _pick(index, PAYOUT_CENTS)
    dollars = _pick(index, PAYOUT) if cents is None else None
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
    duration = _pick(index, DURATION)
    if duration is not None:
        duration_s = _seconds(str(duration[1]).strip())
        if duration_s is None or isinstance(duration[1], bool):
            errors.append(FieldError(duration[0], "invalid", "must be whole seconds (or mm:ss), at most a day"))
            duration_s = None

    call_time = None
    when = _pick(index, CALL_TIME)
    if when is not None:
        call_time = parse_timestamp(str(when[1]))
        if call_time is None:
            errors.append(FieldError(when[0], "invalid", "must be an ISO 8601 time or Unix seconds"))

    call_id = _pick(index, CALL_ID)
    buyer = _pick(index, BUYER)
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
