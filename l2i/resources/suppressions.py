"""The suppression list API: POST /v1/suppressions (scope write or suppressions), GET /v1/suppressions and
DELETE /v1/suppressions/{phone} (scope suppressions, never implied by write). Adding a number also pulls the
account's queued leads with that number. An opted_out entry cannot be deleted over the API at all (409): only an
operator's sql/admin/opt_out_remove.sql, which records who and why. Every change is a suppression_events row."""

from __future__ import annotations

import base64
import binascii

import falcon

from l2i import sql
from l2i.bodies import body_fields, query_fields
from l2i.errors import APIError, FieldError, validation_failed
from l2i.fields import phone_e164
from l2i.resources.dialing import refuse_unknown, short_text

PAGE_DEFAULT, PAGE_MAX = 100, 1000
REASON_MAX = 200


class SuppressionsCollection:
    scopes = {"POST": ("write", "suppressions"), "GET": "suppressions"}

    def __init__(self, pool, max_body_bytes: int):
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def on_post(self, req, resp):
        body = body_fields(req, self.max_body_bytes)
        errors: list[FieldError] = []
        refuse_unknown(body, {"phone", "reason"}, errors)
        phone = phone_e164(body.get("phone"), errors)
        reason = short_text(body, "reason", REASON_MAX, errors)
        if errors:
            raise validation_failed(errors)
        account_id = req.context.key["account_id"]
        with self.pool.connection() as conn:
            added = sql.many(conn, "suppress_numbers", account_id=account_id, phones=[phone], reason=reason,
                             api_key_id=req.context.key["id"])[0]
            row = sql.one(conn, "suppression_get", account_id=account_id, phone=phone)
        resp.status = falcon.HTTP_201 if added["added"] else falcon.HTTP_200
        resp.media = {**row, "added": added["added"]}

    def on_get(self, req, resp):
        query = query_fields(req)
        errors: list[FieldError] = []
        refuse_unknown(query, {"limit", "cursor"}, errors)
        limit = PAGE_DEFAULT
        raw_limit = query.get("limit")
        if raw_limit is not None:
            if not isinstance(raw_limit, str) or not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= PAGE_MAX:
                errors.append(FieldError("limit", "invalid", f"must be a whole number from 1 to {PAGE_MAX}"))
            else:
                limit = int(raw_limit)
        after = ""
        raw_cursor = query.get("cursor")
        if raw_cursor is not None:
            try:
                after = base64.urlsafe_b64decode(str(raw_cursor) + "=" * (-len(str(raw_cursor)) % 4)).decode()
                if not after.startswith("+") or not after[1:].isdigit():
                    raise ValueError(after)
            except (ValueError, binascii.Error, UnicodeDecodeError):
                errors.append(FieldError("cursor", "invalid", "is not a cursor this API returned"))
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            rows = sql.many(conn, "suppressions_page", account_id=req.context.key["account_id"], after=after,
                            limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        resp.media = {"data": rows, "next_cursor": (base64.urlsafe_b64encode(rows[-1]["phone"].encode())
                                                    .decode().rstrip("=") if more and rows else None)}


class SuppressionsItem:
    scopes = {"DELETE": "suppressions"}

    def __init__(self, pool):
        self.pool = pool

    def on_delete(self, req, resp, phone):
        errors: list[FieldError] = []
        e164 = phone_e164(phone, errors)
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            removed = sql.many(conn, "unsuppress_numbers", account_id=req.context.key["account_id"],
                               phones=[e164], api_key_id=req.context.key["id"])
        if removed and removed[0]["opted_out"]:
            raise APIError(falcon.HTTP_409, "opted_out_protected",
                           "This number opted out: it cannot be taken off the suppression list over the API. An "
                           "operator can, with sql/admin/opt_out_remove.sql, saying who and why.")
        if not removed or not removed[0]["removed"]:
            raise APIError(falcon.HTTP_404, "not_found", "This number is not on your suppression list.")
        resp.status = falcon.HTTP_204
