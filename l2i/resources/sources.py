"""Intake through sources, and the sources themselves.

- `POST /v1/sources/{token}/leads` (the URL a form builder or ad platform is given; GET answers Facebook's
  verification handshake), and `POST /v1/leads` with ?lead_token= / a lead_token field / X-Source-Id +
  X-Source-Key instead of an API key: the source's adapter, mapping, defaults and consent-on-submit apply.
- `GET|POST /v1/sources`, `GET|DELETE /v1/sources/{id}` (scope admin): an account's sources. A token is shown
  once, at creation; secrets never.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import uuid
from urllib.parse import parse_qsl

import falcon
from psycopg.types.json import Jsonb

from l2i import adapters, idempotency, intake, sources, sql
from l2i.adapters import AdapterError, facebook, google
from l2i.batching import IntakeBatcher
from l2i.bodies import body_fields, parse_body, query_fields, read_raw
from l2i.errors import APIError, FieldError, unauthorized, validation_failed
from l2i.fields import ValidationError, parse_lead

log = logging.getLogger("l2i.sources")

FACEBOOK_FETCHES_PER_WEBHOOK = 5


def _malformed(exc: Exception) -> APIError:
    return APIError(falcon.HTTP_400, "malformed_body", f"The body does not have the sender's shape: {exc}")


def build_lead(source: dict | None, adapted, query: dict):
    """The lead (validated), where its consent came from, and whether it is a test submission."""
    test = sources.is_test(adapted.fields) | sources.is_test(query) or adapted.test
    mapped = sources.apply_mapping(source["mapping"], adapted.fields, adapted.documents) if source else {}
    try:
        lead = parse_lead(adapted.fields, query, mapped)
        origin = None
        if source is not None:
            sources.apply_defaults(lead, source["defaults"])
            if source["consent_on_submit"]:
                origin = sources.consent_on_submit(lead, source, adapted.submitted_at)
    except ValidationError as exc:
        raise validation_failed(exc.errors) from None
    except FieldError as exc:  # a default that no longer validates (a source edited with psql)
        raise validation_failed([exc]) from None
    return lead, origin, test


def answer(row: dict, test: bool) -> tuple[int, dict]:
    if test:
        result = {"outcome": "test", "stored": False, "would_be": "created" if row["created"] else "duplicate",
                  "status": row["status"], "reasons": row["reasons"]}
        if not row["created"]:
            result["lead_id"] = str(row["id"])
        return 200, result
    result = {"outcome": "created" if row["created"] else "duplicate", "lead_id": str(row["id"]),
              "status": row["status"]}
    if row["reasons"]:
        result["reasons"] = row["reasons"]
    if row["campaign"] is not None:  # its campaign; a duplicate's, the campaign of the lead it repeats
        result["campaign"] = row["campaign"]
    return (201 if row["created"] else 200), result


class Intake:
    """What POST /v1/leads and POST /v1/sources/{token}/leads share: one lead from a sender's body."""

    def __init__(self, pool, config, batcher: IntakeBatcher, clock=lambda: None):
        """batcher: the worker's group commit (l2i.batching), shared by every intake resource. clock: the instant
        intake decides the calling window at; None (the service) = the database's now()."""
        self.pool, self.config, self.batcher, self.clock = pool, config, batcher, clock

    def post(self, req, resp, *, path_token: str | None = None) -> None:
        raw = read_raw(req, self.config.max_body_bytes)
        body = parse_body(raw, req.content_type, multipart=True)
        query = query_fields(req)
        query.pop("lead_token", None)
        key = req.context.get("key")
        source = None
        if key is None:
            token, source_id = sources.token_from(req, body, path_token)
            if token is None and source_id is None and path_token is None:
                raise unauthorized("Send your API key as 'Authorization: Bearer l2i_...' (or a source token: "
                                   "?lead_token=l2is_..., or X-Source-Id with X-Source-Key).")
            source = sources.authenticate(self.pool, resp, token, source_id)
            req.context.source = source
        else:
            body.pop("lead_token", None)
        account_id = key["account_id"] if key else source["account_id"]

        name = (source or {}).get("adapter") or adapters.recognize(body)
        module = adapters.get(name)
        if module is None:
            raise APIError(falcon.HTTP_422, "validation_failed", f"This source's adapter {name!r} is unknown.",
                           fields=[{"field": "adapter", "code": "invalid", "message": "unknown adapter"}])
        secret = source["signing_secret"] if source else None
        if secret and hasattr(module, "verify") and not module.verify(raw, req.headers, secret):
            raise APIError(falcon.HTTP_401, "invalid_signature", "The request's signature does not match this "
                           "source's secret.")
        if module is google and source is not None and secret and not google.verify_key(body, secret):
            raise APIError(falcon.HTTP_401, "invalid_signature", "google_key does not match this source's key.")
        if module is facebook:
            if source is None:
                raise APIError(falcon.HTTP_422, "validation_failed", "Facebook Lead Ads webhooks need a source "
                               "with the page token (l2i source create ... --adapter facebook).")
            self.facebook_webhook(resp, source, body)
            return
        try:
            adapted = module.adapt(body)
        except AdapterError as exc:
            raise _malformed(exc) from None
        lead, origin, test = build_lead(source, adapted, query)

        def take() -> tuple[int, dict]:
            given = dict(lead=lead, account_id=account_id, api_key_id=key["id"] if key else None,
                         source_id=source["id"] if source else None, consent_origin=origin, now=self.clock(),
                         client_ip=req.context.get("client_ip"),
                         default_campaign_id=key["default_campaign_id"] if key else None)
            try:
                if test:  # every gate, rolled back: on a connection of its own, never in a shared transaction
                    with self.pool.connection() as conn:
                        row = intake.submit(conn, test=True, **given)
                else:
                    row = intake.outcome(self.batcher.submit(intake.intake_params(**given)), lead)
            except intake.CampaignRefused as exc:  # nothing stored (and no Idempotency-Key kept)
                raise validation_failed(exc.errors) from None
            return answer(row, test)

        idem_key = idempotency.key_of(req)
        if idem_key is None or test:
            status, result = take()
        else:
            pairs = sorted(p for p in parse_qsl(req.query_string, keep_blank_values=True) if p[0] != "lead_token")
            digest = idempotency.request_hash(req.method, req.path if path_token is None else "source",
                                              (req.content_type or "").lower(), repr(pairs), raw)
            with idempotency.Claim(self.pool, account_id, idem_key, digest) as claim:
                if claim.replay is not None:
                    status, result = claim.replay
                    resp.set_header("Idempotent-Replayed", "true")
                else:
                    status, result = take()
                    claim.store(status, result)
        resp.status = status
        if status == 201:
            resp.location = f"/v1/leads/{result['lead_id']}"
        resp.media = result

    def facebook_webhook(self, resp, source: dict, body: dict) -> None:
        """Note every announced lead first (so none is lost), then fetch a few from the Graph API; the rest, and
        any the Graph API did not give, wait for the next webhook or `l2i sources retry`."""
        try:
            found = facebook.notices(body)
        except AdapterError as exc:
            raise _malformed(exc) from None
        with self.pool.connection() as conn:
            for notice in found:
                sql.one(conn, "source_pending_add", source_id=source["id"], external_id=notice["leadgen_id"],
                        notice=Jsonb(notice))
        results = process_pending(self.pool, self.config, source, FACEBOOK_FETCHES_PER_WEBHOOK)
        resp.status = falcon.HTTP_200
        resp.media = {"received": len(found), "leads": results,
                      "waiting": sum(1 for r in results if r["outcome"] == "waiting")}


