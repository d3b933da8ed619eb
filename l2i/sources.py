"""Intake sources: one URL per sender (migration 0007). Authentication of a source token with its own rate limit,
the checks on a source's settings (CLI and API alike), and how a source's adapter, field mapping, defaults and
consent-on-submit turn a sender's body into a lead.

A token (l2is_ + 64 hex) may come in the path (POST /v1/sources/{token}/leads), as ?lead_token= or a body field
lead_token (Trackdrive's spelling), or as the header pair X-Source-Id / X-Source-Key (Leadping's). It can only
submit leads to its source's account.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from l2i import adapters, sql
from l2i.errors import FieldError, rate_limit_headers, refuse_over_limit, unauthorized
from l2i.fields import BY_NAME, LEAD_COLUMNS, _convert, lookup, parse_timestamp

TOKEN = re.compile(r"^l2is_[0-9a-f]{64}$")
TOKEN_ANYWHERE = re.compile(r"l2is_[0-9A-Za-z]+")
# source, sub_id, utm_*, ..., the campaign (and "custom", an object)
DEFAULT_FIELDS = (*LEAD_COLUMNS, "campaign")


def mask(text: str) -> str:
    """A path or message with every source token cut to its prefix (for logs)."""
    return TOKEN_ANYWHERE.sub(lambda m: m[0][:13] + "...", text)


def token_from(req, body: dict | None = None, path_token: str | None = None) -> tuple[str | None, str | None]:
    """(token, X-Source-Id) as the request presents them, or (None, None). Removes lead_token from the body."""
    body_token = body.pop("lead_token", None) if isinstance(body, dict) else None
    token = path_token or req.get_header("X-Source-Key") or req.get_param("lead_token") or body_token
    return (token.strip() if isinstance(token, str) else None), req.get_header("X-Source-Id")


def authenticate(pool, resp, token: str | None, source_id: str | None) -> dict:
    """The source for this token (and X-Source-Id if given), counted in its one-minute window; 401 or 429."""
    if not token or not TOKEN.match(token):
        raise unauthorized("Send the source token (l2is_ followed by 64 hex digits) in the URL path, as "
                           "?lead_token=, or as X-Source-Key with X-Source-Id.")
    wanted = None
    if source_id is not None:
        try:
            wanted = uuid.UUID(source_id.strip())
        except ValueError:
            raise unauthorized("X-Source-Id must be the source's id (a UUID).") from None
    with pool.connection() as conn:
        source = sql.one(conn, "source_hit", token_hash=hashlib.sha256(token.encode()).digest(), source_id=wanted)
    if source is None:
        raise unauthorized("This source token is unknown or has been revoked.")
    rate_limit_headers(resp, source)
    refuse_over_limit(source, f"This source may send {source['rate_limit']} requests a minute")
    return source


# --- settings ------------------------------------------------------------------------------------------------

def check_settings(*, adapter: str | None, defaults: Any, mapping: Any, consent_on_submit: bool,
                   consent_text_version: str | None) -> list[FieldError]:
    """Every problem with a source's settings (the CLI and the API create sources through this)."""
    errors: list[FieldError] = []
    if adapter and adapter not in adapters.ADAPTERS:
        errors.append(FieldError("adapter", "invalid", f"must be one of: {', '.join(adapters.NAMES)}"))
    if not isinstance(defaults, dict):
        errors.append(FieldError("defaults", "invalid_type", "must be an object"))
    else:
        for name, value in defaults.items():
            if name == "custom":
                if not isinstance(value, dict):
                    errors.append(FieldError("defaults.custom", "invalid_type", "must be an object"))
                continue
            if name not in DEFAULT_FIELDS:
                errors.append(FieldError(f"defaults.{name}", "invalid",
                                         f"a default may be one of: custom, {', '.join(DEFAULT_FIELDS)}"))
                continue
            try:
                _convert(BY_NAME[name], value)
            except FieldError as exc:
                errors.append(FieldError(f"defaults.{name}", exc.code, exc.message))
    if not isinstance(mapping, dict):
        errors.append(FieldError("mapping", "invalid_type", "must be an object of sender key or path -> l2i field"))
    else:
        for path, target in mapping.items():
            if not isinstance(target, str) or not path:
                errors.append(FieldError(f"mapping.{path}", "invalid", "must name an l2i field"))
            elif not (lookup(target) is not None or re.match(r"^(custom|consent)\.[^.]+$", target)
                      or target in ("full_name", "name")):
                errors.append(FieldError(f"mapping.{path}", "invalid", f"{target!r} is no l2i field (a field, an "
                                         "alias, full_name, custom.NAME or consent.NAME)"))
    if consent_on_submit and not (consent_text_version or "").strip():
        errors.append(FieldError("consent_text_version", "required",
                                 "is required with consent_on_submit (the version of the text the form shows)"))
    return errors


