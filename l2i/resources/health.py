"""GET /healthz (the process answers) and GET /readyz (the database answers). No authentication."""

from __future__ import annotations

import falcon

from l2i import sql


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Ready:
    def __init__(self, pool):
        self.pool = pool

    def on_get(self, req, resp):
        # Any database error becomes the standard 503 (l2i.errors), which is what a load balancer wants.
        with self.pool.connection() as conn:
            sql.one(conn, "ping")
        resp.media = {"status": "ok", "database": "ok"}
