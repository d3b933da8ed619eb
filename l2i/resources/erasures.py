"""POST /v1/erasures (scope admin): a consumer's deletion request for one number. Every lead of the account with
the number is anonymized (its counts stay in the stats), what derives from it deleted or cleared, and the number
suppressed as opted_out: the suppression list is the one place it stays. The answer is the audit row
(lead_erasures), which holds the number only as a SHA-256. The same SQL as `l2i lead erase` and
sql/admin/lead_erase.sql (l2i_lead_erase, migration 0013_retention)."""

from __future__ import annotations

import falcon

from l2i import sql
from l2i.bodies import body_fields
from l2i.errors import FieldError, validation_failed
from l2i.fields import phone_e164
from l2i.resources.dialing import refuse_unknown, short_text

OPERATOR_MAX = 200


class Erasures:
    scopes = {"POST": "admin"}

    def __init__(self, pool, max_body_bytes: int):
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def on_post(self, req, resp):
        body = body_fields(req, self.max_body_bytes)
        errors: list[FieldError] = []
        refuse_unknown(body, {"phone", "operator"}, errors)
        phone = phone_e164(body.get("phone"), errors)
        operator = short_text(body, "operator", OPERATOR_MAX, errors)
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            row = sql.one(conn, "lead_erase", account_id=req.context.key["account_id"], phone=phone,
                          operator=operator, api_key_id=req.context.key["id"])
        resp.status = falcon.HTTP_201
        resp.media = row
