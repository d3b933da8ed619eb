"""API keys: 401 for missing/malformed/unknown/revoked keys, 403 without the scope, rate-limit headers, 429."""

from __future__ import annotations

import time

import pytest

from tests.conftest import bearer

LEAD = {"phone": "2125550200"}


def test_missing_key_is_401_with_the_error_shape(client):
    response = client.simulate_post("/v1/leads", json=LEAD)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json["error"]
    assert error["code"] == "unauthorized" and "Bearer" in error["message"] and error["request_id"]
    assert "x-ratelimit-limit" not in response.headers


@pytest.mark.parametrize("header", [
    "l2i_" + "a" * 64,  # no scheme
    "Basic dXNlcjpwYXNz",
    "Bearer ",
    "Bearer not-a-key",
    "Bearer l2i_" + "a" * 63,
    "Bearer l2i_" + "g" * 64,
])
def test_malformed_authorization_is_401(client, header):
    response = client.simulate_get("/v1/leads", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_unknown_key_is_401(client):
    response = client.simulate_get("/v1/leads", headers=bearer("l2i_" + "0" * 64))
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.json["error"]["message"]


def test_revoked_key_is_refused_from_the_next_request_on(client, accounts, db):
    _, key = accounts.with_key()
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 200
    revoked = db.execute("SELECT id FROM l2i_key_revoke(%s)", (key,)).fetchall()
    assert len(revoked) == 1
    response = client.simulate_get("/v1/leads", headers=bearer(key))
    assert response.status_code == 401


def test_key_without_the_scope_is_403(client, accounts):
    account_id = accounts.create()
    read_only = accounts.key(account_id, scopes=["read"])
    write_only = accounts.key(account_id, scopes=["write"])
    response = client.simulate_post("/v1/leads", json=LEAD, headers=bearer(read_only))
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden" and "'write'" in response.json["error"]["message"]
    assert response.headers["x-ratelimit-limit"] == "10000"
    assert client.simulate_get("/v1/leads", headers=bearer(write_only)).status_code == 403
    assert client.simulate_post("/v1/leads", json=LEAD, headers=bearer(write_only)).status_code == 201


def within_one_window():
    """Wait, if needed, so that the next few seconds stay inside one wall-clock minute."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_rate_limit_headers_count_down_and_429_past_the_limit(client, accounts):
    _, key = accounts.with_key(rate_limit=3)
    within_one_window()
    seen = []
    for _ in range(3):
        response = client.simulate_get("/v1/leads", headers=bearer(key))
        assert response.status_code == 200
        seen.append(int(response.headers["x-ratelimit-remaining"]))
        assert response.headers["x-ratelimit-limit"] == "3"
        reset = int(response.headers["x-ratelimit-reset"])
        assert reset % 60 == 0 and 0 < reset - time.time() <= 61
    assert seen == [2, 1, 0]
    refused = client.simulate_post("/v1/leads", json=LEAD, headers=bearer(key))
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining"] == "0"


def test_rate_limit_window_resets_in_the_next_minute(client, accounts, db):
    _, key = accounts.with_key(rate_limit=1)
    within_one_window()
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 200
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 429
    # Move the key's window one minute into the past: the next request opens a new window.
    db.execute("UPDATE rate_limit_windows SET window_start = window_start - interval '1 minute' "
               "WHERE api_key_id = (SELECT id FROM api_keys WHERE key_hash = sha256(%s::bytea))", (key.encode(),))
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 200


def test_errors_after_authentication_carry_rate_limit_headers(client, accounts):
    _, key = accounts.with_key(rate_limit=50)
    within_one_window()
    response = client.simulate_post("/v1/leads", json={"phone": "1"}, headers=bearer(key))
    assert response.status_code == 422
    assert response.headers["x-ratelimit-remaining"] == "49"


def test_last_used_is_recorded_without_the_key(client, accounts, dictdb):
    account_id, key = accounts.with_key()
    client.simulate_get("/v1/leads", headers=bearer(key))
    row = dictdb.execute("SELECT * FROM api_keys WHERE account_id = %s", (account_id,)).fetchone()
    assert row["last_used_at"] is not None
    assert row["prefix"] == key[:12]
    assert key not in str(row) and key[4:] not in str(row)


def test_unknown_path_and_method_use_the_error_shape(client, accounts):
    _, key = accounts.with_key()
    missing = client.simulate_get("/v1/nothing")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong_method = client.simulate_delete("/v1/leads", headers=bearer(key))
    assert wrong_method.status_code == 405 and wrong_method.json["error"]["code"] == "method_not_allowed"


def test_request_id_is_echoed_or_made(client):
    assert client.simulate_get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.simulate_get("/healthz", headers={"X-Request-Id": "bad id with spaces"}).headers["x-request-id"]
    assert made != "bad id with spaces" and len(made) == 32


def test_a_late_request_from_the_previous_minute_never_reopens_the_window(client, accounts, db):
    """A request whose transaction started before the minute turned (it waited on the counter's row lock)
    counts in the newer window instead of resetting it."""
    _, key = accounts.with_key(rate_limit=2)
    within_one_window()
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 200
    # Move the key's window one minute into the future: this minute's requests are now the "late" ones.
    db.execute("UPDATE rate_limit_windows SET window_start = window_start + interval '1 minute' "
               "WHERE api_key_id = (SELECT id FROM api_keys WHERE key_hash = sha256(%s::bytea))", (key.encode(),))
    assert client.simulate_get("/v1/leads", headers=bearer(key)).headers["x-ratelimit-remaining"] == "0"
    assert client.simulate_get("/v1/leads", headers=bearer(key)).status_code == 429
