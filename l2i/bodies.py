"""Reading request fields: JSON or form bodies, and the query string, with a size limit."""

from __future__ import annotations

import email.parser
import email.policy
import json
import math
from urllib.parse import parse_qsl

import falcon

from l2i.errors import APIError

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _pairs_to_dict(pairs: list[tuple[str, str]]) -> dict:
    """Form and query pairs as a dict; a repeated name keeps every value, in a list."""
    fields: dict = {}
    for name, value in pairs:
        if name in fields:
            previous = fields[name]
            fields[name] = previous + [value] if isinstance(previous, list) else [previous, value]
        else:
            fields[name] = value
    return fields


def query_fields(req: falcon.Request) -> dict:
    try:
        return _pairs_to_dict(parse_qsl(req.query_string, keep_blank_values=True, max_num_fields=1000))
    except ValueError:
        raise APIError(falcon.HTTP_400, "malformed_query", "The query string has too many fields.") from None


def read_raw(req: falcon.Request, max_bytes: int) -> bytes:
    if req.content_length is not None and req.content_length > max_bytes:
        raise APIError(falcon.HTTP_413, "payload_too_large", f"The body may be at most {max_bytes} bytes.")
    raw = req.bounded_stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise APIError(falcon.HTTP_413, "payload_too_large", f"The body may be at most {max_bytes} bytes.")
    return raw


def media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";", 1)[0].strip().lower()


def body_fields(req: falcon.Request, max_bytes: int) -> dict:
    """The body's fields: a JSON object or a urlencoded form. An empty body has none."""
    return parse_body(read_raw(req, max_bytes), req.content_type)


MULTIPART_TYPE = "multipart/form-data"
MAX_PARTS = 1000


def parse_body(raw: bytes, content_type: str | None, *, multipart: bool = False) -> dict:
    """Decode a body already read (and bounded by read_raw): JSON object, urlencoded form, and with
    multipart=True also multipart/form-data (Jotform's webhooks), whose text parts become fields."""
    if not raw.strip():
        return {}
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in JSON_TYPES or kind.endswith("+json"):
        try:
            body = json.loads(raw, parse_float=_finite, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise APIError(falcon.HTTP_400, "malformed_body", f"The body is not valid JSON: {_first_line(exc)}")
        if not isinstance(body, dict):
            raise APIError(falcon.HTTP_400, "malformed_body", "The body must be a JSON object.")
        return body
    if kind == FORM_TYPE:
        try:
            text = raw.decode("utf-8")
            return _pairs_to_dict(parse_qsl(text, keep_blank_values=True, max_num_fields=1000,
                                            errors="strict"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise APIError(falcon.HTTP_400, "malformed_body",
                           f"The form body is not valid UTF-8 urlencoded text: {_first_line(exc)}")
    if multipart and kind == MULTIPART_TYPE:
        return _pairs_to_dict(_multipart_pairs(raw, content_type or ""))
    raise APIError(falcon.HTTP_415, "unsupported_media_type",
                   "Send the body as application/json or application/x-www-form-urlencoded"
                   + (" (or multipart/form-data)" if multipart else "")
                   + (f", not {kind}." if kind else " (the Content-Type header is missing)."))


def _multipart_pairs(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    """The (name, text) pairs of a multipart/form-data body, parsed by the standard library's email parser.
    File parts are kept by name with their text when it is UTF-8 (a sender's CSV), else refused."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + raw)
    if not message.is_multipart() or message.defects:
        raise APIError(falcon.HTTP_400, "malformed_body", "The body is not valid multipart/form-data (check the "
                       "boundary in Content-Type).")
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        if len(pairs) >= MAX_PARTS:
            raise APIError(falcon.HTTP_400, "malformed_body", f"The form has more than {MAX_PARTS} parts.")
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        try:
            text = (part.get_payload(decode=True) or b"").decode(part.get_content_charset() or "utf-8")
        except (UnicodeDecodeError, LookupError):
            raise APIError(falcon.HTTP_400, "malformed_body", f"The form part {name!r} is not UTF-8 text.") from None
        pairs.append((str(name), text))
    return pairs


def _first_line(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
