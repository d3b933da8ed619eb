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

from l2i import errors
from l2i.config import Config
from l2i.db import open_pool
from l2i.middleware import Auth, RequestContext
from l2i.openapi import OpenAPI
from l2i.resources.health import Health, Ready
from l2i.resources.leads import LeadsCollection, LeadsItem


def _json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def create_app(config: Config, pool) -> falcon.App:
    app = falcon.App(middleware=[RequestContext(), Auth(pool)])
    json_handler = falcon.media.JSONHandler(dumps=functools.partial(json.dumps, default=_json_default,
                                                                    separators=(",", ":")))
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = json_handler
    errors.install(app, config.retry_after_s)

    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(pool))
    app.add_route("/v1/openapi.json", OpenAPI())
    app.add_route("/v1/leads", LeadsCollection(pool, config.max_body_bytes))
    app.add_route("/v1/leads/{lead_id}", LeadsItem(pool))
    return app


def configure_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("L2I_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s pid=%(process)d %(message)s",
    )


def get_app() -> falcon.App:
    """Called by gunicorn in each worker, after the fork: the pool's connections belong to this process."""
    configure_logging()
    config = Config.from_env()
    return create_app(config, open_pool(config))
