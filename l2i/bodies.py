"""Reading request fields: JSON or form bodies, and the query string, with a size limit."""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import falcon

from l2i.errors import APIError, FieldError, validation_failed

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"
_CHUNK = 1 << 16

# How deep a JSON body may nest objects and arrays. A lead is two levels deep (consent, custom); 32 leaves room
# for any platform's envelope. Past it: 422. (Python's parser itself stops near 1,000 levels with RecursionError.)
MAX_JSON_DEPTH = 32


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


def request_stream(req: falcon.Request):
    """The body as a file: bounded by Content-Length, or, for a `Transfer-Encoding: chunked` body (no length),
    the server's own de-chunked stream (gunicorn decodes chunks and ends at the last one). Callers read at most
    their limit + 1 bytes from it."""
    if req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
        return req.stream
    return req.bounded_stream


def read_raw(req: falcon.Request, max_bytes: int) -> bytes:
    if req.content_length is not None and req.content_length > max_bytes:
        raise APIError(falcon.HTTP_413, "payload_too_large", f"The body may be at most {max_bytes} bytes.")
    raw = request_stream(req).read(max_bytes + 1)
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
        except RecursionError:
            raise too_deep() from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise APIError(falcon.HTTP_400, "malformed_body", f"The body is not valid JSON: {_first_line(exc)}")
        if json_depth(body) > MAX_JSON_DEPTH:
            raise too_deep()
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


def json_depth(value) -> int:
    """How deeply objects and arrays nest in a parsed JSON value (a scalar is 0, {} is 1); iterative, and it
    stops counting past MAX_JSON_DEPTH + 1."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def too_deep() -> APIError:
    return validation_failed([FieldError("body", "too_deep",
                                         f"objects and arrays may nest at most {MAX_JSON_DEPTH} levels deep")])


def _multipart_pairs(raw: bytes, content_type: str) -> list[tuple[str, str]]:
    """The (name, text) pairs of a multipart/form-data body already read (a webhook's: every part as text)."""
    return read_multipart(io.BytesIO(raw), content_type).pairs


MAX_PART_HEADER_BYTES = 8192
_BOUNDARY = re.compile(r'boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.IGNORECASE)


@dataclass
class Multipart:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # text parts, (name, text)
    file_name: str | None = None           # the form name of the part copied to file_to, if any
    file_type: str | None = None           # its Content-Type as sent (with parameters), if any


def _malformed_multipart(why: str) -> APIError:
    return APIError(falcon.HTTP_400, "malformed_body", f"The body is not valid multipart/form-data: {why}.")


def read_multipart(stream, content_type: str, *, file_to=None, max_text_bytes: int | None = None) -> Multipart:
    """Read a multipart/form-data body (RFC 7578) from a binary stream, one chunk at a time: text parts become
    (name, text) pairs; with file_to, the first part that carries a filename is copied into file_to as it arrives
    (a CSV upload is never held whole in memory). The caller bounds the stream's total size; max_text_bytes bounds
    each text part. A part's Content-Transfer-Encoding is ignored (RFC 7578 section 4.7: senders do not use it)."""
    match = _BOUNDARY.search(content_type or "")
    if not match:
        raise _malformed_multipart("Content-Type has no boundary")
    delimiter = b"\r\n--" + (match[1] or match[2]).encode("latin-1", "replace")
    keep = len(delimiter) + 1
    found = Multipart()
    buffer = b"\r\n"  # so that a delimiter at the very start is found like any other

    def more() -> bool:
        nonlocal buffer
        chunk = stream.read(_CHUNK)
        buffer += chunk
        return bool(chunk)

    # The preamble, up to the first delimiter, is ignored.
    while (at := buffer.find(delimiter)) < 0:
        buffer = buffer[-keep:]
        if not more():
            raise _malformed_multipart("no boundary line (check the boundary in Content-Type)")
    buffer = buffer[at + len(delimiter):]
    while True:
        while len(buffer) < 2 and more():
            pass
        if buffer.startswith(b"--"):
            return found  # the close delimiter; an epilogue is ignored
        while (eol := buffer.find(b"\r\n")) < 0:
            if len(buffer) > 1024 or not more():
                raise _malformed_multipart("a boundary line does not end")
        if buffer[:eol].strip(b" \t"):
            raise _malformed_multipart("a boundary line has text after the boundary")
        while (end := buffer.find(b"\r\n\r\n", eol)) < 0:
            if len(buffer) > MAX_PART_HEADER_BYTES or not more():
                raise _malformed_multipart("a part's headers do not end")
        if end - eol > MAX_PART_HEADER_BYTES:
            raise _malformed_multipart("a part's headers are too long")
        headers = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(buffer[eol + 2:end] + b"\r\n\r\n")
        buffer = buffer[end + 4:]
        if len(found.pairs) >= MAX_PARTS:
            raise APIError(falcon.HTTP_400, "malformed_body", f"The form has more than {MAX_PARTS} parts.")
        name = headers.get_param("name", header="content-disposition")
        to_file = file_to is not None and found.file_name is None and headers.get_filename() is not None
        text = bytearray()
        while True:
            at = buffer.find(delimiter)
            data, buffer = (buffer[:at], buffer[at + len(delimiter):]) if at >= 0 else \
                (buffer[:-keep], buffer[-keep:])
            if to_file:
                file_to.write(data)
            else:
                text += data
                if max_text_bytes is not None and len(text) > max_text_bytes:
                    raise APIError(falcon.HTTP_413, "payload_too_large",
                                   f"A form field may be at most {max_text_bytes} bytes.")
            if at >= 0:
                break
            if not more():
                raise _malformed_multipart("the body ends before its closing boundary")
        if to_file:
            found.file_name, found.file_type = str(name or ""), headers.get("content-type")
        elif name:
            try:
                found.pairs.append((str(name), bytes(text).decode(headers.get_content_charset() or "utf-8")))
            except (UnicodeDecodeError, LookupError):
                raise APIError(falcon.HTTP_400, "malformed_body",
                               f"The form part {str(name)!r} is not UTF-8 text.") from None


def _first_line(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
