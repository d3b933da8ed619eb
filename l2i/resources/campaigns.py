"""GET/POST /v1/campaigns and GET/PATCH /v1/campaigns/{campaign} (scope admin): an account's campaigns.

{campaign} is the campaign's code (or its name, or its id). Pausing is a PATCH: {"paused": true}.
"""

from __future__ import annotations

import falcon
import psycopg
from psycopg.types.json import Jsonb

from l2i import sql
from l2i.bodies import body_fields
from l2i.campaigns import parse_settings
from l2i.errors import APIError, FieldError, validation_failed

# A constraint the database refuses a campaign with, and the field it is about.
_CONFLICTS = {
    "campaigns_account_code_key": ("code", "Another campaign of this account has this code."),
    "campaigns_account_name_key": ("name", "Another campaign of this account has this name."),
}


def _not_found() -> APIError:
    return APIError(falcon.HTTP_404, "not_found", "No campaign with this code in your account.")


def _named(campaign: str) -> str:
    """The path's campaign, or a 404 for what no campaign can be named (NUL bytes, overlong)."""
    if len(campaign) > 200 or any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in campaign):
        raise _not_found()
    return campaign


def _save(conn, query: str, **params) -> dict | None:
    try:
        row = sql.one(conn, query, **params)
    except psycopg.errors.UniqueViolation as exc:
        field, message = _CONFLICTS.get(exc.diag.constraint_name, ("campaign", "The campaign conflicts with another."))
        raise APIError(falcon.HTTP_409, "campaign_exists", message,
                       fields=[FieldError(field, "taken", message).as_dict()]) from None
    except (psycopg.errors.CheckViolation, psycopg.errors.DataError) as exc:
        # parse_settings checks everything the constraints do; this is the backstop, still a 422.
        raise validation_failed([FieldError("campaign", "invalid", exc.diag.message_primary or "invalid")]) from None
    return row["campaign"] if row else None


class CampaignsCollection:
    scopes = {"GET": "admin", "POST": "admin"}

    def __init__(self, pool, max_body_bytes: int):
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def on_get(self, req, resp):
        with self.pool.connection() as conn:
            rows = sql.many(conn, "campaign_list", account_id=req.context.key["account_id"])
        resp.media = {"data": [row["campaign"] for row in rows]}

    def on_post(self, req, resp):
        settings, errors = parse_settings(body_fields(req, self.max_body_bytes), creating=True)
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            campaign = _save(conn, "campaign_create", account_id=req.context.key["account_id"],
                             settings=Jsonb(settings))
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/campaigns/{campaign['code']}"
        resp.media = campaign


class CampaignsItem:
    scopes = {"GET": "admin", "PATCH": "admin"}

    def __init__(self, pool, max_body_bytes: int):
        self.pool = pool
        self.max_body_bytes = max_body_bytes

    def on_get(self, req, resp, campaign):
        with self.pool.connection() as conn:
            row = sql.one(conn, "campaign_get", account_id=req.context.key["account_id"], campaign=_named(campaign))
        if row is None:
            raise _not_found()
        resp.media = row["campaign"]

    def on_patch(self, req, resp, campaign):
        campaign = _named(campaign)
        settings, errors = parse_settings(body_fields(req, self.max_body_bytes), creating=False)
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            document = _save(conn, "campaign_update", account_id=req.context.key["account_id"], campaign=campaign,
                             settings=Jsonb(settings))
        if document is None:
            raise _not_found()
        resp.media = document
