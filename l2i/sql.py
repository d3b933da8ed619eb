"""Named SQL: the queries in sql/queries/*.sql, loaded once and called by name.

A query starts with a header line `-- name: NAME :CARDINALITY` followed by a one-line `-- ` description;
its text runs to the next header. CARDINALITY is `:one` (a row or None), `:many` (a list) or `:exec`.
Parameters are always named (`%(phone)s`); no SQL is ever built from strings in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


class SQLNotFound(RuntimeError):
    """The migrations or the named queries are missing: the install is broken, and nothing can work."""


def find_sql_dir(candidates: tuple[Path, ...] = (_PACKAGE / "_sql", _PACKAGE.parent / "sql")) -> Path:
    """sql/ as installed (l2i/_sql, shipped in the wheel by setup.py) or in the source tree (a checkout, an
    editable install). It must hold migrations/0001_*.sql, queries/*.sql and admin/*.sql (the CLI's scripts);
    if no candidate does, say so loudly: an l2i without its SQL once answered "nothing to apply" to
    `l2i migrate` and failed every request."""
    for directory in candidates:
        if all(any(directory.glob(pattern)) for pattern in ("migrations/0001_*.sql", "queries/*.sql", "admin/*.sql")):
            return directory
    raise SQLNotFound("l2i cannot find its SQL (migrations/, queries/, admin/) in "
                      + " or ".join(str(d) for d in candidates)
                      + ": the package was installed without it; reinstall from a wheel or sdist built by setup.py")


SQL_DIR = find_sql_dir()

_HEADER = re.compile(r"^-- name: (?P<name>[a-z_][a-z0-9_]*) :(?P<card>one|many|exec)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Query:
    name: str
    cardinality: str
    doc: str
    text: str


def parse(source: str) -> dict[str, Query]:
    """Split one .sql file into its named queries."""
    queries: dict[str, Query] = {}
    headers = list(_HEADER.finditer(source))
    for header, following in zip(headers, headers[1:] + [None]):
        body = source[header.end():following.start() if following else len(source)].strip()
        doc_lines = []
        for line in body.splitlines():
            if not line.startswith("--"):
                break
            doc_lines.append(line[2:].strip())
        name = header["name"]
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        # The text sent to PostgreSQL leaves the description, comments and indentation out (the description is in
        # doc): shorter on the wire, and psycopg caches the conversion of a query only up to 4096 characters
        # (converting the former single-statement lead_intake on every call cost about 0.1 ms per intake,
        # measured by bench/; tests/test_sql_loader.py keeps the hot queries under the limit).
        text = _compact(body.splitlines()[len(doc_lines):])
        queries[name] = Query(name, header["card"], " ".join(doc_lines), text)
    return queries


def _compact(lines: list[str]) -> str:
    """The statement as sent: no indentation, no comment lines, and runs of spaces as one where a line holds no
    quoted text (a string literal or a quoted name keeps its spaces). Same statement, fewer bytes: see parse()."""
    kept = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("--"):
            continue
        kept.append(line if "'" in line or '"' in line else re.sub(r" {2,}", " ", line))
    return "\n".join(kept)


def load(directory: Path = SQL_DIR / "queries") -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for path in sorted(directory.glob("*.sql")):
        for name, query in parse(path.read_text()).items():
            if name in queries:
                raise ValueError(f"query {name!r} is defined twice ({path.name})")
            queries[name] = query
    if not queries:
        raise SQLNotFound(f"no named queries in {directory}")
    return queries


QUERIES = load()


def one(conn, name: str, **params: Any) -> dict | None:
    return conn.execute(QUERIES[name].text, params).fetchone()


def many(conn, name: str, **params: Any) -> list[dict]:
    return conn.execute(QUERIES[name].text, params).fetchall()


def run(conn, name: str, **params: Any) -> None:
    conn.execute(QUERIES[name].text, params)
