"""Field mapping, names and aliases (issue 9 §3): a source's mapping by key or JSON path, shown on
GET /v1/sources/{id} and edited with the CLI and psql; unknown keys still in extra; full_name/name split; the
aliases real senders use; a one-element array is its value."""

from __future__ import annotations

import json

import pytest

from l2i.cli import main
from tests.conftest import bearer
from tests.sourcekit import lead_of, make_source
from tests.test_cli import psql


@pytest.fixture
def account(accounts):
    return accounts.create()


@pytest.fixture
def key(accounts, account):
    return accounts.key(account)


def post(client, key, body):
    response = client.simulate_post("/v1/leads", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.json["lead_id"]


# Each alias with where it comes from: the platforms' documents cited in tests/test_source_platforms.py, and the
# field names of lead platforms' posting specs.
@pytest.mark.parametrize("alias, value, field, expected", [
    ("home_phone", "2125550101", "phone", "+12125550101"),
    ("Home Phone", "2125550102", "phone", "+12125550102"),
    ("cell", "2125550103", "phone", "+12125550103"),
    ("Cell Phone Number", "2125550104", "phone", "+12125550104"),
    ("mobile_number", "2125550105", "phone", "+12125550105"),
    ("mobilephone", "2125550106", "phone", "+12125550106"),  # HubSpot's property
    ("phoneNumber", "2125550107", "phone", "+12125550107"),  # Jotform's q5_phoneNumber
    ("day_phone", "2125550108", "phone", "+12125550108"),
    ("contact_number", "2125550109", "phone", "+12125550109"),
    ("State/Region", "ny", "state", "NY"),
    ("State / Province", "New York", "state", "NY"),
    ("Remote IP", "203.0.113.5", "ip", "203.0.113.5"),
    ("remote_addr", "203.0.113.6", "ip", "203.0.113.6"),
    ("client_ip", "203.0.113.7", "ip", "203.0.113.7"),
    ("TCPA Disclaimer", "I agree to calls.", "consent_text", "I agree to calls."),
    ("disclaimer", "I agree to calls.", "consent_text", "I agree to calls."),
    ("tcpa_consent_text", "I agree to calls.", "consent_text", "I agree to calls."),
    ("Zip/Postal Code", "10001", "zip", "10001"),
    ("postal", "10001", "zip", "10001"),
    ("given_name", "Ann", "first_name", "Ann"),
    ("family_name", "Lee", "last_name", "Lee"),
    ("Your Email", "ann@example.com", "email", "ann@example.com"),
    ("addr_line1", "1 Main St", "address1", "1 Main St"),
])
def test_each_alias_lands_in_its_field(client, accounts, account, key, alias, value, field, expected):
    body = {alias: value} if field == "phone" else {"phone": "2125550100", alias: value}
    lead = lead_of(client, accounts, account, post(client, key, body))
    where = lead["consent"] if field in ("ip", "consent_text") else lead
    assert where[field] == expected
    assert alias not in lead["extra"]


def test_a_whole_name_is_split_and_kept(client, accounts, account, key):
    lead = lead_of(client, accounts, account, post(client, key, {"phone": "2125550110", "full_name": "Mary Ann Smith"}))
    assert (lead["first_name"], lead["last_name"]) == ("Mary", "Ann Smith") and lead["extra"]["full_name"] == \
        "Mary Ann Smith"
    lead = lead_of(client, accounts, account, post(client, key, {"phone": "2125550111", "name": "Cher"}))
    assert (lead["first_name"], lead["last_name"]) == ("Cher", None)
    lead = lead_of(client, accounts, account, post(client, key, {"phone": "2125550112", "name": "Mary Smith",
                                                                "first_name": "Maria"}))
    assert (lead["first_name"], lead["last_name"]) == ("Maria", None)  # a first or last name given: no split


def test_a_one_element_array_is_its_value(client, accounts, account, key):
    lead = lead_of(client, accounts, account, post(client, key, {"phone": ["2125550113"], "email": ["a@example.com"],
                                                                "state": ["TX"]}))
    assert (lead["phone"], lead["email"], lead["state"]) == ("+12125550113", "a@example.com", "TX")


def test_mapping_by_json_path_and_unknown_keys_stay_in_extra(client, accounts, account, database_url):
    mapping = {"answers.0.text": "first_name", "answers.1.phone_number": "phone",
               "properties.zip.value": "zip", "lead.contact.best_time": "custom.best_time"}
    source_id, token = make_source(database_url, account, mapping=mapping)
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={
        "answers": [{"type": "text", "text": "Lou"}, {"type": "phone_number", "phone_number": "+12125550114"}],
        "properties": {"zip": {"value": "10002"}}, "lead": {"contact": {"best_time": "evenings"}},
        "favourite_colour": "teal"})
    assert response.status_code == 201, response.text
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert (lead["first_name"], lead["phone"], lead["zip"]) == ("Lou", "+12125550114", "10002")
    assert lead["custom"] == {"best_time": "evenings"} and lead["extra"]["favourite_colour"] == "teal"
    admin = accounts.key(account, scopes=["admin"])
    shown = client.simulate_get(f"/v1/sources/{source_id}", headers=bearer(admin)).json
    assert shown["mapping"] == mapping


