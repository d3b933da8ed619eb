"""GET /healthz (the process answers) and GET /readyz (the database answers and takes writes). No
authentication."""

from __future__ import annotations

import logging

import falcon

from l2i import sql
from l2i.errors import APIError

log = logging.getLogger("l2i.health")


class Health:
    def on_get(self, req, resp):
        resp.media = {"status": "ok"}


class Ready:
    def __init__(self, pool, retry_after_s: int = 5):
        self.pool = pool
        self.retry_after_s = retry_after_s

    def on_get(self, req, resp):
        # Any database error becomes the standard 503 (l2i.errors), which is what a load balancer wants. So does
        # a database that answers but cannot write (a standby, or read-only during a failover): every intake
        # would fail there.
        with self.pool.connection() as conn:
            row = sql.one(conn, "ping")
            ahead = row["in_recovery"] or sql.one(conn, "partitions_ahead")["ahead"]
        if row["in_recovery"] or row["read_only"]:
            state = "in recovery (a standby)" if row["in_recovery"] else "read-only"
            raise APIError(falcon.HTTP_503, "unavailable",
                           f"The database is {state}: it cannot take writes; retry after Retry-After seconds.",
                           headers={"Retry-After": str(self.retry_after_s)})
        resp.media = {"status": "ok", "database": "ok"}
        if not ahead:
            # Still ready: intake lands in leads_default (events in lead_events_default). A warning, for the
            # operator to run the timer.
            log.warning("next month's partition of leads or lead_events is missing: run `l2i partitions ensure` "
                        "(deploy/systemd/l2i-partitions.timer)")
            resp.media["partitions"] = ("next month's partition of leads or lead_events is missing: "
                                        "run l2i partitions ensure")
