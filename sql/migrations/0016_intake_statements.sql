-- 0016_intake_statements: fewer statements, plans and relations per intake (issue 13).
--
-- Measured first (scratch database with 20 bench keys, the floor's statements: bench/out/floor_*.sql, backend CPU
-- per intake from /proc over 2,000 intakes in one session; perf record of the floor at 32 clients):
--   * The queue row and the dedupe key each had a foreign key to leads. A foreign key to a partitioned table is
--     checked by a query PostgreSQL plans for leads as a whole: its plan names every partition, and each check
--     locks every one of them (RowShareLock, one shared lock-table entry each: past 16 locks a transaction's
--     fast path is full). The dedupe key's, deferred, ran at commit. Each intake paid two, and the price grows
--     with every month of partitions (26 after two years). Without the two checks: 1.24-1.48 -> 1.04 ms.
--   * The gates asked calling_rules for the same states' rows three times in three functions (zones,
--     attempt cap, rules in force) and ran the campaign gate for accounts that have no campaign.
-- What:
--   1. dial_queue and lead_dedupe_keys keep lead_created_at beside lead_id, without the foreign key: both are
--      written only by l2i's own statements, from the lead they have just written or read (l2i_lead_intake, the
--      requeue, the dialing statements). What the foreign keys' ON DELETE / ON UPDATE CASCADE did, a trigger on
--      leads does (l2i_lead_rows_follow): it runs only when a lead is deleted or its created_at changes, never
--      at intake. (What the foreign key caught and the trigger does not: a requeue committing a queue row for a
--      lead an operator deletes at the same moment. The claim joins the lead, so such a row is never handed
--      out.) l2i_partition_drop refuses a month that queue rows or dedupe keys still point into, as the foreign
--      keys made the detach refuse. lead_events, transfers and call_attempts keep their foreign keys (no intake
--      writes them).
--   2. l2i_lead_intake asks the account once (registry, suppression, whether it has any campaign), the states'
--      rules once (zones, strictest cap, the rules in force for the decision record: l2i_state_rules), and
--      runs l2i_campaign_gate only when there is a campaign to find. The answers are those of l2i_lead_zones,
--      l2i_rules_used and l2i_attempt_free_at, which it replaces at intake (the first two go: nothing else
--      called them; l2i_attempt_free_at keeps serving the claim and the requeue, now over l2i_cap_free_at).
-- Applied by `l2i migrate` in one transaction. Forward-only.

-- ---------------------------------------------------------------------------------------------------------------
-- 1. The queue row and the dedupe key follow their lead by trigger, not by foreign key.
ALTER TABLE dial_queue DROP CONSTRAINT dial_queue_lead_id_fkey;
ALTER TABLE lead_dedupe_keys DROP CONSTRAINT lead_dedupe_keys_lead_id_fkey;
COMMENT ON COLUMN lead_dedupe_keys.lead_created_at IS
    'The open lead''s created_at (with lead_id, its key in leads); kept in step by l2i_lead_rows_follow.';

-- After a lead's row is deleted, or its created_at changed: its queue row and dedupe key are deleted with it, or
-- follow it. An UPDATE of created_at that moves the lead to another month's partition is, for row triggers, a
-- DELETE there and an INSERT here (PostgreSQL 15, CREATE TRIGGER): the lead is then found again by id, at its
-- new created_at (AFTER ROW triggers run once the statement is done).
CREATE FUNCTION l2i_lead_rows_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        v_at := NEW.created_at;
    ELSE
        SELECT l.created_at INTO v_at FROM leads AS l WHERE l.id = OLD.id;
    END IF;
    IF v_at IS NULL THEN
        DELETE FROM dial_queue AS q WHERE q.lead_id = OLD.id AND q.lead_created_at = OLD.created_at;
        DELETE FROM lead_dedupe_keys AS k
        WHERE k.account_id = OLD.account_id AND k.phone = OLD.phone AND k.lead_id = OLD.id;
    ELSE
        UPDATE dial_queue AS q SET lead_created_at = v_at
        WHERE q.lead_id = OLD.id AND q.lead_created_at = OLD.created_at;
        UPDATE lead_dedupe_keys AS k SET lead_created_at = v_at
        WHERE k.account_id = OLD.account_id AND k.phone = OLD.phone AND k.lead_id = OLD.id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION l2i_lead_rows_follow() IS
    'AFTER DELETE / UPDATE OF created_at on leads: the lead''s queue row and dedupe key are deleted with it or follow its created_at.';
CREATE TRIGGER leads_rows_follow_delete AFTER DELETE ON leads
    FOR EACH ROW EXECUTE FUNCTION l2i_lead_rows_follow();
