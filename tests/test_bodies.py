"""Bodies that are odd but legal, or hostile: JSON nested past the limit is a 422 (it was a 500 with a long
traceback around 976 levels), and `Transfer-Encoding: chunked` bodies are read, bounded (they were read as empty:
a valid lead got "phone required"). Chunked bodies need a real server: gunicorn decodes the chunks."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from gunicorn_server import running_gunicorn
from l2i.bodies import MAX_JSON_DEPTH, json_depth
from tests.conftest import QUICKSTART_LEAD, bearer


def nested(depth: int) -> dict:
    value: object = "x"
    for level in range(depth - 2):  # inside the body (1) and custom (2)
        value = [value] if level % 2 else {"k": value}
    return {"phone": "2125550150", "custom": {"deep": value}}


def test_json_depth_counts_objects_and_arrays():
    assert json_depth("x") == 0 and json_depth({}) == 1 and json_depth({"a": [1, {"b": 2}]}) == 3
    assert json_depth(nested(10)) == 10


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200, 976, 5000])
def test_json_nested_past_the_limit_is_a_422(client, accounts, depth):
    _, key = accounts.with_key()
    body = json.dumps(nested(depth)) if depth < 900 else '{"phone":"2125550150","x":' + "[" * depth + "]" * depth + "}"
    response = client.simulate_post("/v1/leads", body=body,
                                    headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text[:300]
    assert response.json["error"]["fields"] == [{"field": "body", "code": "too_deep",
                                                 "message": "objects and arrays may nest at most 32 levels deep"}]


def test_json_nested_up_to_the_limit_is_taken(client, accounts):
    _, key = accounts.with_key()
    response = client.simulate_post("/v1/leads", json=nested(MAX_JSON_DEPTH), headers=bearer(key))
    assert response.status_code == 201, response.text
    assert json_depth(nested(MAX_JSON_DEPTH)) == MAX_JSON_DEPTH


@pytest.fixture(scope="module")
def server(database_url):
    with running_gunicorn(database_url, env={"L2I_MAX_BODY_BYTES": "4096"}, workers=1) as base_url:
        yield base_url


def chunked_post(base_url: str, path: str, key: str, chunks: list[bytes], content_type: str, **headers):
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        # http.client sends an iterable body with Transfer-Encoding: chunked and no Content-Length.
        conn.request("POST", path, body=iter(chunks), encode_chunked=True,
                     headers={**bearer(key), "Content-Type": content_type, "Transfer-Encoding": "chunked",
                              **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def test_a_chunked_lead_is_read(server, accounts):
    _, key = accounts.with_key()
    body = json.dumps({**QUICKSTART_LEAD, "phone": "2125550151"}).encode()
    status, answer = chunked_post(server, "/v1/leads", key, [body[:10], body[10:50], body[50:]], "application/json")
    assert (status, answer["outcome"], answer["status"]) == (201, "created", "new"), answer


def test_a_chunked_body_over_the_limit_is_a_413(server, accounts):
    _, key = accounts.with_key()
    status, answer = chunked_post(server, "/v1/leads", key, [b'{"phone": "2125550152", "x": "'] + [b"y" * 1000] * 6
                                  + [b'"}'], "application/json")
    assert status == 413 and answer["error"]["code"] == "payload_too_large"


def test_a_chunked_csv_import_is_read(server, accounts):
    _, key = accounts.with_key()
    status, answer = chunked_post(server, "/v1/leads/import", key,
                                  [b"phone,first_name\n", b"2125550153,Ann\n2125550154,", b"Bob\n"], "text/csv",
                                  Prefer="wait=20")
    # Imports are jobs: with Prefer: wait, the final result (both rows read from the chunks), else a 202.
    assert status in (200, 202), answer
    assert answer.get("rows_total", answer.get("totals", {}).get("rows")) == 2, answer
