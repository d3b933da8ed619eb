"""CSV import: the row loop that import jobs run (l2i/import_jobs.py), from POST /v1/leads/import or `l2i import`.

Every row goes through exactly what a POST /v1/leads goes through: l2i.fields.parse_lead (field names, aliases,
camelCase, flat consent columns, custom[x], unknown columns kept in extra) and l2i.intake.submit (suppression,
dedupe, consent, calling window, queue). There is no second pipeline here, only the loop around it.

Files come as the platforms people export from write them (l2i/csv_platforms.py): the encoding (UTF-8 with or
without a BOM, UTF-16 LE or BE, with or without a BOM) and the delimiter (comma, tab, semicolon) are read from
the first bytes, the platforms' column names are mapped to l2i's fields, Facebook's `p:` phone prefix is dropped,
and a row whose do-not-call column says so is held (do_not_call) and its number suppressed, never queued.

A file is read twice, streaming both times, never whole:
1. `scan` checks that the whole file is text CSV with a usable header, before anything is stored: a malformed
   file stores nothing (HTTP 400/422, exit 1).
2. `Import.batches` imports it: in file order, in transactions of BATCH_ROWS rows (one commit per batch instead
   of one per row), each batch's rows sent in one pipeline (one round trip: each row is parsed and sent while
   the database decides the one before), and their outcomes come back batch by batch once committed.
   If the database refuses a row (a constraint the validation does not know), the batch is rolled back and
   replayed one row per transaction, so that only that row fails, as `invalid`.

Row numbers are those a spreadsheet shows: the header is row 1, a quoted cell may span lines, blank rows count.
Empty cells are absent fields; a blank row is skipped (counted in totals.blank).
"""

from __future__ import annotations

import csv
import io
from typing import BinaryIO, Iterator

import falcon
import psycopg

from l2i import csv_platforms, intake, sql
from l2i.errors import APIError, FieldError, validation_failed
from l2i.fields import BY_NAME, ValidationError, parse_lead, squash

BATCH_ROWS = 200
OUTCOMES = ("created", "duplicate", "ineligible", "invalid")

_PHONE_COLUMNS = frozenset(squash(name) for name in (BY_NAME["phone"].name, *BY_NAME["phone"].aliases))
_SOURCE_COLUMNS = frozenset(squash(name) for name in (BY_NAME["source"].name, *BY_NAME["source"].aliases))


def heartbeat() -> None:
    """Called after every batch by Import._commit (a hook; import jobs run in runner threads, not in requests, so
    gunicorn's worker timeout never sees them: l2i/import_jobs.py)."""


class FileError(Exception):
    """The file as a whole cannot be imported (nothing was stored): not UTF-8 or UTF-16, not CSV, no usable header."""

    def __init__(self, message: str, fields: list[FieldError] | None = None):
        super().__init__(message)
        self.message, self.fields = message, fields or []

    def api_error(self) -> APIError:
        if self.fields:
            error = validation_failed(self.fields)
            error.description = f"{self.message} {error.description}"
            return error
        return APIError(falcon.HTTP_400, "malformed_body", self.message)

    def __str__(self) -> str:
        return "; ".join([self.message, *(f"{e.field}: {e.message}" for e in self.fields)])


