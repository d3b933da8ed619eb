-- Queries on leads and the dial queue made at intake and by GET /v1/leads.

-- name: lead_intake :one
-- The intake pipeline in one call (one transaction, one round trip): l2i_lead_intake (migration 0014) decides the
-- campaign, the 30-day dedupe, suppression, the Do-Not-Call Registry, the calling window and the caps, then stores
-- the lead (queued when nothing holds it) or finds the open lead it duplicates (created = false).
-- The reasons parameter holds the reasons found before the database (consent, region); states: every state
-- whose rules apply (the address state and the area code's state); now: the instant the gates decide at (NULL:
-- the database clock, as the service runs). refused (with missing): the campaign refused the lead, nothing stored.
SELECT * FROM l2i_lead_intake(
    p_account_id => %(account_id)s::uuid, p_api_key_id => %(api_key_id)s::uuid, p_source_id => %(source_id)s::uuid,
    p_phone => %(phone)s::text, p_now => %(now)s::timestamptz, p_states => %(states)s::text[],
    p_area_zones => %(area_zones)s::text[], p_reasons => %(reasons)s::text[], p_campaign => %(campaign)s::text,
    p_default_campaign_id => %(default_campaign_id)s::uuid, p_present => %(present)s::text[],
    p_priority => %(priority)s::integer, p_expires_in => %(expires_in)s::integer, p_gates => %(gates)s::jsonb,
    p_source => %(source)s::text, p_first_name => %(first_name)s::text, p_last_name => %(last_name)s::text,
    p_email => %(email)s::text, p_state => %(state)s::text, p_zip => %(zip)s::text, p_city => %(city)s::text,
    p_address1 => %(address1)s::text, p_address2 => %(address2)s::text, p_external_id => %(external_id)s::text,
    p_consent => %(consent)s::jsonb, p_sub_id => %(sub_id)s::text, p_utm_source => %(utm_source)s::text,
    p_utm_medium => %(utm_medium)s::text, p_utm_campaign => %(utm_campaign)s::text,
    p_utm_term => %(utm_term)s::text, p_utm_content => %(utm_content)s::text, p_referrer => %(referrer)s::text,
    p_landing_page => %(landing_page)s::text, p_custom => %(custom)s::jsonb, p_extra => %(extra)s::jsonb);

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
