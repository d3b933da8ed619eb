-- 0012_intake_speed: the same calling-window answers for less database time per intake (issue 13).
--
-- Why: after 0009 the gate functions took ~80% of lead_intake's database time (track_functions over 2,000
-- intakes of bench/run.py's body, one session, backend CPU per intake 1.05 ms):
--   l2i_lead_zones       0.11 ms a call, 3 calls an intake: LANGUAGE sql that PostgreSQL cannot inline is planned
--                        again at every statement, and lead_intake's inlined `zones` CTE called it once per use;
--   l2i_next_call_time   0.25 ms inside a window, where the answer is p_after itself;
--   l2i_rules_used       0.15 ms (LANGUAGE sql, planned at every statement).
-- What:
--   l2i_lead_zones, l2i_rules_used  the same queries in PL/pgSQL (the plan is kept for the session);
--   l2i_next_call_time              asks l2i_call_allowed first (its own definition: p_after when p_after is
--                                   legal); otherwise the search of 0009, now l2i_next_call_time_search.
-- Answers are unchanged: l2i_call_allowed is itself checked against an independent oracle
-- (tests/test_calling_oracle.py), and tests/test_calling_window.py compares l2i_next_call_time with the search
-- over a year of instants.
-- Applied by `l2i migrate` in one transaction. Forward-only.

CREATE OR REPLACE FUNCTION l2i_lead_zones(p_states text[], p_area_zones text[]) RETURNS text[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT z.zone ORDER BY z.zone), '{}')
            FROM (SELECT unnest(r.all_tzs) AS zone
                  FROM unnest(p_states) AS s(state)
                  CROSS JOIN LATERAL (SELECT cr.all_tzs FROM calling_rules AS cr WHERE cr.state = upper(s.state)
                                      ORDER BY cr.effective_from DESC LIMIT 1) AS r
                  UNION ALL
                  SELECT unnest(p_area_zones)) AS z
            WHERE z.zone IS NOT NULL);
END
$$;

CREATE OR REPLACE FUNCTION l2i_rules_used(p_states text[], p_at timestamptz) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'state', r.state, 'effective_from', r.effective_from, 'citation', r.citation,
                       'confidence', r.confidence, 'max_calls_24h', r.max_calls_24h) ORDER BY r.state), '[]'::jsonb)
            FROM (SELECT DISTINCT upper(s) AS state FROM unnest(p_states) AS s WHERE s IS NOT NULL) AS s
            CROSS JOIN LATERAL (SELECT cr.* FROM calling_rules AS cr
                                WHERE cr.state = s.state
                                  AND cr.effective_from <= (p_at AT TIME ZONE cr.primary_tz)::date
                                ORDER BY cr.effective_from DESC LIMIT 1) AS r);
END
$$;

ALTER FUNCTION l2i_next_call_time(text[], text[], timestamptz) RENAME TO l2i_next_call_time_search;
COMMENT ON FUNCTION l2i_next_call_time_search(text[], text[], timestamptz) IS
    'The search behind l2i_next_call_time: earliest legal instant >= p_after over the windows of the next days. '
    'NULL when nothing is legal within about 15 days or zones are empty.';

