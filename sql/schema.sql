-- l2i: the canonical schema, the whole of it in one place, for readers.
--
-- The migrations in sql/migrations/ are what databases are built from; tests/test_migrations.py requires that
-- pg_dump --schema-only of this file and of all migrations are identical. When you add a migration, change
-- this file to match. Seed data (calling rules, holidays) lives in the migrations only.
-- schema_migrations itself is created by `l2i migrate`.

-- ---------------------------------------------------------------------------------------------------------------
-- Accounts: every lead, key and suppressed number belongs to exactly one.
CREATE TABLE accounts (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    dnc_connected         boolean NOT NULL DEFAULT false,
    max_attempts          integer NOT NULL DEFAULT 3,
    retry_backoff_s       integer NOT NULL DEFAULT 1800,
    consent_max_age_days  integer,
    retention_days        integer NOT NULL DEFAULT 1461,
    retention_done_before timestamptz,
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT accounts_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 50),
    CONSTRAINT accounts_retry_backoff_s_check CHECK (retry_backoff_s BETWEEN 1 AND 604800),
    CONSTRAINT accounts_consent_max_age_days_check CHECK (consent_max_age_days > 0),
    CONSTRAINT accounts_retention_days_check CHECK (retention_days BETWEEN 1 AND 36525)
);
COMMENT ON TABLE accounts IS 'A customer of l2i: owns API keys, leads and a suppression list.';
COMMENT ON COLUMN accounts.dnc_connected IS
    'The account checks the National Do-Not-Call Registry (dnc_numbers): at intake and at claim time.';
COMMENT ON COLUMN accounts.max_attempts IS 'Claims of one lead before no_answer/busy/voicemail make it unreached.';
COMMENT ON COLUMN accounts.retry_backoff_s IS
    'Wait before a retry: retry_backoff_s * 2^(attempts - 1), at most one day, then the next legal call time.';
COMMENT ON COLUMN accounts.consent_max_age_days IS
    'A lead whose consent_timestamp is older than this is held at claim time (consent_expired). NULL: no limit.';
COMMENT ON COLUMN accounts.retention_days IS
    'Days a lead''s personal data is kept (default 1461: the TCPA''s 4-year limitation); then l2i retention apply '
    'anonymizes it. Consent evidence is kept 4 years after the last call whatever this says.';
COMMENT ON COLUMN accounts.retention_done_before IS
    'Every lead of the account created before this was anonymized by l2i retention apply (where its next run starts).';


-- ---------------------------------------------------------------------------------------------------------------
-- API keys. The key itself (l2i_ + 64 hex digits) is shown once, by l2i_key_create(); only its SHA-256 is kept.
CREATE TABLE api_keys (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id    uuid        NOT NULL,
    label         text,
    prefix        text        NOT NULL,
    key_hash      bytea       NOT NULL,
    scopes        text[]      NOT NULL,
    rate_limit    integer     NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    default_campaign_id uuid,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_scopes_check CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['write', 'read', 'dial', 'admin', 'suppressions']::text[]),
    CONSTRAINT api_keys_rate_limit_check CHECK (rate_limit BETWEEN 1 AND 1000000)
);
CREATE INDEX api_keys_account_id_idx ON api_keys (account_id);
COMMENT ON TABLE api_keys IS 'API keys: scopes and per-minute limit; key_hash is sha256 of the key, which is never stored.';
COMMENT ON COLUMN api_keys.prefix IS 'First 12 characters of the key (l2i_ + 8 hex): safe to show and log, enough to recognise it.';
COMMENT ON COLUMN api_keys.last_used_at IS 'Set at the first request of each one-minute window (see rate_limit_windows for the latest).';

-- Fixed one-minute windows, one row per key, counted by one upsert (sql/queries/api_keys.sql, key_hit).
-- UNLOGGED: a counter needs no WAL and no fsync; after a crash the table is empty, which resets every window.
CREATE UNLOGGED TABLE rate_limit_windows (
    api_key_id    uuid        NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL,
    CONSTRAINT rate_limit_windows_pkey PRIMARY KEY (api_key_id)
);
COMMENT ON TABLE rate_limit_windows IS 'Requests counted in the current one-minute window of each API key (unlogged).';

-- ---------------------------------------------------------------------------------------------------------------
-- E.164 form of a phone number for operators working in psql: accepts E.164, 10 digits or 1 + 10 digits in any
-- punctuation; returns NULL for anything else (letters included). The service itself normalizes with the
-- phonenumbers library and always hands E.164 to SQL, which this function returns unchanged.
CREATE FUNCTION l2i_e164(p_phone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN p_phone ~ '[A-Za-z]' THEN NULL
        WHEN d.plus AND d.digits ~ '^[1-9][0-9]{7,14}$' THEN '+' || d.digits
        WHEN NOT d.plus AND d.digits ~ '^[2-9][0-9]{9}$' THEN '+1' || d.digits
        WHEN NOT d.plus AND d.digits ~ '^1[2-9][0-9]{9}$' THEN '+' || d.digits
    END
    FROM (SELECT btrim(p_phone) LIKE '+%' AS plus, regexp_replace(p_phone, '[^0-9]', '', 'g') AS digits) AS d
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Suppression list: numbers an account must never call. Checked at intake (reason `suppressed`).
CREATE TABLE suppressions (
    account_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT suppressions_pkey PRIMARY KEY (account_id, phone),
    CONSTRAINT suppressions_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT suppressions_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$')
);
COMMENT ON TABLE suppressions IS 'Per-account do-not-call list, E.164 numbers.';

-- ---------------------------------------------------------------------------------------------------------------
-- Leads: every lead that was not a duplicate, queued or held. `reasons` says why a lead is held;
-- `gates` records what each intake gate decided (phone, suppression, consent, calling window).
-- Partitioned by UTC month of created_at (0014): leads_YYYY_MM, made ahead by l2i_partitions_ensure (`l2i
-- partitions ensure`, daily), and leads_default for any row no month covers, so an insert never fails. The tables
-- pointing at a lead carry its created_at (lead_created_at) so that a lookup by id touches one partition.
CREATE TABLE leads (
    id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id         uuid        NOT NULL,
    api_key_id         uuid,
    phone              text,
    status             text        NOT NULL,
    reasons            text[]      NOT NULL DEFAULT '{}',
    source             text,
    first_name         text,
    last_name          text,
    email              text,
    state              text,
    zip                text,
    city               text,
    address1           text,
    address2           text,
    external_id        text,
    consent            jsonb,
    sub_id             text,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_term           text,
    utm_content        text,
    referrer           text,
    landing_page       text,
    custom             jsonb       NOT NULL DEFAULT '{}',
    extra              jsonb       NOT NULL DEFAULT '{}',
    gates              jsonb       NOT NULL DEFAULT '{}',
    dedupe_open        boolean     NOT NULL DEFAULT true,
    duplicate_count    integer     NOT NULL DEFAULT 0,
    last_duplicate_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    priority           smallint    NOT NULL DEFAULT 0,
    expires_at         timestamptz,
    attempts           integer     NOT NULL DEFAULT 0,
    closed_at          timestamptz,
    source_id          uuid,
    campaign_id        uuid,
    cost_cents         bigint,
    anonymized_at      timestamptz,
    CONSTRAINT leads_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT leads_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT leads_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id),
    CONSTRAINT leads_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    CONSTRAINT leads_status_check CHECK (status IN (
        'new', 'ineligible', 'dialing', 'qualified', 'transferred', 'not_interested', 'not_qualified',
        'unreached', 'wrong_number', 'opted_out', 'expired', 'removed')),
    CONSTRAINT leads_closed_check CHECK ((status IN (
        'qualified', 'transferred', 'not_interested', 'not_qualified', 'unreached', 'wrong_number', 'opted_out',
        'expired', 'removed')) = (closed_at IS NOT NULL)),
    CONSTRAINT leads_attempts_check CHECK (attempts >= 0 AND (status <> 'dialing' OR attempts > 0)),
    CONSTRAINT leads_priority_check CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT leads_reasons_check CHECK ((status = 'ineligible') = (cardinality(reasons) > 0)),
    CONSTRAINT leads_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT leads_anonymized_check CHECK ((phone IS NULL) = (anonymized_at IS NOT NULL))
) PARTITION BY RANGE (created_at);
CREATE TABLE leads_default PARTITION OF leads DEFAULT;
COMMENT ON TABLE leads_default IS
    'Leads no month partition covers (l2i partitions ensure makes the months ahead); normally empty.';
-- The 30-day dedupe lives in lead_dedupe_keys (below: a unique index of a partitioned table must include
-- created_at). GET /v1/leads (newest first: scanned backwards, keyset on (created_at, id)) and GET /v1/stats
-- (index-only: the INCLUDE columns are what stats_by_group reads).
CREATE INDEX leads_account_created_idx ON leads (account_id, created_at, id)
    INCLUDE (status, source, sub_id, duplicate_count, attempts, reasons, campaign_id, cost_cents);
COMMENT ON TABLE leads IS 'Every stored lead (duplicates are not stored: they bump duplicate_count of the lead they repeat).';
COMMENT ON COLUMN leads.extra IS 'Fields the sender sent that l2i does not know, kept as sent.';
COMMENT ON COLUMN leads.gates IS 'What each intake gate decided: phone, suppression, consent, calling_window.';
COMMENT ON COLUMN leads.dedupe_open IS
    'True while this lead is its number''s open lead (lead_dedupe_keys): a post of the number within 30 days is its duplicate.';
COMMENT ON COLUMN leads.status IS
    'new = queued for a call; ineligible = held (see reasons); dialing = claimed by a dialer (leased); '
    'qualified, transferred, not_interested, not_qualified, wrong_number, opted_out = call outcomes; '
    'unreached = max attempts used; expired = expires_at passed; removed = taken off by the seller.';
COMMENT ON COLUMN leads.reasons IS
    'Why the lead is held: suppressed, missing_consent, invalid_consent, not_us_number, no_calling_window, dnc, '
    'dnc_unavailable, consent_expired, do_not_call (a CSV row whose do-not-call column said so), state_not_served, '
    'campaign_cap.';
COMMENT ON COLUMN leads.priority IS 'Queue priority 0-9: higher is called first.';
COMMENT ON COLUMN leads.expires_at IS 'When an unreached lead stops being worth a call (intake expires_in).';
COMMENT ON COLUMN leads.attempts IS 'Claims since the lead was last (re)queued; each claim is a call attempt.';
COMMENT ON COLUMN leads.closed_at IS 'When the lead reached a closed status; NULL while it is open.';
COMMENT ON COLUMN leads.anonymized_at IS
    'When retention or an erasure removed the lead''s personal data (phone NULL from then on); NULL: it has it.';

-- The moves of the state machine. A function (not a table) so that it cannot drift from this migration.
CREATE FUNCTION l2i_lead_transition_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_from, p_to) IN (
        ('new', 'dialing'), ('new', 'ineligible'), ('new', 'removed'), ('new', 'expired'),
        ('dialing', 'new'), ('dialing', 'unreached'), ('dialing', 'expired'), ('dialing', 'qualified'),
        ('dialing', 'transferred'), ('dialing', 'not_interested'), ('dialing', 'not_qualified'),
        ('dialing', 'wrong_number'), ('dialing', 'opted_out'),
        ('ineligible', 'removed'), ('ineligible', 'new'),
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
-- The dial queue: eligible leads waiting for a call. Dialers claim from it with FOR UPDATE SKIP LOCKED.
CREATE TABLE dial_queue (
    lead_id      uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    phone        text        NOT NULL,
    zones        text[]      NOT NULL,
    priority     smallint    NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    leased_until timestamptz,
    lease_id     uuid,
    states       text[]      NOT NULL DEFAULT '{}',
    campaign_id  uuid,
    campaign_priority smallint NOT NULL DEFAULT 0,
    lead_created_at timestamptz NOT NULL,
    CONSTRAINT dial_queue_pkey PRIMARY KEY (lead_id),
    CONSTRAINT dial_queue_zones_check CHECK (cardinality(zones) > 0),
    CONSTRAINT dial_queue_lease_check CHECK ((leased_until IS NULL) = (lease_id IS NULL)),
    CONSTRAINT dial_queue_priority_check CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT dial_queue_campaign_priority_check CHECK (campaign_priority BETWEEN 0 AND 9)
);
-- The claim (dial_claim in sql/queries/dialing.sql), in claim order: for all of an account's campaigns, and for
-- chosen ones.
CREATE INDEX dial_queue_claim_idx ON dial_queue (account_id, campaign_priority DESC, priority DESC, not_before,
                                                 enqueued_at)
    WHERE leased_until IS NULL;
CREATE INDEX dial_queue_campaign_claim_idx ON dial_queue (account_id, campaign_id, campaign_priority DESC,
                                                          priority DESC, not_before, enqueued_at)
    WHERE leased_until IS NULL;
-- dial_reap: leases that ran out, and leads past their expires_at.
CREATE INDEX dial_queue_lease_idx ON dial_queue (account_id, leased_until) WHERE leased_until IS NOT NULL;
CREATE INDEX dial_queue_expires_idx ON dial_queue (account_id, expires_at) WHERE expires_at IS NOT NULL;
-- Suppressing or opting out a number pulls that number's queued leads.
CREATE INDEX dial_queue_account_phone_idx ON dial_queue (account_id, phone);
COMMENT ON COLUMN dial_queue.zones IS 'Every time zone the lead may be in: a call must be legal in all of them.';
COMMENT ON TABLE dial_queue IS
    'Leads that are new (waiting, leased_until NULL) or dialing (leased); not_before is the earliest legal '
    'call time when the row was (re)queued. Claim order: campaign_priority, priority (higher first), not_before, '
    'enqueued_at.';
COMMENT ON COLUMN dial_queue.campaign_priority IS 'The campaign''s priority (kept in step by l2i_campaign_update).';
COMMENT ON COLUMN dial_queue.leased_until IS 'While dialing: when the lease runs out and the lead goes back.';
COMMENT ON COLUMN dial_queue.lease_id IS 'While dialing: the claim_id handed to the dialer with the lead.';
COMMENT ON COLUMN dial_queue.states IS
    'Every state whose calling rules apply to the lead (its address state and its area code''s state).';

-- Event history: every move of a lead after intake, with its time (GET /v1/leads/{id} shows it). Partitioned by
-- UTC month of at (0015): lead_events_YYYY_MM, made with leads' months by l2i_partitions_ensure, and
-- lead_events_default for any row no month covers.
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
    lead_created_at timestamptz NOT NULL,
    CONSTRAINT lead_events_pkey PRIMARY KEY (id, at),
    CONSTRAINT lead_events_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at) REFERENCES leads (id, created_at)
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT lead_events_type_check CHECK (type IN (
        'claimed', 'lease_expired', 'no_answer', 'busy', 'voicemail', 'not_interested', 'not_qualified',
        'wrong_number', 'qualified', 'transferred', 'opted_out', 'removed', 'requeued', 'expired', 'suppressed',
        'dnc', 'consent_expired', 'deferred', 'released'))
) PARTITION BY RANGE (at);
CREATE TABLE lead_events_default PARTITION OF lead_events DEFAULT;
COMMENT ON TABLE lead_events_default IS
    'Lead events no month partition covers (l2i partitions ensure makes the months ahead); normally empty.';
-- GET /v1/leads/{id}: a lead's events in order, probed in each partition.
CREATE INDEX lead_events_lead_idx ON lead_events (lead_id, id);
COMMENT ON TABLE lead_events IS 'What happened to each lead after intake: claims, outcomes, holds, removal, requeues.';
COMMENT ON COLUMN lead_events.type IS 'The outcome reported, or claimed, lease_expired, removed, requeued, expired, '
    'suppressed, dnc, consent_expired, deferred (an attempt cap moved the next call), released (from '
    'campaign_cap).';

-- ---------------------------------------------------------------------------------------------------------------
-- Transfers: one per transferred lead, the record later postbacks attach revenue to.
CREATE TABLE transfers (
    id              uuid        NOT NULL DEFAULT gen_random_uuid(),
    lead_id         uuid        NOT NULL,
    account_id      uuid        NOT NULL,
    destination     text        NOT NULL,
    caller_id       text,
    transferred_at  timestamptz NOT NULL,
    call_id         text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    payout_cents    bigint,
    buyer           text,
    duration_s      integer,
    paid_at         timestamptz,
    lead_created_at timestamptz NOT NULL,
    CONSTRAINT transfers_pkey PRIMARY KEY (id),
    CONSTRAINT transfers_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at) REFERENCES leads (id, created_at)
        ON UPDATE CASCADE,
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

