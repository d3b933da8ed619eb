-- 0003_dialing: the dialing side. The lead state machine, leases on the dial queue, the event history,
-- transfers, per-account dialing settings, the `dial` key scope and the National Do-Not-Call Registry.
--
-- Applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. Existing leads keep their
-- status (new or ineligible); existing queue rows keep their place (priority 0, no lease, no expiry).
--
-- The lead state machine (statuses: leads_status_check; moves: l2i_lead_transition_allowed, enforced on every
-- UPDATE by the trigger leads_status_transition):
--
--   new --claim--> dialing --no_answer/busy/voicemail, lease ran out--> new (back-off) or unreached (max attempts)
--   dialing --outcome--> qualified | transferred | not_interested | not_qualified | wrong_number | opted_out
--   new --number suppressed, DNC-listed or consent too old at claim time--> ineligible
--   new | dialing --expires_at passed (not during a call)--> expired
--   new | ineligible --remove--> removed (for good);   unreached | expired --requeue--> new
--
-- Closed statuses (no further calls unless requeued) carry closed_at: leads_closed_check.

-- ---------------------------------------------------------------------------------------------------------------
-- API keys may carry the `dial` scope: claiming work and reporting outcomes.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['write', 'read', 'dial']::text[]);

-- ---------------------------------------------------------------------------------------------------------------
-- Per-account dialing settings (psql: UPDATE accounts SET ... WHERE id = ...; DNC: `l2i account dnc`).
ALTER TABLE accounts
    ADD COLUMN dnc_connected boolean NOT NULL DEFAULT false,
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 3,
    ADD COLUMN retry_backoff_s integer NOT NULL DEFAULT 1800,
    ADD COLUMN consent_max_age_days integer,
    ADD CONSTRAINT accounts_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 50),
    ADD CONSTRAINT accounts_retry_backoff_s_check CHECK (retry_backoff_s BETWEEN 1 AND 604800),
    ADD CONSTRAINT accounts_consent_max_age_days_check CHECK (consent_max_age_days > 0);
COMMENT ON COLUMN accounts.dnc_connected IS
    'The account checks the National Do-Not-Call Registry (dnc_numbers): at intake and at claim time.';
COMMENT ON COLUMN accounts.max_attempts IS 'Claims of one lead before no_answer/busy/voicemail make it unreached.';
COMMENT ON COLUMN accounts.retry_backoff_s IS
    'Wait before a retry: retry_backoff_s * 2^(attempts - 1), at most one day, then the next legal call time.';
COMMENT ON COLUMN accounts.consent_max_age_days IS
    'A lead whose consent_timestamp is older than this is held at claim time (consent_expired). NULL: no limit.';

-- ---------------------------------------------------------------------------------------------------------------
-- Leads: the whole state machine.
ALTER TABLE leads
    ADD COLUMN priority smallint NOT NULL DEFAULT 0,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN closed_at timestamptz,
    DROP CONSTRAINT leads_status_check,
    ADD CONSTRAINT leads_status_check CHECK (status IN (
        'new', 'ineligible', 'dialing', 'qualified', 'transferred', 'not_interested', 'not_qualified',
        'unreached', 'wrong_number', 'opted_out', 'expired', 'removed')),
    ADD CONSTRAINT leads_closed_check CHECK ((status IN (
        'qualified', 'transferred', 'not_interested', 'not_qualified', 'unreached', 'wrong_number', 'opted_out',
        'expired', 'removed')) = (closed_at IS NOT NULL)),
    ADD CONSTRAINT leads_attempts_check CHECK (attempts >= 0 AND (status <> 'dialing' OR attempts > 0)),
    ADD CONSTRAINT leads_priority_check CHECK (priority BETWEEN 0 AND 9);
COMMENT ON COLUMN leads.status IS
    'new = queued for a call; ineligible = held (see reasons); dialing = claimed by a dialer (leased); '
    'qualified, transferred, not_interested, not_qualified, wrong_number, opted_out = call outcomes; '
    'unreached = max attempts used; expired = expires_at passed; removed = taken off by the seller.';
