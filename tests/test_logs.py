"""Logs that cannot leak a token or be forged, and CLI output that cannot be forged or run by a spreadsheet.

- gunicorn logs a whole invalid request line at WARNING: query strings (postback tokens) must not reach the log.
- l2i's access line printed the decoded path as is: `%0a` forged a log line. Control characters are escaped
  and phone numbers in paths masked.
- `l2i lead find` printed lead fields raw (a tab or line break in a name shifted columns or forged rows);
  `--csv` prefixes cells a spreadsheet would run (= + - @)."""

from __future__ import annotations

import csv
import io
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest

from gunicorn_server import running_gunicorn
from l2i.cli import main, table_cell
from l2i.logs import log_path, redact
from tests.conftest import QUICKSTART_LEAD, bearer

TOKEN = "l2ipb_" + "ab12" * 16


def access_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "l2i.access"]


def test_the_access_line_escapes_control_characters(client, caplog):
    caplog.set_level(logging.INFO, logger="l2i.access")
    client.simulate_get("/v1/leads/x\nrequest_id=forged method=GET path=/ status=200\r\x1b[2J y")
    (line,) = access_lines(caplog)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "path=/v1/leads/x\\x0arequest_id=forged\\x20method=GET\\x20path=/\\x20status=200\\x0d\\x1b[2J\\x20y " \
        in line
    assert line.count("status=") == 2 and line.endswith("client=127.0.0.1")  # the forged one is inside path=


def test_the_access_line_masks_phone_numbers_in_paths(client, accounts, caplog):
    _, key = accounts.with_key()
    caplog.set_level(logging.INFO, logger="l2i.access")
    client.simulate_delete("/v1/suppressions/+12125550142", headers=bearer(key))
    client.simulate_delete("/v1/suppressions/(212) 555-0143", headers=bearer(key))
    lines = access_lines(caplog)
    assert "path=/v1/suppressions/+*********42 " in lines[0]
    assert "path=/v1/suppressions/(***)\\x20***-**43 " in lines[1]
    assert not any("2125550142" in line or "555-0143" in line for line in lines)


def test_log_path_keeps_lead_ids_and_redacts_source_tokens():
    lead_id = "6f1c2d3e-1234-4567-8901-234567890123"
    assert log_path(f"/v1/leads/{lead_id}/outcome") == f"/v1/leads/{lead_id}/outcome"
    assert log_path("/v1/sources/l2is_" + "0" * 64 + "/leads") == "/v1/sources/l2is_00000000.../leads"
    assert log_path(f"/v1/sources/{lead_id}") == f"/v1/sources/{lead_id}"
    assert log_path("/v1/sources/not-a-token/leads") == "/v1/sources/[redacted]/leads"
    assert redact(f"GET /v1/postbacks/calls?token={TOKEN}&caller_id=1 HTTP/1.1") == \
        "GET /v1/postbacks/calls?[redacted] HTTP/1.1"
    assert redact(f"token {TOKEN}, key l2i_{'f' * 64}, source l2is_{'0' * 64}") == \
        "token [redacted], key [redacted], source [redacted]"


@pytest.fixture(scope="module")
def server(database_url):
    with running_gunicorn(database_url, env={"L2I_LOG_LEVEL": "debug"}, workers=1) as base_url:
        yield base_url


def raw_request(base_url: str, data: bytes) -> bytes:
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_gunicorn_never_logs_a_query_string(server, accounts):
    # An invalid request line (gunicorn logs it whole, at WARNING), a request line with a control character, a
    # header gunicorn refuses, and a valid postback: the token is in each, and in none of the log's lines.
    answers = [
        raw_request(server, f"GET /v1/postbacks/calls?token={TOKEN} HTTP/1.1 extra\r\n\r\n".encode()),
        raw_request(server, f"GET /v1/postbacks/calls?token={TOKEN}\x01 HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
        raw_request(server, f"GET /v1/postbacks/calls?token={TOKEN} HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"
                    .encode()),
        raw_request(server, f"GET /v1/postbacks/calls?token={TOKEN}&caller_id=2125550160 HTTP/1.1\r\nHost: x\r\n"
                            "Connection: close\r\n\r\n".encode()),
    ]
    assert [answer.split(b" ", 2)[1] for answer in answers] == [b"400", b"400", b"400", b"401"]
    deadline = time.monotonic() + 10
    while "Invalid request" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log()
    assert "Invalid request" in log and "/v1/postbacks/calls?[redacted]" in log, log[-3000:]
    assert "path=/v1/postbacks/calls status=401" in log  # l2i's own access line, which never had the query
    assert TOKEN not in log and "ab12ab12" not in log


@pytest.fixture
def l2i(database_url, capsys):
    def run(*args):
        code = main(["--database-url", database_url, *args])
        return code, capsys.readouterr().out
    return run


def test_cli_tables_escape_tabs_and_line_breaks(client, accounts, l2i):
    account_id, key = accounts.with_key()
    lead = {**QUICKSTART_LEAD, "phone": "2125550161", "first_name": "Ja\tne\nforged-id\tnew",
            "last_name": "Do\re", "source": "=HYPERLINK(\"http://x\")"}
    assert client.simulate_post("/v1/leads", json=lead, headers=bearer(key)).status_code == 201
    code, out = l2i("lead", "find", account_id, "2125550161")
    lines = out.rstrip("\n").split("\n")
    assert code == 0 and len(lines) == 2, out
    assert all(line.count("\t") == 9 for line in lines)
    row = dict(zip(lines[0].split("\t"), lines[1].split("\t")))
    assert row["first_name"] == "Ja\\tne\\nforged-id\\tnew" and row["last_name"] == "Do\\re"
    # Intake refuses other control characters; a table escapes them anyway (buyer names come from postbacks).
    assert table_cell("a\\b\x1b[31m\x85\u2028") == "a\\\\b\\x1b[31m\\x85\\u2028" and table_cell(None) == ""


def test_cli_csv_output_defuses_formulas(client, accounts, l2i):
    account_id, key = accounts.with_key()
    for phone, first, source in (("2125550162", "=1+2", "@SUM(A1)"), ("2125550163", "-3+4", "+cmd|' /C calc'!A0")):
        lead = {**QUICKSTART_LEAD, "phone": phone, "first_name": first, "source": source, "last_name": "plain, \"q\""}
        assert client.simulate_post("/v1/leads", json=lead, headers=bearer(key)).status_code == 201
    rows = []
    for phone in ("2125550162", "2125550163"):
        code, out = l2i("lead", "find", account_id, phone, "--csv")
        assert code == 0
        rows += list(csv.DictReader(io.StringIO(out)))
    assert [(r["first_name"], r["source"], r["last_name"]) for r in rows] == [
        ("'=1+2", "'@SUM(A1)", 'plain, "q"'), ("'-3+4", "'+cmd|' /C calc'!A0", 'plain, "q"')]
    code, out = l2i("key", "list", account_id, "--csv")
    assert code == 0 and out.splitlines()[0].startswith("id,label,prefix,")