-- ---------------------------------------------------------------------------------------------------------------
-- Operator functions, used by the CLI and by the psql scripts in sql/admin/ alike.

CREATE FUNCTION l2i_account_create(p_name text) RETURNS uuid
LANGUAGE sql AS $$
    INSERT INTO accounts (name) VALUES (btrim(p_name)) RETURNING id
$$;

-- Creates a key and returns it: the only time it is ever seen. Default limit: 120 requests a minute.
CREATE FUNCTION l2i_key_create(p_account_id uuid, p_scopes text[], p_rate_limit integer DEFAULT NULL,
                               p_label text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := 'l2i_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO api_keys (account_id, label, prefix, key_hash, scopes, rate_limit)
    VALUES (p_account_id, p_label, left(v_key, 12), sha256(convert_to(v_key, 'UTF8')),
            (SELECT array_agg(DISTINCT btrim(s) ORDER BY btrim(s)) FROM unnest(p_scopes) AS s),
            coalesce(p_rate_limit, 120));
    RETURN v_key;
END
$$;

-- Revokes a key given its id or the key itself; returns the key's row (no secret), or nothing if unknown.
-- Revoking twice keeps the first revocation time.
CREATE FUNCTION l2i_key_revoke(p_key text) RETURNS TABLE (id uuid, prefix text, revoked_at timestamptz)
LANGUAGE sql AS $$
    UPDATE api_keys AS k SET revoked_at = coalesce(k.revoked_at, now())
    WHERE CASE WHEN p_key LIKE 'l2i\_%' THEN k.key_hash = sha256(convert_to(p_key, 'UTF8'))
               WHEN p_key ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN k.id = p_key::uuid
               ELSE false END
    RETURNING k.id, k.prefix, k.revoked_at
$$;

-- Protected opt-outs. Managing the suppression list (listing it, taking numbers off) needs the `suppressions`
-- scope, never implied by `write` (which lead vendors and forms hold; it may still add numbers). An entry with
-- reason opted_out (an opted_out outcome, or a consumer's request sent with that reason) cannot be taken off
-- over the API at all: only sql/admin/opt_out_remove.sql (l2i_opt_out_remove) does it, saying who and why. Every
-- change of the list is a row of suppression_events, written by a trigger, whatever made the change.
CREATE TABLE suppression_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    account_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    type        text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    api_key_id  uuid,
    operator    text,
    why         text,
    db_user     text        NOT NULL DEFAULT session_user,
    CONSTRAINT suppression_events_pkey PRIMARY KEY (id),
    CONSTRAINT suppression_events_type_check CHECK (type IN ('added', 'opted_out', 'removed'))
);
CREATE INDEX suppression_events_account_phone_idx ON suppression_events (account_id, phone, id);
COMMENT ON TABLE suppression_events IS
    'Every change of a suppression list: added, opted_out (an entry became protected), removed; with the API key '
    'or the operator (and database user) that made it, when, and why (an opted_out removal must say).';
CREATE FUNCTION l2i_suppressions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.reason = 'opted_out' AND (TG_OP = 'DELETE' OR NEW.reason IS DISTINCT FROM 'opted_out')
       AND coalesce(current_setting('l2i.opt_out_removal', true), '') <> 'on' THEN
        RAISE EXCEPTION 'number % opted out: only sql/admin/opt_out_remove.sql takes it off (who, why)', OLD.phone
            USING ERRCODE = 'check_violation', CONSTRAINT = 'suppressions_opted_out_protected',
                  TABLE = 'suppressions';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER suppressions_opted_out_protected BEFORE DELETE OR UPDATE ON suppressions
    FOR EACH ROW EXECUTE FUNCTION l2i_suppressions_guard();

CREATE FUNCTION l2i_suppressions_log() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_row suppressions := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason IS NOT DISTINCT FROM OLD.reason THEN
        RETURN NULL;
    END IF;
    INSERT INTO suppression_events (account_id, phone, type, reason, api_key_id, operator, why)
    VALUES (v_row.account_id, v_row.phone,
            CASE WHEN TG_OP = 'DELETE' THEN 'removed' WHEN v_row.reason = 'opted_out' THEN 'opted_out'
                 ELSE 'added' END,
            v_row.reason, nullif(current_setting('l2i.api_key_id', true), '')::uuid,
            nullif(current_setting('l2i.operator', true), ''), nullif(current_setting('l2i.why', true), ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER suppressions_log AFTER INSERT OR DELETE OR UPDATE OF reason ON suppressions
    FOR EACH ROW EXECUTE FUNCTION l2i_suppressions_log();

-- Adds numbers (any format l2i_e164 accepts) to an account's suppression list and pulls the account's queued
-- (not in-call) leads with those numbers; returns each number with whether it was added now. A number already
-- there with another reason becomes protected when the new reason is opted_out. p_api_key_id: the key that asked.
CREATE FUNCTION l2i_suppress(p_account_id uuid, p_phones text[], p_reason text DEFAULT NULL,
                             p_api_key_id uuid DEFAULT NULL)
RETURNS TABLE (phone text, added boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT p INTO v_bad FROM unnest(p_phones) AS p WHERE l2i_e164(p) IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'not a phone number: %', v_bad USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('l2i.api_key_id', coalesce(p_api_key_id::text, ''), true);
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
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         ins AS (INSERT INTO suppressions AS s (account_id, phone, reason)
                 SELECT p_account_id, w.e164, p_reason FROM wanted AS w
                 ON CONFLICT ON CONSTRAINT suppressions_pkey DO UPDATE SET reason = excluded.reason
                 WHERE excluded.reason = 'opted_out' AND s.reason IS DISTINCT FROM 'opted_out'
                 RETURNING s.phone AS e164, (s.xmax = 0) AS inserted)
    SELECT w.e164, coalesce(ins.inserted, false) FROM wanted AS w LEFT JOIN ins ON ins.e164 = w.e164 ORDER BY 1;
    PERFORM set_config('l2i.api_key_id', '', true);
END
$$;

-- Takes numbers off an account's suppression list, except opted_out ones; returns each number with whether it was
-- removed and whether it stays because it opted out. p_api_key_id: the key that asked (recorded on the event).
CREATE FUNCTION l2i_unsuppress(p_account_id uuid, p_phones text[], p_api_key_id uuid DEFAULT NULL)
RETURNS TABLE (phone text, removed boolean, opted_out boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('l2i.api_key_id', coalesce(p_api_key_id::text, ''), true);
    RETURN QUERY
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         del AS (DELETE FROM suppressions AS s USING wanted AS w
                 WHERE s.account_id = p_account_id AND s.phone = w.e164 AND s.reason IS DISTINCT FROM 'opted_out'
                 RETURNING s.phone AS e164)
    SELECT w.e164, del.e164 IS NOT NULL,
           EXISTS (SELECT 1 FROM suppressions AS s
                   WHERE s.account_id = p_account_id AND s.phone = w.e164 AND s.reason = 'opted_out')
    FROM wanted AS w LEFT JOIN del ON del.e164 = w.e164
    WHERE w.e164 IS NOT NULL
    ORDER BY 1;
    PERFORM set_config('l2i.api_key_id', '', true);
END
$$;

-- The only way to take an opted_out number off a suppression list (sql/admin/opt_out_remove.sql): the operator
-- names themself and says why (e.g. the consumer gave new written consent on a date); both go on the event with
-- the database user and the time. Returns the number and whether it was removed.
CREATE FUNCTION l2i_opt_out_remove(p_account_id uuid, p_phone text, p_operator text, p_why text)
RETURNS TABLE (phone text, removed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone text := l2i_e164(p_phone);
    v_removed boolean;
BEGIN
    IF v_phone IS NULL THEN
        RAISE EXCEPTION 'not a phone number: %', p_phone USING ERRCODE = '22023';
    END IF;
    IF length(btrim(coalesce(p_operator, ''))) = 0 OR length(btrim(coalesce(p_why, ''))) = 0 THEN
        RAISE EXCEPTION 'say who you are (operator) and why the opt-out is lifted (why)' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('l2i.opt_out_removal', 'on', true);
    PERFORM set_config('l2i.operator', btrim(p_operator), true);
    PERFORM set_config('l2i.why', btrim(p_why), true);
    DELETE FROM suppressions AS s WHERE s.account_id = p_account_id AND s.phone = v_phone AND s.reason = 'opted_out';
    v_removed := FOUND;
    PERFORM set_config('l2i.opt_out_removal', '', true);
    PERFORM set_config('l2i.operator', '', true);
    PERFORM set_config('l2i.why', '', true);
    RETURN QUERY SELECT v_phone, v_removed;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Calling rules (seeded by 0002_calling_rules.sql, reviewed and dated by 0009: sources there).
CREATE TABLE calling_rules (
    state            text        NOT NULL,
    primary_tz       text        NOT NULL,
    all_tzs          text[]      NOT NULL,
    weekday_start    time        NOT NULL,
    weekday_end      time        NOT NULL,
    saturday_start   time        NOT NULL,
    saturday_end     time        NOT NULL,
    sunday_start     time        NULL,
    sunday_end       time        NULL,
    holidays_banned  boolean     NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    effective_from   date        NOT NULL,
    citation         text        NOT NULL,
    confidence       text        NOT NULL,
    clock_utc_offset interval,
    max_calls_24h    integer,
    CONSTRAINT calling_rules_pkey PRIMARY KEY (state, effective_from),
    CONSTRAINT calling_rules_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_rules_all_tzs_check
        CHECK (cardinality(all_tzs) > 0 AND array_position(all_tzs, NULL) IS NULL),
    CONSTRAINT calling_rules_primary_tz_check CHECK (primary_tz = ANY (all_tzs)),
    CONSTRAINT calling_rules_weekday_window_check CHECK (weekday_start < weekday_end),
    CONSTRAINT calling_rules_saturday_window_check CHECK (saturday_start < saturday_end),
    CONSTRAINT calling_rules_sunday_window_check CHECK (
        (sunday_start IS NULL AND sunday_end IS NULL)
        OR (sunday_start IS NOT NULL AND sunday_end IS NOT NULL AND sunday_start < sunday_end)),
    CONSTRAINT calling_rules_citation_check CHECK (length(btrim(citation)) > 0),
    CONSTRAINT calling_rules_confidence_check CHECK (confidence IN ('high', 'medium', 'low')),
    CONSTRAINT calling_rules_clock_utc_offset_check
        CHECK (clock_utc_offset BETWEEN interval '-12 hours' AND interval '14 hours'),
    CONSTRAINT calling_rules_max_calls_24h_check CHECK (max_calls_24h > 0)
);
COMMENT ON TABLE calling_rules IS
    'Per-state calling windows, one row per state (DC and the territories included) and date it takes effect: '
    'the row that applies on a local date is the one with the latest effective_from on or before it; older rows '
    'stay for history. The federal floor 08:00-21:00 local (47 CFR 64.1200(c)(1)) always applies on top. '
    'Windows are [start, end). Reviewed 2026-11-30 (0009); to change a rule, insert a row (README, Compliance).';
COMMENT ON COLUMN calling_rules.confidence IS
    'high = statute or regulation text read; medium = a secondary source quoting it; low = unconfirmed.';
COMMENT ON COLUMN calling_rules.max_calls_24h IS
    'At most this many call attempts (claims) to one number of an account in any 24 hours; NULL: no cap.';
COMMENT ON COLUMN calling_rules.primary_tz IS 'IANA zone covering most of the state; one of all_tzs.';
COMMENT ON COLUMN calling_rules.state IS 'Two-letter USPS code (DC and the territories PR, VI, GU, MP, AS included).';
COMMENT ON COLUMN calling_rules.all_tzs IS
    'Every IANA zone a number in the state may be in. A lead with an unknown zone is callable only when '
    'legal in all of them.';
COMMENT ON COLUMN calling_rules.weekday_start IS
    'Monday-Friday window start, inclusive: local time of the called party, or on clock_utc_offset when set.';
COMMENT ON COLUMN calling_rules.weekday_end IS 'Monday-Friday window end, local time, exclusive.';
COMMENT ON COLUMN calling_rules.saturday_start IS 'Saturday window start, local time, inclusive.';
COMMENT ON COLUMN calling_rules.saturday_end IS 'Saturday window end, local time, exclusive.';
COMMENT ON COLUMN calling_rules.sunday_start IS
    'Sunday window start, local time, inclusive. NULL (with sunday_end) = no calls on Sunday.';
COMMENT ON COLUMN calling_rules.sunday_end IS
    'Sunday window end, local time, exclusive. NULL (with sunday_start) = no calls on Sunday.';
COMMENT ON COLUMN calling_rules.updated_at IS 'When the row was last changed.';
COMMENT ON COLUMN calling_rules.holidays_banned IS
    'The state bans calls on its legal holidays: the days of calling_holiday_rules (any year) are banned. '
    'Rows of calling_holidays (proclaimed days) are banned whatever this says.';
COMMENT ON COLUMN calling_rules.effective_from IS
    'First local date the row applies (2000-01-01: as first shipped, date unknown).';
COMMENT ON COLUMN calling_rules.citation IS 'The statute or regulation the row comes from, and notes.';
COMMENT ON COLUMN calling_rules.clock_utc_offset IS
    'NULL: the windows are local time in each zone of the lead. Else the windows (and their days) are read on '
    'a clock at this fixed UTC offset all year (Mississippi: -06:00, Central Standard Time).';

CREATE TABLE calling_holidays (
    state text NOT NULL,
    day   date NOT NULL,
    name  text NOT NULL,
    CONSTRAINT calling_holidays_pkey PRIMARY KEY (state, day),
    CONSTRAINT calling_holidays_state_check CHECK (state ~ '^[A-Z]{2}$')
);
COMMENT ON COLUMN calling_holidays.state IS 'State whose numbers may not be called that day.';
COMMENT ON COLUMN calling_holidays.day IS 'The banned local date.';
COMMENT ON TABLE calling_holidays IS
    'One-off banned days (local date of the called party), e.g. a holiday a governor proclaims: every row bans '
    'its whole day for numbers of the state, whatever calling_rules.holidays_banned says. Recurring holidays are '
    'rules: calling_holiday_rules.';
COMMENT ON COLUMN calling_holidays.name IS 'What the day is (and who proclaimed it).';

CREATE TABLE calling_holiday_rules (
    state           text     NOT NULL,
    name            text     NOT NULL,
    kind            text     NOT NULL,
    month           smallint,
    day             smallint,
    weekday         smallint,
    easter_offset   smallint,
    observed        text     NOT NULL DEFAULT 'none',
    even_years_only boolean  NOT NULL DEFAULT false,
    first_year      integer,
    citation        text     NOT NULL,
    confidence      text     NOT NULL,
    CONSTRAINT calling_holiday_rules_pkey PRIMARY KEY (state, name),
    CONSTRAINT calling_holiday_rules_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_holiday_rules_kind_check CHECK (
        (kind = 'fixed' AND month IS NOT NULL AND day IS NOT NULL AND weekday IS NULL AND easter_offset IS NULL)
        OR (kind = 'weekday' AND month IS NOT NULL AND day IS NOT NULL AND weekday BETWEEN 1 AND 7
            AND easter_offset IS NULL)
        OR (kind = 'easter' AND month IS NULL AND day IS NULL AND weekday IS NULL
            AND easter_offset BETWEEN -100 AND 100)),
    CONSTRAINT calling_holiday_rules_date_check CHECK (
        month BETWEEN 1 AND 12
        AND day BETWEEN 1 AND CASE WHEN month = 2 THEN 28 WHEN month IN (4, 6, 9, 11) THEN 30 ELSE 31 END),
    CONSTRAINT calling_holiday_rules_observed_check CHECK (
        observed IN ('none', 'sat_fri_sun_mon', 'sun_mon', 'monday') AND (kind = 'fixed' OR observed = 'none')),
    CONSTRAINT calling_holiday_rules_confidence_check CHECK (confidence IN ('high', 'medium', 'low'))
);
COMMENT ON TABLE calling_holiday_rules IS
    'Each state''s banned holidays as rules, computed for any year by l2i_holiday_days(); they ban calls while '
    'the state''s calling_rules row has holidays_banned. Kinds: fixed (month/day), weekday (first ISO weekday on '
    'or after month/day), easter (Easter Sunday + easter_offset days). See 0009 for the sources.';
COMMENT ON COLUMN calling_holiday_rules.observed IS
    'fixed days only: none, sat_fri_sun_mon, sun_mon, or monday (Tue-Fri -> Monday before, Sat/Sun -> Monday '
    'after). The observed day is banned as well as the day itself.';
COMMENT ON COLUMN calling_holiday_rules.even_years_only IS 'The day exists only in even years (an election day).';
COMMENT ON COLUMN calling_holiday_rules.first_year IS 'The first year the holiday is banned; NULL: every year.';

-- Easter Sunday (Gregorian calendar) of a year: the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
CREATE FUNCTION l2i_easter(p_year integer) RETURNS date
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    a integer := p_year % 19;
    b integer := p_year / 100;
    c integer := p_year % 100;
    h integer;
    l integer;
    m integer;
BEGIN
    h := (19 * a + b - b / 4 - (b - (b + 8) / 25 + 1) / 3 + 15) % 30;
    l := (32 + 2 * (b % 4) + 2 * (c / 4) - h - c % 4) % 7;
    m := (a + 11 * h + 22 * l) / 451;
    RETURN make_date(p_year, (h + l - 7 * m + 114) / 31, (h + l - 7 * m + 114) % 31 + 1);
END
$$;
COMMENT ON FUNCTION l2i_easter(integer) IS 'Easter Sunday of a year (Gregorian; anonymous algorithm).';

-- The day a holiday rule names in a year, and how many days its observance moves it (0: not moved). Plain SQL
-- expressions, so that PostgreSQL inlines them into the queries that use them.
CREATE FUNCTION l2i_holiday_rule_day(p_kind text, p_month integer, p_day integer, p_weekday integer,
                                     p_easter_offset integer, p_year integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_kind
               WHEN 'fixed' THEN make_date(p_year, p_month, p_day)
               WHEN 'weekday' THEN make_date(p_year, p_month, p_day)
                   + (p_weekday - extract(isodow FROM make_date(p_year, p_month, p_day))::integer + 7) % 7
               WHEN 'easter' THEN l2i_easter(p_year) + p_easter_offset
           END
$$;
COMMENT ON FUNCTION l2i_holiday_rule_day(text, integer, integer, integer, integer, integer) IS
    'The day a calling_holiday_rules row names in a year (before any observance shift).';

CREATE FUNCTION l2i_holiday_shift(p_observed text, p_day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- by ISO day of week (Monday first); p_day appears once so that the function is inlined
    SELECT (CASE p_observed
                WHEN 'sat_fri_sun_mon' THEN ARRAY[0, 0, 0, 0, 0, -1, 1]
                WHEN 'sun_mon' THEN ARRAY[0, 0, 0, 0, 0, 0, 1]
                WHEN 'monday' THEN ARRAY[0, -1, -2, -3, -4, 2, 1]
                ELSE ARRAY[0, 0, 0, 0, 0, 0, 0]
            END)[extract(isodow FROM p_day)::integer]
$$;
COMMENT ON FUNCTION l2i_holiday_shift(text, date) IS
    'Days an observance rule moves a holiday that falls on p_day (0: not moved).';

-- The banned days of a state between two local dates (inclusive), for any years: the days of its holiday rules
-- and their observed days (by_rule true: banned while the state's rule has holidays_banned), and its one-off
-- calling_holidays rows (by_rule false: always banned). Sorted by day.
CREATE FUNCTION l2i_holiday_days(p_state text, p_from date, p_to date)
RETURNS TABLE (day date, name text, by_rule boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT o.day, o.name, o.by_rule
    FROM (SELECT a.day + s.shift AS day, r.name || CASE WHEN s.shift <> 0 THEN ' (observed)' ELSE '' END AS name,
                 true AS by_rule
          FROM calling_holiday_rules AS r
          CROSS JOIN generate_series(extract(year FROM p_from - 7)::integer,
                                     extract(year FROM p_to + 7)::integer) AS y(year)
          CROSS JOIN LATERAL (SELECT l2i_holiday_rule_day(r.kind, r.month, r.day, r.weekday, r.easter_offset, y.year)
                              AS day) AS a
          CROSS JOIN LATERAL (SELECT 0 AS shift UNION SELECT l2i_holiday_shift(r.observed, a.day)) AS s
          WHERE r.state = upper(p_state)
            AND (r.first_year IS NULL OR y.year >= r.first_year)
            AND (NOT r.even_years_only OR y.year % 2 = 0)
          UNION ALL
          SELECT h.day, h.name, false
          FROM calling_holidays AS h
          WHERE h.state = upper(p_state)) AS o
    WHERE o.day BETWEEN p_from AND p_to
    ORDER BY o.day, o.name
$$;
COMMENT ON FUNCTION l2i_holiday_days(text, date, date) IS
    'Banned days of a state between two local dates, any year: holiday rules (by_rule) and one-off rows.';

-- Whether a local date is a day of a state's holiday rules or their observed days (the by_rule days of
-- l2i_holiday_days), with one index lookup and arithmetic, for l2i_call_allowed.
CREATE FUNCTION l2i_is_rule_holiday(p_state text, p_day date) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_year integer := extract(year FROM p_day)::integer;
    v_month integer := extract(month FROM p_day)::integer;
BEGIN
    -- A fixed or weekday rule's day, observed or not, is at most 6 days after its month/day and 3 before: only
    -- rules of this month and the months next to it can match (and the next or last year's in January and
    -- December). Easter-relative rules are always computed.
    RETURN (EXISTS (
               SELECT 1
               FROM calling_holiday_rules AS r
               CROSS JOIN LATERAL (SELECT v_year AS year
                                   UNION ALL SELECT v_year + 1 WHERE v_month = 12
                                   UNION ALL SELECT v_year - 1 WHERE v_month = 1) AS y
               CROSS JOIN LATERAL (SELECT l2i_holiday_rule_day(r.kind, r.month, r.day, r.weekday, r.easter_offset,
                                                               y.year) AS day) AS a
               WHERE r.state = p_state
                 AND (r.kind = 'easter' OR abs(r.month - v_month) IN (0, 1, 11))
                 AND (r.first_year IS NULL OR y.year >= r.first_year)
                 AND (NOT r.even_years_only OR y.year % 2 = 0)
                 AND (a.day = p_day OR a.day + l2i_holiday_shift(r.observed, a.day) = p_day)));
END
$$;
COMMENT ON FUNCTION l2i_is_rule_holiday(text, date) IS
    'True iff the local date is a day of the state''s holiday rules (or an observed day of one).';

-- ---------------------------------------------------------------------------------------------------------------
-- The calling window over several states. A lead may be governed by its address state and by its area code's
-- state: the call must be legal under each of them (p_states; NULLs and states without a rule row are ignored),
-- in every zone of p_zones, on top of the federal 08:00-21:00 local in every zone, outside any blackout of those
-- states. For each state the rule is its row in force on the local date (latest effective_from on or before it);
-- a rule with clock_utc_offset is read on that fixed clock instead of the zone's local time.

-- True iff p_at is a legal calling instant. Fails closed: NULL/empty p_zones, a NULL zone or a NULL p_at give
-- false; an unknown zone name raises invalid_parameter_value.
CREATE FUNCTION l2i_call_allowed(p_zones text[], p_states text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_states text[] := upper(p_states::text)::text[];
    v_zone text;
    v_state text;
    v_local timestamp;
    v_day date;
    v_dow integer;
    r record;
BEGIN
    IF p_at IS NULL OR coalesce(cardinality(p_zones), 0) = 0 OR array_position(p_zones, NULL) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- The federal floor in every zone: plain expressions, no query (most refusals end here).
    FOREACH v_zone IN ARRAY p_zones LOOP
        v_local := p_at AT TIME ZONE v_zone;
        IF v_local::time < time '08:00' OR v_local::time >= time '21:00' THEN
            RETURN false;
        END IF;
    END LOOP;
    -- Each state: one query for its rule in force on the local date (again only for a zone on another date),
    -- whether it is blacked out and whether that date is a one-off banned day; then plain expressions.
    FOREACH v_state IN ARRAY coalesce(v_states, '{}') LOOP
        CONTINUE WHEN v_state IS NULL;
        v_day := NULL;
        FOREACH v_zone IN ARRAY p_zones LOOP
            v_local := p_at AT TIME ZONE v_zone;
            IF v_day IS DISTINCT FROM v_local::date THEN
                v_day := v_local::date;
                SELECT cr.weekday_start, cr.weekday_end, cr.saturday_start, cr.saturday_end, cr.sunday_start,
                       cr.sunday_end, cr.holidays_banned, cr.clock_utc_offset,
                       EXISTS (SELECT 1 FROM calling_blackouts AS b
                               WHERE b.state = v_state AND b.starts_at <= p_at AND p_at < b.ends_at) AS blacked_out,
                       EXISTS (SELECT 1 FROM calling_holidays AS h WHERE h.state = v_state AND h.day = v_day)
                           AS one_off
                INTO r
                FROM calling_rules AS cr
                WHERE cr.state = v_state AND cr.effective_from <= v_day
                ORDER BY cr.effective_from DESC
                LIMIT 1;
                EXIT WHEN NOT FOUND;  -- no rule for this state: the federal floor alone
                IF r.blacked_out THEN
                    RETURN false;
                END IF;
            END IF;
            IF r.clock_utc_offset IS NOT NULL THEN
                v_local := (p_at AT TIME ZONE 'UTC') + r.clock_utc_offset;
            END IF;
            v_dow := extract(isodow FROM v_local)::integer;
            IF NOT coalesce(
                   v_local::time >= CASE v_dow WHEN 6 THEN r.saturday_start WHEN 7 THEN r.sunday_start
                                               ELSE r.weekday_start END
               AND v_local::time < CASE v_dow WHEN 6 THEN r.saturday_end WHEN 7 THEN r.sunday_end
                                              ELSE r.weekday_end END, false) THEN
                RETURN false;
            END IF;
            IF (r.one_off AND v_local::date = v_day)
               OR (r.clock_utc_offset IS NOT NULL AND v_local::date <> v_day
                   AND EXISTS (SELECT 1 FROM calling_holidays AS h WHERE h.state = v_state AND h.day = v_local::date))
               OR (r.holidays_banned AND l2i_is_rule_holiday(v_state, v_local::date)) THEN
                RETURN false;
            END IF;
        END LOOP;
    END LOOP;
    RETURN true;
END
$$;
COMMENT ON FUNCTION l2i_call_allowed(text[], text[], timestamptz) IS
    'True iff p_at is legal in every zone of p_zones under the federal window and the rules of every state of '
    'p_states (the strictest), outside their blackouts. Empty/NULL zones: false.';

-- Earliest instant t >= p_after with l2i_call_allowed(p_zones, p_states, t). The legal set is an intersection of
-- tracks (the federal window in each zone; each state's window in each zone, or on its fixed clock), each a union
-- of daily [start, end) windows, so the answer is p_after or the start of some window: the windows of the days
-- from 2 before p_after's local date to 3 after it (15 after it when that finds nothing) are listed, and the
-- first candidate inside a window of every track wins. A blackout covering that instant moves the search to the
-- blackout's end. NULL when nothing is legal within about 15 days of the start of the search (e.g. zones 16 hours
-- apart never share a window), and for NULL/empty p_zones, a NULL zone or a NULL p_after. Local windows are
-- turned into instants per day, so each day has its own UTC offset across DST; windows lie inside 08:00-21:00
-- and US zones change offset at 02:00. One generic plan for the session (a custom plan costs more to plan than
-- to run) and no JIT (the planner's estimate is far above what the query does).
CREATE FUNCTION l2i_next_call_time_search(p_zones text[], p_states text[], p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
DECLARE
    v_states text[];
    v_t timestamptz := p_after;
    v_until timestamptz;
    v_days integer := 3;
    v_from timestamptz;
BEGIN
    IF p_after IS NULL OR coalesce(cardinality(p_zones), 0) = 0 OR array_position(p_zones, NULL) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    v_states := ARRAY(SELECT DISTINCT upper(s) FROM unnest(p_states) AS s
                      WHERE s IS NOT NULL AND EXISTS (SELECT 1 FROM calling_rules AS r WHERE r.state = upper(s)));
    FOR i IN 1..100 LOOP
        v_from := v_t;
        v_t := (
            WITH zones AS (
                SELECT DISTINCT z.zone FROM unnest(p_zones) AS z(zone)
            ), days AS (
                SELECT z.zone, (v_t AT TIME ZONE z.zone)::date + o.n AS day
                FROM zones AS z CROSS JOIN generate_series(-2, v_days) AS o(n)
            ), banned AS (
                SELECT s.state, h.day, h.by_rule
                FROM unnest(v_states) AS s(state)
                CROSS JOIN LATERAL l2i_holiday_days(s.state, (v_t - interval '3 days')::date,
                                                    (v_t + make_interval(days => v_days + 2))::date) AS h
            ), windows AS (
                SELECT d.zone, ''::text AS state,
                       (d.day + time '08:00') AT TIME ZONE d.zone AS win_start,
                       (d.day + time '21:00') AT TIME ZONE d.zone AS win_end
                FROM days AS d
                UNION ALL
                SELECT d.zone, r.state,
                       CASE WHEN r.clock_utc_offset IS NULL THEN (d.day + w.win_start) AT TIME ZONE d.zone
                            ELSE ((d.day + w.win_start) AT TIME ZONE 'UTC') - r.clock_utc_offset END,
                       CASE WHEN r.clock_utc_offset IS NULL THEN (d.day + w.win_end) AT TIME ZONE d.zone
                            ELSE ((d.day + w.win_end) AT TIME ZONE 'UTC') - r.clock_utc_offset END
                FROM days AS d
                CROSS JOIN unnest(v_states) AS s(state)
                CROSS JOIN LATERAL (
                    SELECT cr.state, cr.weekday_start, cr.weekday_end, cr.saturday_start, cr.saturday_end,
                           cr.sunday_start, cr.sunday_end, cr.holidays_banned, cr.clock_utc_offset
                    FROM calling_rules AS cr
                    WHERE cr.state = s.state AND cr.effective_from <= d.day
                    ORDER BY cr.effective_from DESC
                    LIMIT 1) AS r
                CROSS JOIN LATERAL (
                    SELECT CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_start WHEN 7 THEN r.sunday_start
                                                           ELSE r.weekday_start END AS win_start,
                           CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_end WHEN 7 THEN r.sunday_end
                                                           ELSE r.weekday_end END AS win_end) AS w
                WHERE w.win_start < w.win_end  -- a banned Sunday (NULL) has no window
                  AND NOT EXISTS (SELECT 1 FROM banned AS b
                                  WHERE b.state = r.state AND b.day = d.day AND (r.holidays_banned OR NOT b.by_rule))
            ), tracks AS (
                SELECT z.zone, s.state
                FROM zones AS z CROSS JOIN unnest(ARRAY[''] || v_states) AS s(state)
            ), candidates AS (
                SELECT v_t AS t
                UNION ALL
                SELECT w.win_start FROM windows AS w WHERE w.win_start > v_t
            )
            SELECT c.t
            FROM (SELECT t FROM candidates ORDER BY t OFFSET 0) AS c
            WHERE NOT EXISTS (
                    SELECT 1 FROM tracks AS k
                    WHERE NOT EXISTS (SELECT 1 FROM windows AS w
                                      WHERE w.zone = k.zone AND w.state = k.state
                                        AND w.win_start <= c.t AND c.t < w.win_end))
            LIMIT 1
        );
        IF v_t IS NULL AND v_days < 15 THEN
            -- nothing in the next few days (a long weekend, holidays): look again over about two weeks
            v_t := v_from;
            v_days := 15;
            CONTINUE;
        ELSIF v_t IS NULL THEN
            RETURN NULL;
        END IF;
        v_days := 3;
        SELECT max(b.ends_at) INTO v_until
        FROM calling_blackouts AS b
        WHERE b.state = ANY (v_states) AND b.starts_at <= v_t AND v_t < b.ends_at;
        IF v_until IS NULL THEN
            RETURN v_t;
        END IF;
        v_t := v_until;
    END LOOP;
    RETURN NULL;
END
$$;
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

-- The one-state forms of 0002 (kept for psql and for callers that know one state): the same, over {p_state}.
CREATE FUNCTION l2i_call_allowed(p_zones text[], p_state text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN l2i_call_allowed(p_zones, ARRAY[p_state]::text[], p_at);
END
$$;
COMMENT ON FUNCTION l2i_call_allowed(text[], text, timestamptz) IS
    'l2i_call_allowed(p_zones, ARRAY[p_state], p_at): the window of one state (NULL: the federal one).';

CREATE FUNCTION l2i_next_call_time(p_zones text[], p_state text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN l2i_next_call_time(p_zones, ARRAY[p_state]::text[], p_after);
END
$$;
COMMENT ON FUNCTION l2i_next_call_time(text[], text, timestamptz) IS
    'l2i_next_call_time(p_zones, ARRAY[p_state], p_after): the window of one state (NULL: the federal one).';

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

-- ---------------------------------------------------------------------------------------------------------------
-- Attempt caps: every claim is an attempt on the number, recorded here; the states' max_calls_24h bounds them.
CREATE TABLE call_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    account_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    lead_id     uuid        NOT NULL,
    claimed_at  timestamptz NOT NULL,
    lead_created_at timestamptz NOT NULL,
    CONSTRAINT call_attempts_pkey PRIMARY KEY (id),
    CONSTRAINT call_attempts_lead_id_fkey FOREIGN KEY (lead_id, lead_created_at) REFERENCES leads (id, created_at)
        ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX call_attempts_account_phone_idx ON call_attempts (account_id, phone, claimed_at);
-- The retention sweep of old call attempts (0013_retention.sql).
CREATE INDEX call_attempts_account_claimed_idx ON call_attempts (account_id, claimed_at);
COMMENT ON TABLE call_attempts IS
    'Every call attempt l2i handed out (a claim): counted per number across the account for the 24-hour caps.';
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

-- The earliest instant >= p_at at which one more attempt on the number is allowed by the strictest cap of the
-- states in force at p_at: p_at when under every cap, else when the attempt that fills the cap is 24 h old.
CREATE FUNCTION l2i_attempt_free_at(p_account_id uuid, p_phone text, p_states text[], p_at timestamptz)
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
COMMENT ON FUNCTION l2i_attempt_free_at(uuid, text, text[], timestamptz) IS
    'When one more attempt on the number is allowed by the states'' 24-hour caps: p_at, or later when capped.';

-- The next legal time of a lead's number: the calling window of its zones and states, from the time its caps let.
CREATE FUNCTION l2i_next_dial_time(p_account_id uuid, p_phone text, p_zones text[], p_states text[],
                                   p_after timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT l2i_next_call_time(p_zones, p_states, l2i_attempt_free_at(p_account_id, p_phone, p_states, p_after))
$$;
COMMENT ON FUNCTION l2i_next_dial_time(uuid, text, text[], text[], timestamptz) IS
    'l2i_next_call_time from the instant the attempt caps allow (l2i_attempt_free_at).';

-- ---------------------------------------------------------------------------------------------------------------
-- Emergency blackouts (La. R.S. 45:844.31; N.Y. Gen. Bus. Law 399-z(5-a)): no calls to the state's numbers from
-- starts_at to ends_at. l2i does not know a lead's county, so a blackout naming counties holds the whole state
-- (fails closed); the counties are kept for the record.
CREATE TABLE calling_blackouts (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    state       text        NOT NULL,
    counties    text[],
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL DEFAULT session_user,
    ended_at    timestamptz,
    CONSTRAINT calling_blackouts_pkey PRIMARY KEY (id),
    CONSTRAINT calling_blackouts_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_blackouts_window_check CHECK (starts_at <= ends_at),
    CONSTRAINT calling_blackouts_reason_check CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    CONSTRAINT calling_blackouts_counties_check
        CHECK (cardinality(counties) > 0 AND array_position(counties, NULL) IS NULL)
);
CREATE INDEX calling_blackouts_state_idx ON calling_blackouts (state, ends_at);
COMMENT ON TABLE calling_blackouts IS
    'Declared states of emergency: no call to a lead of the state (address or area code) in [starts_at, ends_at). '
    'Managed with `l2i blackout add|list|end` or sql/admin/blackout_*.sql. Counties are recorded; the whole state '
    'is held (l2i does not know a lead''s county).';
COMMENT ON COLUMN calling_blackouts.ended_at IS 'When an operator ended it early (ends_at was moved to that time).';

-- Adds a blackout; returns it. Queued leads of the state are held by the claim (l2i_call_allowed) and new leads
-- get a not_before after it; nothing else changes.
CREATE FUNCTION l2i_blackout_add(p_state text, p_starts_at timestamptz, p_ends_at timestamptz, p_reason text,
                                 p_counties text[] DEFAULT NULL)
RETURNS SETOF calling_blackouts
LANGUAGE sql AS $$
    INSERT INTO calling_blackouts (state, counties, starts_at, ends_at, reason)
    VALUES (upper(btrim(p_state)), p_counties, coalesce(p_starts_at, now()), p_ends_at, btrim(p_reason))
    RETURNING *
$$;

-- Ends a blackout at p_at (default now) if it runs past it, and releases the state's queued leads that were
-- waiting for its end (not_before from its old end to a day after): their next legal time is computed again.
-- Returns the blackout, with the number of leads released.
CREATE FUNCTION l2i_blackout_end(p_id bigint, p_at timestamptz DEFAULT now())
RETURNS TABLE (id bigint, state text, starts_at timestamptz, ends_at timestamptz, ended_at timestamptz,
               reason text, released bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_old calling_blackouts;
    v_new calling_blackouts;
    v_released bigint := 0;
BEGIN
    SELECT * INTO v_old FROM calling_blackouts AS b WHERE b.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE calling_blackouts AS b
    SET ends_at = greatest(b.starts_at, p_at), ended_at = p_at
    WHERE b.id = p_id AND b.ends_at > p_at
    RETURNING * INTO v_new;
    IF FOUND THEN
        UPDATE dial_queue AS q
        SET not_before = coalesce(l2i_next_dial_time(q.account_id, q.phone, q.zones, q.states, p_at), q.not_before)
        WHERE q.leased_until IS NULL AND v_old.state = ANY (q.states)
          AND q.not_before >= v_old.ends_at AND q.not_before < v_old.ends_at + interval '1 day';
        GET DIAGNOSTICS v_released = ROW_COUNT;
    ELSE
        v_new := v_old;
    END IF;
    RETURN QUERY SELECT v_new.id, v_new.state, v_new.starts_at, v_new.ends_at, v_new.ended_at, v_new.reason,
                        v_released;
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

-- ===============================================================================================================
-- Revenue (0004_revenue.sql): postback tokens and postbacks, revenue on transfers, stats index, analyst views.
-- ---------------------------------------------------------------------------------------------------------------
-- Postback tokens: the credential in a buyer platform's postback URL. Shown once; only the hash is kept.
CREATE TABLE postback_tokens (
    id            uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id    uuid        NOT NULL,
    label         text,
    prefix        text        NOT NULL,
    token_hash    bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    rate_limit    integer     NOT NULL DEFAULT 600,
    CONSTRAINT postback_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT postback_tokens_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT postback_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT postback_tokens_rate_limit_check CHECK (rate_limit BETWEEN 1 AND 1000000)
);
CREATE INDEX postback_tokens_account_id_idx ON postback_tokens (account_id);
COMMENT ON TABLE postback_tokens IS 'Postback URL tokens (l2ipb_ + 64 hex): token_hash is sha256 of the token, never stored.';
COMMENT ON COLUMN postback_tokens.rate_limit IS
    'Postbacks a minute this token may send (fixed windows in postback_rate_limit_windows); past it, 429.';

-- Fixed one-minute windows, one row per postback token, counted by one upsert (sql/queries/postbacks.sql,
-- postback_token_hit), as rate_limit_windows counts API keys (0006_postback_rate_limit.sql). UNLOGGED.
CREATE UNLOGGED TABLE postback_rate_limit_windows (
    token_id      uuid        NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL,
    CONSTRAINT postback_rate_limit_windows_pkey PRIMARY KEY (token_id)
);
COMMENT ON TABLE postback_rate_limit_windows IS
    'Postbacks counted in the current one-minute window of each postback token (unlogged).';

CREATE FUNCTION l2i_postback_token_create(p_account_id uuid, p_label text DEFAULT NULL,
                                          p_rate_limit integer DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_token text := 'l2ipb_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO postback_tokens (account_id, label, prefix, token_hash, rate_limit)
    VALUES (p_account_id, p_label, left(v_token, 14), sha256(convert_to(v_token, 'UTF8')), coalesce(p_rate_limit, 600));
    RETURN v_token;
END
$$;

-- Revokes a token given its id or the token itself; returns it (no secret), or nothing if unknown.
CREATE FUNCTION l2i_postback_token_revoke(p_token text) RETURNS TABLE (id uuid, prefix text, revoked_at timestamptz)
LANGUAGE sql AS $$
    UPDATE postback_tokens AS t SET revoked_at = coalesce(t.revoked_at, now())
    WHERE CASE WHEN p_token LIKE 'l2ipb\_%' THEN t.token_hash = sha256(convert_to(p_token, 'UTF8'))
               WHEN p_token ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN t.id = p_token::uuid
               ELSE false END
    RETURNING t.id, t.prefix, t.revoked_at
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Revenue on the transfer: what the call paid, in cents, from its matched postbacks.
-- (transfers.payout_cents, buyer, duration_s, paid_at: in CREATE TABLE transfers above.)
-- Postbacks look for a transfer by (account, caller id, time).
CREATE INDEX transfers_account_caller_idx ON transfers (account_id, caller_id, transferred_at);
COMMENT ON COLUMN transfers.payout_cents IS 'What the buyer paid for the call, in cents: the latest matched postback''s amount.';
COMMENT ON COLUMN transfers.buyer IS 'The buyer named by the latest matched postback.';

-- ---------------------------------------------------------------------------------------------------------------
-- Postbacks: every distinct postback a buyer platform sent, matched or waiting.
CREATE TABLE postbacks (
    id                     uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id             uuid        NOT NULL,
    token_id               uuid        NOT NULL,
    caller_id              text,
    call_time              timestamptz NOT NULL,
    call_id                text,
    buyer                  text,
    duration_s             integer,
    payout_cents           bigint,
    previous_payout_cents  bigint,
    hits                   integer     NOT NULL DEFAULT 1,
    fields                 jsonb       NOT NULL DEFAULT '{}',
    transfer_id            uuid,
    matched_at             timestamptz,
    received_at            timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT postbacks_pkey PRIMARY KEY (id),
    CONSTRAINT postbacks_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT postbacks_token_id_fkey FOREIGN KEY (token_id) REFERENCES postback_tokens (id),
    CONSTRAINT postbacks_transfer_id_fkey FOREIGN KEY (transfer_id) REFERENCES transfers (id),
    CONSTRAINT postbacks_caller_id_check CHECK (caller_id ~ '^\+[1-9][0-9]{7,14}$'),
    CONSTRAINT postbacks_payout_cents_check CHECK (payout_cents BETWEEN 0 AND 10000000),
    CONSTRAINT postbacks_duration_s_check CHECK (duration_s BETWEEN 0 AND 86400),
    CONSTRAINT postbacks_matched_check CHECK ((transfer_id IS NULL) = (matched_at IS NULL))
);
-- Exactly once: the platform's call id names one postback; without one, caller + time + payout do.
CREATE UNIQUE INDEX postbacks_account_call_id_key ON postbacks (account_id, call_id) WHERE call_id IS NOT NULL;
CREATE UNIQUE INDEX postbacks_account_caller_time_payout_key
    ON postbacks (account_id, caller_id, call_time, (coalesce(payout_cents, -1))) WHERE call_id IS NULL;
-- Waiting postbacks, found by a new transfer for their number.
CREATE INDEX postbacks_unmatched_idx ON postbacks (account_id, caller_id, call_time) WHERE transfer_id IS NULL;
CREATE INDEX postbacks_transfer_id_idx ON postbacks (transfer_id) WHERE transfer_id IS NOT NULL;
COMMENT ON TABLE postbacks IS 'Buyer platforms'' postbacks (one row per distinct call), matched to a transfer or waiting.';
COMMENT ON COLUMN postbacks.fields IS 'Everything the platform sent, as sent (the token removed).';
COMMENT ON COLUMN postbacks.hits IS 'How many times this postback arrived (repeats never count twice).';
COMMENT ON COLUMN postbacks.previous_payout_cents IS 'The amount a later postback for the same call id replaced.';

-- The advisory lock that serializes postbacks and transfers for one number of one account.
CREATE FUNCTION l2i_caller_lock_key(p_account_id uuid, p_caller_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended(p_account_id::text || p_caller_id, 0)
$$;

-- Sets a transfer's revenue from its matched postbacks. One call pays one amount: the latest postback that names
-- one (a platform that reports a call twice, even under two call ids, never doubles its revenue).
CREATE FUNCTION l2i_transfer_revenue_refresh(p_transfer_id uuid) RETURNS void
LANGUAGE sql AS $$
    UPDATE transfers AS t
    SET payout_cents = s.payout_cents,
        buyer = coalesce(s.buyer, t.buyer),
        duration_s = coalesce(s.duration_s, t.duration_s),
        paid_at = s.paid_at
    FROM (SELECT (array_agg(p.payout_cents ORDER BY p.updated_at DESC, p.id)
                      FILTER (WHERE p.payout_cents IS NOT NULL))[1] AS payout_cents,
                 (array_agg(p.buyer ORDER BY p.updated_at DESC) FILTER (WHERE p.buyer IS NOT NULL))[1] AS buyer,
                 max(p.duration_s) AS duration_s,
                 max(p.updated_at) AS paid_at
          FROM postbacks AS p WHERE p.transfer_id = p_transfer_id) AS s
    WHERE t.id = p_transfer_id
$$;

-- Matches one waiting postback to the nearest transfer of its number within 4 hours; returns the transfer id.
CREATE FUNCTION l2i_postback_match(p_postback_id uuid) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_transfer uuid;
BEGIN
    SELECT t.id INTO v_transfer
    FROM postbacks AS p
    JOIN transfers AS t ON t.account_id = p.account_id AND t.caller_id = p.caller_id
                       AND t.transferred_at BETWEEN p.call_time - interval '4 hours' AND p.call_time + interval '4 hours'
    WHERE p.id = p_postback_id AND p.transfer_id IS NULL
    ORDER BY abs(extract(epoch FROM t.transferred_at - p.call_time)), t.transferred_at
    LIMIT 1;
    IF v_transfer IS NOT NULL THEN
        UPDATE postbacks SET transfer_id = v_transfer, matched_at = now() WHERE id = p_postback_id;
        PERFORM l2i_transfer_revenue_refresh(v_transfer);
    END IF;
    RETURN v_transfer;
END
$$;

-- Records one postback: new, a repeat (counted once), or a new amount for a known call id (replaced); then
-- matches it. outcome: matched | unmatched | duplicate | replaced.
CREATE FUNCTION l2i_postback_record(p_account_id uuid, p_token_id uuid, p_caller_id text, p_call_time timestamptz,
                                    p_call_id text, p_buyer text, p_duration_s integer, p_payout_cents bigint,
                                    p_fields jsonb)
RETURNS TABLE (postback_id uuid, outcome text, transfer_id uuid, lead_id uuid, payout_cents bigint,
               previous_payout_cents bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
    v_old bigint;
    v_outcome text;
    v_transfer uuid;
BEGIN
    PERFORM pg_advisory_xact_lock(l2i_caller_lock_key(p_account_id, p_caller_id));
    IF p_call_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(l2i_caller_lock_key(p_account_id, 'call:' || p_call_id));
        SELECT p.id, p.payout_cents INTO v_id, v_old
        FROM postbacks AS p WHERE p.account_id = p_account_id AND p.call_id = p_call_id FOR UPDATE;
    ELSE
        SELECT p.id, p.payout_cents INTO v_id, v_old
        FROM postbacks AS p
        WHERE p.account_id = p_account_id AND p.call_id IS NULL AND p.caller_id = p_caller_id
          AND p.call_time = p_call_time AND coalesce(p.payout_cents, -1) = coalesce(p_payout_cents, -1)
        FOR UPDATE;
    END IF;

    IF v_id IS NULL THEN
        INSERT INTO postbacks (account_id, token_id, caller_id, call_time, call_id, buyer, duration_s, payout_cents,
                               fields)
        VALUES (p_account_id, p_token_id, p_caller_id, p_call_time, p_call_id, p_buyer, p_duration_s,
                p_payout_cents, p_fields)
        RETURNING id INTO v_id;
        v_transfer := l2i_postback_match(v_id);
        v_outcome := CASE WHEN v_transfer IS NULL THEN 'unmatched' ELSE 'matched' END;
    ELSIF p_payout_cents IS NOT NULL AND p_payout_cents IS DISTINCT FROM v_old THEN
        UPDATE postbacks AS p
        SET payout_cents = p_payout_cents, previous_payout_cents = v_old, hits = p.hits + 1,
            buyer = coalesce(p_buyer, p.buyer), duration_s = coalesce(p_duration_s, p.duration_s),
            fields = p_fields, updated_at = now()
        WHERE p.id = v_id
        RETURNING p.transfer_id INTO v_transfer;
        IF v_transfer IS NULL THEN
            v_transfer := l2i_postback_match(v_id);
        ELSE
            PERFORM l2i_transfer_revenue_refresh(v_transfer);
        END IF;
        v_outcome := 'replaced';
    ELSE
        UPDATE postbacks AS p SET hits = p.hits + 1 WHERE p.id = v_id RETURNING p.transfer_id INTO v_transfer;
        v_outcome := 'duplicate';
    END IF;

    RETURN QUERY
    SELECT v_id, v_outcome, v_transfer, t.lead_id, p.payout_cents,
           CASE WHEN v_outcome = 'replaced' THEN v_old END
    FROM postbacks AS p LEFT JOIN transfers AS t ON t.id = p.transfer_id
    WHERE p.id = v_id;
END
$$;

-- A transfer picks up the postbacks that arrived before it (within 4 hours of its time, same number).
CREATE FUNCTION l2i_transfers_match_postbacks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(l2i_caller_lock_key(NEW.account_id, NEW.caller_id));
    UPDATE postbacks AS p SET transfer_id = NEW.id, matched_at = now()
    WHERE p.account_id = NEW.account_id AND p.caller_id = NEW.caller_id AND p.transfer_id IS NULL
      AND p.call_time BETWEEN NEW.transferred_at - interval '4 hours' AND NEW.transferred_at + interval '4 hours';
    IF FOUND THEN
        PERFORM l2i_transfer_revenue_refresh(NEW.id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER transfers_match_postbacks AFTER INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION l2i_transfers_match_postbacks();

-- Operators: match every waiting postback that has a transfer by now; returns how many were matched.
CREATE FUNCTION l2i_postbacks_rematch(p_account_id uuid DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_postback record;
    v_matched integer := 0;
BEGIN
    FOR v_postback IN
        SELECT p.id, p.account_id, p.caller_id FROM postbacks AS p
        WHERE p.transfer_id IS NULL AND (p_account_id IS NULL OR p.account_id = p_account_id)
        ORDER BY p.received_at
    LOOP
        PERFORM pg_advisory_xact_lock(l2i_caller_lock_key(v_postback.account_id, v_postback.caller_id));
        IF l2i_postback_match(v_postback.id) IS NOT NULL THEN
            v_matched := v_matched + 1;
        END IF;
    END LOOP;
    RETURN v_matched;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- (Stats: GET /v1/stats reads leads_account_created_idx only: its INCLUDE columns are what the query reads.)

-- Operators find an account's leads by number, old ones included (sql/admin/lead_find.sql).
CREATE INDEX leads_account_phone_idx ON leads (account_id, phone);

-- ---------------------------------------------------------------------------------------------------------------
-- Campaigns (0009): what a lead is for, who may call it, when, how often, and which agent takes it.
CREATE TABLE campaigns (
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id           uuid        NOT NULL,
    code                 text        NOT NULL,
    name                 text        NOT NULL,
    is_default           boolean     NOT NULL DEFAULT false,
    active               boolean     NOT NULL DEFAULT true,
    paused               boolean     NOT NULL DEFAULT false,
    required_fields      text[]      NOT NULL DEFAULT '{}',
    states               text[],
    hours_start          time[],
    hours_end            time[],
    max_attempts         integer     NOT NULL DEFAULT 3,
    retry_backoff_s      integer     NOT NULL DEFAULT 1800,
    backoff_s            jsonb       NOT NULL DEFAULT '{}',
    daily_cap            integer,
    priority             smallint    NOT NULL DEFAULT 0,
    agent                text,
    cost_per_lead_cents  bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_pkey PRIMARY KEY (id),
    CONSTRAINT campaigns_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT campaigns_account_code_key UNIQUE (account_id, code),
    CONSTRAINT campaigns_code_check CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{1,31}$'),
    CONSTRAINT campaigns_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT campaigns_required_fields_check CHECK (array_position(required_fields, NULL) IS NULL),
    CONSTRAINT campaigns_states_check
        CHECK (cardinality(states) > 0 AND array_to_string(states, ',') ~ '^[A-Z]{2}(,[A-Z]{2})*$'),
    CONSTRAINT campaigns_hours_check CHECK ((hours_start IS NULL) = (hours_end IS NULL)
        AND (hours_start IS NULL OR (cardinality(hours_start) = 7 AND cardinality(hours_end) = 7))),
    CONSTRAINT campaigns_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 50),
    CONSTRAINT campaigns_retry_backoff_s_check CHECK (retry_backoff_s BETWEEN 1 AND 604800),
    CONSTRAINT campaigns_backoff_s_check CHECK (jsonb_typeof(backoff_s) = 'object'),
    CONSTRAINT campaigns_daily_cap_check CHECK (daily_cap BETWEEN 0 AND 10000000),
    CONSTRAINT campaigns_priority_check CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT campaigns_agent_check CHECK (length(agent) BETWEEN 1 AND 200),
    CONSTRAINT campaigns_cost_per_lead_cents_check CHECK (cost_per_lead_cents BETWEEN 0 AND 10000000)
);
-- A post may name a campaign by its name too (the marketplace's `category` is a name): one per account.
CREATE UNIQUE INDEX campaigns_account_name_key ON campaigns (account_id, lower(name));
CREATE UNIQUE INDEX campaigns_account_default_key ON campaigns (account_id) WHERE is_default;
COMMENT ON TABLE campaigns IS
    'A calling operation of an account: which leads it takes, when and how often they are called, which agent '
    'calls them. Managed with l2i campaign, sql/admin/campaign_*.sql or /v1/campaigns (admin scope).';
COMMENT ON COLUMN campaigns.code IS 'Short stable code (never changes): how senders and dialers name the campaign.';
COMMENT ON COLUMN campaigns.is_default IS
    'The campaign 0011 gave an account with leads: takes leads that name none while it is the only campaign.';
COMMENT ON COLUMN campaigns.active IS 'false: takes no new leads (422); its queue is still called unless paused.';
COMMENT ON COLUMN campaigns.paused IS 'true: its queued leads are not handed out; they keep their order.';
COMMENT ON COLUMN campaigns.required_fields IS
    'Lead fields (canonical names, consent fields included; custom.NAME for custom fields) without which a lead '
    'is refused (422).';
COMMENT ON COLUMN campaigns.states IS 'States served (licensing); NULL = all. A lead outside: held state_not_served.';
COMMENT ON COLUMN campaigns.hours_start IS
    'Weekly hours, local time of the lead: start of day n (1 = Monday ... 7 = Sunday), NULL = not that day. NULL '
    'array: the legal window only. Always intersected with the legal window (never widens it).';
COMMENT ON COLUMN campaigns.hours_end IS 'End (exclusive) of each day''s hours; see hours_start.';
COMMENT ON COLUMN campaigns.max_attempts IS 'Claims of one lead before no_answer/busy/voicemail make it unreached.';
COMMENT ON COLUMN campaigns.retry_backoff_s IS
    'Wait before a retry: base * 2^(attempts - 1), at most one day; base = backoff_s[outcome] else this.';
COMMENT ON COLUMN campaigns.backoff_s IS
    'Back-off base per outcome: {"no_answer": s, "busy": s, "voicemail": s, "lease_expired": s}.';
COMMENT ON COLUMN campaigns.daily_cap IS
    'Leads queued per UTC day at most; over it a lead is held campaign_cap and released on a later day or when '
    'the cap is raised. NULL: no cap.';
COMMENT ON COLUMN campaigns.priority IS 'Claim order across campaigns, 0-9: higher first (then the lead''s priority).';
COMMENT ON COLUMN campaigns.agent IS 'Opaque value (voice agent or script id) handed to dialers with each lead.';
COMMENT ON COLUMN campaigns.cost_per_lead_cents IS 'What the buyer pays the vendor for one lead; copied to leads.cost_cents.';

CREATE FUNCTION l2i_campaigns_code_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a campaign''s code never changes (% stays %)', NEW.code, OLD.code
        USING ERRCODE = 'check_violation', CONSTRAINT = 'campaigns_code_immutable', TABLE = 'campaigns';
END
$$;
CREATE TRIGGER campaigns_code_immutable BEFORE UPDATE OF code ON campaigns
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION l2i_campaigns_code_guard();

-- The daily cap: leads queued per campaign and UTC day (l2i_campaign_slot, l2i_campaign_release).
CREATE TABLE campaign_days (
    campaign_id  uuid    NOT NULL,
    day          date    NOT NULL,
    queued       integer NOT NULL,
    CONSTRAINT campaign_days_pkey PRIMARY KEY (campaign_id, day),
    CONSTRAINT campaign_days_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id)
);
COMMENT ON TABLE campaign_days IS 'Leads queued per campaign and UTC day, counted against campaigns.daily_cap.';

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_default_campaign_id_fkey FOREIGN KEY (default_campaign_id) REFERENCES campaigns (id);
COMMENT ON COLUMN api_keys.default_campaign_id IS 'The campaign of the leads this key sends that name none.';
ALTER TABLE leads ADD CONSTRAINT leads_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id);
COMMENT ON COLUMN leads.campaign_id IS 'The campaign the lead is for; NULL for accounts without campaigns.';
COMMENT ON COLUMN leads.cost_cents IS 'What the lead cost (its campaign''s cost_per_lead_cents at intake).';
-- Leads held over a campaign's daily cap, oldest first, for their release.
CREATE INDEX leads_campaign_cap_idx ON leads (campaign_id, created_at, id)
    WHERE status = 'ineligible' AND reasons = '{campaign_cap}';

-- Campaign hours. PL/pgSQL, as the calling-window functions (0005): they run for every intake and every claim
-- candidate, and PL/pgSQL keeps its plan for the session.

-- True iff p_at is inside the campaign's hours in every zone of p_zones (local day of week and time); true when
-- the campaign has no hours. The legal window is checked separately (l2i_call_allowed): both must hold.
CREATE FUNCTION l2i_campaign_open(p_start time[], p_end time[], p_zones text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN p_start IS NULL OR NOT EXISTS (
        SELECT 1
        FROM unnest(p_zones) AS z(zone)
        CROSS JOIN LATERAL (SELECT p_at AT TIME ZONE z.zone AS ts) AS l
        CROSS JOIN LATERAL (SELECT extract(isodow FROM l.ts)::integer AS dow, l.ts::time AS tod) AS lt
        WHERE NOT coalesce(lt.tod >= p_start[lt.dow] AND lt.tod < p_end[lt.dow], false));
END
$$;

-- Earliest instant >= p_after inside the campaign's hours in every zone (the answer is p_after or the start of
-- some zone's day), looking 8 days ahead; NULL if none.
CREATE FUNCTION l2i_campaign_next_open(p_start time[], p_end time[], p_zones text[], p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (
        SELECT c.t
        FROM (SELECT p_after AS t
              UNION ALL
              SELECT (d.day + p_start[extract(isodow FROM d.day)::integer]) AT TIME ZONE z.zone
              FROM unnest(p_zones) AS z(zone)
              CROSS JOIN generate_series(0, 8) AS o(n)
              CROSS JOIN LATERAL (SELECT (p_after AT TIME ZONE z.zone)::date + o.n AS day) AS d) AS c
        WHERE c.t >= p_after AND l2i_campaign_open(p_start, p_end, p_zones, c.t)
        ORDER BY c.t
        LIMIT 1);
END
$$;

-- Earliest instant >= p_after that is both legal (l2i_next_call_time: the strictest window of every state in
-- p_states, in every zone, outside their blackouts) and inside the campaign's hours: the two searches take turns
-- until they agree, so the campaign's hours only narrow the legal window. Without campaign hours,
-- l2i_next_call_time itself. (Attempt caps: callers pass p_after from l2i_attempt_free_at.)
CREATE FUNCTION l2i_campaign_next_call_time(p_start time[], p_end time[], p_zones text[], p_states text[],
                                            p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    v_at timestamptz := p_after;
BEGIN
    FOR i IN 1..20 LOOP
        v_at := l2i_next_call_time(p_zones, p_states, v_at);
        IF v_at IS NULL OR p_start IS NULL OR l2i_campaign_open(p_start, p_end, p_zones, v_at) THEN
            RETURN v_at;
        END IF;
        v_at := l2i_campaign_next_open(p_start, p_end, p_zones, v_at);
        IF v_at IS NULL THEN
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Intake: which campaign a lead is for, and its checks (called once by lead_intake).
--   p_campaign: the campaign the post names (code, name or id), else NULL; p_default: the default campaign of
--   the sender (the key's; a source's, where one is given), else NULL; p_present: the lead's fields that have a
--   value; p_state: the state whose rules apply (the lead's, else its area code's).
-- refused: required (the account has campaigns, the post names none), unknown, inactive, missing_fields; the
-- lead is then not stored (422). reasons: state_not_served. gate: what was checked, for leads.gates.
CREATE FUNCTION l2i_campaign_gate(p_account_id uuid, p_campaign text, p_default uuid, p_present text[],
                                  p_state text)
RETURNS TABLE (id uuid, code text, refused text, missing text[], reasons text[], hours_start time[],
               hours_end time[], daily_cap integer, priority smallint, cost_cents bigint, gate jsonb)
LANGUAGE plpgsql STABLE ROWS 1
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    c campaigns;
    v_wanted text := upper(btrim(p_campaign));
    v_how text := 'named';
    v_refused text;
    v_missing text[] := '{}';
    v_served boolean;
BEGIN
    IF p_campaign IS NOT NULL THEN
        SELECT * INTO c FROM campaigns AS k
        WHERE k.account_id = p_account_id
          AND (k.code = v_wanted OR lower(k.name) = lower(btrim(p_campaign)) OR k.id::text = lower(v_wanted))
        ORDER BY k.code = v_wanted DESC
        LIMIT 1;
    ELSIF p_default IS NOT NULL THEN
        v_how := 'sender_default';
        SELECT * INTO c FROM campaigns AS k WHERE k.id = p_default AND k.account_id = p_account_id;
    END IF;
    IF c.id IS NULL THEN
        -- One look at the account's campaigns, its own first: if it has one, the lead needed a campaign; if it
        -- has only its default campaign (0011), that one takes the lead whatever the post names (what it named
        -- is kept in the gate); if it has none, the lead has no campaign.
        SELECT * INTO c FROM campaigns AS k WHERE k.account_id = p_account_id ORDER BY k.is_default LIMIT 1;
        IF c.id IS NOT NULL AND NOT c.is_default THEN
            c := NULL;
            v_refused := CASE WHEN p_campaign IS NULL THEN 'required' ELSE 'unknown' END;
        ELSE
            v_how := 'account_default';
        END IF;
    END IF;
    IF c.id IS NOT NULL AND NOT c.active THEN
        v_refused := 'inactive';
    END IF;
    IF c.id IS NOT NULL AND v_refused IS NULL THEN
        v_missing := ARRAY(SELECT r.f FROM unnest(c.required_fields) WITH ORDINALITY AS r(f, n)
                           WHERE r.f <> ALL (p_present) ORDER BY r.n);
        IF cardinality(v_missing) > 0 THEN
            v_refused := 'missing_fields';
        END IF;
        v_served := c.states IS NULL OR coalesce(p_state = ANY (c.states), false);
    END IF;
    RETURN QUERY SELECT
        c.id, c.code, v_refused, v_missing,
        CASE WHEN v_served = false THEN ARRAY['state_not_served'] ELSE '{}'::text[] END,
        c.hours_start, c.hours_end, c.daily_cap, c.priority, c.cost_per_lead_cents,
        CASE WHEN c.id IS NOT NULL OR p_campaign IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
            'code', c.code, 'sent', p_campaign, 'how', CASE WHEN c.id IS NOT NULL THEN v_how END,
            'required_fields', c.required_fields, 'states', c.states, 'state', p_state,
            'state_served', v_served, 'hours', c.hours_start IS NOT NULL, 'daily_cap', c.daily_cap)) END;
END
$$;

-- The daily cap at intake: counts one queued lead against today's (UTC) cap of the campaign; false when the cap
-- is reached (the lead is then held campaign_cap). A number with an open lead in the account takes no slot (a
-- duplicate stores nothing); two first posts of one number at the same instant may both count (the cap errs on
-- the side of fewer calls). The campaign_days row is locked only for the rest of the intake statement.
CREATE FUNCTION l2i_campaign_slot(p_campaign_id uuid, p_cap integer, p_account_id uuid, p_phone text,
                                  p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_counted integer;
BEGIN
    IF p_cap IS NULL OR EXISTS (SELECT 1 FROM leads AS l
                                WHERE l.account_id = p_account_id AND l.phone = p_phone AND l.dedupe_open) THEN
        RETURN true;
    END IF;
    IF p_cap <= 0 THEN
        RETURN false;
    END IF;
    INSERT INTO campaign_days AS d (campaign_id, day, queued)
    VALUES (p_campaign_id, (p_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT ON CONSTRAINT campaign_days_pkey DO UPDATE SET queued = d.queued + 1 WHERE d.queued < p_cap
    RETURNING d.queued INTO v_counted;
    RETURN v_counted IS NOT NULL;
END
$$;

-- Releases leads held over a campaign's cap (campaign_cap, and nothing else) into the queue, oldest first, as far
-- as today's cap allows: the next day, or once the cap is raised or removed. For one account (or all when NULL).
-- Run by every claim (for its account), by l2i_campaign_update and by `l2i dial reap`. Returns how many.
CREATE FUNCTION l2i_campaign_release(p_account_id uuid, p_at timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := coalesce(p_at, now());
    v_day date := (coalesce(p_at, now()) AT TIME ZONE 'UTC')::date;
    c record;
    v_room integer;
    v_moved integer;
    v_total integer := 0;
BEGIN
    FOR c IN
        SELECT k.id, k.account_id, k.daily_cap, k.priority, k.hours_start, k.hours_end
        FROM campaigns AS k
        WHERE (p_account_id IS NULL OR k.account_id = p_account_id)
          AND EXISTS (SELECT 1 FROM leads AS l
                      WHERE l.campaign_id = k.id AND l.status = 'ineligible' AND l.reasons = '{campaign_cap}')
    LOOP
        v_room := 1000;
        IF c.daily_cap IS NOT NULL THEN
            INSERT INTO campaign_days AS d (campaign_id, day, queued) VALUES (c.id, v_day, 0)
            ON CONFLICT ON CONSTRAINT campaign_days_pkey DO UPDATE SET queued = d.queued
            RETURNING least(1000, c.daily_cap - d.queued) INTO v_room;
        END IF;
        CONTINUE WHEN v_room <= 0;
        WITH picked AS (
            SELECT l.id, l.account_id, l.phone, l.priority, l.expires_at,
                   ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'zones')) AS zones,
                   CASE WHEN l.gates -> 'calling_window' ? 'states'
                        THEN ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'states'))
                        ELSE array_remove(ARRAY[l.gates -> 'calling_window' ->> 'state'], NULL) END AS states
            FROM leads AS l
            WHERE l.campaign_id = c.id AND l.status = 'ineligible' AND l.reasons = '{campaign_cap}'
              AND (l.expires_at IS NULL OR l.expires_at > v_at)
            ORDER BY l.created_at, l.id
            LIMIT v_room
            FOR UPDATE SKIP LOCKED
        ), placed AS (
            SELECT p.*, coalesce(l2i_campaign_next_call_time(
                                     c.hours_start, c.hours_end, p.zones, p.states,
                                     l2i_attempt_free_at(p.account_id, p.phone, p.states, v_at)),
                                 v_at) AS not_before
            FROM picked AS p
            WHERE cardinality(p.zones) > 0
        ), moved AS (
            UPDATE leads AS l SET status = 'new', reasons = '{}', updated_at = v_at
            FROM placed AS p WHERE l.id = p.id
            RETURNING l.id
        ), queued AS (
            INSERT INTO dial_queue (lead_id, account_id, campaign_id, campaign_priority, phone, states, zones,
                                    not_before, priority, enqueued_at, expires_at)
            SELECT p.id, p.account_id, c.id, c.priority, p.phone, p.states, p.zones, p.not_before, p.priority, v_at,
                   p.expires_at
            FROM placed AS p
        ), events AS (
            INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, at, detail)
            SELECT p.id, p.account_id, 'released', 'ineligible', 'new', v_at,
                   jsonb_build_object('reason', 'campaign_cap', 'not_before', p.not_before)
            FROM placed AS p
        )
        SELECT count(*) INTO v_moved FROM moved;
        IF v_moved > 0 AND c.daily_cap IS NOT NULL THEN
            UPDATE campaign_days SET queued = queued + v_moved WHERE campaign_id = c.id AND day = v_day;
        END IF;
        v_total := v_total + v_moved;
    END LOOP;
    RETURN v_total;
END
$$;

-- True iff a queued lead of this campaign may be handed out at p_at (dial_claim): no campaign, or a campaign
-- that is not paused and is open at that time in every zone of the lead. The legal window is checked on its own.
CREATE FUNCTION l2i_campaign_callable(p_campaign_id uuid, p_zones text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    c record;
BEGIN
    IF p_campaign_id IS NULL THEN
        RETURN true;
    END IF;
    SELECT k.paused, k.hours_start, k.hours_end INTO c FROM campaigns AS k WHERE k.id = p_campaign_id;
    RETURN NOT c.paused AND l2i_campaign_open(c.hours_start, c.hours_end, p_zones, p_at);
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Managing campaigns: the CLI, the psql scripts (sql/admin/campaign_*.sql) and /v1/campaigns all call these.

-- A campaign's hours from their JSON form {"mon": "10:00-16:00", ..., "sun": null}: the starts (p_end false) or
-- the ends (p_end true), Monday first; a day not given has no hours. NULL (or JSON null): no hours of its own.
CREATE FUNCTION l2i_campaign_hours(p_hours jsonb, p_end boolean) RETURNS time[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_hours IS NULL OR jsonb_typeof(p_hours) = 'null' THEN NULL ELSE
        ARRAY(SELECT NULLIF(split_part(p_hours ->> d.name, '-', CASE WHEN p_end THEN 2 ELSE 1 END), '')::time
              FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) WITH ORDINALITY AS d(name, n)
              ORDER BY d.n) END
$$;

-- A campaign as the API shows it.
CREATE FUNCTION l2i_campaign_document(c campaigns) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'code', c.code, 'name', c.name, 'default', c.is_default, 'active', c.active,
        'paused', c.paused, 'required_fields', to_jsonb(c.required_fields), 'states', to_jsonb(c.states),
        'hours', CASE WHEN c.hours_start IS NOT NULL THEN (
            SELECT coalesce(jsonb_object_agg(d.name, to_char(c.hours_start[d.n], 'HH24:MI') || '-'
                                                     || CASE WHEN c.hours_end[d.n] = time '24:00' THEN '24:00'
                                                             ELSE to_char(c.hours_end[d.n], 'HH24:MI') END)
                                FILTER (WHERE c.hours_start[d.n] IS NOT NULL), '{}')
            FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) WITH ORDINALITY AS d(name, n)) END,
        'max_attempts', c.max_attempts, 'retry_backoff_s', c.retry_backoff_s, 'backoff_s', c.backoff_s,
        'daily_cap', c.daily_cap, 'priority', c.priority, 'agent', c.agent,
        'cost_per_lead_cents', c.cost_per_lead_cents,
        'queued_today', coalesce((SELECT d.queued FROM campaign_days AS d
                                  WHERE d.campaign_id = c.id AND d.day = (now() AT TIME ZONE 'UTC')::date), 0),
        'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

-- Changes a campaign (given by code, name or id) with the settings present in p_settings (the API's body:
-- name, active, paused, required_fields, states, hours, max_attempts, retry_backoff_s, backoff_s, daily_cap,
-- priority, agent, cost_per_lead_cents; JSON null clears the optional ones). Keeps the queue's campaign_priority
-- in step, and releases held leads the new settings make room for. No row: no such campaign in the account.
CREATE FUNCTION l2i_campaign_update(p_account_id uuid, p_campaign text, p_settings jsonb)
RETURNS SETOF campaigns
LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    v_unknown text;
    v_row campaigns;
    s jsonb := coalesce(p_settings, '{}');
BEGIN
    SELECT k INTO v_unknown FROM jsonb_object_keys(s) AS k
    WHERE k NOT IN ('name', 'active', 'paused', 'required_fields', 'states', 'hours', 'max_attempts',
                    'retry_backoff_s', 'backoff_s', 'daily_cap', 'priority', 'agent', 'cost_per_lead_cents')
    LIMIT 1;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'not a campaign setting: %', v_unknown USING ERRCODE = '22023';
    END IF;
    UPDATE campaigns AS k SET
        name = CASE WHEN s ? 'name' THEN btrim(s ->> 'name') ELSE k.name END,
        active = CASE WHEN s ? 'active' THEN (s ->> 'active')::boolean ELSE k.active END,
        paused = CASE WHEN s ? 'paused' THEN (s ->> 'paused')::boolean ELSE k.paused END,
        required_fields = CASE WHEN s ? 'required_fields'
            THEN ARRAY(SELECT jsonb_array_elements_text(coalesce(NULLIF(s -> 'required_fields', 'null'), '[]')))
            ELSE k.required_fields END,
        states = CASE WHEN s ? 'states' THEN CASE WHEN jsonb_typeof(s -> 'states') = 'array'
            THEN ARRAY(SELECT upper(jsonb_array_elements_text(s -> 'states'))) END ELSE k.states END,
        hours_start = CASE WHEN s ? 'hours' THEN l2i_campaign_hours(s -> 'hours', false) ELSE k.hours_start END,
        hours_end = CASE WHEN s ? 'hours' THEN l2i_campaign_hours(s -> 'hours', true) ELSE k.hours_end END,
        max_attempts = CASE WHEN s ? 'max_attempts' THEN (s ->> 'max_attempts')::integer ELSE k.max_attempts END,
        retry_backoff_s = CASE WHEN s ? 'retry_backoff_s' THEN (s ->> 'retry_backoff_s')::integer
                               ELSE k.retry_backoff_s END,
        backoff_s = CASE WHEN s ? 'backoff_s' THEN coalesce(NULLIF(s -> 'backoff_s', 'null'), '{}') ELSE k.backoff_s END,
        daily_cap = CASE WHEN s ? 'daily_cap' THEN (s ->> 'daily_cap')::integer ELSE k.daily_cap END,
        priority = CASE WHEN s ? 'priority' THEN (s ->> 'priority')::smallint ELSE k.priority END,
        agent = CASE WHEN s ? 'agent' THEN NULLIF(btrim(s ->> 'agent'), '') ELSE k.agent END,
        cost_per_lead_cents = CASE WHEN s ? 'cost_per_lead_cents' THEN (s ->> 'cost_per_lead_cents')::bigint
                                   ELSE k.cost_per_lead_cents END,
        updated_at = now()
    WHERE k.account_id = p_account_id
      AND (k.code = upper(btrim(p_campaign)) OR lower(k.name) = lower(btrim(p_campaign))
           OR k.id::text = lower(btrim(p_campaign)))
    RETURNING k.* INTO v_row;
    IF v_row.id IS NULL THEN
        RETURN;
    END IF;
    IF s ? 'priority' THEN
        UPDATE dial_queue AS q SET campaign_priority = v_row.priority
        WHERE q.campaign_id = v_row.id AND q.campaign_priority <> v_row.priority;
    END IF;
    IF s ? 'daily_cap' THEN
        PERFORM l2i_campaign_release(p_account_id);
    END IF;
    RETURN NEXT v_row;
END
$$;

-- Creates a campaign: p_settings as for l2i_campaign_update, plus name (required) and code (optional: 2-32 of
-- A-Z, 0-9, _ and -; by default 8 random characters). Returns the new campaign.
CREATE FUNCTION l2i_campaign_create(p_account_id uuid, p_settings jsonb)
RETURNS SETOF campaigns
LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    v_code text := upper(btrim(p_settings ->> 'code'));
    v_id uuid;
BEGIN
    IF v_code IS NULL OR v_code = '' THEN
        v_code := (SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', 1 + floor(random() * 32)::integer, 1),
                                     '')
                   FROM generate_series(1, 8));
    END IF;
    INSERT INTO campaigns (account_id, code, name)
    VALUES (p_account_id, v_code, btrim(p_settings ->> 'name'))
    RETURNING id INTO v_id;
    RETURN QUERY SELECT * FROM l2i_campaign_update(p_account_id, v_id::text, p_settings - 'code');
END
$$;

-- Sets the default campaign of a key (given as the key itself, as l2i_key_create returns it) and returns the key,
-- so the two compose: SELECT l2i_key_campaign(l2i_key_create(...), 'SOLAR'). A NULL or empty campaign changes
-- nothing; an unknown one raises an error.
CREATE FUNCTION l2i_key_campaign(p_key text, p_campaign text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_found boolean;
BEGIN
    IF NULLIF(btrim(p_campaign), '') IS NULL THEN
        RETURN p_key;
    END IF;
    UPDATE api_keys AS a SET default_campaign_id = k.id
    FROM campaigns AS k
    WHERE a.key_hash = sha256(convert_to(p_key, 'UTF8')) AND k.account_id = a.account_id
      AND (k.code = upper(btrim(p_campaign)) OR lower(k.name) = lower(btrim(p_campaign))
           OR k.id::text = lower(btrim(p_campaign)))
    RETURNING true INTO v_found;
    IF v_found IS NULL THEN
        RAISE EXCEPTION 'no campaign % in the key''s account', p_campaign USING ERRCODE = '22023';
    END IF;
    RETURN p_key;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Analyst views: stable names and columns (add columns at the end, never rename). Times are UTC.
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

CREATE VIEW analytics_unmatched_postbacks AS
SELECT p.account_id, p.id AS postback_id, p.caller_id, p.call_time, p.call_id, p.buyer, p.payout_cents,
       p.duration_s, p.hits, p.received_at, now() - p.received_at AS waiting
FROM postbacks AS p
WHERE p.transfer_id IS NULL;
COMMENT ON VIEW analytics_unmatched_postbacks IS
    'Postbacks no transfer matched yet (same caller id within 4 hours). sql/admin/postbacks_rematch.sql retries.';

CREATE VIEW analytics_campaigns AS
SELECT k.account_id, k.id AS campaign_id, k.code, k.name, k.active, k.paused, k.agent, k.daily_cap,
       k.cost_per_lead_cents, k.is_default
FROM campaigns AS k;
COMMENT ON VIEW analytics_campaigns IS
    'The campaigns, to join analytics_funnel_daily and analytics_revenue_by_buyer on campaign_id.';
-- ---------------------------------------------------------------------------------------------------------------
-- CSV import jobs (0008): the stored file, the job with its lease and progress, every row's outcome.
-- A runner claims a job with l2i_import_claim, renews the lease every batch, and commits each batch's leads,
-- outcomes and progress together after checking its claim is still current (l2i/import_jobs.py).
CREATE TABLE imports (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id        uuid        NOT NULL,
    api_key_id        uuid,
    source            text,
    content_type      text,
    status            text        NOT NULL DEFAULT 'queued',
    file_bytes        bigint      NOT NULL,
    rows_total        integer     NOT NULL,
    last_row          integer     NOT NULL DEFAULT 1,
    totals            jsonb       NOT NULL DEFAULT '{}',
    claim_id          uuid,
    lease_expires_at  timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    CONSTRAINT imports_pkey PRIMARY KEY (id),
    CONSTRAINT imports_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT imports_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id),
    CONSTRAINT imports_status_check CHECK (status IN ('queued', 'running', 'done', 'failed')),
    CONSTRAINT imports_claim_check CHECK (status <> 'running' OR (claim_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT imports_finished_check CHECK ((finished_at IS NOT NULL) = (status IN ('done', 'failed'))),
    CONSTRAINT imports_error_check CHECK ((error IS NOT NULL) = (status = 'failed')),
    CONSTRAINT imports_rows_check CHECK (rows_total >= 0 AND last_row >= 1 AND file_bytes >= 0)
);
-- The claim's candidates: queued jobs, and running ones whose lease may have run out.
CREATE INDEX imports_open_idx ON imports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX imports_account_id_idx ON imports (account_id, created_at);
COMMENT ON TABLE imports IS 'CSV import jobs (POST /v1/leads/import, l2i import): one per file, run by l2i/import_jobs.py.';
COMMENT ON COLUMN imports.rows_total IS 'Rows after the header, counted when the file was checked at upload.';
COMMENT ON COLUMN imports.last_row IS 'Every row of the file up to this one (1 = the header) is decided and committed.';
COMMENT ON COLUMN imports.totals IS 'rows, created, duplicate, ineligible, invalid, blank, as of last_row (final once done).';
COMMENT ON COLUMN imports.claim_id IS 'The current runner''s claim; a batch commits only if it is still this one.';
COMMENT ON COLUMN imports.lease_expires_at IS 'A running job whose lease has run out is claimed again (its runner died).';
COMMENT ON COLUMN imports.attempts IS 'How many times the job was claimed.';

CREATE TABLE import_chunks (
    import_id  uuid    NOT NULL,
    seq        integer NOT NULL,
    data       bytea   NOT NULL,
    CONSTRAINT import_chunks_pkey PRIMARY KEY (import_id, seq),
    CONSTRAINT import_chunks_import_id_fkey FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE
);
COMMENT ON TABLE import_chunks IS 'The uploaded file of a job not done yet, in 256 KiB pieces (seq from 0); deleted when it is done.';

CREATE TABLE import_rows (
    import_id   uuid    NOT NULL,
    row_number  integer NOT NULL,
    outcome     text    NOT NULL,
    lead_id     uuid,
    result      jsonb   NOT NULL,
    CONSTRAINT import_rows_pkey PRIMARY KEY (import_id, row_number),
    CONSTRAINT import_rows_import_id_fkey FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE,
    CONSTRAINT import_rows_outcome_check CHECK (outcome IN ('created', 'duplicate', 'ineligible', 'invalid'))
);
COMMENT ON TABLE import_rows IS 'Each non-blank row''s outcome, as GET /v1/imports/{id} answers it (result); row 1 is the header.';

-- Claims one job: the oldest claimable one whose account runs fewer than p_max_per_account jobs, while fewer than
-- p_max_total run in all (accounts running fewer jobs first). Claimable: queued, or running with a lease that ran
-- out. The advisory lock makes claims take turns, so two runners never both see the last free place; each
-- statement of a PL/pgSQL function sees the others' committed claims (a new snapshot after the lock). SKIP LOCKED
-- passes over a job whose runner is inside a batch (it holds the job's row until the batch commits).
-- p_import_id: claim that job only (`l2i import` runs its own file).
CREATE FUNCTION l2i_import_claim(p_max_total integer, p_max_per_account integer, p_lease_s integer,
                                 p_import_id uuid DEFAULT NULL)
RETURNS SETOF imports
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7140322006);
    RETURN QUERY
    WITH busy AS (
        SELECT i.account_id, count(*) AS n
        FROM imports AS i
        WHERE i.status = 'running' AND i.lease_expires_at > now()
        GROUP BY i.account_id
    ), candidate AS (
        SELECT i.id
        FROM imports AS i
        LEFT JOIN busy AS b ON b.account_id = i.account_id
        WHERE i.status IN ('queued', 'running')
          AND (i.status = 'queued' OR i.lease_expires_at <= now())
          AND (p_import_id IS NULL OR i.id = p_import_id)
          AND coalesce(b.n, 0) < p_max_per_account
          AND (SELECT coalesce(sum(n), 0) FROM busy) < p_max_total
        ORDER BY coalesce(b.n, 0), i.created_at
        LIMIT 1
        FOR UPDATE OF i SKIP LOCKED
    )
    UPDATE imports AS i
    SET status = 'running', claim_id = gen_random_uuid(), attempts = i.attempts + 1,
        lease_expires_at = now() + make_interval(secs => p_lease_s), started_at = coalesce(i.started_at, now())
    FROM candidate
    WHERE i.id = candidate.id
    RETURNING i.*;
END
$$;
COMMENT ON FUNCTION l2i_import_claim(integer, integer, integer, uuid) IS
    'Claims one import job within the per-account and total limits (l2i/import_jobs.py); no row if none may start.';



-- ===============================================================================================================
-- Intake sources, their secrets, rate-limit windows and pending platform leads; Idempotency-Key (0007).
-- ---------------------------------------------------------------------------------------------------------------
-- Sources.
CREATE TABLE sources (
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id            uuid        NOT NULL,
    name                  text        NOT NULL,
    prefix                text        NOT NULL,
    token_hash            bytea       NOT NULL,
    adapter               text,
    defaults              jsonb       NOT NULL DEFAULT '{}',
    mapping               jsonb       NOT NULL DEFAULT '{}',
    consent_on_submit     boolean     NOT NULL DEFAULT false,
    consent_text_version  text,
    consent_text          text,
    rate_limit            integer     NOT NULL DEFAULT 120,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_used_at          timestamptz,
    revoked_at            timestamptz,
    CONSTRAINT sources_pkey PRIMARY KEY (id),
    CONSTRAINT sources_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT sources_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sources_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT sources_adapter_check CHECK (adapter ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT sources_defaults_check CHECK (jsonb_typeof(defaults) = 'object'),
    CONSTRAINT sources_mapping_check CHECK (jsonb_typeof(mapping) = 'object'),
    CONSTRAINT sources_consent_check CHECK (NOT consent_on_submit OR coalesce(length(btrim(consent_text_version)), 0) > 0),
    CONSTRAINT sources_rate_limit_check CHECK (rate_limit BETWEEN 1 AND 1000000)
);
CREATE INDEX sources_account_id_idx ON sources (account_id);
COMMENT ON TABLE sources IS 'Intake sources: one sender (form, vendor, landing page) with its own URL token; token_hash is sha256 of the token, never stored.';
COMMENT ON COLUMN sources.prefix IS 'First 13 characters of the token (l2is_ + 8 hex): safe to show and log.';
COMMENT ON COLUMN sources.adapter IS 'The sender''s envelope (l2i/adapters/: unbounce, typeform, jotform, hubspot, facebook, google, ...); NULL: flat fields, or recognized from the body.';
COMMENT ON COLUMN sources.defaults IS 'Values for the source''s leads where the lead has none: source, sub_id, utm_*, ... and custom (an object).';
COMMENT ON COLUMN sources.mapping IS 'Sender key or JSON path (answers.3.text, properties.phone.value, 1.3) -> l2i field (phone, first_name, custom.x, ...).';
COMMENT ON COLUMN sources.consent_on_submit IS 'A real-time submission is the consent act: a lead without its own consent_timestamp gets its arrival time and consent_text_version.';

-- Secrets a source must keep in clear (to check a signature or call the platform's API). A table of their own so
-- that the analyst role, which may read sources, never reads these; the API never shows them after creation.
CREATE TABLE source_secrets (
    source_id       uuid        NOT NULL,
    signing_secret  text,
    verify_token    text,
    page_token      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT source_secrets_pkey PRIMARY KEY (source_id),
    CONSTRAINT source_secrets_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id)
);
COMMENT ON TABLE source_secrets IS 'Per-source secrets kept in clear: signing_secret (Typeform secret, Facebook app secret, Google key), verify_token (Facebook hub.verify_token), page_token (Facebook page access token).';

-- The same fixed one-minute window as rate_limit_windows, one row per source (sql/queries/sources.sql, source_hit).
CREATE UNLOGGED TABLE source_rate_limit_windows (
    source_id     uuid        NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL,
    CONSTRAINT source_rate_limit_windows_pkey PRIMARY KEY (source_id)
);
COMMENT ON TABLE source_rate_limit_windows IS 'Requests counted in the current one-minute window of each source (unlogged).';

-- Leads a platform only named (Facebook's leadgen_id) and that are fetched from its API. A failed fetch leaves the
-- row waiting (lead_id NULL); `l2i sources retry` or the source's next webhook tries again.
CREATE TABLE source_pending_leads (
    source_id    uuid        NOT NULL,
    external_id  text        NOT NULL,
    notice       jsonb       NOT NULL DEFAULT '{}',
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    lead_id      uuid,
    CONSTRAINT source_pending_leads_pkey PRIMARY KEY (source_id, external_id),
    CONSTRAINT source_pending_leads_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id)
);
CREATE INDEX source_pending_leads_waiting_idx ON source_pending_leads (received_at) WHERE done_at IS NULL;
COMMENT ON TABLE source_pending_leads IS 'Leads announced by a platform webhook and fetched from its API (Facebook Lead Ads); done_at NULL: still to fetch.';

-- ---------------------------------------------------------------------------------------------------------------
-- Which source a lead came through.
-- (leads.source_id: in CREATE TABLE leads above.)
ALTER TABLE leads ADD CONSTRAINT leads_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id);
COMMENT ON COLUMN leads.source_id IS 'The intake source (sources.id) the lead came through; NULL for keys and CSV imports.';

-- ---------------------------------------------------------------------------------------------------------------
-- Idempotency-Key: the first answer to a request, replayed for the same key and body within 24 hours.
CREATE TABLE idempotency_keys (
    account_id    uuid        NOT NULL,
    idem_key      text        NOT NULL,
    request_hash  bytea       NOT NULL,
    status        smallint,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (account_id, idem_key),
    CONSTRAINT idempotency_keys_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT idempotency_keys_idem_key_check CHECK (length(idem_key) BETWEEN 1 AND 255)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key of POST /v1/leads and source intake: request_hash is sha256 of the request; status NULL while the first request runs.';

-- ---------------------------------------------------------------------------------------------------------------
-- Operator functions (the CLI and sql/admin/*.sql call them).

-- Creates a source and returns its id and token: the only time the token is ever seen.
CREATE FUNCTION l2i_source_create(p_account_id uuid, p_name text, p_adapter text DEFAULT NULL,
                                  p_defaults jsonb DEFAULT '{}', p_mapping jsonb DEFAULT '{}',
                                  p_consent_on_submit boolean DEFAULT false, p_consent_text_version text DEFAULT NULL,
                                  p_consent_text text DEFAULT NULL, p_rate_limit integer DEFAULT NULL,
                                  p_signing_secret text DEFAULT NULL, p_verify_token text DEFAULT NULL,
                                  p_page_token text DEFAULT NULL)
RETURNS TABLE (id uuid, token text)
LANGUAGE plpgsql AS $$
DECLARE
    v_token text := 'l2is_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    v_id uuid;
BEGIN
    INSERT INTO sources AS s (account_id, name, prefix, token_hash, adapter, defaults, mapping, consent_on_submit,
                              consent_text_version, consent_text, rate_limit)
    VALUES (p_account_id, btrim(p_name), left(v_token, 13), sha256(convert_to(v_token, 'UTF8')),
            NULLIF(btrim(p_adapter), ''), coalesce(p_defaults, '{}'), coalesce(p_mapping, '{}'),
            coalesce(p_consent_on_submit, false), NULLIF(btrim(p_consent_text_version), ''),
            NULLIF(p_consent_text, ''), coalesce(p_rate_limit, 120))
    RETURNING s.id INTO v_id;
    IF coalesce(p_signing_secret, p_verify_token, p_page_token) IS NOT NULL THEN
        INSERT INTO source_secrets (source_id, signing_secret, verify_token, page_token)
        VALUES (v_id, NULLIF(p_signing_secret, ''), NULLIF(p_verify_token, ''), NULLIF(p_page_token, ''));
    END IF;
    RETURN QUERY SELECT v_id, v_token;
END
$$;

-- Revokes a source given its id or its token; returns it (no secret), or nothing if unknown.
CREATE FUNCTION l2i_source_revoke(p_source text) RETURNS TABLE (id uuid, prefix text, revoked_at timestamptz)
LANGUAGE sql AS $$
    UPDATE sources AS s SET revoked_at = coalesce(s.revoked_at, now())
    WHERE CASE WHEN p_source LIKE 'l2is\_%' THEN s.token_hash = sha256(convert_to(p_source, 'UTF8'))
               WHEN p_source ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN s.id = p_source::uuid
               ELSE false END
    RETURNING s.id, s.prefix, s.revoked_at
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- The analysts' read-only role, one per database (0010_analyst_per_database.sql; 0004 made one l2i_analyst for the
-- whole server): l2i_<database>_analyst, or the name in the setting l2i.analyst_role. It sees the views and the
-- tables without secrets; never api_keys, postback_tokens (hashes), rate_limit_windows,
-- postback_rate_limit_windows, source_secrets or sources.token_hash. NOLOGIN: grant it to a login role. Only the owner, the migrating role (the service) and this role may connect; only the owner and the
-- service may take advisory locks (the postback and transfer locks), when a superuser migrates.
CREATE FUNCTION l2i_analyst_role() RETURNS name
LANGUAGE sql
STABLE
AS $$
    -- 63 bytes at most: a long database name is cut before the suffix, so the suffix always stays.
    SELECT coalesce(nullif(current_setting('l2i.analyst_role', true), ''),
                    left('l2i_' || current_database(), 55) || '_analyst')::name;
$$;
COMMENT ON FUNCTION l2i_analyst_role() IS
    'The name of this database''s read-only analyst role: the setting l2i.analyst_role, else l2i_<database>_analyst.';

DO $$
DECLARE
    v_role name := l2i_analyst_role();
    v_owner name := (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database());
    v_function text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', v_role);
    EXECUTE format('GRANT SELECT ON analytics_funnel_daily, analytics_revenue_by_buyer, analytics_unmatched_postbacks, '
                   'accounts, leads, lead_events, dial_queue, transfers, postbacks, suppressions, calling_rules, '
                   'calling_holidays, imports, import_rows, campaigns, analytics_campaigns TO %I', v_role);
    -- sources without the token hash (0007_sources.sql), never source_secrets.
    EXECUTE format('GRANT SELECT (id, account_id, name, prefix, adapter, defaults, mapping, consent_on_submit, '
                   'consent_text_version, consent_text, rate_limit, created_at, last_used_at, revoked_at) '
                   'ON sources TO %I', v_role);
    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), v_role);
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        FOR v_function IN
            SELECT p.oid::regprocedure::text FROM pg_proc AS p
            WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ '^pg_(try_)?advisory_'
        LOOP
            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_function);
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, %I', v_function, v_owner, current_user);
        END LOOP;
    END IF;
END
$$;

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
COMMENT ON FUNCTION l2i_lead_intake(uuid, uuid, uuid, text, timestamptz, text[], text[], text[], text, uuid, text[],
                                    integer, integer, jsonb, text, text, text, text, text, text, text, text, text,
                                    text, jsonb, text, text, text, text, text, text, text, text, jsonb, jsonb) IS
    'The intake pipeline (lead_intake): campaign, dedupe, suppression, registry, calling window, caps, the lead, '
    'the queue. One row: the lead stored or the open lead duplicated, or refused (nothing stored).';

-- ===============================================================================================================
-- Retention and erasure (0013_retention.sql: the why, and the legal sources). Columns: accounts.retention_days,
-- accounts.retention_done_before, leads.anonymized_at (above); leads.phone, transfers.caller_id and
-- postbacks.caller_id are NULL once anonymized.
-- The legal hold of consent evidence and call records: 4 years (28 U.S.C. § 1658(a); see the header).
CREATE FUNCTION l2i_consent_hold() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT interval '4 years'
$$;
COMMENT ON FUNCTION l2i_consent_hold() IS
    'How long consent evidence and call attempts are kept after the last call (TCPA: 28 U.S.C. 1658(a), 4 years).';

-- ---------------------------------------------------------------------------------------------------------------
-- Consent evidence outliving its lead: the consent as the lead carried it and the number it was given for.
-- A row goes once its lead is older than l2i_consent_hold() and no call attempt on the number is younger.
CREATE TABLE consent_evidence (
    lead_id          uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    phone            text        NOT NULL,
    consent          jsonb       NOT NULL,
    lead_created_at  timestamptz NOT NULL,
    kept_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consent_evidence_pkey PRIMARY KEY (lead_id),
    CONSTRAINT consent_evidence_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT consent_evidence_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$')
);
CREATE INDEX consent_evidence_account_created_idx ON consent_evidence (account_id, lead_created_at);
CREATE INDEX consent_evidence_account_phone_idx ON consent_evidence (account_id, phone);
COMMENT ON TABLE consent_evidence IS
    'The consent of leads anonymized by retention, with the number, kept until 4 years after the lead or the last '
    'call attempt on the number, whichever is later (l2i retention apply deletes it then; an erasure at once).';

-- Erasures done: who asked, when, what went; the number only as sha256(account_id || ':' || phone), hex.
CREATE TABLE lead_erasures (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    account_id    uuid        NOT NULL,
    phone_sha256  text        NOT NULL,
    removed       jsonb       NOT NULL,
    operator      text,
    api_key_id    uuid,
    db_user       text        NOT NULL DEFAULT session_user,
    at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lead_erasures_pkey PRIMARY KEY (id),
    CONSTRAINT lead_erasures_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT lead_erasures_phone_sha256_check CHECK (phone_sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX lead_erasures_account_phone_idx ON lead_erasures (account_id, phone_sha256);
COMMENT ON TABLE lead_erasures IS
    'Every erasure of a number (l2i lead erase): the account, sha256 of account_id:phone in hex (not the number), '
    'the rows removed or cleared per table, who (operator or API key, database user) and when.';

-- The hash lead_erasures keeps: an operator given a number recomputes it to find the erasure.
CREATE FUNCTION l2i_phone_sha256(p_account_id uuid, p_phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(p_account_id::text || ':' || p_phone, 'UTF8')), 'hex')
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Anonymizes leads of one account (ids; created before p_before, which lets a partitioned leads prune): keeps
-- their consent as evidence when p_evidence and the hold still runs, then clears transfers' and postbacks' caller
-- ids, deletes queue rows and events, and NULLs the personal fields. Returns what it did, per table. Already
-- anonymized leads are skipped, so running it twice changes nothing the second time. Row locks are taken on the
-- leads first (an intake meeting one of them as a duplicate waits for this transaction, then inserts a new lead).
CREATE FUNCTION l2i_leads_anonymize(p_account_id uuid, p_ids uuid[], p_before timestamptz, p_evidence boolean)
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
COMMENT ON FUNCTION l2i_leads_anonymize(uuid, uuid[], timestamptz, boolean) IS
    'Removes the personal data of an account''s leads (retention, erasure), keeping what stats read; see 0013_retention.';

-- ---------------------------------------------------------------------------------------------------------------
-- A consumer's "delete me": every lead of the account with the number, and what derives from them, in one
-- transaction; the number goes on the suppression list as opted_out (or stays there). Returns the erasure's row.
-- p_operator: who did it (the CLI's --operator, or NULL when an API key did: p_api_key_id).
CREATE FUNCTION l2i_lead_erase(p_account_id uuid, p_phone text, p_operator text DEFAULT NULL,
                               p_api_key_id uuid DEFAULT NULL)
RETURNS SETOF lead_erasures
LANGUAGE plpgsql AS $$
DECLARE
    v_phone text := l2i_e164(p_phone);
    v_ids uuid[];
    v_done record;
    v_attempts integer;
    v_evidence integer;
    v_transfers integer;
    v_postbacks integer;
    v_idempotency integer;
    v_import_rows integer;
    v_suppressed boolean;
BEGIN
    IF v_phone IS NULL THEN
        RAISE EXCEPTION 'not a phone number: %', p_phone USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = p_account_id) THEN
        RAISE EXCEPTION 'no such account: %', p_account_id USING ERRCODE = '22023';
    END IF;
    -- The suppression first: from its commit on, a new post of the number is held as suppressed.
    SELECT s.added INTO v_suppressed FROM l2i_suppress(p_account_id, ARRAY[v_phone], 'opted_out', p_api_key_id) AS s;
    SELECT coalesce(array_agg(l.id), '{}') INTO v_ids
    FROM leads AS l WHERE l.account_id = p_account_id AND l.phone = v_phone;
    SELECT * INTO v_done FROM l2i_leads_anonymize(p_account_id, v_ids, 'infinity', false);
    DELETE FROM call_attempts AS a WHERE a.account_id = p_account_id AND a.phone = v_phone;
    GET DIAGNOSTICS v_attempts = ROW_COUNT;
    DELETE FROM consent_evidence AS e WHERE e.account_id = p_account_id AND e.phone = v_phone;
    GET DIAGNOSTICS v_evidence = ROW_COUNT;
    -- The number as a caller id, whoever's lead it was on (postbacks first, as l2i_postback_record locks them).
    UPDATE postbacks AS p SET caller_id = NULL, fields = '{}', updated_at = now()
    WHERE p.account_id = p_account_id AND p.caller_id = v_phone;
    GET DIAGNOSTICS v_postbacks = ROW_COUNT;
    UPDATE transfers AS t SET caller_id = NULL WHERE t.account_id = p_account_id AND t.caller_id = v_phone;
    GET DIAGNOSTICS v_transfers = ROW_COUNT;
    -- Stored answers and import outcomes name the number or the leads (kept 24 hours / with the job).
    DELETE FROM idempotency_keys AS k
    WHERE k.account_id = p_account_id
      AND (k.response::text LIKE '%' || v_phone || '%'
           OR EXISTS (SELECT 1 FROM unnest(v_ids) AS i (id) WHERE k.response::text LIKE '%' || i.id::text || '%'));
    GET DIAGNOSTICS v_idempotency = ROW_COUNT;
    DELETE FROM import_rows AS r USING imports AS i
    WHERE i.account_id = p_account_id AND r.import_id = i.id
      AND (r.lead_id = ANY(v_ids) OR r.result::text LIKE '%' || v_phone || '%');
    GET DIAGNOSTICS v_import_rows = ROW_COUNT;
    RETURN QUERY
    INSERT INTO lead_erasures AS x (account_id, phone_sha256, removed, operator, api_key_id)
    VALUES (p_account_id, l2i_phone_sha256(p_account_id, v_phone),
            jsonb_build_object('leads', v_done.leads, 'lead_events', v_done.events, 'dial_queue', v_done.queue,
                               'call_attempts', v_attempts, 'consent_evidence', v_evidence,
                               'transfers', v_done.transfers + v_transfers,
                               'postbacks', v_done.postbacks + v_postbacks, 'idempotency_keys', v_idempotency,
                               'import_rows', v_import_rows, 'suppression_added', v_suppressed),
            NULLIF(btrim(p_operator), ''), p_api_key_id)
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION l2i_lead_erase(uuid, text, text, uuid) IS
    'Erases a number from an account (a consumer''s deletion request) except its suppression; records lead_erasures.';

-- ---------------------------------------------------------------------------------------------------------------
-- The hook for whole-month partitions: may the partition of p_table holding rows up to p_upper (exclusive) be
-- dropped instead of deleted row by row? The partitions branch lists the partitions and their bounds; `l2i
-- retention apply` would drop those for which this says true before the row-wise passes (l2i/retention.py).
-- lead_events: when every account's retention is past p_upper (their events go with the anonymized leads anyway).
-- call_attempts: when every account's retention and the consent hold are past it. leads: never (stats read the
-- anonymized rows; a roll-up table that stats.sql read would be needed first).
CREATE FUNCTION l2i_retention_droppable(p_table text, p_upper timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE p_table
               WHEN 'lead_events' THEN
                   p_upper <= now() - make_interval(days => (SELECT coalesce(max(a.retention_days), 36525)
                                                             FROM accounts AS a))
               WHEN 'call_attempts' THEN
                   p_upper <= least(now() - l2i_consent_hold(),
                                    now() - make_interval(days => (SELECT coalesce(max(a.retention_days), 36525)
                                                                   FROM accounts AS a)))
               ELSE false
           END
$$;
COMMENT ON FUNCTION l2i_retention_droppable(text, timestamptz) IS
    'True when a whole partition of lead_events or call_attempts ending at p_upper is past every account''s '
    'retention (and, for call attempts, the consent hold): drop it instead of deleting its rows. leads: never.';

-- ---------------------------------------------------------------------------------------------------------------
-- The database's analyst role (0010): the erasure records (no numbers). Not consent_evidence: legal evidence with
-- numbers, read by operators when a claim comes.
DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON lead_erasures TO %I', l2i_analyst_role());
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Month partitions of leads (0014) and lead_events (0015): made ahead, listed and dropped by these functions.
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
CREATE FUNCTION l2i_partition_create(p_month timestamptz) RETURNS boolean
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
CREATE FUNCTION l2i_partitions_ensure(p_months_ahead integer DEFAULT 3, p_at timestamptz DEFAULT now())
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
CREATE FUNCTION l2i_partitions(p_before timestamptz DEFAULT NULL)
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
CREATE FUNCTION l2i_partition_drop(p_partition text, p_before timestamptz) RETURNS void
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
COMMENT ON FUNCTION l2i_partition_drop(text, timestamptz) IS
    'Detaches and drops a month partition of leads or lead_events wholly before p_before (for leads, its referencing rows must be gone first).';

-- ---------------------------------------------------------------------------------------------------------------
-- lead_created_at of the rows pointing at a lead (0014).
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
    CONSTRAINT lead_dedupe_keys_pkey PRIMARY KEY (account_id, phone)
);
COMMENT ON TABLE lead_dedupe_keys IS
    'The open lead of each account and number: a post of the number within 30 days of its created_at is its duplicate.';
COMMENT ON COLUMN lead_dedupe_keys.lead_created_at IS
    'The open lead''s created_at (with lead_id, its key in leads); kept in step by l2i_lead_rows_follow.';

-- The queue row and the dedupe key name their lead without a foreign key (checking one against partitioned
-- leads locked every partition at every intake: 0016_intake_statements.sql); this trigger does what the
-- foreign keys' cascades did.
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
-- Authentication and rate count of a key, a source and a postback token (0017_window_hits.sql).
CREATE FUNCTION l2i_key_hit(p_key_hash bytea,
                            OUT id uuid, OUT account_id uuid, OUT prefix text, OUT scopes text[],
                            OUT rate_limit integer, OUT default_campaign_id uuid, OUT hits integer,
                            OUT reset_at bigint, OUT now_epoch numeric)
LANGUAGE plpgsql AS $$
DECLARE
    v_key uuid;
    v_start timestamptz;
BEGIN
    SELECT k.id, k.account_id, k.prefix, k.scopes, k.rate_limit, k.default_campaign_id
    INTO v_key, account_id, prefix, scopes, rate_limit, default_campaign_id
    FROM api_keys AS k
    WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    id := v_key;
    INSERT INTO rate_limit_windows AS w (api_key_id, window_start, hits)
    VALUES (v_key, date_trunc('minute', now()), 1)
    ON CONFLICT ON CONSTRAINT rate_limit_windows_pkey DO UPDATE
        SET hits = CASE WHEN w.window_start >= excluded.window_start THEN w.hits + 1 ELSE 1 END,
            window_start = greatest(w.window_start, excluded.window_start)
    RETURNING w.hits, w.window_start INTO hits, v_start;
    IF hits = 1 THEN
        UPDATE api_keys AS k SET last_used_at = now() WHERE k.id = v_key;
    END IF;
    reset_at := extract(epoch FROM v_start)::bigint + 60;
    now_epoch := extract(epoch FROM now());
END
$$;
COMMENT ON FUNCTION l2i_key_hit(bytea) IS
    'Authenticates a key by its hash and counts this request in its one-minute window (the first hit of a window stamps last_used_at); all NULL for an unknown or revoked key.';

-- A source's token (and, when the sender names it, its id), as l2i_key_hit does for keys; the source's settings
-- and its secrets come back with the count (source_hit).
CREATE FUNCTION l2i_source_hit(p_token_hash bytea, p_source_id uuid,
                               OUT id uuid, OUT account_id uuid, OUT name text, OUT prefix text, OUT adapter text,
                               OUT defaults jsonb, OUT mapping jsonb, OUT consent_on_submit boolean,
                               OUT consent_text_version text, OUT consent_text text, OUT rate_limit integer,
                               OUT hits integer, OUT reset_at bigint, OUT now_epoch numeric,
                               OUT arrived_at timestamptz, OUT signing_secret text, OUT verify_token text,
                               OUT page_token text)
LANGUAGE plpgsql AS $$
DECLARE
    v_source uuid;
    v_start timestamptz;
BEGIN
    SELECT s.id, s.account_id, s.name, s.prefix, s.adapter, s.defaults, s.mapping, s.consent_on_submit,
           s.consent_text_version, s.consent_text, s.rate_limit, x.signing_secret, x.verify_token, x.page_token
    INTO v_source, account_id, name, prefix, adapter, defaults, mapping, consent_on_submit, consent_text_version,
         consent_text, rate_limit, signing_secret, verify_token, page_token
    FROM sources AS s
    LEFT JOIN source_secrets AS x ON x.source_id = s.id
    WHERE s.token_hash = p_token_hash AND s.revoked_at IS NULL AND (p_source_id IS NULL OR s.id = p_source_id);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    id := v_source;
    INSERT INTO source_rate_limit_windows AS w (source_id, window_start, hits)
    VALUES (v_source, date_trunc('minute', now()), 1)
    ON CONFLICT ON CONSTRAINT source_rate_limit_windows_pkey DO UPDATE
        SET hits = CASE WHEN w.window_start >= excluded.window_start THEN w.hits + 1 ELSE 1 END,
            window_start = greatest(w.window_start, excluded.window_start)
    RETURNING w.hits, w.window_start INTO hits, v_start;
    IF hits = 1 THEN
        UPDATE sources AS s SET last_used_at = now() WHERE s.id = v_source;
    END IF;
    reset_at := extract(epoch FROM v_start)::bigint + 60;
    now_epoch := extract(epoch FROM now());
    arrived_at := now();
END
$$;
COMMENT ON FUNCTION l2i_source_hit(bytea, uuid) IS
    'Authenticates a source token (and the source id when given) by its hash and counts this request in its one-minute window, with the source''s settings and secrets; all NULL for an unknown or revoked token.';

-- A postback URL's token, as l2i_key_hit does for keys (postback_token_hit).
CREATE FUNCTION l2i_postback_token_hit(p_token_hash bytea,
                                       OUT id uuid, OUT account_id uuid, OUT prefix text, OUT rate_limit integer,
                                       OUT hits integer, OUT reset_at bigint, OUT now_epoch numeric)
LANGUAGE plpgsql AS $$
DECLARE
    v_token uuid;
    v_start timestamptz;
BEGIN
    SELECT t.id, t.account_id, t.prefix, t.rate_limit INTO v_token, account_id, prefix, rate_limit
    FROM postback_tokens AS t
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    id := v_token;
    INSERT INTO postback_rate_limit_windows AS w (token_id, window_start, hits)
    VALUES (v_token, date_trunc('minute', now()), 1)
    ON CONFLICT ON CONSTRAINT postback_rate_limit_windows_pkey DO UPDATE
        SET hits = CASE WHEN w.window_start >= excluded.window_start THEN w.hits + 1 ELSE 1 END,
            window_start = greatest(w.window_start, excluded.window_start)
    RETURNING w.hits, w.window_start INTO hits, v_start;
    IF hits = 1 THEN
        UPDATE postback_tokens AS t SET last_used_at = now() WHERE t.id = v_token;
    END IF;
    reset_at := extract(epoch FROM v_start)::bigint + 60;
    now_epoch := extract(epoch FROM now());
END
$$;
COMMENT ON FUNCTION l2i_postback_token_hit(bytea) IS
    'Authenticates a postback token by its hash and counts this request in its one-minute window; all NULL for an unknown or revoked token.';

-- The months ahead, as the migration makes them (l2i partitions ensure keeps them coming).
SELECT l2i_partitions_ensure(3);
