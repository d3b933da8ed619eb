"""Test fixtures: a real PostgreSQL scratch database per test session, created, migrated and dropped here.

Tests talk to it through the Falcon app (falcon.testing) or a real gunicorn; nothing is mocked. Each test
makes its own accounts, so tests do not see each other's leads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid

import falcon.testing
import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from l2i.app import create_app
from l2i.config import Config
from l2i.db import open_pool
from l2i.migrate import migrate

BASE_URL = os.environ.get("DATABASE_URL") or Config.database_url

try:  # The fuzzer (tests/test_fuzz.py) sends POST /v1/leads/import's text/csv bodies as the text they are.
    import schemathesis
    schemathesis.serializer("text/csv")(schemathesis.serializers.TextSerializer)
    schemathesis.serializer("text/tab-separated-values")(schemathesis.serializers.TextSerializer)
except ImportError:
    pass


def create_scratch_database(prefix: str = "l2i_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def analyst_role(database: str) -> str:
    """The analyst role migration 0010 creates for a database (l2i_analyst_role() in SQL)."""
    return ("l2i_" + database)[:55] + "_analyst"


def drop_database(name: str) -> None:
    """Drops the database and its analyst role (roles belong to the server: they would outlive the database)."""
    with psycopg.connect(make_conninfo(BASE_URL, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{analyst_role(name)}"')


@contextlib.contextmanager
def migrated_database(prefix: str = "l2i_test"):
    """A scratch database with every migration applied: yields (name, url); dropped on the way out, even if a
    test left it refusing connections (DROP ... WITH (FORCE))."""
    name = create_scratch_database(prefix)
    url = make_conninfo(BASE_URL, dbname=name)
    try:
        migrate(url)
        yield name, url
    finally:
        drop_database(name)


class _Unexpected(logging.Handler):
    """Collects l2i's "unhandled error" records: each is a 500 answered to someone."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_500(request):
    """No response in the test suite may be a 500 (issue 10): any unhandled error during a test fails it, even
    one the test did not look at. Real gunicorns are checked by tests/gunicorn_server.py."""
    handler = _Unexpected()
    logger = logging.getLogger("l2i.errors")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    unexpected = [r.getMessage() for r in handler.records if r.getMessage().startswith("unhandled error")]
    if unexpected:
        pytest.fail(f"{len(unexpected)} response(s) were 500: {unexpected[:3]}", pytrace=False)


@pytest.fixture(scope="session")
def database_url():
    with migrated_database() as (_, url):
        yield url


@pytest.fixture(scope="session")
def config(database_url) -> Config:
    return Config(database_url=database_url, pool_size=30)


@pytest.fixture(scope="session")
def pool(config):
    pool = open_pool(config, name="l2i-test")
    pool.wait(timeout=30)
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def app(config, pool):
    return create_app(config, pool)


@pytest.fixture(scope="session")
def import_runner(config):
    """CSV import jobs for the session's database: a runner of the service's kind (l2i/import_jobs.py), in this
    process, as gunicorn starts one in each worker. Tests that read an import's result ask for it."""
    from dataclasses import replace

    from l2i.import_jobs import Runner
    runner = Runner(replace(config, import_threads=2, imports_per_account=2, imports_total=4), name="l2i-test-imports")
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture
def client(app):
    return falcon.testing.TestClient(app)


@pytest.fixture
def db(database_url):
    """A plain autocommit connection (tuple rows) to the scratch database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def dictdb(database_url):
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


class Accounts:
    """Makes accounts and keys with the same SQL functions the CLI and the psql scripts use."""

    def __init__(self, database_url: str):
        self.database_url = database_url

    def create(self, name: str = "test account") -> str:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return str(conn.execute("SELECT l2i_account_create(%s)", (name,)).fetchone()[0])

    def key(self, account_id: str, scopes=("write", "read"), rate_limit: int | None = 10_000) -> str:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute("SELECT l2i_key_create(%s, %s, %s, 'test')",
                                (account_id, list(scopes), rate_limit)).fetchone()[0]

    def with_key(self, scopes=("write", "read"), rate_limit: int | None = 10_000) -> tuple[str, str]:
        account_id = self.create()
        return account_id, self.key(account_id, scopes, rate_limit)


@pytest.fixture
def accounts(database_url) -> Accounts:
    return Accounts(database_url)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


# The quickstart's lead (README.md), used across the tests.
QUICKSTART_LEAD = {
    "source": "my-webform",
    "first_name": "Jane",
    "last_name": "Doe",
    "phone": "5551234567",
    "state": "TX",
    "consent": {
        "consent_timestamp": "2026-07-05T12:00:00Z",
        "consent_text_version": "webform-v2",
        "source_url": "https://example.com/quote",
    },
}
