"""Does one account's CSV imports stall another account's reads? `.venv/bin/python bench/import_stall.py`

A scratch database and the real gunicorn (gunicorn.conf.py) with one worker of 4 request threads, as in issue 10:
account A sends four 5,000-row files at once and follows each job to its end; meanwhile account B reads
GET /v1/leads every 50 ms. Prints B's latencies (median, p95, max) over the imports. Asserts nothing about time.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from conftest import Accounts, migrated_database  # noqa: E402
from gunicorn_server import running_gunicorn  # noqa: E402

FILES, ROWS = 4, 5000


def request(port: int, method: str, path: str, key: str, body: bytes | None = None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, body=body, headers={"Authorization": f"Bearer {key}", **(headers or {})})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def main() -> None:
    with migrated_database("l2i_stall") as (_, url):
        accounts = Accounts(url)
        key_a, key_b = accounts.with_key()[1], accounts.with_key()[1]
        env = {"L2I_LOG_LEVEL": "warning", "L2I_THREADS": "4"}
        with running_gunicorn(url, env=env, workers=1) as base_url:
            port = int(base_url.rsplit(":", 1)[1])
            ended = []

            def send(n: int) -> None:
                body = "phone,first_name,consent_timestamp,consent_text_version\n" + "".join(
                    f"212{3000000 + n * 10_000 + i:07d},X,2026-01-01T00:00:00Z,v1\n" for i in range(ROWS))
                status, job = request(port, "POST", "/v1/leads/import", key_a, body.encode(),
                                      {"Content-Type": "text/csv"})
                while status in (200, 202) and job.get("status") in ("queued", "running"):
                    status, job = request(port, "GET", f"/v1/imports/{job['id']}", key_a, headers={"Prefer": "wait=5"})
                ended.append((status, job.get("status"), job.get("totals")))

            senders = [threading.Thread(target=send, args=(n,)) for n in range(FILES)]
            started = time.monotonic()
            for thread in senders:
                thread.start()
            latencies = []
            while any(thread.is_alive() for thread in senders):
                before = time.monotonic()
                status, _ = request(port, "GET", "/v1/leads?limit=5", key_b)
                latencies.append(time.monotonic() - before)
                time.sleep(0.05)
            elapsed = time.monotonic() - started
    latencies.sort()
    print(f"{FILES} imports of {ROWS:,} rows from account A: {[e[:2] for e in ended]} in {elapsed:.1f} s")
    print(f"account B's GET /v1/leads meanwhile: n={len(latencies)} median={latencies[len(latencies) // 2] * 1000:.0f} "
          f"ms p95={latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms max={latencies[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
