"""A campaign's settings, validated once for the API (/v1/campaigns) and the CLI (`l2i campaign`).

The settings go to SQL as one JSON object (l2i_campaign_create / l2i_campaign_update in
sql/migrations/0011_campaigns.sql, which the psql scripts call too); here they are checked field by field, so
that a 422 names every problem at once.
"""

from __future__ import annotations

import re
from typing import Any

from l2i.errors import FieldError
from l2i.fields import _LOOKUP, squash
from l2i.states import STATES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BACKOFF_OUTCOMES = ("no_answer", "busy", "voicemail", "lease_expired")
SETTINGS = ("code", "name", "active", "paused", "required_fields", "states", "hours", "max_attempts",
            "retry_backoff_s", "backoff_s", "daily_cap", "priority", "agent", "cost_per_lead_cents")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_SPAN = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]|24):([0-5][0-9])$")
_INTEGERS = {  # name: (low, high)
    "max_attempts": (1, 50),
    "retry_backoff_s": (1, 604800),
    "daily_cap": (0, 10_000_000),
    "priority": (0, 9),
    "cost_per_lead_cents": (0, 10_000_000),
}
_NULLABLE = ("states", "hours", "daily_cap", "agent", "cost_per_lead_cents")


def required_field(name: str) -> str | None:
    """The canonical name of a lead field a campaign may require (any spelling intake accepts), custom.NAME for a
    custom field; None if it is no lead field."""
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in name) or len(name) > 200:
        return None
    if name.lower().startswith("custom.") and len(name) > len("custom."):
        return "custom." + name[len("custom."):]
    field = _LOOKUP.get(squash(name))
    return field.name if field is not None and field.group != "campaign" else None


def parse_hours(value: Any, errors: list[FieldError]) -> dict[str, str] | None:
    """{"mon-fri": "10:00-16:00", "sat": "10:00-14:00"} -> one key per day, Monday to Sunday ("mon": "10:00-16:00").
    A day may be given alone or in a range (mon-fri); a day not given has no hours; null clears a day."""
    if not isinstance(value, dict) or not value:
        errors.append(FieldError("hours", "invalid_type", "must be an object such as "
                                 '{"mon-fri": "10:00-16:00", "sat": "10:00-14:00"}, or null'))
        return None
    hours: dict[str, str | None] = {}
    already = len(errors)
    for key, span in value.items():
        where = f"hours.{key}"
        days = _days(key)
        if days is None:
            errors.append(FieldError(where, "invalid", "must be a day (mon ... sun) or a range of days (mon-fri)"))
            continue
        if span is not None:
            match = _SPAN.match(span.strip()) if isinstance(span, str) else None
            if match is None:
                errors.append(FieldError(where, "invalid", "must be HH:MM-HH:MM (local time of the lead), or null"))
                continue
            if match[1] + match[2] >= match[3] + match[4] or (match[3] == "24" and match[4] != "00"):
                errors.append(FieldError(where, "invalid", "must end after it starts, at 24:00 at the latest"))
                continue
            span = span.strip()
        for day in days:
            if day in hours:
                errors.append(FieldError(where, "repeated", f"{day} is given twice"))
            hours[day] = span
    if len(errors) > already:
        return None
    if not any(hours.values()):
        errors.append(FieldError("hours", "invalid", "must give hours for at least one day (null: the legal window "
                                                     "only)"))
        return None
    return {day: hours[day] for day in DAYS if hours.get(day)}


def _days(key: Any) -> list[str] | None:
    if not isinstance(key, str):
        return None
    first, _, last = key.strip().lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        return None
    start, end = DAYS.index(first), DAYS.index(last or first)
    return list(DAYS[start:end + 1]) if start <= end else None


def parse_settings(body: dict, *, creating: bool) -> tuple[dict[str, Any], list[FieldError]]:
    """The settings a body gives (only those it gives), ready for SQL, and every problem found."""
    errors: list[FieldError] = []
    settings: dict[str, Any] = {}
    for name in body:
        if name not in SETTINGS:
            errors.append(FieldError(str(name), "unknown", "is not a campaign setting"))
        elif name == "code" and not creating:
            errors.append(FieldError("code", "immutable", "a campaign's code never changes"))
    for name, value in body.items():
        if name not in SETTINGS or (name == "code" and not creating):
            continue
        if value is None:
            if name in _NULLABLE:
                settings[name] = None
            elif name not in ("code",):
                errors.append(FieldError(name, "null", "may not be null"))
            continue
        if name == "code":
            code = value.strip().upper() if isinstance(value, str) else ""
            if not _CODE.match(code):
                errors.append(FieldError("code", "invalid", "must be 2 to 32 of A-Z, 0-9, _ and -, starting with a "
                                                            "letter or digit"))
            else:
                settings["code"] = code
        elif name in ("name", "agent"):
            text = value.strip() if isinstance(value, str) else None
            if not text or len(text) > 200 or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
                errors.append(FieldError(name, "invalid", "must be text of 1 to 200 characters"))
            else:
                settings[name] = text
        elif name in ("active", "paused"):
            flag = {"true": True, "false": False}.get(value.lower()) if isinstance(value, str) else value
            if not isinstance(flag, bool):
                errors.append(FieldError(name, "invalid_type", "must be true or false"))
            else:
                settings[name] = flag
        elif name == "required_fields":
            items = value if isinstance(value, list) else None
            canonical = [required_field(v) if isinstance(v, str) else None for v in items or []]
            if items is None or len(items) > 100:
                errors.append(FieldError(name, "invalid_type", "must be a list of lead field names"))
            elif None in canonical:
                bad = [str(v) for v, c in zip(items, canonical) if c is None]
                errors.append(FieldError(name, "invalid", f"not lead fields: {', '.join(bad)[:300]} (name a field of "
                                                          "POST /v1/leads, or custom.NAME)"))
            else:
                settings[name] = list(dict.fromkeys(canonical))
        elif name == "states":
            items = value if isinstance(value, list) else None
            codes = [v.strip().upper() if isinstance(v, str) else "" for v in items or []]
            if not items or not all(code in STATES for code in codes):
                errors.append(FieldError(name, "invalid", "must be a non-empty list of 2-letter state codes, or null "
                                                          "(every state)"))
            else:
                settings[name] = sorted(set(codes))
        elif name == "hours":
            hours = parse_hours(value, errors)
            if hours is not None:
                settings[name] = hours
        elif name == "backoff_s":
            if not isinstance(value, dict):
                errors.append(FieldError(name, "invalid_type", "must be an object of outcome: seconds"))
                continue
            backoff = {}
            for outcome, seconds in value.items():
                if outcome not in BACKOFF_OUTCOMES:
                    errors.append(FieldError(f"backoff_s.{outcome}", "unknown",
                                             f"must be one of {', '.join(BACKOFF_OUTCOMES)}"))
                elif isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= 604800:
                    errors.append(FieldError(f"backoff_s.{outcome}", "out_of_range", "must be 1 to 604800 seconds"))
                else:
                    backoff[outcome] = seconds
            settings[name] = backoff
        else:  # the whole numbers
            low, high = _INTEGERS[name]
            if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 10:
                value = int(value.strip())
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(FieldError(name, "invalid_type", "must be a whole number"))
            elif not low <= value <= high:
                errors.append(FieldError(name, "out_of_range", f"must be from {low} to {high}"))
            else:
                settings[name] = value
    if creating and "name" not in body:
        errors.append(FieldError("name", "required", "is required"))
    return settings, errors
