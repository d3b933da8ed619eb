"""CSV files as the platforms people export from write them (issue 9, section 4): Facebook Lead Ads' UTF-16
tab-separated download with `p:` phones, Google Ads lead exports, HubSpot and Salesforce contact exports,
semicolon files; and rows that say the person must not be called (held as do_not_call, number suppressed)."""

from __future__ import annotations

import codecs

import pytest

from l2i import csv_platforms
from l2i.cli import main
from tests.conftest import bearer
from tests.test_import import post_csv, result

pytestmark = pytest.mark.usefixtures("import_runner")  # imports are jobs: the session's runner runs them

CONSENT = "2026-01-01T00:00:00Z"


def lead(client, key, lead_id) -> dict:
    return client.simulate_get(f"/v1/leads/{lead_id}", headers=bearer(key)).json


def suppressed(db, account_id) -> list[str]:
    return [row[0] for row in db.execute("SELECT phone FROM suppressions WHERE account_id = %s ORDER BY phone",
                                         (account_id,))]


def queued(db, account_id) -> int:
    return db.execute("SELECT count(*) FROM dial_queue WHERE account_id = %s", (account_id,)).fetchone()[0]


# Facebook Lead Ads' form download. "Note the field is labeled csv although the only supported format is TSV"
# (https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving); the file Ads Manager gives is
# UTF-16 with tab separators, its id columns prefixed (l:, ag:, as:, c:, f:) and phone values prefixed `p:`.
# Question keys as Meta names its prefill questions (email, first_name, last_name, phone_number, state,
# post_code, ...) and is_organic 0/1 (same page).
FACEBOOK_HEADER = ["id", "created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
                   "campaign_name", "form_id", "form_name", "is_organic", "platform", "first_name", "last_name",
                   "email", "phone_number", "state", "post_code"]
FACEBOOK_ROWS = [
    ["l:1203456789012345", "2026-06-01T14:03:11-05:00", "ag:120200000000001", "Summer quote", "as:120200000000002",
     "Texas 25-54", "c:120200000000003", "Auto quotes", "f:120200000000004", "Quote form v2", "0", "fb",
     "Maria", "Lopez", "maria@example.com", "p:+12125550101", "TX", "75201"],
    ["l:1203456789012346", "2026-06-01T14:09:40-05:00", "ag:120200000000001", "Summer quote", "as:120200000000002",
     "Texas 25-54", "c:120200000000003", "Auto quotes", "f:120200000000004", "Quote form v2", "0", "ig",
     "Dan", "Wu", "dan@example.com", "p:+12125550102", "TX", "75202"],
]


def tsv(header, rows) -> str:
    return "\r\n".join("\t".join(cells) for cells in [header, *rows]) + "\r\n"


@pytest.mark.parametrize("encoding, bom", [
    ("utf-16-le", codecs.BOM_UTF16_LE),  # what Ads Manager's download is
    ("utf-16-le", b""),
    ("utf-16-be", codecs.BOM_UTF16_BE),
    ("utf-16-be", b""),
])
def test_facebook_lead_ads_utf16_tab_download(client, accounts, encoding, bom):
    _, key = accounts.with_key()
    body = bom + tsv(FACEBOOK_HEADER, FACEBOOK_ROWS).encode(encoding)
    response = post_csv(client, key, body, params={"source": "facebook"})
    assert response.status_code in (200, 202), response.text
    answer = result(client, key, response)
    assert answer["totals"] == {"rows": 2, "created": 0, "duplicate": 0, "ineligible": 2, "invalid": 0, "blank": 0}
    maria = lead(client, key, answer["rows"][0]["lead_id"])
    assert (maria["phone"], maria["first_name"], maria["last_name"], maria["email"], maria["state"], maria["zip"]) \
        == ("+12125550101", "Maria", "Lopez", "maria@example.com", "TX", "75201")
    assert maria["extra"]["id"] == "l:1203456789012345" and maria["extra"]["platform"] == "fb"
    assert "post_code" not in maria["extra"] and "phone_number" not in maria["extra"]
    assert maria["reasons"] == ["missing_consent"]  # a form download carries no consent evidence


