"""The client's address, for consent.ip when a lead names none: X-Forwarded-For is believed only from a trusted
proxy (L2I_TRUSTED_PROXIES, default the local host), read from the right, so a client cannot forge it. Through a
real nginx: tests/test_nginx.py."""

from __future__ import annotations

import falcon.testing
import pytest

from l2i.app import create_app
from l2i.clients import client_address, parse_networks
from l2i.config import Config
from tests.conftest import QUICKSTART_LEAD, bearer

LOCAL = parse_networks("127.0.0.1,::1")


@pytest.mark.parametrize("peer, forwarded_for, trusted, expected", [
    ("198.51.100.7", None, LOCAL, "198.51.100.7"),
    ("198.51.100.7", "203.0.113.9", LOCAL, "198.51.100.7"),          # not from a proxy: the header is ignored
    ("127.0.0.1", "203.0.113.9", LOCAL, "203.0.113.9"),               # nginx on this host forwarded it
    ("127.0.0.1", "6.6.6.6, 203.0.113.9", LOCAL, "203.0.113.9"),      # the client's own entry is on the left
    ("127.0.0.1", "203.0.113.9, 127.0.0.1", LOCAL, "203.0.113.9"),    # two proxies on this host
    ("10.0.0.5", "203.0.113.9, 10.0.0.4", parse_networks("10.0.0.0/8"), "203.0.113.9"),
    ("127.0.0.1", "not-an-ip, 203.0.113.9", LOCAL, "203.0.113.9"),
    ("127.0.0.1", "203.0.113.9, garbage", LOCAL, "127.0.0.1"),        # stops at the last good hop
    ("127.0.0.1", "[2001:db8::1]:4711", LOCAL, "2001:db8::1"),
    ("::ffff:127.0.0.1", "203.0.113.9", LOCAL, "203.0.113.9"),
    ("127.0.0.1", "203.0.113.9", parse_networks(""), "127.0.0.1"),    # L2I_TRUSTED_PROXIES=none
    (None, "203.0.113.9", LOCAL, None),
])
def test_client_address(peer, forwarded_for, trusted, expected):
    assert client_address(peer, forwarded_for, trusted) == expected


def test_trusted_proxies_config_is_checked():
    assert Config.from_env({}).trusted_proxies == "127.0.0.1,::1"
    assert Config.from_env({"L2I_TRUSTED_PROXIES": "none"}).trusted_proxies == ""
    assert Config.from_env({"L2I_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == "10.0.0.0/8,::1"
    with pytest.raises(SystemExit, match="L2I_TRUSTED_PROXIES"):
        Config.from_env({"L2I_TRUSTED_PROXIES": "10.0.0.300"})


def lead_consent(client, key, lead_id):
    return client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key)).json


def test_consent_ip_falls_back_to_the_client_address_and_a_sent_ip_wins(client, accounts):
    _, key = accounts.with_key()
    forged = {**bearer(key), "X-Forwarded-For": "6.6.6.6"}
    response = client.simulate_post("/v1/leads", json={**QUICKSTART_LEAD, "phone": "2125550170"}, headers=forged,
                                    remote_addr="198.51.100.7")
    lead = lead_consent(client, key, response.json["lead_id"])
    assert lead["consent"]["ip"] == "198.51.100.7" and lead["gates"]["consent"]["ip_from"] == "client_address"

    sent = {**QUICKSTART_LEAD, "phone": "2125550171",
            "consent": {**QUICKSTART_LEAD["consent"], "ip": "192.0.2.44"}}
    lead = lead_consent(client, key, client.simulate_post("/v1/leads", json=sent, headers=bearer(key),
                                                          remote_addr="198.51.100.7").json["lead_id"])
    assert lead["consent"]["ip"] == "192.0.2.44" and "ip_from" not in lead["gates"]["consent"]

    # No consent evidence at all: nothing to attach an address to.
    lead = lead_consent(client, key, client.simulate_post("/v1/leads", json={"phone": "2125550172"},
                                                          headers=bearer(key)).json["lead_id"])
    assert lead["consent"] is None


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(database_url, pool, accounts):
    _, key = accounts.with_key()
    for trusted, expected in (("none", "127.0.0.1"), ("127.0.0.1", "203.0.113.9")):
        config = Config.from_env({"DATABASE_URL": database_url, "L2I_TRUSTED_PROXIES": trusted})
        client = falcon.testing.TestClient(create_app(config, pool))
        lead = {**QUICKSTART_LEAD, "phone": "2125550173" if trusted == "none" else "2125550174"}
        response = client.simulate_post("/v1/leads", json=lead, remote_addr="127.0.0.1",
                                        headers={**bearer(key), "X-Forwarded-For": "203.0.113.9"})
        assert lead_consent(client, key, response.json["lead_id"])["consent"]["ip"] == expected
