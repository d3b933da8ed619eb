"""Fuzzing every documented endpoint from the app's own /v1/openapi.json with schemathesis.

Each operation gets L2I_FUZZ_EXAMPLES generated requests (30 in `make test`, 1000 in `make fuzz`), sent through
the WSGI app in this process with a valid key, against the session's scratch database. Every response must be
free of 5xx and match the document: status code, content type, headers and body schema.
A second pass sends requests that break the schema (negative data): still never a 5xx, and always the standard
error shape.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import DataGenerationMethod
from schemathesis.checks import not_a_server_error

from conftest import bearer

# The document is OpenAPI 3.1 (JSON Schema types like ["string", "null"]); schemathesis 3 supports it behind a flag.
schemathesis.experimental.OPEN_API_3_1.enable()

EXAMPLES = int(os.environ.get("L2I_FUZZ_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("L2I_FUZZ_RANDOM"),
                    suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def fuzz_key(database_url):
    # One key for the whole module, with the highest limit a key may have, so that no request is rate limited.
    from conftest import Accounts
    accounts = Accounts(database_url)
    return accounts.with_key(scopes=("write", "read", "dial", "admin", "suppressions"), rate_limit=1_000_000)[1]


@pytest.fixture(scope="module")
def openapi_schema(app):
    return schemathesis.from_wsgi("/v1/openapi.json", app)


@pytest.fixture(scope="module")
def negative_schema(app):
    return schemathesis.from_wsgi("/v1/openapi.json", app,
                                  data_generation_methods=[DataGenerationMethod.negative])


def call(case, key):
    # The key goes into the case itself, so that schemathesis' auth check can replay the case without it.
    case.headers = {**(case.headers or {}), **bearer(key)}
    return case.call_wsgi()


positive = schemathesis.from_pytest_fixture("openapi_schema")
# Negative data needs something to break: a body or query parameters (the other operations take neither, or
# only a free-form path segment).
negative = schemathesis.from_pytest_fixture("negative_schema", operation_id=["createLead", "listLeads",
                                                                                  "createCampaign"])


@positive.parametrize()
@SETTINGS
def test_documented_requests_get_documented_responses(case, fuzz_key):
    response = call(case, fuzz_key)
    case.validate_response(response)


@negative.parametrize()
@SETTINGS
def test_requests_outside_the_schema_never_get_a_5xx(case, fuzz_key):
    response = call(case, fuzz_key)
    case.validate_response(response, checks=(not_a_server_error,))
    if response.status_code >= 400:
        body = response.json
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