def test_facebook_download_through_the_cli(database_url, accounts, tmp_path, capsys):
    account_id, _ = accounts.with_key()
    path = tmp_path / "leads.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + tsv(FACEBOOK_HEADER, FACEBOOK_ROWS).encode("utf-16-le"))
    assert main(["--database-url", database_url, "import", account_id, str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "rows 2\tcreated 0\tduplicate 0\tineligible 2\tinvalid 0\tblank 0"


def test_semicolon_and_tab_separated_utf8(client, accounts):
    _, key = accounts.with_key()
    # Excel saves "CSV" with semicolons where the decimal mark is a comma; a quoted cell may hold one.
    semicolon = f'phone;first_name;notes;consent_timestamp;consent_text_version\n2125550111;Ann;"a; b";{CONSENT};v1\n'
    answer = result(client, key, post_csv(client, key, semicolon))
    assert answer["rows"][0]["outcome"] == "created", answer
    ann = lead(client, key, answer["rows"][0]["lead_id"])
    assert ann["first_name"] == "Ann" and ann["extra"] == {"notes": "a; b"}
    tab = "\ufeffphone\tfirst_name\n2125550112\tBo,b\n"  # a comma inside a tab-separated cell is text
    answer = result(client, key, post_csv(client, key, tab, content_type="text/tab-separated-values"))
    assert lead(client, key, answer["rows"][0]["lead_id"])["first_name"] == "Bo,b"


def test_google_ads_lead_form_export(client, accounts):
    # Column names as Google Ads lead forms name them ("Full Name", "User Phone", "User Email", "Postal Code")
    # and the address columns (CITY, REGION, COUNTRY):
    # https://developers.google.com/google-ads/webhook/docs/samples
    # https://developers.google.com/google-ads/api/reference/rpc/v18/LeadFormFieldUserInputTypeEnum.LeadFormFieldUserInputType
    _, key = accounts.with_key()
    body = ("Lead ID,Campaign ID,Full Name,User Phone,User Email,Postal Code,City,Region,Country\n"
            "Cj0KCQjwit_8BRCoARIsAIx3Rj7g,123456,John Doe,+12125550121,john@example.com,10001,New York,NY,US\n")
    answer = result(client, key, post_csv(client, key, body))
    john = lead(client, key, answer["rows"][0]["lead_id"])
    assert (john["phone"], john["email"], john["zip"], john["city"], john["state"]) == (
        "+12125550121", "john@example.com", "10001", "New York", "NY")
    assert john["extra"]["Full Name"] == "John Doe" and john["extra"]["Lead ID"] == "Cj0KCQjwit_8BRCoARIsAIx3Rj7g"


def test_hubspot_contact_export(client, accounts):
    # HubSpot's default contact properties as its export labels them (Record ID, First Name, Last Name, Email,
    # Phone Number, Mobile Phone Number, State/Region, Postal Code, Street Address):
    # https://knowledge.hubspot.com/properties/hubspots-default-contact-properties
    _, key = accounts.with_key()
    body = ("Record ID,First Name,Last Name,Email,Phone Number,Mobile Phone Number,Street Address,State/Region,"
            "Postal Code,Create Date\n"
            "51,Ann,Lee,ann@example.com,(212) 555-0131,(212) 555-0199,1 Main St,NY,10001,2026-05-01 10:00\n"
            "52,Bob,Ray,bob@example.com,,(212) 555-0132,,New York,10002,2026-05-01 10:05\n")
    rows = result(client, key, post_csv(client, key, body))["rows"]
    ann, bob = (lead(client, key, row["lead_id"]) for row in rows)
    assert (ann["phone"], ann["state"], ann["zip"], ann["address1"]) == ("+12125550131", "NY", "10001", "1 Main St")
    assert ann["extra"]["Mobile Phone Number"] == "(212) 555-0199"  # the other number, kept as sent
    assert bob["phone"] == "+12125550132" and bob["state"] == "NY"  # no Phone Number: the mobile is the phone


def test_salesforce_contact_export_with_do_not_call(client, accounts, db):
    # Salesforce Contact fields by API name, as a Data Loader export writes them (Phone, MobilePhone, HomePhone,
    # MailingState, MailingPostalCode, DoNotCall, HasOptedOutOfEmail):
    # https://developer.salesforce.com/docs/platform/field-reference/references/field-reference/salesforce-field-reference-contact.html
    account_id, key = accounts.with_key()
    body = ("Id,FirstName,LastName,Email,Phone,MobilePhone,HomePhone,MailingStreet,MailingCity,MailingState,"
            "MailingPostalCode,DoNotCall,HasOptedOutOfEmail\n"
            "0035e00000AbCdE1,Ann,Lee,ann@example.com,2125550141,,,1 Main St,Dallas,TX,75201,false,true\n"
            "0035e00000AbCdE2,Bob,Ray,bob@example.com,,,2125550142,,Austin,TX,73301,true,false\n"
            "0035e00000AbCdE3,Cy,Day,,2125550143,,,,,TX,7520,false,false\n")
    rows = result(client, key, post_csv(client, key, body))["rows"]
    ann = lead(client, key, rows[0]["lead_id"])
    assert (ann["phone"], ann["state"], ann["zip"], ann["city"], ann["address1"]) == (
        "+12125550141", "TX", "75201", "Dallas", "1 Main St")
    assert rows[0]["reasons"] == ["missing_consent"]  # HasOptedOutOfEmail is about email, not calls
    assert rows[1]["outcome"] == "ineligible" and "do_not_call" in rows[1]["reasons"]
    assert lead(client, key, rows[1]["lead_id"])["phone"] == "+12125550142"  # HomePhone when Phone is empty
    assert suppressed(db, account_id) == ["+12125550142"]
    # A bad value is named as the file names its column.
    assert rows[2]["errors"] == [{"field": "MailingPostalCode", "code": "invalid",
                                  "message": "must be a 5-digit ZIP code or ZIP+4"}]


@pytest.mark.parametrize("column", ["Do Not Call", "DoNotCall", "HasOptedOutOfCall", "Opted Out", "donotphone"])
def test_a_do_not_call_row_is_held_suppressed_and_never_queued(client, accounts, db, column):
    account_id, key = accounts.with_key()
    # Consent is complete: without the column, every row would be queued.
    body = f"Phone,{column},consent_timestamp,consent_text_version\n" + "".join(
        f"21255501{50 + n},{flag},{CONSENT},v1\n"
        for n, flag in enumerate(["1", "true", "Yes", "X", "Do Not Allow", "0", "false", "", "No", "Allow"]))
    answer = result(client, key, post_csv(client, key, body))
    held = [row for row in answer["rows"] if row["outcome"] == "ineligible"]
    assert [row["row"] for row in held] == [2, 3, 4, 5, 6]
    assert all(row["reasons"] == ["suppressed", "do_not_call"] for row in held)
    assert answer["totals"]["created"] == 5 and queued(db, account_id) == 5
    assert suppressed(db, account_id) == [f"+121255501{50 + n}" for n in range(5)]
    # The number stays suppressed for what comes later, from any sender.
    again = client.simulate_post("/v1/leads", json={"phone": "2125550150"}, headers=bearer(key)).json
    assert again["outcome"] == "duplicate" and again["status"] == "ineligible"


def test_a_do_not_call_row_pulls_the_numbers_queued_lead(client, accounts, db):
    account_id, key = accounts.with_key()
    first = client.simulate_post("/v1/leads", headers=bearer(key), json={
        "phone": "2125550161", "consent": {"consent_timestamp": CONSENT, "consent_text_version": "v1"}}).json
    assert first["status"] == "new" and queued(db, account_id) == 1
    answer = result(client, key, post_csv(client, key, "phone,Do Not Call\n2125550161,1\n"))
    assert answer["rows"][0] == {"row": 2, "outcome": "duplicate", "lead_id": first["lead_id"],
                                 "status": "ineligible", "reasons": ["suppressed"]}
    assert queued(db, account_id) == 0 and suppressed(db, account_id) == ["+12125550161"]


@pytest.mark.parametrize("body, says", [
    (codecs.BOM_UTF16_LE + "phone\n2125550171\n".encode("utf-16-le") + b"\x00", "not UTF-16"),  # odd byte count
    (codecs.BOM_UTF16_LE + "phone\n".encode("utf-16-le") + b"\x00\xdc", "not UTF-16"),  # a lone surrogate
    (b"phone;first_name\n2125550171;Jos\xe9\n", "not UTF-8"),  # Latin-1 is not guessed
])
def test_a_file_in_no_supported_encoding_is_refused_whole(client, accounts, db, body, says):
    account_id, key = accounts.with_key()
    response = post_csv(client, key, body)
    assert response.status_code == 400 and says in response.json["error"]["message"]
    assert db.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account_id,)).fetchone()[0] == 0


