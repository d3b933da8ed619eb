"""Helpers for the intake-source tests: make a source with the same SQL function the CLI and psql scripts use,
and read back the lead a sender's post became."""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row

from tests.conftest import bearer


def make_source(database_url: str, account_id: str, name: str = "test source", **settings) -> tuple[str, str]:
    """(source id, token)."""
    params = {"p_account_id": account_id, "p_name": name}
    for key, value in settings.items():
        params[f"p_{key}"] = json.dumps(value) if key in ("defaults", "mapping") else value
    names = ", ".join(f"{k} => %({k})s" for k in params)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(f"SELECT id, token FROM l2i_source_create({names})", params).fetchone()
    return str(row[0]), row[1]


def lead_of(client, accounts, account_id: str, lead_id: str) -> dict:
    """The whole lead as GET /v1/leads/{id} shows it, read with a fresh read key of the account."""
    key = accounts.key(account_id, scopes=["read"])
    response = client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json


def lead_row(database_url: str, lead_id: str) -> dict:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute("SELECT * FROM leads WHERE id = %s", (lead_id,)).fetchone()