def process_pending(pool, config, source: dict, limit: int) -> list[dict]:
    """Fetch a source's waiting platform leads (oldest first) and take them in. The first Graph failure stops
    the round (the API is down or refuses the token): the leads keep waiting."""
    with pool.connection() as conn:
        waiting = sql.many(conn, "source_pending_waiting", source_id=source["id"], limit=limit)
    results = []
    for row in waiting:
        external_id = row["external_id"]
        if not source.get("page_token"):
            error = "the source has no page token"
        else:
            try:
                fetched = facebook.fetch(config.graph_base_url, external_id, source["page_token"],
                                         config.graph_timeout_s)
                error = None
            except facebook.GraphError as exc:
                error = str(exc)
        if error is not None:
            with pool.connection() as conn:
                sql.run(conn, "source_pending_failed", source_id=source["id"], external_id=external_id, error=error)
            log.warning("platform lead waiting source=%s external_id=%s error=%s", source["prefix"], external_id,
                        error)
            results.append({"external_id": external_id, "outcome": "waiting", "error": error})
            break
        try:
            lead, origin, test = build_lead(source, facebook.adapt(fetched), {})
        except APIError as exc:
            with pool.connection() as conn:
                sql.run(conn, "source_pending_done", source_id=source["id"], external_id=external_id, lead_id=None,
                        error=f"refused: {exc.description}"[:500])
            results.append({"external_id": external_id, "outcome": "refused", "error": exc.description,
                            "fields": getattr(exc, "fields", None)})
            continue
        try:
            with pool.connection() as conn:
                with conn.transaction():
                    row = intake.submit(conn, account_id=source["account_id"], api_key_id=None, lead=lead,
                                        source_id=source["id"], consent_origin=origin, test=test)
                    sql.run(conn, "source_pending_done", source_id=source["id"], external_id=external_id,
                            lead_id=None if test else row["id"], error=None)
        except intake.CampaignRefused as exc:  # its campaign refused it: done, as any refused lead
            message = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
            with pool.connection() as conn:
                sql.run(conn, "source_pending_done", source_id=source["id"], external_id=external_id, lead_id=None,
                        error=f"refused: {message}"[:500])
            results.append({"external_id": external_id, "outcome": "refused", "error": message,
                            "fields": [e.as_dict() for e in exc.errors]})
            continue
        status, result = answer(row, test)
        results.append({"external_id": external_id, **result})
    return results


