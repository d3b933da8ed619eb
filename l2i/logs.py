"""Logs that cannot leak a credential or be forged.

- `redact(text)`: query strings (postback tokens travel in them: `?token=`, `?lead_token=`) and anything shaped
  like an l2i key or token become `[redacted]`; a source token in a path (`/v1/sources/{token}/...`) keeps only
  its non-secret prefix (`l2is_0123abcd...`), a source's id stays, anything else there is redacted.
  `RedactFilter` applies it to every record of a logger or handler: gunicorn's error log (it logs a whole
  invalid request line, query string included) and l2i's own handler.
- `log_path(path)`: a request path as the access line prints it: phone numbers masked
  (`/v1/suppressions/+1*******34`) and every character that could end the line or forge a field (control
  characters, spaces, backslash, non-ASCII) escaped as `\\xNN`/`\\uNNNN`.
"""

from __future__ import annotations

import logging
import re

_QUERY = re.compile(r"\?[^\s'\"]*")
_SOURCE_PATH = re.compile(r"(/v1/sources/)([^/\s'\"?]+)")
_SECRET = re.compile(r"\bl2i[a-z]{0,4}_[0-9A-Za-z]{16,}")  # keys l2i_, postback l2ipb_, source l2is_ tokens
_LETTER = re.compile(r"[A-Za-z]")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _source_segment(match: re.Match) -> str:
    """A source token in a path keeps its non-secret prefix (l2is_ + 8 hex, as l2i.sources.mask prints it);
    anything else there is redacted whole."""
    segment = match[2]
    if _UUID.match(segment):  # a source's id (the admin API), not a secret
        return match[0]
    if segment.startswith("l2is_") and len(segment) > 13:
        return match[1] + segment[:13] + "..."
    return match[1] + (segment if segment.endswith("...") and len(segment) <= 16 else "[redacted]")


def redact(text: str) -> str:
    text = _QUERY.sub("?[redacted]", text)
    text = _SOURCE_PATH.sub(_source_segment, text)
    return _SECRET.sub("[redacted]", text)


def escape(text: str) -> str:
    """Printable ASCII but space and backslash kept; everything else as a Python-style escape."""
    out = []
    for char in text:
        if "!" <= char <= "~" and char != "\\":
            out.append(char)
        elif char == "\\":
            out.append("\\\\")
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return "".join(out)


def _mask_phone(segment: str) -> str:
    """A path segment that is a phone number (7 digits or more, no letters) keeps only its last two digits."""
    digits = sum(char.isdigit() for char in segment)
    if digits < 7 or _LETTER.search(segment):
        return segment
    seen = 0
    masked = []
    for char in segment:
        if char.isdigit():
            seen += 1
            masked.append(char if seen > digits - 2 else "*")
        else:
            masked.append(char)
    return "".join(masked)


def log_path(path: str) -> str:
    return escape(redact("/".join(_mask_phone(segment) for segment in path.split("/"))))


class RedactFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) through redact() and escapes line breaks in the
    message, so one record stays one line plus its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log what there is rather than nothing
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message).replace("\r", "\\r").replace("\n", "\\n")
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_gunicorn_filter() -> None:
    """Called from gunicorn's config (in the master, before the workers fork): gunicorn's loggers are set up
    later, but filters on the logger objects stay."""
    for name in ("gunicorn.error", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())