CREATE TRIGGER leads_rows_follow_created_at AFTER UPDATE OF created_at ON leads
    FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) EXECUTE FUNCTION l2i_lead_rows_follow();

-- 0015's l2i_partition_drop, with the guard the two foreign keys gave: a month of leads that queue rows or
-- dedupe keys still point into is refused (foreign_key_violation, as the detach refuses for the other tables).
CREATE OR REPLACE FUNCTION l2i_partition_drop(p_partition text, p_before timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    SELECT * INTO p FROM l2i_partitions(p_before) AS x WHERE x.partition_name = p_partition AND x.before;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not a month partition of leads or lead_events wholly before %', p_partition, p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_partition LIKE 'leads\_%'
       AND (EXISTS (SELECT 1 FROM dial_queue AS q
                    WHERE q.lead_created_at >= p.starts_at AND q.lead_created_at < p.ends_at)
            OR EXISTS (SELECT 1 FROM lead_dedupe_keys AS k
                       WHERE k.lead_created_at >= p.starts_at AND k.lead_created_at < p.ends_at)) THEN
        RAISE EXCEPTION '% holds leads that the dial queue or the dedupe keys still point at', p_partition
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I',
                   (SELECT i.inhparent::regclass::text FROM pg_inherits AS i
                    WHERE i.inhrelid = format('%I', p_partition)::regclass),
                   p_partition);
    EXECUTE format('DROP TABLE %I', p_partition);
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- 2. What a lead's states decide, one query per state.

-- The distinct non-NULL elements of p, sorted (what array_agg(DISTINCT x ORDER BY x) gives), with plain
-- expressions only: PL/pgSQL evaluates them without starting an executor, a statement would cost ten times more.
CREATE FUNCTION l2i_sorted_set(p text[]) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text[] := '{}';
    x text;
    i integer;
BEGIN
    FOREACH x IN ARRAY coalesce(p, '{}') LOOP
        CONTINUE WHEN x IS NULL OR x = ANY (v);
        i := 1;
        WHILE i <= cardinality(v) AND v[i] < x LOOP
            i := i + 1;
        END LOOP;
        v := v[:i - 1] || x || v[i:];
    END LOOP;
    RETURN v;
END
$$;
COMMENT ON FUNCTION l2i_sorted_set(text[]) IS 'The distinct non-NULL elements of p, sorted.';

