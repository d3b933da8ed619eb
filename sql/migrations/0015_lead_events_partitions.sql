-- lead_events partitioned by month too (issue 12, section 4), by the same functions as leads (0014): each
-- month's partitions of both tables are made together (`l2i partitions ensure`), listed together (`l2i partitions
-- list`) and dropped by the same helper under the same guard.
--
-- The key is the event's own time, `at` (lead_events_YYYY_MM by UTC month, plus lead_events_default for any row
-- no month covers), not lead_created_at:
--   * every insert already sets `at` (default now(), or the clock of the statement), so no insert changes. By
--     lead_created_at, every insert would have to pass it: the inserts of older migrations' functions get it from
--     the BEFORE trigger l2i_lead_created_at_fill, and a BEFORE ROW trigger of a partitioned table cannot route
--     a row (PostgreSQL 15, CREATE TRIGGER: a BEFORE trigger "is not allowed to change which partition is the
--     final destination"): those inserts would fail;
--   * retention drops whole months of events by event time: an event of a month wholly past every account's
--     retention belongs to a lead created before it, whose events retention deletes anyway
--     (l2i_retention_droppable('lead_events', ...), 0013);
--   * the events of one lead stay near each other in time: most leads' history is in one or two partitions.
-- The price: GET /v1/leads/{id} (lead_get's events subquery, by lead_id) probes lead_events_lead_idx in every
-- partition (an index lookup each: no seq scan), as a lookup by id alone does in leads.
--
-- A primary key of a partitioned table must include the partition key: lead_events_pkey becomes (id, at) (id
-- is still unique: an identity). The upgrade converts a populated lead_events the way 0014 converted leads: a
-- new partitioned table, the rows copied (ids kept; the identity goes on after the largest), the old one
-- dropped, and its constraints, index, trigger, comments and grant made again under the same names. No view
-- reads lead_events; the functions that do are PL/pgSQL and find the new table by name.

-- ---------------------------------------------------------------------------------------------------------------
-- The partition functions of 0014, for both tables. A month's partition of either table is made by
-- l2i_partition_create(table, month); l2i_partition_create(month) (0014's signature) makes both.

-- The partition of p_table (leads: by created_at; lead_events: by at) for the UTC month of p_month
-- (<table>_YYYY_MM), made if missing; true if made now. Rows <table>_default holds for that month move into it
-- (a partition cannot be made over them otherwise).
CREATE FUNCTION l2i_partition_create(p_table text, p_month timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := CASE p_table WHEN 'leads' THEN 'created_at' WHEN 'lead_events' THEN 'at' END;
    v_default text := p_table || '_default';
    v_from timestamptz := date_trunc('month', p_month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_to timestamptz := (date_trunc('month', p_month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    v_name text := p_table || '_' || to_char(p_month AT TIME ZONE 'UTC', 'YYYY_MM');
    v_moving boolean;
BEGIN
    IF v_key IS NULL THEN
        RAISE EXCEPTION '% is not a table partitioned by month (leads, lead_events)', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass(v_name) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- Made detached, then attached: rows of the month in the default partition are moved in between (the whole
    -- runs in one transaction). Taking the lock first keeps inserts out of the default partition while they move.
    EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', v_default);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I >= $1 AND %I < $2)', v_default, v_key, v_key)
        INTO v_moving USING v_from, v_to;
    IF NOT v_moving THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, p_table, v_from, v_to);
        RETURN true;
    END IF;
    -- Rows of leads are pointed at (dial_queue, lead_events and the others): the foreign keys are checked
    -- against leads as a whole, and deleting them from leads_default would cascade, so they are copied and
    -- deleted with the referencing tables' triggers off for this transaction only (session_replication_role
    -- needs a superuser: without one, the month stays in leads_default and a warning says so). Nothing points at
    -- rows of lead_events: they just move (the attach checks their foreign key to leads).
    IF p_table = 'leads' AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        RAISE WARNING 'l2i: leads_default holds leads of %: partition % not made (a superuser can make it: '
            'l2i partitions ensure)', to_char(v_from AT TIME ZONE 'UTC', 'YYYY-MM'), v_name;
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name, p_table);
    IF p_table = 'leads' THEN
        SET LOCAL session_replication_role = replica;
    END IF;
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', v_default, v_key, v_from, v_key, v_to, v_name);
    IF p_table = 'leads' THEN
        SET LOCAL session_replication_role = origin;
    END IF;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', p_table, v_name, v_from, v_to);
    RETURN true;
END
$$;
COMMENT ON FUNCTION l2i_partition_create(text, timestamptz) IS
    'Makes <p_table>_YYYY_MM (leads or lead_events) for the UTC month of p_month if missing (moving that month''s rows out of the default partition); true if made.';

-- 0014's signature: the month's partitions of both tables; true if either was made now.
CREATE OR REPLACE FUNCTION l2i_partition_create(p_month timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_leads boolean := l2i_partition_create('leads', p_month);
    v_events boolean := l2i_partition_create('lead_events', p_month);
BEGIN
    RETURN v_leads OR v_events;
END
$$;
COMMENT ON FUNCTION l2i_partition_create(timestamptz) IS
    'Makes leads_YYYY_MM and lead_events_YYYY_MM for the UTC month of p_month where missing (moving that month''s rows out of the default partitions); true if either was made.';

-- The month partitions of both tables from the month of p_at to p_months_ahead months after it, made if missing.
-- Returns each partition (leads_YYYY_MM, then lead_events_YYYY_MM, month by month) with whether it was made now.
-- `l2i partitions ensure` runs it (daily: l2i-partitions.timer).
CREATE OR REPLACE FUNCTION l2i_partitions_ensure(p_months_ahead integer DEFAULT 3, p_at timestamptz DEFAULT now())
RETURNS TABLE (partition_name text, made boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_month timestamptz;
    v_table text;
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead < 0 OR p_months_ahead > 120 THEN
        RAISE EXCEPTION 'months ahead must be between 0 and 120, not %', p_months_ahead
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0 .. p_months_ahead LOOP
        v_month := p_at + make_interval(months => i);
        FOREACH v_table IN ARRAY ARRAY['leads', 'lead_events'] LOOP
            partition_name := v_table || '_' || to_char(v_month AT TIME ZONE 'UTC', 'YYYY_MM');
            made := l2i_partition_create(v_table, v_month);
            RETURN NEXT;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION l2i_partitions_ensure(integer, timestamptz) IS
    'Makes the month partitions of leads and lead_events from the month of p_at to p_months_ahead months after it (UTC); returns each with made.';

-- The partitions of leads and lead_events, oldest month first (each month: lead_events_YYYY_MM, leads_YYYY_MM):
-- bounds (UTC), rows (estimated from statistics), and whether the whole month is before p_before (what a
-- retention policy may drop). The default partitions come last, with no bounds.
CREATE OR REPLACE FUNCTION l2i_partitions(p_before timestamptz DEFAULT NULL)
RETURNS TABLE (partition_name text, starts_at timestamptz, ends_at timestamptz, estimated_rows bigint,
               before boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text AS partition_name,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS ends_at,
           greatest(c.reltuples, 0)::bigint,
           p_before IS NOT NULL
               AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
                   <= p_before
    FROM pg_inherits AS i
    JOIN pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent IN ('leads'::regclass, 'lead_events'::regclass)
    ORDER BY ends_at NULLS LAST, partition_name
$$;
COMMENT ON FUNCTION l2i_partitions(timestamptz) IS
    'The partitions of leads and lead_events with their UTC bounds, estimated rows and whether the whole month is before p_before.';

-- Drops one month partition of leads or lead_events whose whole month is before p_before (a guard against
-- dropping a live month). For leads, the rows pointing at its leads (dial_queue, lead_events, transfers,
-- call_attempts, lead_dedupe_keys) must be gone first (deleted or archived by the retention policy): the detach
-- refuses otherwise. Nothing points at lead_events.
CREATE OR REPLACE FUNCTION l2i_partition_drop(p_partition text, p_before timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM l2i_partitions(p_before) AS p
                   WHERE p.partition_name = p_partition AND p.before) THEN
        RAISE EXCEPTION '% is not a month partition of leads or lead_events wholly before %', p_partition, p_before
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I',
                   (SELECT i.inhparent::regclass::text FROM pg_inherits AS i
                    WHERE i.inhrelid = format('%I', p_partition)::regclass),
                   p_partition);
    EXECUTE format('DROP TABLE %I', p_partition);
END
$$;
COMMENT ON FUNCTION l2i_partition_drop(text, timestamptz) IS
    'Detaches and drops a month partition of leads or lead_events wholly before p_before (for leads, its referencing rows must be gone first).';

-- ---------------------------------------------------------------------------------------------------------------
-- lead_events, partitioned by at. The old table's key, index and identity sequence step aside (their names are
-- taken again below).
ALTER TABLE lead_events RENAME TO lead_events_unpartitioned;
ALTER TABLE lead_events_unpartitioned DROP CONSTRAINT lead_events_pkey;
DROP INDEX lead_events_lead_idx;
ALTER SEQUENCE lead_events_id_seq RENAME TO lead_events_unpartitioned_id_seq;

-- Same columns (and order), identity, defaults, CHECK constraint (its name) and column comments.
CREATE TABLE lead_events (LIKE lead_events_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
                          INCLUDING STORAGE INCLUDING IDENTITY)
    PARTITION BY RANGE (at);
COMMENT ON TABLE lead_events IS 'What happened to each lead after intake: claims, outcomes, holds, removal, requeues.';
CREATE TABLE lead_events_default PARTITION OF lead_events DEFAULT;
COMMENT ON TABLE lead_events_default IS
    'Lead events no month partition covers (l2i partitions ensure makes the months ahead); normally empty.';

-- The months of the existing events, and the months ahead, before the copy (nothing lands in the default).
SELECT l2i_partition_create('lead_events', m)
FROM (SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m
      FROM lead_events_unpartitioned) AS months;
SELECT l2i_partitions_ensure(3);

INSERT INTO lead_events OVERRIDING SYSTEM VALUE SELECT * FROM lead_events_unpartitioned;
SELECT setval(pg_get_serial_sequence('lead_events', 'id'), coalesce(max(id), 0) + 1, false)
FROM lead_events_unpartitioned;
DROP TABLE lead_events_unpartitioned;

-- Key, foreign key, index, trigger and grant, under their old names.
ALTER TABLE lead_events ADD CONSTRAINT lead_events_pkey PRIMARY KEY (id, at);
ALTER TABLE lead_events ADD CONSTRAINT lead_events_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at)
    REFERENCES leads (id, created_at) ON DELETE CASCADE ON UPDATE CASCADE;
-- GET /v1/leads/{id}: a lead's events in order, probed in each partition.
CREATE INDEX lead_events_lead_idx ON lead_events (lead_id, id);
CREATE TRIGGER lead_events_lead_created_at BEFORE INSERT ON lead_events
    FOR EACH ROW WHEN (NEW.lead_created_at IS NULL) EXECUTE FUNCTION l2i_lead_created_at_fill();
DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON lead_events TO %I', l2i_analyst_role());
END
$$;