def test_a_mapped_value_wins_over_an_alias(client, accounts, account, database_url):
    _, token = make_source(database_url, account, mapping={"cell": "custom.cell", "Work Phone": "phone"})
    response = client.simulate_post(f"/v1/sources/{token}/leads", json={"cell": "2125550115",
                                                                         "Work Phone": "2125550116"})
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert lead["phone"] == "+12125550116" and lead["custom"] == {"cell": "2125550115"}


def test_mapping_edited_with_the_cli_and_psql(client, accounts, account, database_url, capsys):
    def l2i(*args):
        code = main(["--database-url", database_url, *args])
        out, err = capsys.readouterr()
        return code, out.strip().splitlines(), err

    code, out, _ = l2i("source", "create", account, "Gravity quote form", "--adapter", "gravityforms",
                       "--map", "1.3=first_name", "--default", "utm_source=wordpress",
                       "--default", "custom.site=main", "--consent-on-submit", "--consent-text-version", "gf-v1")
    assert code == 0 and out[-1].startswith("l2is_") and out[1] == f"# URL: https://YOUR-HOST/v1/sources/{out[-1]}/leads"
    token, source_id = out[-1], out[0].split()[2]
    assert json.loads(l2i("source", "map", source_id, "3", "phone")[1][0]) == {"1.3": "first_name", "3": "phone"}
    code, out, err = l2i("source", "map", source_id, "4", "shoe_size")
    assert code == 1 and "no l2i field" in err
    code, out, _ = psql(database_url, "source_map", source_id=source_id, path="1.6", field="last_name")
    assert code == 0
    assert psql(database_url, "source_map", source_id=source_id, path="1.3", field="")[0] == 0  # removed
    assert l2i("source", "default", source_id, "sub_id", "gf")[0] == 0
    code, out, _ = psql(database_url, "source_default", source_id=source_id, name="custom.page", value="/quote")
    assert code == 0

    code, out, _ = l2i("source", "show", source_id)
    shown = dict(line.split("\t", 1) for line in out)
    assert json.loads(shown["mapping"]) == {"3": "phone", "1.6": "last_name"}
    assert json.loads(shown["defaults"]) == {"utm_source": "wordpress", "sub_id": "gf",
                                             "custom": {"site": "main", "page": "/quote"}}
    assert shown["consent_on_submit"] == "True" and token not in "\n".join(out)

    response = client.simulate_post(f"/v1/sources/{token}/leads", json={"1.3": "Al", "1.6": "Bo", "3": "2125550117"})
    lead = lead_of(client, accounts, account, response.json["lead_id"])
    assert (lead["last_name"], lead["phone"], lead["status"]) == ("Bo", "+12125550117", "new")
    assert lead["extra"] == {"1.3": "Al"} and lead["custom"] == {"site": "main", "page": "/quote"}
    assert lead["attribution"]["sub_id"] == "gf"

    code, out, _ = l2i("source", "list", account)
    assert out[0].split("\t")[:4] == ["id", "name", "prefix", "adapter"] and out[1].split("\t")[3] == "gravityforms"
    code, out, _ = psql(database_url, "source_create", account_id=account, name="psql form", adapter="unbounce")
    psql_id, psql_token = out[0].split("|")
    assert psql_token.startswith("l2is_")
    assert psql(database_url, "source_revoke", source=psql_token)[1][0].startswith(psql_id)
    assert client.simulate_post(f"/v1/sources/{psql_token}/leads", json={"phone": "2125550118"}).status_code == 401
    assert l2i("source", "revoke", source_id)[0] == 0
    assert client.simulate_post(f"/v1/sources/{token}/leads", json={"phone": "2125550119"}).status_code == 401
    assert psql(database_url, "source_show", source_id=source_id)[0] == 0
    assert psql(database_url, "sources_retry")[0] == 0