-- Earliest instant t >= p_after with l2i_call_allowed(p_zones, p_states, t): p_after itself when it is legal (one
-- call of l2i_call_allowed, about a tenth of the search), else the search.
CREATE FUNCTION l2i_next_call_time(p_zones text[], p_states text[], p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF l2i_call_allowed(p_zones, p_states, p_after) THEN
        RETURN p_after;
    END IF;
    RETURN l2i_next_call_time_search(p_zones, p_states, p_after);
END
$$;
COMMENT ON FUNCTION l2i_next_call_time(text[], text[], timestamptz) IS
    'Earliest instant >= p_after at which l2i_call_allowed(p_zones, p_states, instant) is true; p_after itself '
    'when already legal. NULL when nothing is legal within about 15 days or zones are empty.';

-- One generic plan per session for the other functions every intake calls (their custom plans cost more to make
-- than to run, as 0009 found for the calling-window functions): 0.07 -> 0.03 ms and 0.03 -> 0.02 ms a call.
ALTER FUNCTION l2i_attempt_free_at(uuid, text, text[], timestamptz) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION l2i_campaign_gate(uuid, text, uuid, text[], text) SET plan_cache_mode = force_generic_plan;

-- ---------------------------------------------------------------------------------------------------------------
-- The intake pipeline as one PL/pgSQL function (sql/queries/leads.sql, lead_intake, calls it): the same gates,
-- in the same order, with the same outcome, as the single statement of 0001-0011, which it replaces.
-- Why: that statement's CTEs and subplans were set up again at every execution (a third of its time went to
-- executor start-up and expression set-up, perf record on one backend), and its text had to stay under
-- psycopg's 4,096-character cache limit. Here each step is a plain expression or a small statement whose plan
-- the session keeps.
-- Outcome (one row): id, status, reasons of the lead stored or of the open lead this post duplicates; created;
-- not_before; refused and missing (the campaign refused the lead: nothing stored); campaign (the code of the
-- lead's campaign). (The statement it replaces met an expired open lead on leads_dedupe_key, closed it and had
-- the caller run it again; closing it first makes that one round trip.)
-- Steps:
--   1. the campaign (l2i_campaign_gate): refused -> return, nothing stored;
--   2. close the number's open lead if it is older than 30 days: the insert below then meets only an open lead of
--      the last 30 days on leads_dedupe_key, which it duplicates (race-free: the unique index decides);
--   3. the gates: suppression, the Do-Not-Call Registry (connected accounts), the zones, the calling window
--      (within the campaign's hours, from the time the attempt caps let), the reasons; the campaign's daily cap
--      (only for a lead nothing else holds);
--   4. the lead, or on leads_dedupe_key the open lead it duplicates (its duplicate counter bumped);
--   5. the queue, for a new lead that nothing holds.
-- p_now: the instant the gates decide at (NULL: the database clock). The dedupe window and the daily cap count
-- on the database clock, as before.
CREATE FUNCTION l2i_lead_intake(
    p_account_id uuid, p_api_key_id uuid, p_source_id uuid, p_phone text, p_now timestamptz,
    p_states text[], p_area_zones text[], p_reasons text[], p_campaign text, p_default_campaign_id uuid,
    p_present text[], p_priority integer, p_expires_in integer, p_gates jsonb,
    p_source text, p_first_name text, p_last_name text, p_email text, p_state text, p_zip text, p_city text,
    p_address1 text, p_address2 text, p_external_id text, p_consent jsonb, p_sub_id text, p_utm_source text,
    p_utm_medium text, p_utm_campaign text, p_utm_term text, p_utm_content text, p_referrer text,
    p_landing_page text, p_custom jsonb, p_extra jsonb,
    OUT id uuid, OUT status text, OUT reasons text[], OUT created boolean,
    OUT not_before timestamptz, OUT refused text, OUT missing text[], OUT campaign text)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    cg record;
    v_zones text[];
    v_suppressed boolean;
    v_dnc_connected boolean;
    v_dnc_listed boolean;
    v_held text[];
    v_priority smallint;
    v_expires_at timestamptz;
    v_campaign_id uuid;
BEGIN
    SELECT * INTO cg FROM l2i_campaign_gate(p_account_id, p_campaign, p_default_campaign_id, p_present,
                                            p_states[1]);
    IF cg.refused IS NOT NULL THEN
        refused := cg.refused;
        missing := cg.missing;
        RETURN;
    END IF;

    UPDATE leads AS l SET dedupe_open = false
    WHERE l.account_id = p_account_id AND l.phone = p_phone AND l.dedupe_open
      AND l.created_at <= now() - interval '30 days';

    v_zones := l2i_lead_zones(p_states, p_area_zones);
    v_suppressed := EXISTS (SELECT 1 FROM suppressions AS s WHERE s.account_id = p_account_id AND s.phone = p_phone);
    SELECT a.dnc_connected INTO v_dnc_connected FROM accounts AS a WHERE a.id = p_account_id;
    v_dnc_listed := CASE WHEN v_dnc_connected THEN l2i_dnc_listed(p_phone, v_now) ELSE false END;
    IF cardinality(v_zones) > 0 THEN
        not_before := l2i_campaign_next_call_time(cg.hours_start, cg.hours_end, v_zones, p_states,
                                                  l2i_attempt_free_at(p_account_id, p_phone, p_states, v_now));
    END IF;
    v_held := CASE WHEN v_suppressed THEN ARRAY['suppressed'] ELSE '{}'::text[] END
              || CASE WHEN v_dnc_listed THEN ARRAY['dnc']
                      WHEN v_dnc_listed IS NULL THEN ARRAY['dnc_unavailable'] ELSE '{}'::text[] END
              || p_reasons
              || CASE WHEN cardinality(v_zones) > 0 AND not_before IS NULL
                      THEN ARRAY['no_calling_window'] ELSE '{}'::text[] END
              || cg.reasons;
    IF cardinality(v_held) = 0 AND cg.daily_cap IS NOT NULL
       AND NOT l2i_campaign_slot(cg.id, cg.daily_cap, p_account_id, p_phone, now()) THEN
        v_held := ARRAY['campaign_cap'];
    END IF;

    INSERT INTO leads AS l (
        account_id, api_key_id, source_id, phone, status, reasons,
        source, first_name, last_name, email, state, zip, city, address1, address2, external_id, consent,
        sub_id, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_page,
        custom, extra, gates, priority, expires_at, campaign_id, cost_cents)
    VALUES (
        p_account_id, p_api_key_id, p_source_id, p_phone,
        CASE WHEN cardinality(v_held) = 0 THEN 'new' ELSE 'ineligible' END, v_held,
        p_source, p_first_name, p_last_name, p_email, p_state, p_zip, p_city, p_address1, p_address2,
        p_external_id, p_consent, p_sub_id, p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content,
        p_referrer, p_landing_page, p_custom, p_extra,
        p_gates || jsonb_build_object(
            'suppression', jsonb_build_object('suppressed', v_suppressed),
            'dnc', jsonb_build_object('checked', v_dnc_connected, 'listed', v_dnc_listed),
            'dedupe', jsonb_build_object('duplicate', false, 'window_days', 30),
            'calling_window', jsonb_build_object('zones', v_zones, 'states', p_states,
                                                 'rules', l2i_rules_used(p_states, v_now),
                                                 'not_before', not_before),
            'campaign', cg.gate),
        p_priority, now() + make_interval(secs => p_expires_in), cg.id, cg.cost_cents)
    ON CONFLICT (account_id, phone) WHERE dedupe_open DO UPDATE
        SET duplicate_count = l.duplicate_count + 1, last_duplicate_at = now()
    RETURNING l.id, l.status, l.reasons, (l.xmax = 0), l.priority, l.expires_at, l.campaign_id
    INTO id, status, reasons, created, v_priority, v_expires_at, v_campaign_id;

    IF created AND status = 'new' THEN
        INSERT INTO dial_queue (lead_id, account_id, phone, states, zones, not_before, priority, expires_at,
                                campaign_id, campaign_priority)
        VALUES (id, p_account_id, p_phone, p_states, v_zones, not_before, v_priority, v_expires_at, cg.id,
                coalesce(cg.priority, 0));
    END IF;
    campaign := CASE WHEN created OR v_campaign_id IS NOT DISTINCT FROM cg.id THEN cg.code
                     ELSE (SELECT k.code FROM campaigns AS k WHERE k.id = v_campaign_id) END;
END
$$;
COMMENT ON FUNCTION l2i_lead_intake(uuid, uuid, uuid, text, timestamptz, text[], text[], text[], text, uuid, text[],
                                    integer, integer, jsonb, text, text, text, text, text, text, text, text, text,
                                    text, jsonb, text, text, text, text, text, text, text, text, jsonb, jsonb) IS
    'The intake pipeline (lead_intake): campaign, dedupe, suppression, registry, calling window, caps, the lead, '
    'the queue. One row: the lead stored or the open lead duplicated, or refused (nothing stored).';