class _OneConnection:
    """A pool-like wrapper of one connection, for process_pending outside the service (the CLI)."""

    def __init__(self, conn):
        self.conn = conn

    def connection(self):
        return contextlib.nullcontext(self.conn)


def retry_all(conn, config, source_id=None, limit: int = 1000) -> list[dict]:
    """`l2i sources retry`: every waiting platform lead of one source or all sources."""
    pool = _OneConnection(conn)
    done: list[dict] = []
    seen: set = set()
    for row in sql.many(conn, "source_pending_waiting", source_id=source_id, limit=limit):
        if row["source_id"] in seen:
            continue
        seen.add(row["source_id"])
        source = sql.one(conn, "source_for_retry", id=row["source_id"])
        if source is not None:
            done += [{"source_id": str(source["id"]), **r} for r in process_pending(pool, config, source, limit)]
    return done


class SourceLeads:
    """POST /v1/sources/{token}/leads: the URL a sender posts to. GET: Facebook's webhook verification."""

    def __init__(self, pool, config, batcher: IntakeBatcher):
        self.intake = Intake(pool, config, batcher)
        self.pool = pool

    def on_post(self, req, resp, source_ref):
        self.intake.post(req, resp, path_token=source_ref)

    def on_get(self, req, resp, source_ref):
        source = sources.authenticate(self.pool, resp, source_ref, None)
        req.context.source = source
        mode, challenge = req.get_param("hub.mode"), req.get_param("hub.challenge")
        verify_token = req.get_param("hub.verify_token") or ""
        if mode != "subscribe" or challenge is None:
            raise APIError(falcon.HTTP_400, "bad_request", "This URL takes leads by POST; a GET is Facebook's "
                           "verification (hub.mode=subscribe, hub.verify_token, hub.challenge).")
        expected = source["verify_token"] or ""
        if not expected or not _same(verify_token, expected):
            raise APIError(falcon.HTTP_403, "forbidden", "hub.verify_token is not this source's verify token.")
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = challenge


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- the admin API -----------------------------------------------------------------------------------------------

_SETTINGS = ("name", "adapter", "defaults", "mapping", "consent_on_submit", "consent_text_version", "consent_text",
             "rate_limit", "signing_secret", "verify_token", "page_token")


