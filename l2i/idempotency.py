"""Idempotency-Key on POST /v1/leads and on source intake: a retried request with the same key and the same
request gets the first answer back (for 24 hours); the same key with another request is a 409.

The key is claimed in one statement before the lead is taken in (sql/queries/sources.sql, idempotency_claim), so
two identical requests racing each other cannot both create a lead: the second sees the key held and answers 409
`idempotency_in_progress` with Retry-After until the first has stored its answer.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import Any

import falcon
from psycopg.types.json import Jsonb

from l2i import sql
from l2i.errors import APIError

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces (Stripe's and the IETF draft's keys are)


def key_of(req) -> str | None:
    value = req.get_header(HEADER)
    if value is None:
        return None
    value = value.strip()
    if not _KEY.match(value):
        raise APIError(falcon.HTTP_400, "malformed_idempotency_key",
                       "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.")
    return value


def request_hash(*parts: bytes | str) -> bytes:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.digest()


class Claim:
    """`with Claim(pool, account_id, key, hash) as claim:`; claim.replay is the stored (status, body) to answer with,
    else do the work and call claim.store(status, body). An exception inside frees the key."""

    def __init__(self, pool, account_id, key: str, digest: bytes):
        self.pool, self.params = pool, {"account_id": account_id, "idem_key": key, "request_hash": digest}
        self.replay: tuple[int, Any] | None = None
        self.claimed = False

    def __enter__(self) -> "Claim":
        with self.pool.connection() as conn:
            row = sql.one(conn, "idempotency_claim", **self.params)
        if row is None or (not row["claimed"] and row["status"] is None and
                           bytes(row["request_hash"]) == self.params["request_hash"]):
            raise APIError(falcon.HTTP_409, "idempotency_in_progress",
                           "A request with this Idempotency-Key is still being processed; retry shortly.",
                           headers={"Retry-After": "1"})
        if not row["claimed"] and bytes(row["request_hash"]) != self.params["request_hash"]:
            raise APIError(falcon.HTTP_409, "idempotency_key_reused",
                           "This Idempotency-Key was used with another request in the last 24 hours.")
        if row["claimed"]:
            self.claimed = True
        else:
            self.replay = (int(row["status"]), row["response"])
        return self

    def store(self, status: int, body: Any) -> None:
        with self.pool.connection() as conn:
            sql.run(conn, "idempotency_store", status=status, response=Jsonb(body, dumps=functools.partial(json.dumps, default=str)), **self.params)
        self.claimed = False

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.claimed:
            with self.pool.connection() as conn:
                sql.run(conn, "idempotency_release", **self.params)
