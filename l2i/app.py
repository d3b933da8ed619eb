"""The WSGI application: create_app(config, pool) for tests, get_app() for gunicorn (one pool per worker)."""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import logging
import os
import uuid

import falcon
import falcon.media

from l2i import errors, import_jobs
from l2i.batching import IntakeBatcher
from l2i.config import Config
from l2i.db import open_pool
from l2i.logs import RedactFilter
from l2i.middleware import Auth, RequestContext
from l2i.openapi import OpenAPI
from l2i.resources.campaigns import CampaignsCollection, CampaignsItem
from l2i.resources.dialing import DialQueueClaim, LeadOutcome, LeadRemove, LeadRequeue, database_clock
from l2i.resources.erasures import Erasures
from l2i.resources.health import Health, Ready
from l2i.resources.imports import ImportsItem, LeadsImport
from l2i.resources.leads import LeadsCollection, LeadsItem
from l2i.resources.postbacks import CallPostbacks
from l2i.resources.sources import SourceLeads, SourcesCollection, SourcesItem
from l2i.resources.stats import Stats
from l2i.resources.suppressions import SuppressionsCollection, SuppressionsItem


def _json_default(value):
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        # In UTC whatever the session's TimeZone (behind pgbouncer it is the server's, not set by l2i).
        return value.astimezone(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def create_app(config: Config, pool, clock=database_clock) -> falcon.App:
    """clock: the time of intake's calling window and of the dialing resources, None = the database's now();
    tests pass a fixed instant."""
    app = falcon.App(middleware=[RequestContext(config.trusted_proxies), Auth(pool)])
    json_handler = falcon.media.JSONHandler(dumps=functools.partial(json.dumps, default=_json_default,
                                                                    separators=(",", ":")))
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    errors.install(app, config.retry_after_s)

    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(pool, config.retry_after_s))
    app.add_route("/v1/openapi.json", OpenAPI())
    intakes = IntakeBatcher(pool, config.intake_batch)  # group commit of single-lead posts (off: 1)
    app.add_route("/v1/leads", LeadsCollection(pool, config, intakes, clock))
    imports = LeadsImport(pool, config)
    app.add_route("/v1/leads/import", imports)  # the literal wins over {lead_id}
    app.add_route("/v1/leads/{lead_id}", LeadsItem(pool))
    app.add_route("/v1/leads/{lead_id}/outcome", LeadOutcome(pool, config.max_body_bytes, clock))
    app.add_route("/v1/leads/{lead_id}/remove", LeadRemove(pool, config.max_body_bytes, clock))
    app.add_route("/v1/leads/{lead_id}/requeue", LeadRequeue(pool, config.max_body_bytes, clock))
    app.add_route("/v1/dial-queue/claim", DialQueueClaim(pool, config.max_body_bytes, clock))
    app.add_route("/v1/imports/{import_id}", ImportsItem(pool, imports.waiting))
    app.add_route("/v1/suppressions", SuppressionsCollection(pool, config.max_body_bytes))
    app.add_route("/v1/suppressions/{phone}", SuppressionsItem(pool))
    app.add_route("/v1/erasures", Erasures(pool, config.max_body_bytes))
    app.add_route("/v1/postbacks/calls", CallPostbacks(pool, config.max_body_bytes))
    app.add_route("/v1/stats", Stats(pool))
    app.add_route("/v1/sources", SourcesCollection(pool, config.max_body_bytes))
    app.add_route("/v1/sources/{source_ref}", SourcesItem(pool))
    app.add_route("/v1/sources/{source_ref}/leads", SourceLeads(pool, config, intakes))
    app.add_route("/v1/campaigns", CampaignsCollection(pool, config.max_body_bytes))
    app.add_route("/v1/campaigns/{campaign}", CampaignsItem(pool, config.max_body_bytes))
    return app


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("L2I_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s",
    )
    for handler in logging.getLogger().handlers:  # whatever logs through the root: no token, one line a record
        if not any(isinstance(f, RedactFilter) for f in handler.filters):
            handler.addFilter(RedactFilter())


def get_app() -> falcon.App:
    """Called by gunicorn in each worker, after the fork: the pool's connections belong to this process."""
    configure_logging()
    config = Config.from_env()
    app = create_app(config, open_pool(config))
    import_jobs.start_local_runner(config)  # CSV import jobs: threads of this worker, on a pool of their own
    return app
