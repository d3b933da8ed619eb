"""The OpenAPI document (built from the field definitions) and the health endpoints."""

from __future__ import annotations

import jsonschema
import pytest
from referencing import Registry, Resource

from l2i.fields import FIELDS
from tests.conftest import QUICKSTART_LEAD, bearer


@pytest.fixture(scope="module")
def spec(app):
    import falcon.testing

    response = falcon.testing.TestClient(app).simulate_get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json


def validate(spec, schema_name, instance):
    registry = Registry().with_resource("urn:l2i", Resource.from_contents(
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **spec}))
    schema = {"$ref": f"urn:l2i#/components/schemas/{schema_name}"}
    jsonschema.Draft202012Validator(schema, registry=registry).validate(instance)


def test_document_is_openapi_31_with_every_endpoint(spec):
    assert spec["openapi"] == "3.1.0"
    assert set(spec["paths"]) >= {"/v1/leads", "/v1/leads/{lead_id}", "/healthz", "/readyz", "/v1/openapi.json"}
    for name, schema in spec["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_field_and_alias_is_documented_from_the_same_definitions(spec):
    lead_in = spec["components"]["schemas"]["LeadIn"]["properties"]
    consent = spec["components"]["schemas"]["Consent"]["properties"]
    for field in FIELDS:
        documented = (consent if field.group == "consent" else lead_in)[field.name]
        for alias in field.aliases:
            assert alias in documented["description"], (field.name, alias)
    assert spec["components"]["schemas"]["LeadIn"]["required"] == ["phone"]


def test_real_answers_match_the_documented_schemas(spec, client, accounts):
    _, key = accounts.with_key()
    created = client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key))
    validate(spec, "IntakeResult", created.json)
    validate(spec, "IntakeResult", client.simulate_post("/v1/leads", json=QUICKSTART_LEAD, headers=bearer(key)).json)
    validate(spec, "Lead", client.simulate_get(f"/v1/leads/{created.json['lead_id']}", headers=bearer(key)).json)
    for summary in client.simulate_get("/v1/leads", headers=bearer(key)).json["data"]:
        validate(spec, "LeadSummary", summary)
    validate(spec, "Error", client.simulate_post("/v1/leads", json={}, headers=bearer(key)).json)
    with pytest.raises(jsonschema.ValidationError):
        validate(spec, "IntakeResult", {"outcome": "maybe", "lead_id": "x", "status": "new"})


def test_health_and_readiness(client):
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ok", "database": "ok"}


def test_readiness_is_503_when_the_database_is_unreachable():
    import falcon.testing

    from l2i.app import create_app
    from l2i.config import Config
    from l2i.db import open_pool

    config = Config(database_url="postgresql://127.0.0.1:1/none", pool_size=1, pool_timeout_s=1,
                    connect_timeout_s=1)
    pool = open_pool(config, name="unreachable")
    try:
        client = falcon.testing.TestClient(create_app(config, pool))
        response = client.simulate_get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json["error"]["code"] == "unavailable"
        assert client.simulate_get("/healthz").status_code == 200
    finally:
        pool.close(timeout=1)
