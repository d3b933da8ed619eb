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
-- (lead_intake becomes one PL/pgSQL call, l2i_lead_intake, with the dedupe of 0014: defined there.)
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
