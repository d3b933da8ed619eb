"""What crosses every request: a request id with one log line per request, and API-key authentication with
the per-key rate limit."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
import uuid

import falcon

from l2i import sql
from l2i.clients import client_address, parse_networks
from l2i.errors import APIError, unauthorized
from l2i.logs import log_path

access_log = logging.getLogger("l2i.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_KEY = re.compile(r"^l2i_[0-9a-f]{64}$")


class RequestContext:
    """Takes the caller's X-Request-Id (or makes one), echoes it, and logs one line per request: no query
    string, no key or source token (only the non-secret prefix, also in a path), no body; the path escaped, phone
    numbers in it masked (l2i.logs.log_path). Also finds the client's address (l2i.clients: X-Forwarded-For only
    from a trusted proxy) as req.context.client_ip."""

    def __init__(self, trusted_proxies: str = ""):
        self.trusted_proxies = parse_networks(trusted_proxies)

    def process_request(self, req, resp):
        supplied = req.get_header("X-Request-Id") or ""
        req.context.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        req.context.client_ip = client_address(req.remote_addr, req.get_header("X-Forwarded-For"),
                                               self.trusted_proxies)
        req.context.started = time.perf_counter()
        resp.set_header("X-Request-Id", req.context.request_id)

    def process_response(self, req, resp, resource, req_succeeded):
        key = req.context.get("key") or req.context.get("source")
        access_log.info(
            "request_id=%s method=%s path=%s status=%s ms=%.1f key=%s account=%s client=%s",
            req.context.get("request_id"), req.method, log_path(req.path), resp.status_code,
            (time.perf_counter() - req.context.get("started", time.perf_counter())) * 1000,
            key["prefix"] if key else "-", key["account_id"] if key else "-", req.context.get("client_ip") or "-",
        )


class Auth:
    """Resources declare `scopes = {"POST": "write", ...}` (or a tuple: any one of those scopes); their responders
    get `req.context.key` (id, account_id, prefix, scopes, rate_limit) once the key is valid, has the scope and is
    within its limit.
    Every authenticated response carries X-RateLimit-Limit/Remaining/Reset."""

    def __init__(self, pool):
        self.pool = pool

    def process_resource(self, req, resp, resource, params):
        needed = getattr(resource, "scopes", {}).get(req.method)
        if needed is None:
            return
        header = req.get_header("Authorization") or ""
        if not header and req.method in getattr(resource, "source_methods", ()):
            return  # the resource authenticates a source token (or answers 401 itself)
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if not header:
            raise unauthorized("Send your API key as 'Authorization: Bearer l2i_...'.")
        if scheme.lower() != "bearer" or not _KEY.match(token):
            raise unauthorized("The Authorization header must be 'Bearer l2i_' followed by 64 hex digits.")
        with self.pool.connection() as conn:
            key = sql.one(conn, "key_hit", key_hash=hashlib.sha256(token.encode()).digest())
        if key is None:
            raise unauthorized("This API key is unknown or has been revoked.")
        req.context.key = key
        remaining = max(0, key["rate_limit"] - key["hits"])
        resp.set_header("X-RateLimit-Limit", str(key["rate_limit"]))
        resp.set_header("X-RateLimit-Remaining", str(remaining))
        resp.set_header("X-RateLimit-Reset", str(key["reset_at"]))
        accepted = (needed,) if isinstance(needed, str) else needed  # a tuple: any one of these scopes will do
        if not set(accepted) & set(key["scopes"]):
            raise APIError(falcon.HTTP_403, "forbidden",
                           "This API key lacks the '" + "' or '".join(accepted)
                           + f"' scope (it has: {', '.join(key['scopes'])}).")
        if key["hits"] > key["rate_limit"]:
            wait = max(1, math.ceil(key["reset_at"] - float(key["now_epoch"])))
            raise APIError(falcon.HTTP_429, "rate_limited",
                           f"This API key may make {key['rate_limit']} requests a minute; retry in {wait} s.",
                           headers={"Retry-After": str(wait)})