-- For p_states (the address state and the area code's; NULLs ignored) at p_at:
--   zones          every zone of the states (all_tzs of each state's latest rule row) and of p_area_zones, sorted,
--                  without NULLs (what l2i_lead_zones answered);
--   max_calls_24h  the strictest 24-hour attempt cap among the rules in force on the local date (NULL: none);
--   rules          the rules in force, by state: state, effective_from, citation, confidence, max_calls_24h (what
--                  l2i_rules_used answered; the decision record keeps it).
-- Most states have one rule row, in force: one query per state (its latest row), a second only when the latest
-- row is not in force yet (an amendment on file before its date).
CREATE FUNCTION l2i_state_rules(p_states text[], p_area_zones text[], p_at timestamptz,
                                OUT zones text[], OUT max_calls_24h integer, OUT rules jsonb)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_states text[] := upper(p_states::text)::text[];
    v_state text;
    v_zones text[] := p_area_zones;
    r record;
BEGIN
    rules := '[]';
    IF cardinality(v_states) > 1 THEN
        v_states := l2i_sorted_set(v_states);  -- the rules by state, each once
    END IF;
    FOREACH v_state IN ARRAY coalesce(v_states, '{}') LOOP
        CONTINUE WHEN v_state IS NULL;
        SELECT cr.state, cr.effective_from, cr.citation, cr.confidence, cr.max_calls_24h, cr.all_tzs, cr.primary_tz
        INTO r
        FROM calling_rules AS cr WHERE cr.state = v_state
        ORDER BY cr.effective_from DESC LIMIT 1;
        CONTINUE WHEN NOT FOUND;
        v_zones := v_zones || r.all_tzs;
        IF r.effective_from > (p_at AT TIME ZONE r.primary_tz)::date THEN
            SELECT cr.state, cr.effective_from, cr.citation, cr.confidence, cr.max_calls_24h INTO r
            FROM calling_rules AS cr
            WHERE cr.state = v_state AND cr.effective_from <= (p_at AT TIME ZONE cr.primary_tz)::date
            ORDER BY cr.effective_from DESC LIMIT 1;
            CONTINUE WHEN NOT FOUND;
        END IF;
        max_calls_24h := least(max_calls_24h, r.max_calls_24h);
        rules := rules || jsonb_build_object('state', r.state, 'effective_from', r.effective_from,
                                             'citation', r.citation, 'confidence', r.confidence,
                                             'max_calls_24h', r.max_calls_24h);
    END LOOP;
    zones := l2i_sorted_set(v_zones);
END
$$;
COMMENT ON FUNCTION l2i_state_rules(text[], text[], timestamptz) IS
    'What the states decide at p_at: their zones (with the area code''s), the strictest 24-hour attempt cap, the rules in force.';

DROP FUNCTION l2i_lead_zones(text[], text[]);
DROP FUNCTION l2i_rules_used(text[], timestamptz);

-- When one more attempt on the number fits under p_cap attempts in 24 hours: p_at, or when the attempt that
-- fills the cap is 24 h old (p_at when p_cap is NULL). The query of 0009's l2i_attempt_free_at, for a cap the
-- caller already knows.
CREATE FUNCTION l2i_cap_free_at(p_account_id uuid, p_phone text, p_cap integer, p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_free timestamptz;
BEGIN
    IF p_cap IS NULL OR p_at IS NULL THEN
        RETURN p_at;
    END IF;
    SELECT a.claimed_at + interval '24 hours' INTO v_free
    FROM call_attempts AS a
    WHERE a.account_id = p_account_id AND a.phone = p_phone
      AND a.claimed_at > p_at - interval '24 hours' AND a.claimed_at <= p_at
    ORDER BY a.claimed_at DESC
    OFFSET p_cap - 1 LIMIT 1;
    RETURN greatest(p_at, v_free);
END
$$;
COMMENT ON FUNCTION l2i_cap_free_at(uuid, text, integer, timestamptz) IS
    'When one more attempt on the number fits under p_cap attempts in 24 hours: p_at, or later when capped.';

-- 0009's l2i_attempt_free_at (the claim and the requeue ask it for each lead): its cap query, then the attempts
-- through l2i_cap_free_at.
CREATE OR REPLACE FUNCTION l2i_attempt_free_at(p_account_id uuid, p_phone text, p_states text[], p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_cap integer;
BEGIN
    SELECT min(r.max_calls_24h) INTO v_cap
    FROM (SELECT DISTINCT upper(s) AS state FROM unnest(p_states) AS s WHERE s IS NOT NULL) AS s
    CROSS JOIN LATERAL (SELECT cr.max_calls_24h FROM calling_rules AS cr
                        WHERE cr.state = s.state AND cr.effective_from <= (p_at AT TIME ZONE cr.primary_tz)::date
                        ORDER BY cr.effective_from DESC LIMIT 1) AS r;
    RETURN l2i_cap_free_at(p_account_id, p_phone, v_cap, p_at);
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- 3. The intake pipeline (0014's l2i_lead_intake): the same gates, in the same order of precedence, with the same
-- outcome and decision record, in fewer statements:
--   1. the account, one statement: the registry connection, the number's suppression, whether the account has any
--      campaign;
--   2. the campaign (l2i_campaign_gate), when there is one to find (named, the sender's default, or any in the
--      account; otherwise the gate would find none and its filter keeps it from running): refused -> return,
--      nothing stored;
--   3. the states' rules, one query per state (l2i_state_rules): zones, cap, rules in force; then the registry
--      (connected accounts), the calling window from the time the cap lets (within the campaign's hours, if it
--      has some), the reasons, the campaign's daily cap (only for a lead nothing else holds);
--   4. the 30-day dedupe on the number's row of lead_dedupe_keys (l2i_lead_dedupe, race-free: the row lock
--      decides): the open lead it duplicates (its duplicate counter bumped) -> return; else the new lead's id and
--      created_at;
--   5. the lead, in its month's partition; 6. the queue, for a new lead that nothing holds.
CREATE OR REPLACE FUNCTION l2i_lead_intake(
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
    c_id uuid;  -- the lead's campaign (l2i_campaign_gate), all NULL when it has none
    c_code text;
    c_reasons text[];
    c_hours_start time[];
    c_hours_end time[];
    c_daily_cap integer;
    c_priority smallint;
    c_cost_cents bigint;
    c_gate jsonb;
    sr record;
    v_suppressed boolean;
    v_dnc_connected boolean;
    v_has_campaigns boolean;
    v_dnc_listed boolean;
    v_after timestamptz;
    v_held text[];
    v_priority smallint;
    v_expires_at timestamptz;
    v_campaign_id uuid;
    dk record;
BEGIN
    SELECT a.dnc_connected,
           EXISTS (SELECT 1 FROM suppressions AS s WHERE s.account_id = p_account_id AND s.phone = p_phone),
           EXISTS (SELECT 1 FROM campaigns AS k WHERE k.account_id = p_account_id)
    INTO v_dnc_connected, v_suppressed, v_has_campaigns
    FROM accounts AS a WHERE a.id = p_account_id;

    -- No campaign named, no sender default, none in the account: the gate would find none.
    IF v_has_campaigns OR p_campaign IS NOT NULL OR p_default_campaign_id IS NOT NULL THEN
        SELECT g.id, g.code, g.refused, g.missing, g.reasons, g.hours_start, g.hours_end, g.daily_cap, g.priority,
               g.cost_cents, g.gate
        INTO c_id, c_code, refused, missing, c_reasons, c_hours_start, c_hours_end, c_daily_cap, c_priority,
             c_cost_cents, c_gate
        FROM l2i_campaign_gate(p_account_id, p_campaign, p_default_campaign_id, p_present, p_states[1]) AS g;
        IF refused IS NOT NULL THEN
            RETURN;
        END IF;
        missing := NULL;
    END IF;

    sr := l2i_state_rules(p_states, p_area_zones, v_now);
    v_dnc_listed := CASE WHEN v_dnc_connected THEN l2i_dnc_listed(p_phone, v_now) ELSE false END;
    IF cardinality(sr.zones) > 0 THEN
        v_after := l2i_cap_free_at(p_account_id, p_phone, sr.max_calls_24h, v_now);
        not_before := CASE WHEN c_hours_start IS NULL THEN l2i_next_call_time(sr.zones, p_states, v_after)
                           ELSE l2i_campaign_next_call_time(c_hours_start, c_hours_end, sr.zones, p_states,
                                                            v_after) END;
    END IF;
    v_held := CASE WHEN v_suppressed THEN ARRAY['suppressed'] ELSE '{}'::text[] END
              || CASE WHEN v_dnc_listed THEN ARRAY['dnc']
                      WHEN v_dnc_listed IS NULL THEN ARRAY['dnc_unavailable'] ELSE '{}'::text[] END
              || p_reasons
              || CASE WHEN cardinality(sr.zones) > 0 AND not_before IS NULL
                      THEN ARRAY['no_calling_window'] ELSE '{}'::text[] END
              || c_reasons;
    IF cardinality(v_held) = 0 AND c_daily_cap IS NOT NULL
       AND NOT l2i_campaign_slot(c_id, c_daily_cap, p_account_id, p_phone, now()) THEN
        v_held := ARRAY['campaign_cap'];
    END IF;

    dk := l2i_lead_dedupe(p_account_id, p_phone);  -- an expression: no executor for a FROM clause
    IF NOT dk.created THEN
        id := dk.id;
        status := dk.status;
        reasons := dk.reasons;
        created := false;
        campaign := CASE WHEN dk.campaign_id IS NOT DISTINCT FROM c_id THEN c_code
                         ELSE (SELECT k.code FROM campaigns AS k WHERE k.id = dk.campaign_id) END;
        RETURN;
    END IF;

    INSERT INTO leads AS l (
        id, created_at, account_id, api_key_id, source_id, phone, status, reasons,
        source, first_name, last_name, email, state, zip, city, address1, address2, external_id, consent,
        sub_id, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_page,
        custom, extra, gates, priority, expires_at, campaign_id, cost_cents)
    VALUES (
        dk.id, dk.created_at, p_account_id, p_api_key_id, p_source_id, p_phone,
        CASE WHEN cardinality(v_held) = 0 THEN 'new' ELSE 'ineligible' END, v_held,
        p_source, p_first_name, p_last_name, p_email, p_state, p_zip, p_city, p_address1, p_address2,
        p_external_id, p_consent, p_sub_id, p_utm_source, p_utm_medium, p_utm_campaign, p_utm_term, p_utm_content,
        p_referrer, p_landing_page, p_custom, p_extra,
        p_gates || jsonb_build_object(
            'suppression', jsonb_build_object('suppressed', v_suppressed),
            'dnc', jsonb_build_object('checked', v_dnc_connected, 'listed', v_dnc_listed),
            'dedupe', jsonb_build_object('duplicate', false, 'window_days', 30),
            'calling_window', jsonb_build_object('zones', sr.zones, 'states', p_states, 'rules', sr.rules,
                                                 'not_before', not_before),
            'campaign', c_gate),
        p_priority, now() + make_interval(secs => p_expires_in), c_id, c_cost_cents)
    RETURNING l.id, l.status, l.reasons, true, l.priority, l.expires_at, l.campaign_id
    INTO id, status, reasons, created, v_priority, v_expires_at, v_campaign_id;

    IF status = 'new' THEN
        INSERT INTO dial_queue (lead_id, lead_created_at, account_id, phone, states, zones, not_before, priority,
                                expires_at, campaign_id, campaign_priority)
        VALUES (id, dk.created_at, p_account_id, p_phone, p_states, sr.zones, not_before, v_priority,
                v_expires_at, c_id, coalesce(c_priority, 0));
    END IF;
    campaign := c_code;
END
$$;
