"""GET /v1/stats (scope read): the funnel, revenue, cost and margin of an account's leads, grouped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from l2i import sql
from l2i.bodies import query_fields
from l2i.errors import FieldError, validation_failed
from l2i.fields import parse_timestamp

GROUPS = ("day", "source", "sub_id", "buyer", "campaign")
MAX_RANGE = timedelta(days=366)


class Stats:
    scopes = {"GET": "read"}

    def __init__(self, pool):
        self.pool = pool

    def on_get(self, req, resp):
        query = query_fields(req)
        errors: list[FieldError] = []
        group_by = query.get("group_by") or "day"
        if group_by not in GROUPS:
            errors.append(FieldError("group_by", "invalid", f"must be one of: {', '.join(GROUPS)}"))
        bounds = {}
        for name in ("from", "to"):
            raw = query.get(name)
            bounds[name] = parse_timestamp(raw) if isinstance(raw, str) and raw.strip() else None
            if raw and bounds[name] is None:
                errors.append(FieldError(name, "invalid", "must be an ISO 8601 time or Unix seconds"))
        to = bounds["to"] or datetime.now(timezone.utc)
        since = bounds["from"] or to - timedelta(days=30)
        if not errors and not timedelta(0) < to - since <= MAX_RANGE:
            errors.append(FieldError("from", "invalid", "must be before `to`, at most 366 days before it"))
        if errors:
            raise validation_failed(errors)
        with self.pool.connection() as conn:
            rows = sql.many(conn, "stats_by_group", account_id=req.context.key["account_id"], group_by=group_by,
                            **{"from": since, "to": to})
        for row in rows:
            row["revenue_per_lead_cents"] = round(row["revenue_cents"] / row["leads"], 2) if row["leads"] else 0
        resp.media = {"from": since, "to": to, "group_by": group_by, "groups": rows}
