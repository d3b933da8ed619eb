-- Queries on leads and the dial queue made at intake and by GET /v1/leads.

-- name: lead_intake :one
-- The intake pipeline in one statement (one transaction, one round trip): the suppression check, the calling
-- window, then either a new lead (queued when nothing holds it) or the open lead it duplicates.
-- Dedupe: l2i_lead_dedupe (0012) decides on the number's row of lead_dedupe_keys: a duplicate of the open lead
-- younger than 30 days (bumped; its row comes back with created = false), else the new lead's id and created_at.
-- The reasons parameter holds the reasons found before the database (consent, region); suppression and the calling
-- window are added here. The state parameter is the state the lead gave; states every state whose rules apply (the
-- address state and the area code's state: the window is the strictest of them, in every zone of each, and the
-- attempt caps of each count). A non-US number has no zones and so no window: it is held for not_us_number.
-- An account connected to the Do-Not-Call Registry holds a listed number (dnc) and, failing closed, a number the
-- loaded registry data cannot answer for (dnc_unavailable). priority and expires_in go with the lead to the queue.
-- gate is MATERIALIZED: decided reads not_before twice, and inlined the calling-window function ran twice per
-- intake (half the statement's time; bench/RESULTS.md, tests/test_intake.py).
-- now: the instant the gates are decided at (calling window, caps, registry); NULL = the database clock (the service).
-- Campaigns: l2i_campaign_gate picks the lead's campaign (campaign as sent, else the sender's default_campaign_id)
-- and checks it (states served: against the first of states, the address state, else the area code's); refused
-- (no, unknown or inactive campaign, missing required fields) stores nothing and comes back with missing. Its
-- hours only narrow not_before (l2i_campaign_next_call_time searches inside the legal window of every state, from
-- the time the attempt caps let); l2i_campaign_slot counts the lead against the daily cap (of the database's UTC
-- day, as queued_today and the release count it).
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), cg AS (
    SELECT * FROM l2i_campaign_gate(%(account_id)s, %(campaign)s::text, %(default_campaign_id)s::uuid,
                                    %(present)s::text[], (%(states)s::text[])[1])
), zones AS (
    -- Every zone the lead may be in: all zones of each of its states, and those of its area code.
    SELECT l2i_lead_zones(%(states)s::text[], %(area_zones)s::text[]) AS zones
), gate AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM suppressions AS s
                   WHERE s.account_id = %(account_id)s AND s.phone = %(phone)s) AS suppressed,
           a.dnc_connected,
           CASE WHEN a.dnc_connected THEN l2i_dnc_listed(%(phone)s, clock.now) ELSE false END AS dnc_listed,
           zones.zones,
           CASE WHEN cardinality(zones.zones) > 0
                THEN l2i_campaign_next_call_time(cg.hours_start, cg.hours_end, zones.zones, %(states)s::text[],
                         l2i_attempt_free_at(%(account_id)s, %(phone)s, %(states)s::text[], clock.now))
           END AS not_before,
           clock.now
    -- One row each (cross joins, written with commas: the text sent stays under psycopg's 4096 characters).
    FROM zones, clock, cg, accounts AS a
    WHERE a.id = %(account_id)s
), decided AS (
    -- gate.*: suppressed, dnc_connected, dnc_listed, zones, not_before, now.
    SELECT gate.*,
           CASE WHEN gate.suppressed THEN ARRAY['suppressed'] ELSE '{}'::text[] END
           || CASE WHEN gate.dnc_listed THEN ARRAY['dnc']
                   WHEN gate.dnc_listed IS NULL THEN ARRAY['dnc_unavailable'] ELSE '{}'::text[] END
           || %(reasons)s::text[]
           || CASE WHEN cardinality(gate.zones) > 0 AND gate.not_before IS NULL
                   THEN ARRAY['no_calling_window'] ELSE '{}'::text[] END
           || cg.reasons AS reasons
    FROM gate CROSS JOIN cg
), capped AS (
    SELECT d.*, d.reasons || CASE WHEN cardinality(d.reasons) = 0 AND cg.daily_cap IS NOT NULL
                                   AND NOT l2i_campaign_slot(cg.id, cg.daily_cap, %(account_id)s, %(phone)s, now())
                                  THEN ARRAY['campaign_cap'] ELSE '{}'::text[] END AS held,
           l2i_lead_dedupe(%(account_id)s, %(phone)s) AS dedupe
    FROM decided AS d CROSS JOIN cg
    WHERE cg.refused IS NULL
), dk AS (
    SELECT (d.dedupe).* FROM capped AS d
), stored AS (
    INSERT INTO leads AS l (
        id, created_at, account_id, api_key_id, source_id, phone, status, reasons,
        source, first_name, last_name, email, state, zip, city, address1, address2, external_id, consent,
        sub_id, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_page,
        custom, extra, gates, priority, expires_at, campaign_id, cost_cents)
    SELECT k.id, k.created_at, %(account_id)s, %(api_key_id)s, %(source_id)s, %(phone)s,
           CASE WHEN cardinality(d.held) = 0 THEN 'new' ELSE 'ineligible' END, d.held,
           %(source)s, %(first_name)s, %(last_name)s, %(email)s, %(state)s, %(zip)s, %(city)s, %(address1)s,
           %(address2)s, %(external_id)s, %(consent)s,
           %(sub_id)s, %(utm_source)s, %(utm_medium)s, %(utm_campaign)s, %(utm_term)s, %(utm_content)s,
           %(referrer)s, %(landing_page)s,
           %(custom)s, %(extra)s,
           %(gates)s::jsonb || jsonb_build_object(
               'suppression', jsonb_build_object('suppressed', d.suppressed),
               'dnc', jsonb_build_object('checked', d.dnc_connected, 'listed', d.dnc_listed),
               'dedupe', jsonb_build_object('duplicate', false, 'window_days', 30),
               'calling_window', jsonb_build_object('zones', d.zones, 'states', %(states)s::text[],
                                                    'rules', l2i_rules_used(%(states)s::text[], d.now),
                                                    'not_before', d.not_before),
               'campaign', cg.gate),
           %(priority)s, now() + make_interval(secs => %(expires_in)s::integer), cg.id, cg.cost_cents
    FROM capped AS d CROSS JOIN cg CROSS JOIN dk AS k
    WHERE k.created
    RETURNING l.id, l.created_at, l.status, l.reasons, true AS created, l.priority, l.expires_at, l.campaign_id
), ins AS (
    SELECT * FROM stored UNION ALL SELECT * FROM dk WHERE NOT created
), queued AS (
    INSERT INTO dial_queue (lead_id, lead_created_at, account_id, phone, states, zones, not_before, priority,
                            expires_at, campaign_id, campaign_priority)
    SELECT ins.id, ins.created_at, %(account_id)s, %(phone)s, %(states)s::text[], d.zones, d.not_before,
           ins.priority, ins.expires_at, cg.id, coalesce(cg.priority, 0)
    FROM ins CROSS JOIN decided AS d CROSS JOIN cg
    WHERE ins.created AND ins.status = 'new'
    RETURNING lead_id
)
SELECT ins.id, ins.status, ins.reasons, ins.created, d.not_before, cg.refused, cg.missing,
       (SELECT k.code FROM campaigns AS k WHERE k.id = ins.campaign_id) AS campaign