def test_charsets_a_client_may_declare(client, accounts):
    _, key = accounts.with_key()
    body = codecs.BOM_UTF16_LE + "phone\n2125550181\n".encode("utf-16-le")
    assert result(client, key, post_csv(client, key, body, content_type="text/csv; charset=utf-16"))["totals"][
        "ineligible"] == 1
    assert post_csv(client, key, "phone\n2125550182\n", content_type="text/csv; charset=windows-1252").status_code \
        == 415


@pytest.mark.parametrize("head, expected", [
    (b"phone,name\n", ("utf-8-sig", ",")),
    (codecs.BOM_UTF8 + b"phone;name;x,y\n", ("utf-8-sig", ";")),
    (b'"a,b";"c,d";e\n', ("utf-8-sig", ";")),  # delimiters inside quotes do not count
    (b"phone\n2125550191\n", ("utf-8-sig", ",")),
    (codecs.BOM_UTF16_LE + "phone\tname\n".encode("utf-16-le"), ("utf-16", "\t")),
    ("phone\tname\n".encode("utf-16-be"), ("utf-16-be", "\t")),
    (b"", ("utf-8-sig", ",")),
])
def test_sniff(head, expected, tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(head)
    with path.open("rb") as f:
        assert csv_platforms.sniff(f) == expected and f.tell() == 0


def test_a_large_utf16_tab_file_imports_in_bounded_memory(database_url, accounts, tmp_path):
    """As test_import.test_a_100k_row_file_imports_in_bounded_memory, for Facebook's shape of file: UTF-16 with a
    BOM, tab-separated, `p:` phones and a do-not-call column. The decoder streams: tracemalloc's peak stays under
    a bound that the file (twice the bytes of its UTF-8 twin) exceeds by itself."""
    import os
    import tracemalloc

    import psycopg

    from l2i import import_cli

    account_id, _ = accounts.with_key()
    path = tmp_path / "big.tsv"
    padding = "x" * 250  # long rows: a file over twice the bound with few rows, each row costing parse time
    with path.open("w", encoding="utf-16", newline="") as f:  # Python's utf-16 writes the BOM (native order)
        f.write("phone_number\tfirst_name\tDo Not Call\tnotes\r\n")
        for n in range(20_000):
            phone = f"p:+1212{3000000 + n:07d}" if n % 20 == 0 else "nope"
            f.write(f"{phone}\tPerson {n}\t{'1' if n % 40 == 0 else ''}\t{padding}\r\n")
    size = os.path.getsize(path)
    bound = 4 * 1024 * 1024
    assert size > 2 * bound

    def run(csv_path) -> int:
        with open(os.devnull, "w") as sink:
            return import_cli.command(database_url, account_id, str(csv_path), out=sink, err=sink)

    warm = tmp_path / "warm.tsv"
    warm.write_text("phone_number\tDo Not Call\r\np:+12125550999\t1\r\nnope\t\r\n", encoding="utf-16")
    assert run(warm) == 0
    tracemalloc.start()
    try:
        assert run(path) == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < bound, f"peak {peak} bytes for a {size}-byte file"
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE 'do_not_call' = ANY (reasons)) FROM leads "
                            "WHERE account_id = %s", (account_id,)).fetchone() == (1000 + 1, 500 + 1)
        assert conn.execute("SELECT count(*) FROM suppressions WHERE account_id = %s",
                            (account_id,)).fetchone()[0] == 500 + 1
