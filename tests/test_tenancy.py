"""Every query in sql/queries/ that touches a tenant table (itself, or through an l2i_ function it calls) is
pinned to one account by a required account_id parameter: what lets the tenant tables be distributed by
account_id (Citus, docs/scaling.md) with each request routed to the one node that holds its account. The few
queries that cannot know the account yet (they find it) or that run over every account on purpose are listed,
each with the reason and what Citus would do with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from l2i import sql

SCHEMA = Path(__file__).resolve().parent.parent / "sql" / "schema.sql"

# Not pinned to one account, on purpose.
UNPINNED = {
    "key_hit": "authenticates a request: the account is what it finds, by the key's hash (on Citus api_keys and "
               "rate_limit_windows stay local to the coordinator, or api_keys becomes a reference table)",
    "postback_token_hit": "authenticates a postback: the account is what it finds, by the token's hash (as key_hit)",
    "source_hit": "authenticates a source's post: the account is what it finds, by the token's hash (as key_hit)",
    "source_for_retry": "the CLI's retry (l2i sources retry) reads one source by its id, outside any request",
    "source_pending_waiting": "the CLI's retry lists what is left to fetch for one source, or for every source",
    "import_claim": "the import runner (l2i/import_jobs.py) claims the next job of any account (l2i_import_claim), "
                    "under limits counted over every account",
    **{name: "the import runner (l2i/import_jobs.py) works on a job it has claimed, by the job's id and claim id; "
             "it learns the account from the claim and could pass it (import_claim picks jobs across accounts, "
             "under limits counted over all of them)"
       for name in ("import_renew", "import_record", "import_finish", "import_fail", "import_release")},
    "retention_accounts": "the retention cron (l2i retention apply) lists every account with its cut-offs, then "
                          "works on each one alone with pinned queries (on Citus: a read of the accounts table)",
    "dial_reap": "the cron reaper (l2i dial reap) runs over every account when account_id is NULL; the service "
                 "always passes one (on Citus a NULL account is a multi-shard UPDATE, run shard by shard)",
}

_TABLE = re.compile(r"^CREATE (?:UNLOGGED )?TABLE (\w+) \((.*?)^\)(?: PARTITION BY [^;]*)?;", re.M | re.S)
_REFERENCE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO|USING)\s+(\w+)", re.I)
_REQUIRED_ACCOUNT = re.compile(r"%\(account_id\)s")
_OPTIONAL_ACCOUNT = re.compile(r"%\(account_id\)s(?:::\w+)?\s+IS\s+NULL\s+OR", re.I)


def tenant_tables(schema: str) -> set[str]:
    """Tables with an account_id column, and accounts itself (its id is the account)."""
    tables = {name for name, body in _TABLE.findall(schema) if re.search(r"^\s+account_id\s", body, re.M)}
    return tables | {"accounts"}


_FUNCTION = re.compile(r"^CREATE (?:OR REPLACE )?FUNCTION (l2i_\w+)\(.*?\$\$(.*?)^\$\$;", re.M | re.S)


def function_tables(schema: str) -> dict[str, set[str]]:
    """The tables each l2i_ function's body names (of every version of the function in the schema)."""
    tables: dict[str, set[str]] = {}
    for name, body in _FUNCTION.findall(schema):
        tables.setdefault(name, set()).update(t.lower() for t in _REFERENCE.findall(body))
    return tables


def unpinned(text: str, tenants: set[str], functions: dict[str, set[str]] | None = None) -> set[str]:
    """The tenant tables a query touches without a required account_id parameter (empty: pinned, or none);
    an l2i_ function the query calls touches what its body names (one level down; functions: function_tables of
    the schema)."""
    named = {name.lower() for name in _REFERENCE.findall(text)}
    for function in named & (functions or {}).keys():
        named |= functions[function]
    touched = named & tenants
    pinned = _REQUIRED_ACCOUNT.search(text) and not _OPTIONAL_ACCOUNT.search(text)
    return set() if pinned else touched


def test_tenant_tables_are_found():
    tenants = tenant_tables(SCHEMA.read_text())
    assert {"accounts", "api_keys", "leads", "dial_queue", "lead_events", "transfers", "suppressions",
            "postback_tokens", "postbacks"} <= tenants
    assert not tenants & {"calling_rules", "calling_holidays", "dnc_numbers", "dnc_areas", "rate_limit_windows"}


def test_every_query_on_tenant_tables_is_pinned_to_one_account():
    schema = SCHEMA.read_text()
    tenants, functions = tenant_tables(schema), function_tables(schema)
    offenders = {name: sorted(tables) for name, query in sql.QUERIES.items()
                 if (tables := unpinned(query.text, tenants, functions)) and name not in UNPINNED}
    assert offenders == {}, "queries that touch tenant tables without a required account_id parameter"


def test_the_listed_exceptions_are_still_exceptions():
    schema = SCHEMA.read_text()
    tenants, functions = tenant_tables(schema), function_tables(schema)
    stale = [name for name in UNPINNED
             if name not in sql.QUERIES or not unpinned(sql.QUERIES[name].text, tenants, functions)]
    assert stale == [], "pinned now (or gone): remove them from UNPINNED"


def test_the_check_catches_an_unpinned_query():
    tenants = {"leads", "accounts"}
    assert unpinned("SELECT * FROM leads WHERE phone = %(phone)s", tenants) == {"leads"}
    assert unpinned("UPDATE leads AS l SET x = 1 WHERE (%(account_id)s::uuid IS NULL OR l.account_id = "
                    "%(account_id)s::uuid)", tenants) == {"leads"}
    assert unpinned("SELECT * FROM leads AS l JOIN accounts AS a ON a.id = l.account_id "
                    "WHERE l.account_id = %(account_id)s", tenants) == set()
    assert unpinned("SELECT 1 FROM calling_rules", tenants) == set()