COMMENT ON COLUMN leads.reasons IS
    'Why the lead is held: suppressed, missing_consent, invalid_consent, not_us_number, no_calling_window, dnc, '
    'dnc_unavailable, consent_expired.';
COMMENT ON COLUMN leads.priority IS 'Queue priority 0-9: higher is called first.';
COMMENT ON COLUMN leads.expires_at IS 'When an unreached lead stops being worth a call (intake expires_in).';
COMMENT ON COLUMN leads.attempts IS 'Claims since the lead was last (re)queued; each claim is a call attempt.';
COMMENT ON COLUMN leads.closed_at IS 'When the lead reached a closed status; NULL while it is open.';

-- The moves of the state machine. A function (not a table) so that it cannot drift from this migration.
CREATE FUNCTION l2i_lead_transition_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_from, p_to) IN (
        ('new', 'dialing'), ('new', 'ineligible'), ('new', 'removed'), ('new', 'expired'),
        ('dialing', 'new'), ('dialing', 'unreached'), ('dialing', 'expired'), ('dialing', 'qualified'),
        ('dialing', 'transferred'), ('dialing', 'not_interested'), ('dialing', 'not_qualified'),
        ('dialing', 'wrong_number'), ('dialing', 'opted_out'),
        ('ineligible', 'removed'),
        ('unreached', 'new'), ('expired', 'new'))
$$;
COMMENT ON FUNCTION l2i_lead_transition_allowed(text, text) IS
    'The lead state machine: true iff a lead may move from status p_from to status p_to.';

CREATE FUNCTION l2i_leads_status_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT l2i_lead_transition_allowed(OLD.status, NEW.status) THEN
        RAISE EXCEPTION 'a lead cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'leads_status_transition', TABLE = 'leads';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER leads_status_transition BEFORE UPDATE OF status ON leads
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION l2i_leads_status_guard();

-- ---------------------------------------------------------------------------------------------------------------
-- The dial queue keeps a lead's row while it is new or dialing; a claim leases the row instead of deleting it.
ALTER TABLE dial_queue
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN leased_until timestamptz,
    ADD COLUMN lease_id uuid,
    ADD CONSTRAINT dial_queue_lease_check CHECK ((leased_until IS NULL) = (lease_id IS NULL)),
    ADD CONSTRAINT dial_queue_priority_check CHECK (priority BETWEEN 0 AND 9);
DROP INDEX dial_queue_claim_idx;
-- The claim (dial_claim in sql/queries/dialing.sql): one account's unleased rows in claim order.
CREATE INDEX dial_queue_claim_idx ON dial_queue (account_id, priority DESC, not_before, enqueued_at)
    WHERE leased_until IS NULL;
-- dial_reap: leases that ran out, and leads past their expires_at.
CREATE INDEX dial_queue_lease_idx ON dial_queue (account_id, leased_until) WHERE leased_until IS NOT NULL;
CREATE INDEX dial_queue_expires_idx ON dial_queue (account_id, expires_at) WHERE expires_at IS NOT NULL;
-- Suppressing or opting out a number pulls that number's queued leads.
CREATE INDEX dial_queue_account_phone_idx ON dial_queue (account_id, phone);
COMMENT ON TABLE dial_queue IS
    'Leads that are new (waiting, leased_until NULL) or dialing (leased); not_before is the earliest legal '
    'call time when the row was (re)queued. Claim order: priority (higher first), not_before, enqueued_at.';
COMMENT ON COLUMN dial_queue.leased_until IS 'While dialing: when the lease runs out and the lead goes back.';
COMMENT ON COLUMN dial_queue.lease_id IS 'While dialing: the claim_id handed to the dialer with the lead.';