def source_document(row: dict) -> dict:
    return {name: row[name] for name in (
        "id", "name", "prefix", "adapter", "defaults", "mapping", "consent_on_submit", "consent_text_version",
        "consent_text", "rate_limit", "has_signing_secret", "has_verify_token", "has_page_token", "pending_leads",
        "created_at", "last_used_at", "revoked_at")}


def check_create(body: dict) -> tuple[dict, list[FieldError]]:
    errors: list[FieldError] = []
    unknown = sorted(set(body) - set(_SETTINGS))
    errors += [FieldError(name, "unknown", "is not a source setting") for name in unknown]
    params = {name: body.get(name) for name in _SETTINGS}
    name = params["name"]
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        errors.append(FieldError("name", "required", "is required: 1 to 200 characters"))
    for text in ("adapter", "consent_text_version", "consent_text", "signing_secret", "verify_token", "page_token"):
        if params[text] is not None and not isinstance(params[text], str):
            errors.append(FieldError(text, "invalid_type", "must be a string"))
            params[text] = None
    params["defaults"] = {} if params["defaults"] is None else params["defaults"]
    params["mapping"] = {} if params["mapping"] is None else params["mapping"]
    params["consent_on_submit"] = bool(params["consent_on_submit"])
    limit = params["rate_limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1_000_000):
        errors.append(FieldError("rate_limit", "invalid", "must be a whole number from 1 to 1000000"))
    errors += sources.check_settings(adapter=params["adapter"], defaults=params["defaults"],
                                     mapping=params["mapping"], consent_on_submit=params["consent_on_submit"],
                                     consent_text_version=params["consent_text_version"])
    if not errors:
        params["defaults"], params["mapping"] = Jsonb(params["defaults"]), Jsonb(params["mapping"])
    return params, errors


class SourcesCollection:
    scopes = {"GET": "admin", "POST": "admin"}

    def __init__(self, pool, max_body_bytes: int):
        self.pool, self.max_body_bytes = pool, max_body_bytes

    def on_get(self, req, resp):
        with self.pool.connection() as conn:
            rows = sql.many(conn, "sources_list", account_id=req.context.key["account_id"])
        resp.media = {"data": rows}

    def on_post(self, req, resp):
        params, errors = check_create(body_fields(req, self.max_body_bytes))
        if errors:
            raise validation_failed(errors)
        account_id = req.context.key["account_id"]
        with self.pool.connection() as conn:
            with conn.transaction():
                params["source_name"] = params.pop("name").strip()
                created = sql.one(conn, "source_create", account_id=account_id, **params)
                row = sql.one(conn, "source_get", id=created["id"], account_id=account_id)
        resp.status = falcon.HTTP_201
        resp.location = f"/v1/sources/{created['id']}"
        resp.media = {**source_document(row), "token": created["token"],
                      "url": f"/v1/sources/{created['token']}/leads"}


class SourcesItem:
    scopes = {"GET": "admin", "DELETE": "admin"}

    def __init__(self, pool):
        self.pool = pool

    def _id(self, source_ref: str) -> uuid.UUID:
        try:
            return uuid.UUID(source_ref)
        except ValueError:
            raise APIError(falcon.HTTP_404, "not_found", "No source with this id in your account.") from None

    def on_get(self, req, resp, source_ref):
        with self.pool.connection() as conn:
            row = sql.one(conn, "source_get", id=self._id(source_ref), account_id=req.context.key["account_id"])
        if row is None:
            raise APIError(falcon.HTTP_404, "not_found", "No source with this id in your account.")
        resp.media = source_document(row)

    def on_delete(self, req, resp, source_ref):
        account_id = req.context.key["account_id"]
        with self.pool.connection() as conn:
            revoked = sql.one(conn, "source_revoke", id=self._id(source_ref), account_id=account_id)
            row = sql.one(conn, "source_get", id=self._id(source_ref), account_id=account_id) if revoked else None
        if row is None:
            raise APIError(falcon.HTTP_404, "not_found", "No source with this id in your account.")
        resp.media = source_document(row)