def _records(binary: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each record, the header first as row 1. The encoding and the delimiter are read
    from the file's first bytes (csv_platforms.sniff); the stream must be seekable (a file, a spool)."""
    encoding, delimiter = csv_platforms.sniff(binary)
    text = io.TextIOWrapper(binary, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        yield from enumerate(reader, 1)
    except UnicodeDecodeError as exc:
        label = "UTF-16" if encoding.startswith("utf-16") else "UTF-8"
        raise FileError(f"The file is not {label} text: {exc.reason} near line {reader.line_num + 1}; save it as "
                        "CSV UTF-8 (or UTF-16).") from None
    except csv.Error as exc:
        raise FileError(f"The CSV is malformed at line {reader.line_num}: {exc}.") from None
    finally:
        if not binary.closed:
            text.detach()  # the caller owns the binary stream: closing this wrapper must not close it


def _header(cells: list[str]) -> list[str]:
    """The key each column's cells go under: its name as written (trimmed); an unnamed column is column_N."""
    names = [cell.strip() for cell in cells]
    if not any(names):
        raise FileError("The file is empty.", [FieldError("header", "required",
                        "the first row must name the columns: phone (required), first_name, email, ...")])
    keys: list[str] = []
    first: dict[str, int] = {}
    errors: list[FieldError] = []
    for number, name in enumerate(names, 1):
        key = name or f"column_{number}"
        if key in first:
            errors.append(FieldError("header", "duplicate_column",
                                     f"column {number} repeats the name {key!r} of column {first[key]}"))
        first.setdefault(key, number)
        keys.append(key)
    if not any(squash(key) in _PHONE_COLUMNS or csv_platforms.field_of(key) == "phone" for key in keys):
        errors.append(FieldError("header", "missing_column", "no phone column: name one phone (or "
                                 + ", ".join(BY_NAME["phone"].aliases[:3]) + ", ...)"))
    if errors:
        raise FileError("The header row cannot be used.", errors)
    return keys


def scan(binary: BinaryIO) -> int:
    """Check the whole file before anything is stored; returns its number of rows after the header.
    Leaves the stream where it was. Raises FileError."""
    start = binary.tell()
    records = _records(binary)
    try:
        first = next(records, None)
        _header(first[1] if first else [])
        return sum(1 for _ in records)
    finally:
        records.close()
        binary.seek(start)


def check_source(value: str | None) -> str | None:
    """The default source (--source, ?source=), validated as the source field is. Raises FieldError."""
    if value is None:
        return None
    try:
        parse_lead({"phone": "5551234567", "source": value})
    except ValidationError as exc:
        raise exc.errors[0] from None
    return value.strip() or None


def empty_totals() -> dict[str, int]:
    return {"rows": 0, **dict.fromkeys(OUTCOMES, 0), "blank": 0}


class Import:
    """One file into one account, on one connection. `totals` counts what `batches` has yielded so far."""

    def __init__(self, conn, *, account_id, api_key_id, source: str | None = None, default_campaign_id=None):
        self.conn = conn
        self.account_id, self.api_key_id = account_id, api_key_id
        self.default_campaign_id = default_campaign_id
        self.defaults = {"source": source} if source else None  # what parse_lead takes as the query string
        self.totals = empty_totals()
        self.layout: csv_platforms.Layout | None = None  # the file's columns, once its header is read

    def batches(self, binary: BinaryIO) -> Iterator[list[dict]]:
        """Import the file (already scanned); yields the outcomes of each batch, in file order, once committed."""
        records = _records(binary)
        try:
            self.layout = csv_platforms.Layout(_header(next(records)[1]))
            batch: list[tuple[int, list[str]]] = []
            for number, cells in records:
                self.totals["rows"] += 1
                if not any(cell.strip() for cell in cells):
                    self.totals["blank"] += 1
                    continue
                batch.append((number, cells))
                if len(batch) >= BATCH_ROWS:
                    yield self._commit(batch)
                    batch = []
            if batch:
                yield self._commit(batch)
        finally:
            records.close()

    def _parse(self, cells: list[str]):
        """The row's validated lead (with the do-not-call column that holds it, if any), or its field errors."""
        fields, renamed = self.layout.fields(cells)
        surplus = sum(1 for cell in cells[len(self.layout.keys):] if cell.strip())
        errors = []
        if surplus:
            errors.append({"field": "(row)", "code": "too_many_cells",
                           "message": f"has {surplus} more non-empty cell(s) than the header has columns"})
        try:
            lead = parse_lead(fields, self.defaults)  # the row wins over the default source, as a body does
        except ValidationError as exc:
            for error in exc.errors:
                error.field = renamed.get(error.field, error.field)  # named as the file names the column
                errors.append(error.as_dict())
            # Each FieldError's traceback holds parse_lead's frame, which holds this list: a reference cycle
            # only the garbage collector would free. Emptying the list breaks it, so memory stays flat.
            exc.errors.clear()
        return errors if errors else (lead, self.layout.do_not_call(cells))

    def _commit(self, batch: list[tuple[int, list[str]]]) -> list[dict]:
        try:
            with self.conn.transaction():
                outcomes = self._submit_all(batch)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError):
            # Rolled back: replay row by row, each in its own transaction, so that only the refused rows fail.
            outcomes = [self._submit_alone(number, item) for number, item in batch]
        for outcome in outcomes:
            self.totals[outcome["outcome"]] += 1
        heartbeat()
        return outcomes

    def _submit_all(self, batch: list[tuple[int, list[str]]]) -> list[dict]:
        """The batch's rows, in file order, in one round trip (a pipeline, in the caller's transaction): each row
        is parsed and sent in turn, so the database decides one row while the next is parsed. A row with a
        do-not-call value is suppressed first: the number's queued leads are pulled, and the row's own lead (or
        the lead it duplicates) is then held, never queued."""
        sent = []
        with self.conn.pipeline():
            for number, cells in batch:
                item = self._parse(cells)
                if isinstance(item, list):
                    sent.append((number, item, None))
                    continue
                lead, do_not_call = item
                if do_not_call is not None:
                    sql.run(self.conn, "import_do_not_call", account_id=self.account_id, phone=lead.phone.e164,
                            reason=f"CSV import: {do_not_call[:100]}")
                sent.append((number, lead, intake.send(self.conn, self._params(lead, do_not_call))))
        return [{"row": number, "outcome": "invalid", "errors": item} if cursor is None
                else self._outcome(number, cursor.fetchone(), item) for number, item, cursor in sent]

    def _params(self, lead, do_not_call) -> dict:
        return intake.intake_params(account_id=self.account_id, api_key_id=self.api_key_id, lead=lead,
                                    hold=("do_not_call",) if do_not_call is not None else (),
                                    default_campaign_id=self.default_campaign_id)

    def _submit(self, number: int, cells: list[str]) -> dict:
        return self._submit_all([(number, cells)])[0]

    @staticmethod
    def _outcome(number: int, row: dict, lead) -> dict:
        try:
            row = intake.outcome(row, lead)
        except intake.CampaignRefused as exc:  # nothing stored: an invalid row, as POST /v1/leads would say 422
            return {"row": number, "outcome": "invalid", "errors": [error.as_dict() for error in exc.errors]}
        outcome = "duplicate" if not row["created"] else "created" if row["status"] == "new" else "ineligible"
        result = {"row": number, "outcome": outcome, "lead_id": str(row["id"]), "status": row["status"]}
        if row["reasons"]:
            result["reasons"] = row["reasons"]
        return result

    def _submit_alone(self, number: int, cells: list[str]) -> dict:
        try:
            with self.conn.transaction():
                return self._submit(number, cells)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            return {"row": number, "outcome": "invalid", "errors": [FieldError(
                "(row)", "rejected", f"the database refused this row: {exc.diag.message_primary}").as_dict()]}