-- ---------------------------------------------------------------------------------------------------------------
-- Event history: every move of a lead after intake, with its time (GET /v1/leads/{id} shows it).
CREATE TABLE lead_events (
    id           bigint      GENERATED ALWAYS AS IDENTITY,
    lead_id      uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    type         text        NOT NULL,
    from_status  text,
    to_status    text,
    at           timestamptz NOT NULL DEFAULT now(),
    api_key_id   uuid,
    detail       jsonb       NOT NULL DEFAULT '{}',
    CONSTRAINT lead_events_pkey PRIMARY KEY (id),
    CONSTRAINT lead_events_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id) ON DELETE CASCADE,
    CONSTRAINT lead_events_type_check CHECK (type IN (
        'claimed', 'lease_expired', 'no_answer', 'busy', 'voicemail', 'not_interested', 'not_qualified',
        'wrong_number', 'qualified', 'transferred', 'opted_out', 'removed', 'requeued', 'expired', 'suppressed',
        'dnc', 'consent_expired'))
);
CREATE INDEX lead_events_lead_idx ON lead_events (lead_id, id);
COMMENT ON TABLE lead_events IS 'What happened to each lead after intake: claims, outcomes, holds, removal, requeues.';
COMMENT ON COLUMN lead_events.type IS 'The outcome reported, or claimed, lease_expired, removed, requeued, expired, '
    'suppressed, dnc, consent_expired.';

-- ---------------------------------------------------------------------------------------------------------------
-- Transfers: one per transferred lead, the record later postbacks attach revenue to.
CREATE TABLE transfers (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    lead_id         uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    destination     text        NOT NULL,
    caller_id       text        NOT NULL,
    transferred_at  timestamptz NOT NULL,
    call_id         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT transfers_pkey PRIMARY KEY (id),
    CONSTRAINT transfers_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id),
    CONSTRAINT transfers_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT transfers_lead_id_key UNIQUE (lead_id),
    CONSTRAINT transfers_caller_id_check CHECK (caller_id ~ '^\+[1-9][0-9]{7,14}$'),
    CONSTRAINT transfers_destination_check CHECK (length(destination) BETWEEN 1 AND 255),
    CONSTRAINT transfers_call_id_check CHECK (length(call_id) BETWEEN 1 AND 200)
);
-- A call id names one call: a second transfer with it is refused (and postbacks find the transfer by it).
CREATE UNIQUE INDEX transfers_account_call_id_key ON transfers (account_id, call_id) WHERE call_id IS NOT NULL;
CREATE INDEX transfers_account_transferred_idx ON transfers (account_id, transferred_at);
COMMENT ON TABLE transfers IS 'Live transfers: the lead, where the call went, the caller id dialed out with.';
COMMENT ON COLUMN transfers.destination IS 'Where the call was transferred: an E.164 number or a sip: URI.';
COMMENT ON COLUMN transfers.caller_id IS 'The caller id (E.164) the call was dialed out with.';

-- ---------------------------------------------------------------------------------------------------------------
-- Suppressing a number now also pulls the account's queued (not in-call) leads with that number: they become
-- ineligible with reason `suppressed`. Same signature and result as before.
CREATE OR REPLACE FUNCTION l2i_suppress(p_account_id uuid, p_phones text[], p_reason text DEFAULT NULL)
RETURNS TABLE (phone text, added boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT p INTO v_bad FROM unnest(p_phones) AS p WHERE l2i_e164(p) IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'not a phone number: %', v_bad USING ERRCODE = '22023';
    END IF;
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         pulled AS (DELETE FROM dial_queue AS q USING wanted AS w
                    WHERE q.account_id = p_account_id AND q.phone = w.e164 AND q.leased_until IS NULL
                    RETURNING q.lead_id),
         held AS (UPDATE leads AS l SET status = 'ineligible', reasons = ARRAY['suppressed'], updated_at = now()
                  FROM pulled WHERE l.id = pulled.lead_id AND l.status = 'new'
                  RETURNING l.id, l.account_id)
    INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, detail)
    SELECT held.id, held.account_id, 'suppressed', 'new', 'ineligible',
           jsonb_strip_nulls(jsonb_build_object('reason', p_reason))
    FROM held;
    RETURN QUERY
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS phone FROM unnest(p_phones) AS p),
         ins AS (INSERT INTO suppressions AS s (account_id, phone, reason)
                 SELECT p_account_id, w.phone, p_reason FROM wanted AS w
                 ON CONFLICT ON CONSTRAINT suppressions_pkey DO NOTHING
                 RETURNING s.phone)
    SELECT w.phone, ins.phone IS NOT NULL FROM wanted AS w LEFT JOIN ins ON ins.phone = w.phone ORDER BY 1;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- National Do-Not-Call Registry, loaded from the registry's files by `l2i dnc load` (sql/admin/dnc_load.sql).
