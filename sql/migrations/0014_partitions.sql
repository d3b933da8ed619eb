-- Leads partitioned by month (issue 12, section 4): years of leads stay fast to insert, claim and read, and a
-- month can be dropped whole.
--
-- leads becomes a table PARTITION BY RANGE (created_at), one partition per UTC month (leads_YYYY_MM) plus
-- leads_default, which takes any row no month partition covers, so an intake never fails for want of a
-- partition. l2i_partitions_ensure makes the months ahead (`l2i partitions ensure`, run daily by
-- deploy/systemd/l2i-partitions.timer, and once here).
--
-- A unique index of a partitioned table must include the partition key, so the 30-day dedupe cannot stay a
-- unique partial index of leads (leads_dedupe_key): it moves to lead_dedupe_keys, a small unpartitioned table with
-- one row per account and number (the number's open lead), and l2i_lead_dedupe, which serializes identical posts
-- on that row.
--
-- The primary key becomes (id, created_at). The tables that point at a lead (dial_queue, lead_events, transfers,
-- call_attempts) carry its created_at (lead_created_at) and reference (id, created_at): referential integrity
-- stays, and the claim and the reaper find each lead's row in its partition (run-time pruning). They get
-- lead_created_at from the statement that inserts them; other inserts (functions of older migrations) have it
-- filled by a trigger (l2i_lead_created_at_fill). ON UPDATE CASCADE: moving a lead's created_at moves theirs.
--
-- leads_stats_idx goes: leads_account_created_idx becomes (account_id, created_at, id) INCLUDE (what stats reads),
-- which serves the page (scanned backwards: newest first) and the stats (index-only) alike: one index fewer
-- to write at every intake.
--
-- The upgrade converts a populated leads: a new partitioned table, the rows copied, the old one dropped, and
-- its indexes, constraints, trigger, views and grants made again under the same names. (lead_events stays one
-- table for now; its rows carry lead_created_at, the key to partition it by, the same way, later.)

-- ---------------------------------------------------------------------------------------------------------------
-- What depends on leads goes first (made again below): the analyst views and the foreign keys to leads (id).
DROP VIEW analytics_funnel_daily;
DROP VIEW analytics_revenue_by_buyer;
ALTER TABLE dial_queue DROP CONSTRAINT dial_queue_lead_id_fkey;
ALTER TABLE lead_events DROP CONSTRAINT lead_events_lead_id_fkey;
ALTER TABLE transfers DROP CONSTRAINT transfers_lead_id_fkey;
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_lead_id_fkey;

ALTER TABLE leads RENAME TO leads_unpartitioned;

-- Same columns, defaults, CHECK constraints (with their names) and column comments.
CREATE TABLE leads (LIKE leads_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
                    INCLUDING STORAGE)
    PARTITION BY RANGE (created_at);
COMMENT ON TABLE leads IS 'Every stored lead (duplicates are not stored: they bump duplicate_count of the lead they repeat).';
CREATE TABLE leads_default PARTITION OF leads DEFAULT;
COMMENT ON TABLE leads_default IS
    'Leads no month partition covers (l2i partitions ensure makes the months ahead); normally empty.';

-- ---------------------------------------------------------------------------------------------------------------
-- Month partitions: the months ahead, and the rows of months no partition covers leave leads_default.

-- The partition of leads for the UTC month of p_month (leads_YYYY_MM), made if missing; true if made now.
-- Rows leads_default holds for that month move into it (a partition cannot be made over them otherwise).
CREATE FUNCTION l2i_partition_create(p_month timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_from timestamptz := date_trunc('month', p_month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_to timestamptz := (date_trunc('month', p_month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    v_name text := 'leads_' || to_char(p_month AT TIME ZONE 'UTC', 'YYYY_MM');
    v_moving boolean;
BEGIN
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Made detached, then attached: rows of the month in leads_default are moved in between (their foreign keys
    -- from dial_queue and the others are kept: the rows keep their keys, and the whole runs in one transaction).
    -- Taking the lock first keeps intake out of leads_default while the rows move.
    LOCK TABLE leads_default IN SHARE ROW EXCLUSIVE MODE;
    v_moving := EXISTS (SELECT 1 FROM leads_default WHERE created_at >= v_from AND created_at < v_to);
    IF NOT v_moving THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF leads FOR VALUES FROM (%L) TO (%L)',
                       v_name, v_from, v_to);
        RETURN true;
    END IF;
    -- With rows to move: the foreign keys to leads are checked against leads as a whole, so the rows are copied
    -- into the new table and deleted from leads_default with the referencing tables' triggers off for this
    -- transaction only (session_replication_role needs a superuser: without one, the month stays in
    -- leads_default and a warning says so).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE WARNING 'l2i: leads_default holds leads of %: partition % not made (a superuser can make it: '
            'l2i partitions ensure)', to_char(v_from AT TIME ZONE 'UTC', 'YYYY-MM'), v_name;
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE leads INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);
    SET LOCAL session_replication_role = replica;
    EXECUTE format('WITH moved AS (DELETE FROM leads_default WHERE created_at >= %L AND created_at < %L RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', v_from, v_to, v_name);
    SET LOCAL session_replication_role = origin;
    EXECUTE format('ALTER TABLE leads ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
    RETURN true;
END
$$;
COMMENT ON FUNCTION l2i_partition_create(timestamptz) IS
    'Makes leads_YYYY_MM for the UTC month of p_month if missing (moving that month''s rows out of leads_default); true if made.';

-- The month partitions from the month of p_at to p_months_ahead months after it, made if missing. Returns each
-- month's partition with whether it was made now. `l2i partitions ensure` runs it (daily: l2i-partitions.timer).
CREATE FUNCTION l2i_partitions_ensure(p_months_ahead integer DEFAULT 3, p_at timestamptz DEFAULT now())
RETURNS TABLE (partition_name text, made boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_month timestamptz;
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'months ahead must be between 0 and 120, not %', p_months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0 .. p_months_ahead LOOP
        v_month := p_at + make_interval(months => i);
        partition_name := 'leads_' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY_MM');
        made := l2i_partition_create(v_month);
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION l2i_partitions_ensure(integer, timestamptz) IS
    'Makes the month partitions of leads from the month of p_at to p_months_ahead months after it (UTC); returns each with made.';

-- The month partitions of leads, oldest first: bounds (UTC), rows (estimated from statistics), and whether the
-- whole month is before p_before (what a retention policy may drop). leads_default is listed last, with no bounds.
CREATE FUNCTION l2i_partitions(p_before timestamptz DEFAULT NULL)
RETURNS TABLE (partition_name text, starts_at timestamptz, ends_at timestamptz, estimated_rows bigint,
               before boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS ends_at,
           greatest(c.reltuples, 0)::bigint,
           p_before IS NOT NULL
               AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
                   <= p_before
    FROM pg_inherits AS i
    JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'leads'::regclass
    ORDER BY ends_at NULLS LAST
$$;
COMMENT ON FUNCTION l2i_partitions(timestamptz) IS
    'The partitions of leads with their UTC bounds, estimated rows and whether the whole month is before p_before.';

-- Drops one month partition of leads whose whole month is before p_before (a guard against dropping a live
-- month). The rows pointing at its leads (dial_queue, lead_events, transfers, call_attempts, lead_dedupe_keys)
-- must be gone first (deleted or archived by the retention policy): the detach refuses otherwise.
CREATE FUNCTION l2i_partition_drop(p_partition text, p_before timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM l2i_partitions(p_before) AS p
                   WHERE p.partition_name = p_partition AND p.before) THEN
        RAISE EXCEPTION '% is not a month partition of leads wholly before %', p_partition, p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('ALTER TABLE leads DETACH PARTITION %I', p_partition);
    EXECUTE format('DROP TABLE %I', p_partition);
END
$$;
COMMENT ON FUNCTION l2i_partition_drop(text, timestamptz) IS
    'Detaches and drops a month partition of leads wholly before p_before (its referencing rows must be gone first).';

-- The months of the existing rows, and the months ahead, before the copy (nothing lands in leads_default).
SELECT l2i_partition_create(m)
FROM (SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m
      FROM leads_unpartitioned) AS months;
SELECT l2i_partitions_ensure(3);

INSERT INTO leads SELECT * FROM leads_unpartitioned;
DROP TABLE leads_unpartitioned;

-- ---------------------------------------------------------------------------------------------------------------
-- Keys, indexes, foreign keys and the status trigger, under their old names.
ALTER TABLE leads ADD CONSTRAINT leads_pkey PRIMARY KEY (id, created_at);
ALTER TABLE leads ADD CONSTRAINT leads_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE leads ADD CONSTRAINT leads_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id);
ALTER TABLE leads ADD CONSTRAINT leads_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id);
ALTER TABLE leads ADD CONSTRAINT leads_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id);
-- GET /v1/leads (newest first: scanned backwards, keyset on (created_at, id)) and GET /v1/stats (index-only:
-- the INCLUDE columns are what stats_by_group reads).
CREATE INDEX leads_account_created_idx ON leads (account_id, created_at, id)
    INCLUDE (status, source, sub_id, duplicate_count, attempts, reasons, campaign_id, cost_cents);
CREATE INDEX leads_account_phone_idx ON leads (account_id, phone);
CREATE INDEX leads_campaign_cap_idx ON leads (campaign_id, created_at, id)
    WHERE status = 'ineligible' AND reasons = '{campaign_cap}';
CREATE TRIGGER leads_status_transition BEFORE UPDATE OF status ON leads
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION l2i_leads_status_guard();
COMMENT ON COLUMN leads.dedupe_open IS
    'True while this lead is its number''s open lead (lead_dedupe_keys): a post of the number within 30 days is its duplicate.';

-- ---------------------------------------------------------------------------------------------------------------
-- The rows pointing at a lead carry its created_at.
ALTER TABLE dial_queue ADD COLUMN lead_created_at timestamptz;
ALTER TABLE lead_events ADD COLUMN lead_created_at timestamptz;
ALTER TABLE transfers ADD COLUMN lead_created_at timestamptz;
ALTER TABLE call_attempts ADD COLUMN lead_created_at timestamptz;
UPDATE dial_queue AS x SET lead_created_at = l.created_at FROM leads AS l WHERE l.id = x.lead_id;
UPDATE lead_events AS x SET lead_created_at = l.created_at FROM leads AS l WHERE l.id = x.lead_id;
UPDATE transfers AS x SET lead_created_at = l.created_at FROM leads AS l WHERE l.id = x.lead_id;
UPDATE call_attempts AS x SET lead_created_at = l.created_at FROM leads AS l WHERE l.id = x.lead_id;
ALTER TABLE dial_queue ALTER COLUMN lead_created_at SET NOT NULL;
ALTER TABLE lead_events ALTER COLUMN lead_created_at SET NOT NULL;
ALTER TABLE transfers ALTER COLUMN lead_created_at SET NOT NULL;
ALTER TABLE call_attempts ALTER COLUMN lead_created_at SET NOT NULL;
ALTER TABLE dial_queue ADD CONSTRAINT dial_queue_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
    REFERENCES leads (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
    REFERENCES leads (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE transfers ADD CONSTRAINT transfers_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
    REFERENCES leads (id, created_at) ON UPDATE CASCADE;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
    REFERENCES leads (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE;
COMMENT ON COLUMN dial_queue.lead_created_at IS 'The lead''s created_at: finds its row in one partition of leads.';
COMMENT ON COLUMN lead_events.lead_created_at IS 'The lead''s created_at: finds its row in one partition of leads.';
COMMENT ON COLUMN transfers.lead_created_at IS 'The lead''s created_at: finds its row in one partition of leads.';
COMMENT ON COLUMN call_attempts.lead_created_at IS 'The lead''s created_at: finds its row in one partition of leads.';

-- Inserts that do not say lead_created_at (functions of older migrations, operator scripts) get it from leads.
-- The hot statements pass it, and the WHEN keeps the trigger from running for them.
CREATE FUNCTION l2i_lead_created_at_fill() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT l.created_at INTO NEW.lead_created_at FROM leads AS l WHERE l.id = NEW.lead_id;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION l2i_lead_created_at_fill() IS
    'BEFORE INSERT trigger: fills lead_created_at from leads when the insert did not give it.';
CREATE TRIGGER dial_queue_lead_created_at BEFORE INSERT ON dial_queue
    FOR EACH ROW WHEN (NEW.lead_created_at IS NULL) EXECUTE FUNCTION l2i_lead_created_at_fill();
CREATE TRIGGER lead_events_lead_created_at BEFORE INSERT ON lead_events
    FOR EACH ROW WHEN (NEW.lead_created_at IS NULL) EXECUTE FUNCTION l2i_lead_created_at_fill();
CREATE TRIGGER transfers_lead_created_at BEFORE INSERT ON transfers
    FOR EACH ROW WHEN (NEW.lead_created_at IS NULL) EXECUTE FUNCTION l2i_lead_created_at_fill();
CREATE TRIGGER call_attempts_lead_created_at BEFORE INSERT ON call_attempts
    FOR EACH ROW WHEN (NEW.lead_created_at IS NULL) EXECUTE FUNCTION l2i_lead_created_at_fill();

-- ---------------------------------------------------------------------------------------------------------------
-- The 30-day dedupe: one row per account and number, naming the number's open lead.
CREATE TABLE lead_dedupe_keys (
    account_id       uuid        NOT NULL,
    phone            text        NOT NULL,
    lead_id          uuid        NOT NULL,
    lead_created_at  timestamptz NOT NULL,
    CONSTRAINT lead_dedupe_keys_pkey PRIMARY KEY (account_id, phone),
    -- Deferred: l2i_lead_dedupe writes the key before lead_intake inserts the lead it names.
    CONSTRAINT lead_dedupe_keys_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
        REFERENCES leads (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED
);
COMMENT ON TABLE lead_dedupe_keys IS
    'The open lead of each account and number: a post of the number within 30 days of its created_at is its duplicate.';
INSERT INTO lead_dedupe_keys (account_id, phone, lead_id, lead_created_at)
SELECT account_id, phone, id, created_at FROM leads WHERE dedupe_open;

-- The dedupe decision of one intake, serialized on the number's key row (INSERT ... ON CONFLICT waits for a
-- concurrent post of the same number to commit). No key, or an open lead 30 days old or older: the key names a
-- new lead (id and created_at chosen here; lead_intake inserts it in the same statement), the older lead's
-- dedupe_open is closed, created is true. Else the open lead is bumped (duplicate_count, last_duplicate_at) and
-- comes back with created false. The columns are those lead_intake's insert returns, in its
-- order. PL/pgSQL, not a CTE of lead_intake: each statement here takes a new snapshot, so
-- the bump sees a lead a concurrent post committed after lead_intake began.
CREATE FUNCTION l2i_lead_dedupe(p_account_id uuid, p_phone text, OUT id uuid, OUT created_at timestamptz,
                                OUT status text, OUT reasons text[], OUT created boolean, OUT priority smallint,
                                OUT expires_at timestamptz, OUT campaign_id uuid)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_id uuid := gen_random_uuid();
    v_at timestamptz := now();
    v_old_id uuid;
    v_old_at timestamptz;
BEGIN
    -- A new number (most posts): the key goes in, one statement. Else (or when a concurrent post of the number
    -- inserted it first: ON CONFLICT waits for that post to commit) the key is locked and read.
    INSERT INTO lead_dedupe_keys AS k (account_id, phone, lead_id, lead_created_at)
    VALUES (p_account_id, p_phone, v_id, v_at)
    ON CONFLICT (account_id, phone) DO NOTHING;
    IF NOT FOUND THEN
        SELECT k.lead_id, k.lead_created_at INTO v_old_id, v_old_at FROM lead_dedupe_keys AS k
        WHERE k.account_id = p_account_id AND k.phone = p_phone FOR UPDATE;
    END IF;
    IF v_old_id IS NOT NULL AND v_old_at > v_at - interval '30 days' THEN
        UPDATE leads AS l
        SET duplicate_count = l.duplicate_count + 1, last_duplicate_at = v_at
        WHERE l.id = v_old_id AND l.created_at = v_old_at
        RETURNING l.id, l.created_at, l.status, l.reasons, false, l.priority, l.expires_at, l.campaign_id
        INTO id, created_at, status, reasons, created, priority, expires_at, campaign_id;
        RETURN;
    END IF;
    IF v_old_id IS NOT NULL THEN
        UPDATE lead_dedupe_keys AS k SET lead_id = v_id, lead_created_at = v_at
        WHERE k.account_id = p_account_id AND k.phone = p_phone;
        UPDATE leads AS l SET dedupe_open = false
        WHERE l.id = v_old_id AND l.created_at = v_old_at;
    END IF;
    id := v_id;
    created_at := v_at;
    created := true;
END
$$;
COMMENT ON FUNCTION l2i_lead_dedupe(uuid, text) IS
    'The 30-day dedupe of one intake: the open lead it duplicates (bumped; created false) or the new lead''s id and created_at (created true).';

-- ---------------------------------------------------------------------------------------------------------------
-- The intake pipeline as one PL/pgSQL function (sql/queries/leads.sql, lead_intake, calls it): the same gates,
-- in the same order, with the same outcome, as the single statement of 0001-0011, which it replaces.
-- Why: that statement's CTEs and subplans were set up again at every execution (a third of its time went to
-- executor start-up and expression set-up, perf record on one backend), and its text had to stay under
-- psycopg's 4,096-character cache limit. Here each step is a plain expression or a small statement whose plan
-- the session keeps.
-- Outcome (one row): id, status, reasons of the lead stored or of the open lead this post duplicates; created;
-- not_before; refused and missing (the campaign refused the lead: nothing stored); campaign (the code of the
-- lead's campaign).
-- Steps:
--   1. the campaign (l2i_campaign_gate): refused -> return, nothing stored;
--   2. the gates: suppression, the Do-Not-Call Registry (connected accounts), the zones, the calling window
--      (within the campaign's hours, from the time the attempt caps let), the reasons; the campaign's daily cap
--      (only for a lead nothing else holds);
--   3. the 30-day dedupe on the number's row of lead_dedupe_keys (l2i_lead_dedupe, race-free: the row lock
--      decides): the open lead it duplicates (its duplicate counter bumped) -> return; else the new lead's id and
--      created_at;
--   4. the lead, in its month's partition;
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
    dk record;
BEGIN
    SELECT * INTO cg FROM l2i_campaign_gate(p_account_id, p_campaign, p_default_campaign_id, p_present,
                                            p_states[1]);
    IF cg.refused IS NOT NULL THEN
        refused := cg.refused;
        missing := cg.missing;
        RETURN;
    END IF;

    v_zones := l2i_lead_zones(p_states, p_area_zones);
    SELECT a.dnc_connected,
           EXISTS (SELECT 1 FROM suppressions AS s WHERE s.account_id = p_account_id AND s.phone = p_phone)
    INTO v_dnc_connected, v_suppressed
    FROM accounts AS a WHERE a.id = p_account_id;
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

    -- The 30-day dedupe, on the number's row of lead_dedupe_keys: the open lead it duplicates (bumped), or the new
    -- lead's id and created_at (l2i_lead_dedupe).
    SELECT * INTO dk FROM l2i_lead_dedupe(p_account_id, p_phone);
    IF NOT dk.created THEN
        id := dk.id;
        status := dk.status;
        reasons := dk.reasons;
        created := false;
        campaign := CASE WHEN dk.campaign_id IS NOT DISTINCT FROM cg.id THEN cg.code
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
            'calling_window', jsonb_build_object('zones', v_zones, 'states', p_states,
                                                 'rules', l2i_rules_used(p_states, v_now),
                                                 'not_before', not_before),
            'campaign', cg.gate),
        p_priority, now() + make_interval(secs => p_expires_in), cg.id, cg.cost_cents)
    RETURNING l.id, l.status, l.reasons, true, l.priority, l.expires_at, l.campaign_id
    INTO id, status, reasons, created, v_priority, v_expires_at, v_campaign_id;

    IF status = 'new' THEN
        INSERT INTO dial_queue (lead_id, lead_created_at, account_id, phone, states, zones, not_before, priority,
                                expires_at, campaign_id, campaign_priority)
        VALUES (id, dk.created_at, p_account_id, p_phone, p_states, v_zones, not_before, v_priority, v_expires_at,
                cg.id, coalesce(cg.priority, 0));
    END IF;
    campaign := cg.code;
END
$$;
COMMENT ON FUNCTION l2i_lead_intake(uuid, uuid, uuid, text, timestamptz, text[], text[], text[], text, uuid, text[],
                                    integer, integer, jsonb, text, text, text, text, text, text, text, text, text,
                                    text, jsonb, text, text, text, text, text, text, text, text, jsonb, jsonb) IS
    'The intake pipeline (lead_intake): campaign, dedupe, suppression, registry, calling window, caps, the lead, '
    'the queue. One row: the lead stored or the open lead duplicated, or refused (nothing stored).';

-- Retention (0013's l2i_leads_anonymize) also takes the anonymized leads' dedupe keys (they hold the number).
CREATE OR REPLACE FUNCTION l2i_leads_anonymize(p_account_id uuid, p_ids uuid[], p_before timestamptz, p_evidence boolean)
RETURNS TABLE (leads integer, events integer, queue integer, evidence integer, transfers integer, postbacks integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := now();
    v_hold timestamptz := now() - l2i_consent_hold();
    v_ids uuid[];
    v_leads integer;
    v_events integer;
    v_queue integer;
    v_evidence integer := 0;
    v_transfers integer;
    v_postbacks integer;
BEGIN
    -- Locks in the order the dialer's statements take them (dial_claim, dial_outcome, lead_remove: the queue row,
    -- then the lead), so that a claim and this never wait for each other in a circle; a claim skips a queue row
    -- locked here (SKIP LOCKED).
    PERFORM 1 FROM dial_queue AS q
    WHERE q.account_id = p_account_id AND q.lead_id = ANY(p_ids)
    ORDER BY q.lead_id
    FOR UPDATE;
    SELECT coalesce(array_agg(l.id), '{}') INTO v_ids
    FROM (SELECT l.id FROM leads AS l
          WHERE l.account_id = p_account_id AND l.id = ANY(p_ids) AND l.created_at < p_before
            AND l.anonymized_at IS NULL
          ORDER BY l.id
          FOR NO KEY UPDATE) AS l;
    IF p_evidence THEN
        INSERT INTO consent_evidence (lead_id, account_id, phone, consent, lead_created_at)
        SELECT l.id, l.account_id, l.phone, l.consent, l.created_at
        FROM leads AS l
        WHERE l.account_id = p_account_id AND l.id = ANY(v_ids) AND l.created_at < p_before
          AND l.consent IS NOT NULL
          AND (l.created_at >= v_hold
               OR EXISTS (SELECT 1 FROM call_attempts AS a
                          WHERE a.account_id = l.account_id AND a.phone = l.phone AND a.claimed_at >= v_hold))
        ON CONFLICT ON CONSTRAINT consent_evidence_pkey DO NOTHING;
        GET DIAGNOSTICS v_evidence = ROW_COUNT;
    END IF;
    -- Postbacks before transfers: the order l2i_postback_record locks them in.
    UPDATE postbacks AS p SET caller_id = NULL, fields = '{}', updated_at = v_now
    FROM transfers AS t
    WHERE p.account_id = p_account_id AND t.account_id = p_account_id AND t.lead_id = ANY(v_ids)
      AND p.transfer_id = t.id;
    GET DIAGNOSTICS v_postbacks = ROW_COUNT;
    UPDATE transfers AS t SET caller_id = NULL
    WHERE t.account_id = p_account_id AND t.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_transfers = ROW_COUNT;
    DELETE FROM dial_queue AS q WHERE q.account_id = p_account_id AND q.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_queue = ROW_COUNT;
    DELETE FROM lead_events AS e WHERE e.account_id = p_account_id AND e.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    -- The number's dedupe key, when it names one of these leads (0014): the number goes, and the next post of it
    -- is a new lead.
    DELETE FROM lead_dedupe_keys AS k WHERE k.account_id = p_account_id AND k.lead_id = ANY(v_ids);
    UPDATE leads AS l
    SET phone = NULL, first_name = NULL, last_name = NULL, email = NULL, zip = NULL, city = NULL, address1 = NULL,
        address2 = NULL, external_id = NULL, consent = NULL, referrer = NULL, landing_page = NULL, utm_term = NULL,
        utm_content = NULL, custom = '{}', extra = '{}', gates = l.gates #- '{phone,e164}', dedupe_open = false,
        status = CASE WHEN l.status IN ('new', 'dialing') THEN 'expired' ELSE l.status END,
        closed_at = CASE WHEN l.status IN ('new', 'dialing') THEN v_now ELSE l.closed_at END, anonymized_at = v_now,
        updated_at = v_now
    WHERE l.account_id = p_account_id AND l.id = ANY(v_ids) AND l.created_at < p_before;
    GET DIAGNOSTICS v_leads = ROW_COUNT;
    RETURN QUERY SELECT v_leads, v_events, v_queue, v_evidence, v_transfers, v_postbacks;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- The analyst views, as 0009/0011 made them, and the analyst role's grants (0010).
CREATE VIEW analytics_funnel_daily AS
SELECT l.account_id,
       (l.created_at AT TIME ZONE 'UTC')::date AS day,
       l.source,
       count(*) AS leads,
       sum(l.duplicate_count) AS duplicates,
       count(*) FILTER (WHERE l.status = 'ineligible') AS ineligible,
       count(*) FILTER (WHERE l.status <> 'ineligible') AS queued,
       count(*) FILTER (WHERE l.attempts > 0) AS dialed,
       count(*) FILTER (WHERE l.status IN ('qualified', 'transferred')) AS qualified,
       count(t.id) AS transferred,
       coalesce(sum(t.payout_cents), 0) AS revenue_cents,
       l.campaign_id,
       coalesce(sum(l.cost_cents), 0) AS cost_cents
FROM leads AS l
LEFT JOIN transfers AS t ON t.lead_id = l.id AND t.lead_created_at = l.created_at
GROUP BY l.account_id, (l.created_at AT TIME ZONE 'UTC')::date, l.source, l.campaign_id;
COMMENT ON VIEW analytics_funnel_daily IS
    'Per account, UTC day of intake, source and campaign: leads stored, duplicates rejected (counted on the lead '
    'they repeat), held, queued, dialed, qualified (incl. transferred), transferred, revenue and cost in cents.';

CREATE VIEW analytics_revenue_by_buyer AS
SELECT t.account_id,
       t.buyer,
       (t.transferred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS transfers,
       count(*) FILTER (WHERE t.payout_cents IS NOT NULL) AS paid_transfers,
       coalesce(sum(t.payout_cents), 0) AS revenue_cents,
       round(avg(t.duration_s)) AS avg_duration_s,
       l.campaign_id
FROM transfers AS t
JOIN leads AS l ON l.id = t.lead_id AND l.created_at = t.lead_created_at
GROUP BY t.account_id, t.buyer, (t.transferred_at AT TIME ZONE 'UTC')::date, l.campaign_id;
COMMENT ON VIEW analytics_revenue_by_buyer IS
    'Per account, buyer (from postbacks; NULL until one names it), UTC day of transfer and campaign: transfers, '
    'paid transfers, revenue in cents, average call duration.';

DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON leads, analytics_funnel_daily, analytics_revenue_by_buyer TO %I',
                   l2i_analyst_role());
END
$$;
