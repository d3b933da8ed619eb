"""CSV uploads as multipart/form-data (issue 9, section 2: "multipart is accepted for this and for CSV uploads,
bounded like every other body"): `curl -F file=@leads.csv` and a browser's file input, through HTTP. The same
streaming multipart reader serves Jotform's webhooks (tests/test_source_platforms.py)."""

from __future__ import annotations

import codecs
import io

import falcon.testing
import pytest

from l2i.app import create_app
from l2i.bodies import read_multipart
from tests.conftest import bearer
from tests.test_import import result

pytestmark = pytest.mark.usefixtures("import_runner")  # the session's runner of import jobs (tests/conftest.py)

CONSENT = "2026-01-01T00:00:00Z"
BOUNDARY = "------------------------d74496d66958873e"  # curl's own spelling of a boundary


def form(*parts: tuple[dict, bytes], boundary: str = BOUNDARY) -> tuple[bytes, str]:
    """A multipart/form-data body from (headers, content) parts, as RFC 7578 writes it."""
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n".encode()
        body += "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode() + b"\r\n"
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def file_part(content: bytes, *, name="file", filename="leads.csv", content_type="application/octet-stream"):
    headers = {"Content-Disposition": f'form-data; name="{name}"; filename="{filename}"'}
    if content_type:
        headers["Content-Type"] = content_type
    return headers, content


def text_part(name: str, value: str):
    return {"Content-Disposition": f'form-data; name="{name}"'}, value.encode()


def csv_of(n: int, start: int = 0) -> bytes:
    rows = ["phone,first_name,consent_timestamp,consent_text_version"]
    rows += [f"212{3000000 + start + i:07d},Row{i},{CONSENT},v1" for i in range(n)]
    return ("\r\n".join(rows) + "\r\n").encode()


def post(client, key, body: bytes, content_type: str, params=None):
    return client.simulate_post("/v1/leads/import", body=body, params=params,
                                headers={"Content-Type": content_type, "Prefer": "wait=30", **bearer(key)})


def stored(db, account_id) -> list[tuple]:
    return db.execute("SELECT phone, first_name, source FROM leads WHERE account_id = %s ORDER BY phone",
                      (account_id,)).fetchall()


def test_curl_file_upload_with_a_source_field(client, accounts, db):
    # curl -F source=fair-2026 -F file=@leads.csv: curl types a .csv part application/octet-stream
    account_id, key = accounts.with_key()
    body, content_type = form(text_part("source", "fair-2026"), file_part(csv_of(3)))
    response = post(client, key, body, content_type)
    assert result(client, key, response)["totals"]["created"] == 3
    assert stored(db, account_id) == [(f"+1212300000{i}", f"Row{i}", "fair-2026") for i in range(3)]


def test_browser_upload_of_a_utf16_facebook_download_and_the_query_source_wins(client, accounts, db):
    # A browser's <input type=file> sends the part with the type it guesses from the name; Facebook's download
    # is UTF-16 with tabs (tests/test_import_platforms.py): the file's own bytes decide.
    account_id, key = accounts.with_key()
    text = "phone_number\tfirst_name\tconsent_timestamp\tconsent_text_version\r\np:+12123100001\tMia\t" \
           f"{CONSENT}\tv1\r\n"
    content = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    body, content_type = form(text_part("source", "from-the-form"),
                              file_part(content, filename="leads.csv", content_type="application/vnd.ms-excel"))
    response = post(client, key, body, content_type, params={"source": "from-the-query"})
    assert result(client, key, response)["totals"]["created"] == 1
    assert stored(db, account_id) == [("+12123100001", "Mia", "from-the-query")]


def test_a_file_larger_than_the_reading_chunk_arrives_whole(client, accounts, db):
    account_id, key = accounts.with_key()
    content = csv_of(3200)  # ~140 KB: the boundary search crosses 64 KB reads
    assert len(content) > 1 << 17
    body, content_type = form(file_part(content, content_type="text/csv"))
    response = post(client, key, body, content_type)
    assert result(client, key, response)["totals"] == {"rows": 3200, "created": 3200, "duplicate": 0, "ineligible": 0,
                                       "invalid": 0, "blank": 0}
    assert db.execute("SELECT count(*) FROM leads WHERE account_id = %s", (account_id,)).fetchone()[0] == 3200


@pytest.mark.parametrize("parts, status, code", [
    ([text_part("source", "x")], 422, "validation_failed"),                          # no file part
    ([file_part(b"\x89PNG\r\n\x1a\n", content_type="image/png")], 415, "unsupported_media_type"),
    ([file_part(csv_of(1), content_type="text/csv; charset=windows-1252")], 415, "unsupported_media_type"),
    ([text_part("source", "y" * 5000), file_part(csv_of(1))], 413, "payload_too_large"),  # a text field is small
])
def test_refused_forms_store_nothing(client, accounts, db, parts, status, code):
    account_id, key = accounts.with_key()
    body, content_type = form(*parts)
    response = post(client, key, body, content_type)
    assert (response.status_code, response.json["error"]["code"]) == (status, code), response.text
    assert stored(db, account_id) == []


@pytest.mark.parametrize("body, content_type", [
    (b"--elsewhere\r\n\r\nphone\r\n--elsewhere--\r\n", f"multipart/form-data; boundary={BOUNDARY}"),
    (form(file_part(csv_of(1)))[0][:-40], f"multipart/form-data; boundary={BOUNDARY}"),  # no closing boundary
    (form(file_part(csv_of(1)))[0], "multipart/form-data"),                                # no boundary at all
])
def test_malformed_multipart_is_400(client, accounts, db, body, content_type):
    account_id, key = accounts.with_key()
    response = post(client, key, body, content_type)
    assert (response.status_code, response.json["error"]["code"]) == (400, "malformed_body"), response.text
    assert stored(db, account_id) == []


def test_multipart_uploads_are_bounded_like_every_other(config, pool, accounts, db):
    small = falcon.testing.TestClient(create_app(config.__class__(**{**config.__dict__, "max_import_bytes": 2048}),
                                                 pool))
    account_id, key = accounts.with_key()
    body, content_type = form(file_part(csv_of(100)))
    assert len(body) > 2048
    response = post(small, key, body, content_type)
    assert (response.status_code, response.json["error"]["code"]) == (413, "payload_too_large")
    assert stored(db, account_id) == []
    body, content_type = form(file_part(csv_of(5)))
    assert result(small, key, post(small, key, body, content_type))["totals"]["created"] == 5


class Trickle(io.RawIOBase):
    """A stream that gives at most a few bytes a read, so every delimiter straddles reads."""

    def __init__(self, data: bytes, step: int):
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[:self.step], self.data[self.step:]
        return chunk


@pytest.mark.parametrize("step", [1, 2, 7, 45, 1 << 16])
def test_the_reader_finds_every_part_whatever_the_read_sizes(step):
    content = csv_of(40) + b"\r\n--" + BOUNDARY[:-3].encode() + b"\r\n-"  # near-delimiters inside the file
    body, content_type = form(text_part("source", "a b"), file_part(content), text_part("note", "\u00e9t\u00e9"),
                              ({"Content-Disposition": "form-data"}, b"unnamed"))
    sink = io.BytesIO()
    found = read_multipart(Trickle(b"preamble\r\n" + body + b"epilogue", step), content_type, file_to=sink)
    assert sink.getvalue() == content
    assert (found.file_name, found.file_type) == ("file", "application/octet-stream")
    assert found.pairs == [("source", "a b"), ("note", "\u00e9t\u00e9")]
