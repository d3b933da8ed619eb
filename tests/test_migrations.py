"""The migrations reproduce the canonical schema (sql/schema.sql), run once each, and are named in order."""

from __future__ import annotations

import subprocess

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from l2i.migrate import MIGRATIONS_DIR, migrate, migrations
from l2i.sql import SQL_DIR
from tests.conftest import BASE_URL, create_scratch_database, drop_database


def schema_dump(dbname: str) -> str:
    params = conninfo_to_dict(make_conninfo(BASE_URL, dbname=dbname))
    args = ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", "--exclude-table=schema_migrations",
            "--dbname", make_conninfo(**params)]
    dump = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    # pg_dump prints its own version and a random \restrict key (newer releases): not part of the schema.
    return "\n".join(line for line in dump.splitlines()
                     if line.strip() and not line.startswith(("-- Dumped", "\\restrict", "\\unrestrict")))


@pytest.fixture
def two_databases():
    names = [create_scratch_database("l2i_schema"), create_scratch_database("l2i_schema")]
    yield names
    for name in names:
        drop_database(name)


def test_migrations_reproduce_the_canonical_schema(two_databases):
    from_schema, from_migrations = two_databases
    with psycopg.connect(make_conninfo(BASE_URL, dbname=from_schema), autocommit=True) as conn:
        conn.execute((SQL_DIR / "schema.sql").read_text())
    migrate(make_conninfo(BASE_URL, dbname=from_migrations))
    expected, actual = schema_dump(from_schema), schema_dump(from_migrations)
    assert "CREATE TABLE public.leads" in expected
    assert actual == expected, "sql/schema.sql and the migrations disagree: update schema.sql"


def test_migrate_twice_changes_nothing(two_databases):
    url = make_conninfo(BASE_URL, dbname=two_databases[0])
    first = migrate(url)
    assert first == [path.name for _, _, path in migrations()]
    before = schema_dump(two_databases[0])
    assert migrate(url) == []
    assert schema_dump(two_databases[0]) == before
    with psycopg.connect(url) as conn:
        recorded = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert recorded == [(version, name) for version, name, _ in migrations()]


def test_migration_files_are_numbered_without_gaps():
    found = migrations()
    assert [version for version, _, _ in found] == list(range(1, len(found) + 1))
    assert all(path.parent == MIGRATIONS_DIR for _, _, path in found)


def test_a_misnamed_migration_is_refused(tmp_path):
    (tmp_path / "0001_ok.sql").write_text("SELECT 1;")
    (tmp_path / "2_bad.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_name"):
        migrations(tmp_path)


def test_every_constraint_and_index_is_named_on_purpose(db):
    # PostgreSQL's automatic names end in _key/_pkey/_fkey/_check/_idx as ours do; what we forbid is an
    # anonymous expression index or a constraint name PostgreSQL had to number (e.g. leads_phone_check1).
    rows = db.execute("""
        SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public' AND conname ~ '\\d$'
          AND c.conparentid = 0  -- not the copies PostgreSQL makes of ours for each partition of leads
        UNION ALL
        SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname ~ '\\d$'
    """).fetchall()
    assert rows == []
