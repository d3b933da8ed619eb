"""GET or POST /v1/postbacks/calls?token=...: what a transferred call paid, from a buyer platform.

No bearer key: the postback token in the URL is the credential (buyer platforms can only fire URLs). Each token
has its own per-minute limit, counted and answered as API keys' are (X-RateLimit-* headers; 429 with Retry-After).
"""

from __future__ import annotations

import hashlib
import re

import falcon
from psycopg.types.json import Jsonb

from l2i import postbacks, sql
from l2i.bodies import body_fields, query_fields
from l2i.errors import APIError, FieldError, rate_limit_headers, refuse_over_limit, unauthorized, validation_failed
from l2i.fields import first_bad_text

_TOKEN = re.compile(r"^l2ipb_[0-9a-f]{64}$")
_STATUS = {"matched": falcon.HTTP_200, "unmatched": falcon.HTTP_202, "duplicate": falcon.HTTP_200,
           "replaced": falcon.HTTP_200}


class CallPostbacks:
    def __init__(self, pool, max_body_bytes: int):
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def on_get(self, req, resp):
        self._record(req, resp, {})

    def on_post(self, req, resp):
        self._record(req, resp, body_fields(req, self.max_body_bytes))

    def _record(self, req, resp, body: dict) -> None:
        fields = {**query_fields(req), **body}  # the body wins where both have a field
        token = fields.pop("token", None)
        if not isinstance(token, str) or not _TOKEN.match(token.strip()):
            raise unauthorized("Add your postback token to the URL: /v1/postbacks/calls?token=l2ipb_...")
        with self.pool.connection() as conn:
            owner = sql.one(conn, "postback_token_hit", token_hash=hashlib.sha256(token.strip().encode()).digest())
            if owner is None:
                raise unauthorized("This postback token is unknown or has been revoked.")
            req.context.key = owner  # for the access log: the token's prefix, never the token
            _rate_limit(resp, owner)
            try:
                postback = postbacks.parse(fields)
            except postbacks.PostbackInvalid as exc:
                raise validation_failed(exc.errors) from None
            bad = first_bad_text(fields)
            if bad is not None:
                raise validation_failed([FieldError(bad, "invalid", "text may not contain NUL bytes or unpaired "
                                                                    "surrogates")])
            row = sql.one(conn, "postback_record", account_id=owner["account_id"], token_id=owner["id"],
                          caller_id=postback.caller_id, call_time=postback.call_time, call_id=postback.call_id,
                          buyer=postback.buyer, duration_s=postback.duration_s, payout_cents=postback.payout_cents,
                          fields=Jsonb(postback.fields))
        if row is None:  # cannot happen: l2i_postback_record always answers
            raise APIError(falcon.HTTP_500, "internal_error", "The postback was not recorded.")
        resp.status = _STATUS[row["outcome"]]
        answer = {"outcome": row["outcome"], "postback_id": row["postback_id"]}
        if row["outcome"] != "unmatched":
            answer.update(transfer_id=row["transfer_id"], lead_id=row["lead_id"], payout_cents=row["payout_cents"])
        if row["outcome"] == "replaced":
            answer["previous_payout_cents"] = row["previous_payout_cents"]
        resp.media = answer


def _rate_limit(resp, owner: dict) -> None:
    """The token's X-RateLimit-* headers; past its limit, a 429 with Retry-After (as middleware.Auth for keys)."""
    rate_limit_headers(resp, owner)
    refuse_over_limit(owner, f"This postback token may send {owner['rate_limit']} postbacks a minute")