-- 16 CFR 310.4(b)(3)(iv): a seller must use a version of the registry obtained at most 31 days before a call.
-- Numbers are kept as 10-digit bigints (area code first): a full registry has hundreds of millions of them.
CREATE TABLE dnc_numbers (
    phone  bigint NOT NULL,
    CONSTRAINT dnc_numbers_pkey PRIMARY KEY (phone),
    CONSTRAINT dnc_numbers_phone_check CHECK (phone BETWEEN 2000000000 AND 9999999999)
);
COMMENT ON TABLE dnc_numbers IS 'Numbers on the National Do-Not-Call Registry: 10 digits, area code first.';

-- The area codes the registry data covers, and how fresh each is. A number whose area code is not here, or whose
-- data is older than 31 days, cannot be answered for: connected accounts hold such leads (fail closed).
CREATE TABLE dnc_areas (
    area            smallint    NOT NULL,
    full_loaded_at  timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT dnc_areas_pkey PRIMARY KEY (area),
    CONSTRAINT dnc_areas_area_check CHECK (area BETWEEN 200 AND 999)
);
COMMENT ON TABLE dnc_areas IS 'Area codes loaded from a full registry file; updated_at = last full or change file.';

CREATE TABLE dnc_loads (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    kind        text        NOT NULL,
    lines       bigint      NOT NULL,
    rejected    bigint      NOT NULL,
    added       bigint      NOT NULL,
    removed     bigint      NOT NULL,
    areas       integer     NOT NULL,
    held_leads  bigint      NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dnc_loads_pkey PRIMARY KEY (id),
    CONSTRAINT dnc_loads_kind_check CHECK (kind IN ('full', 'add', 'delete'))
);
COMMENT ON TABLE dnc_loads IS 'One row per `l2i dnc load`: what the files held and what changed.';

-- Whether a number (E.164) is on the registry as of p_at: true or false, or NULL when the data cannot answer
-- (not a NANP number, area code never loaded, or data older than 31 days). NULL must hold the lead.
CREATE FUNCTION l2i_dnc_listed(p_phone text, p_at timestamptz) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a.area IS NULL OR NOT coalesce(a.updated_at > p_at - interval '31 days', false) THEN NULL
                ELSE EXISTS (SELECT 1 FROM dnc_numbers AS d WHERE d.phone = n.number) END
    FROM (SELECT CASE WHEN p_phone ~ '^\+1[2-9][0-9]{9}$' THEN substr(p_phone, 3)::bigint END AS number) AS n
    LEFT JOIN dnc_areas AS a ON a.area = n.number / 10000000
$$;
COMMENT ON FUNCTION l2i_dnc_listed(text, timestamptz) IS
    'True/false: the number is/is not on the Do-Not-Call Registry; NULL: the loaded data cannot answer.';

-- Merges the numbers in the temporary table dnc_staging (raw text, one line each, filled by COPY) into
-- dnc_numbers, set-based. p_kind: 'full' = the files are the whole list for every area code they contain
-- (numbers of those area codes not in the files are removed); 'add' / 'delete' = a change file. A change file
-- refreshes every area code already loaded. Then every queued lead of a DNC-connected account whose number is
-- now listed is held (reason dnc). Returns the dnc_loads row.
CREATE FUNCTION l2i_dnc_merge(p_kind text) RETURNS SETOF dnc_loads
LANGUAGE plpgsql AS $$
DECLARE
    v_lines bigint;
    v_rejected bigint;
    v_added bigint := 0;
    v_removed bigint := 0;
    v_areas integer := 0;
    v_held bigint;
