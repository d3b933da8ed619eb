"""Schema migrations: sql/migrations/NNNN_name.sql, applied in order, once each, each in one transaction,
recorded in schema_migrations. Running it again changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from l2i.sql import SQL_DIR, SQLNotFound

MIGRATIONS_DIR = SQL_DIR / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK = 7_140_322_001  # pg_advisory_xact_lock key: one migrator at a time

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     NOT NULL,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
)
"""


def migrations(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name {path.name!r} is not NNNN_name.sql")
        found.append((int(match[1]), match[2], path))
    if not found:
        raise SQLNotFound(f"no migrations in {directory}: refusing to report 'nothing to apply'")
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migrations must be numbered 0001, 0002, ... without gaps: {versions}")
    return found


def ensure_database(database_url: str) -> bool:
    """Create the database named in database_url if it does not exist; True if it was created."""
    params = conninfo_to_dict(database_url)
    name = params.get("dbname")
    if not name:
        return False
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
        return True


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is not applied yet; returns the names applied now."""
    applied_now = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        for version, name, path in migrations(directory):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                conn.execute(_CREATE_TABLE)
                if conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (version,)).fetchone():
                    continue
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
                applied_now.append(path.name)
    return applied_now
