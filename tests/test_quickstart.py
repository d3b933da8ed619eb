"""The README's quickstart, run verbatim in bash against a real gunicorn (the production config)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.gunicorn_server import ROOT, running_gunicorn


def quickstart_block() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart:[^>]*-->\s*```sh\n(.*?)```", readme, re.DOTALL)
    assert match, "README.md has no quickstart block"
    return match.group(1)


@pytest.mark.slow
def test_readme_quickstart_runs_verbatim(database_url, dictdb):
    script = quickstart_block()
    assert "http://127.0.0.1:8000" in script
    with running_gunicorn(database_url, workers=2) as base_url:
        # The only change: the port gunicorn got for this test instead of 8000.
        runnable = script.replace("http://127.0.0.1:8000", base_url)
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", runnable], cwd=ROOT, capture_output=True,
                                text=True, timeout=60, env={**os.environ, "DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    # Each curl printed one JSON document; pull them apart.
    decoder, text, documents = json.JSONDecoder(), result.stdout, []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    created, listing, whole, duplicate, held = documents
    assert created["outcome"] == "created" and created["status"] == "new"
    assert listing["data"][0]["id"] == created["lead_id"] and listing["data"][0]["phone"] == "+15551234567"
    assert whole["id"] == created["lead_id"] and whole["gates"]["consent"]["ok"] is True
    assert duplicate == {"outcome": "duplicate", "lead_id": created["lead_id"], "status": "new"}
    assert held["status"] == "ineligible" and held["reasons"] == ["missing_consent"]
    stored = dictdb.execute("SELECT first_name FROM leads WHERE id = %s", (held["lead_id"],)).fetchone()
    assert stored["first_name"] == "Sam"