BEGIN
    IF p_kind IS NULL OR p_kind NOT IN ('full', 'add', 'delete') THEN
        RAISE EXCEPTION 'kind must be full, add or delete, not %', p_kind USING ERRCODE = '22023';
    END IF;
    DROP TABLE IF EXISTS pg_temp.dnc_parsed;
    CREATE TEMP TABLE dnc_parsed ON COMMIT DROP AS
        SELECT DISTINCT n.digits::bigint AS phone
        FROM (SELECT CASE WHEN d ~ '^1[2-9][0-9]{9}$' THEN substr(d, 2) ELSE d END AS digits
              FROM (SELECT regexp_replace(raw, '[^0-9]', '', 'g') AS d FROM dnc_staging) AS s) AS n
        WHERE n.digits ~ '^[2-9][0-9]{9}$';
    CREATE UNIQUE INDEX ON dnc_parsed (phone);
    ANALYZE dnc_parsed;
    SELECT count(*) FILTER (WHERE btrim(raw) <> ''),
           count(*) FILTER (WHERE btrim(raw) <> ''
                              AND regexp_replace(regexp_replace(raw, '[^0-9]', '', 'g'), '^1(\d{10})$', '\1')
                                  !~ '^[2-9][0-9]{9}$')
    INTO v_lines, v_rejected FROM dnc_staging;

    IF p_kind = 'delete' THEN
        DELETE FROM dnc_numbers AS d USING dnc_parsed AS p WHERE d.phone = p.phone;
        GET DIAGNOSTICS v_removed = ROW_COUNT;
    ELSE
        IF p_kind = 'full' THEN
            DELETE FROM dnc_numbers AS d
            USING (SELECT DISTINCT phone / 10000000 AS area FROM dnc_parsed) AS a
            WHERE d.phone BETWEEN a.area * 10000000 AND a.area * 10000000 + 9999999
              AND NOT EXISTS (SELECT 1 FROM dnc_parsed AS p WHERE p.phone = d.phone);
            GET DIAGNOSTICS v_removed = ROW_COUNT;
            INSERT INTO dnc_areas AS a (area, full_loaded_at, updated_at)
            SELECT DISTINCT phone / 10000000, now(), now() FROM dnc_parsed
            ON CONFLICT ON CONSTRAINT dnc_areas_pkey DO UPDATE SET full_loaded_at = now(), updated_at = now();
            GET DIAGNOSTICS v_areas = ROW_COUNT;
        END IF;
        INSERT INTO dnc_numbers (phone) SELECT phone FROM dnc_parsed ORDER BY phone
        ON CONFLICT ON CONSTRAINT dnc_numbers_pkey DO NOTHING;
        GET DIAGNOSTICS v_added = ROW_COUNT;
    END IF;
    IF p_kind <> 'full' THEN
        UPDATE dnc_areas SET updated_at = now();
        GET DIAGNOSTICS v_areas = ROW_COUNT;
    END IF;

    WITH listed AS (
             SELECT q.lead_id FROM dial_queue AS q
             JOIN accounts AS a ON a.id = q.account_id AND a.dnc_connected
             JOIN dnc_parsed AS p ON p.phone = CASE WHEN q.phone ~ '^\+1[2-9][0-9]{9}$'
                                                     THEN substr(q.phone, 3)::bigint END
             WHERE p_kind <> 'delete' AND q.leased_until IS NULL
             FOR UPDATE OF q SKIP LOCKED),
         pulled AS (DELETE FROM dial_queue AS q USING listed WHERE q.lead_id = listed.lead_id RETURNING q.lead_id),
         held AS (UPDATE leads AS l SET status = 'ineligible', reasons = ARRAY['dnc'], updated_at = now()
                  FROM pulled WHERE l.id = pulled.lead_id AND l.status = 'new'
                  RETURNING l.id, l.account_id)
    INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status)
    SELECT held.id, held.account_id, 'dnc', 'new', 'ineligible' FROM held;
    GET DIAGNOSTICS v_held = ROW_COUNT;

    RETURN QUERY
    INSERT INTO dnc_loads (kind, lines, rejected, added, removed, areas, held_leads)
    VALUES (p_kind, v_lines, v_rejected, v_added, v_removed, v_areas, v_held)
    RETURNING *;
END
$$;
COMMENT ON FUNCTION l2i_dnc_merge(text) IS
    'Merges the temporary table dnc_staging (raw lines from the registry files) into dnc_numbers; see 0003.';