# --- from the sender's body to a lead --------------------------------------------------------------------------

_MISSING = object()


def resolve(path: str, documents: list) -> Any:
    """A mapping path's value: the whole path as one key first (Gravity Forms' "1.3", a label with dots), then
    dotted steps through objects and lists (answers.3.text, properties.phone.value); _MISSING if none has it."""
    for document in documents:
        if isinstance(document, dict) and path in document:
            return document[path]
        value: Any = document
        for step in path.split("."):
            if isinstance(value, dict) and step in value:
                value = value[step]
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                value = _MISSING
                break
        if value is not _MISSING:
            return value
    return _MISSING


def apply_mapping(mapping: dict, fields: dict, documents: list) -> dict:
    """The mapped values ({l2i field: value}); a mapped top-level key leaves fields (so it is not also extra)."""
    mapped: dict = {}
    for path, target in mapping.items():
        value = resolve(path, [fields, *documents])
        if value is _MISSING:
            continue
        fields.pop(path, None)
        mapped[target] = value
    return mapped


def apply_defaults(lead, defaults: dict) -> None:
    for name, value in defaults.items():
        if name == "custom" and isinstance(value, dict):
            for key, item in value.items():
                lead.custom.setdefault(key, item)
        elif name in lead.columns and lead.columns[name] is None:
            lead.columns[name] = _convert(BY_NAME[name], value)
        elif name == "campaign" and lead.campaign is None:  # the source's default campaign (issue 11)
            lead.campaign = _convert(BY_NAME[name], value)


def consent_on_submit(lead, source: dict, submitted_at: str | None) -> dict:
    """Fill what the lead's own consent lacks from the source's declaration; returns where each value came from.
    The lead's own fields always win. The time is the platform's submission time when it gave one (and it is not
    in the future), else the arrival time."""
    consent = lead.consent
    origin = {name: "lead" for name in ("consent_timestamp", "consent_text_version", "consent_text")
              if consent.get(name)}
    if not consent.get("consent_timestamp"):
        arrived = source["arrived_at"].astimezone(timezone.utc)
        platform = parse_timestamp(submitted_at) if submitted_at else None
        if platform is not None and platform <= datetime.now(timezone.utc):
            consent["consent_timestamp"] = platform.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
            origin["consent_timestamp"] = "source:platform_submitted_at"
        else:
            consent["consent_timestamp"] = arrived.isoformat().replace("+00:00", "Z")
            origin["consent_timestamp"] = "source:arrival_time"
    if not consent.get("consent_text_version"):
        consent["consent_text_version"] = source["consent_text_version"]
        origin["consent_text_version"] = "source"
    if not consent.get("consent_text") and source.get("consent_text"):
        consent["consent_text"] = source["consent_text"]
        origin["consent_text"] = "source"
    return origin


def is_test(fields: dict) -> bool:
    """`"test": true` (or test=true/1/yes in a form) marks a test submission; the flag leaves the fields."""
    value = fields.pop("test", None)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))