FROM decided AS d CROSS JOIN cg LEFT JOIN ins ON true;

-- name: leads_page :many
-- One page of an account's leads, newest first, after the keyset cursor (before_created, before_id). Callers
-- always pass the bounds (infinity / the largest uuid on the first page) so that leads_account_created_idx
-- serves the range and the order; the optional filters are applied on top.
SELECT id, status, phone, first_name, last_name, state, source, created_at
FROM leads
WHERE account_id = %(account_id)s
  AND (created_at, id) < (%(before_created)s::timestamptz, %(before_id)s::uuid)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(source)s::text IS NULL OR source = %(source)s::text)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: lead_get :one
-- One whole lead of an account, with its campaign's code, its place in the dial queue if it is queued, its event
-- history (oldest first) and its transfer if it was transferred.
SELECT l.*, k.code AS campaign, q.not_before AS queue_not_before, q.enqueued_at AS queue_enqueued_at,
       q.leased_until AS queue_leased_until,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('type', e.type, 'at', e.at, 'from_status', e.from_status,
                                                     'to_status', e.to_status, 'detail', e.detail) ORDER BY e.id),
                        '[]'::jsonb)
        FROM lead_events AS e WHERE e.lead_id = l.id) AS events,
       (SELECT jsonb_build_object('id', t.id, 'destination', t.destination, 'caller_id', t.caller_id,
                                  'transferred_at', t.transferred_at, 'call_id', t.call_id)
        FROM transfers AS t WHERE t.lead_id = l.id) AS transfer
FROM leads AS l
LEFT JOIN dial_queue AS q ON q.lead_id = l.id
LEFT JOIN campaigns AS k ON k.id = l.campaign_id
WHERE l.id = %(id)s AND l.account_id = %(account_id)s;
