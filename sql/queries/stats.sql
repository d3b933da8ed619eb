-- Queries for GET /v1/stats.

-- name: stats_by_group :many
-- The funnel, revenue and cost of an account's leads created in [from, to), grouped by source, UTC day, sub_id, the
-- buyer of their transfer or their campaign (its code). Duplicates are counted on the lead they repeat. One pass over the account's range of
-- leads_account_created_idx (index-only), aggregated by (group, reasons) into a few rows, then rolled up per group, so the held leads'
-- reasons are counted without a second scan.
WITH per_reasons AS (
    SELECT CASE %(group_by)s::text
               WHEN 'source' THEN l.source
               WHEN 'sub_id' THEN l.sub_id
               WHEN 'day' THEN ((l.created_at AT TIME ZONE 'UTC')::date)::text
               WHEN 'buyer' THEN t.buyer
               WHEN 'campaign' THEN (SELECT k.code FROM campaigns AS k WHERE k.id = l.campaign_id)
           END AS grp,
           l.reasons,
           count(*) AS leads,
           sum(l.duplicate_count) AS duplicates,
           count(*) FILTER (WHERE l.status = 'ineligible') AS ineligible,
           count(*) FILTER (WHERE l.attempts > 0) AS dialed,
           count(*) FILTER (WHERE l.status IN ('qualified', 'transferred')) AS qualified,
           count(t.id) AS transferred,
           coalesce(sum(t.payout_cents), 0) AS revenue_cents,
           coalesce(sum(l.cost_cents), 0) AS cost_cents
    FROM leads AS l
    LEFT JOIN transfers AS t ON t.lead_id = l.id
    WHERE l.account_id = %(account_id)s AND l.created_at >= %(from)s AND l.created_at < %(to)s
    GROUP BY 1, 2
), held AS (
    SELECT grp, jsonb_object_agg(reason, n ORDER BY reason) AS by_reason
    FROM (SELECT p.grp, r.reason, sum(p.ineligible) AS n
          FROM per_reasons AS p CROSS JOIN LATERAL unnest(p.reasons) AS r (reason)
          WHERE p.ineligible > 0
          GROUP BY p.grp, r.reason) AS counted
    GROUP BY grp
), totals AS (
    SELECT grp, sum(leads) AS leads, sum(duplicates) AS duplicates, sum(ineligible) AS ineligible,
           sum(dialed) AS dialed, sum(qualified) AS qualified, sum(transferred) AS transferred,
           sum(revenue_cents) AS revenue_cents, sum(cost_cents) AS cost_cents
    FROM per_reasons
    GROUP BY grp
)
SELECT t.grp AS "group",
       (t.leads + t.duplicates)::bigint AS received,
       t.leads::bigint AS leads,
       t.duplicates::bigint AS duplicates,
       t.ineligible::bigint AS ineligible,
       coalesce(h.by_reason, '{}'::jsonb) AS ineligible_by_reason,
       (t.leads - t.ineligible)::bigint AS queued,
       t.dialed::bigint AS dialed,
       t.qualified::bigint AS qualified,
       t.transferred::bigint AS transferred,
       t.revenue_cents::bigint AS revenue_cents,
       t.cost_cents::bigint AS cost_cents,
       (t.revenue_cents - t.cost_cents)::bigint AS margin_cents
FROM totals AS t
LEFT JOIN held AS h ON h.grp IS NOT DISTINCT FROM t.grp
ORDER BY t.grp NULLS LAST;
