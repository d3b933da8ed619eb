-- 0001_core: accounts, API keys, per-key rate-limit windows, suppression lists, leads and the dial queue.
--
-- Applied by `l2i migrate`, which runs each migration file once, in one transaction, and records it in
-- schema_migrations. Forward-only: later changes go in new numbered files. No extension is needed
-- (gen_random_uuid() and sha256() are built in since PostgreSQL 13 and 11).

-- ---------------------------------------------------------------------------------------------------------------
-- Accounts: every lead, key and suppressed number belongs to exactly one.
CREATE TABLE accounts (
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_pkey PRIMARY KEY (id),
    CONSTRAINT accounts_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200)
);
COMMENT ON TABLE accounts IS 'A customer of l2i: owns API keys, leads and a suppression list.';

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
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash),
    CONSTRAINT api_keys_scopes_check CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['write', 'read']::text[]),
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
CREATE TABLE leads (
    id                 uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id         uuid        NOT NULL,
    api_key_id         uuid,
    phone              text        NOT NULL,
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
    CONSTRAINT leads_pkey PRIMARY KEY (id),
    CONSTRAINT leads_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT leads_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id),
    CONSTRAINT leads_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    CONSTRAINT leads_status_check CHECK (status IN ('new', 'ineligible')),
    CONSTRAINT leads_reasons_check CHECK ((status = 'ineligible') = (cardinality(reasons) > 0)),
    CONSTRAINT leads_state_check CHECK (state ~ '^[A-Z]{2}$')
);
-- The 30-day dedupe. A partial index's predicate must be immutable, so it cannot say "created in the last 30
-- days"; instead each lead keeps `dedupe_open` while it can still be duplicated, and the intake statement itself
-- closes the flag of an older lead when it meets it (lead_intake in sql/queries/leads.sql). At most one open lead
-- per account and number, so concurrent identical posts can never both insert.
CREATE UNIQUE INDEX leads_dedupe_key ON leads (account_id, phone) WHERE dedupe_open;
-- GET /v1/leads: an account's newest leads first, keyset-paginated on (created_at, id).
CREATE INDEX leads_account_created_idx ON leads (account_id, created_at DESC, id DESC);
COMMENT ON TABLE leads IS 'Every stored lead (duplicates are not stored: they bump duplicate_count of the lead they repeat).';
COMMENT ON COLUMN leads.status IS 'new = queued for a call; ineligible = stored and held, see reasons.';
COMMENT ON COLUMN leads.reasons IS 'Why the lead is held: suppressed, missing_consent, invalid_consent, not_us_number, no_calling_window.';
COMMENT ON COLUMN leads.extra IS 'Fields the sender sent that l2i does not know, kept as sent.';
COMMENT ON COLUMN leads.gates IS 'What each intake gate decided: phone, suppression, consent, calling_window.';
COMMENT ON COLUMN leads.dedupe_open IS 'True while a new post of the same number to the same account is a duplicate of this lead.';

-- ---------------------------------------------------------------------------------------------------------------
-- The dial queue: eligible leads waiting for a call. Dialers claim from it with FOR UPDATE SKIP LOCKED.
CREATE TABLE dial_queue (
    lead_id      uuid        NOT NULL,
    account_id   uuid        NOT NULL,
    phone        text        NOT NULL,
    state        text,
    zones        text[]      NOT NULL,
    priority     smallint    NOT NULL DEFAULT 0,
    not_before   timestamptz NOT NULL,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dial_queue_pkey PRIMARY KEY (lead_id),
    CONSTRAINT dial_queue_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id) ON DELETE CASCADE,
    CONSTRAINT dial_queue_zones_check CHECK (cardinality(zones) > 0)
);
CREATE INDEX dial_queue_claim_idx ON dial_queue (priority, not_before, enqueued_at);
COMMENT ON TABLE dial_queue IS 'Leads waiting for a call; not_before is the earliest legal call time at intake.';
COMMENT ON COLUMN dial_queue.zones IS 'Every time zone the lead may be in: a call must be legal in all of them.';

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

-- Adds numbers (any format l2i_e164 accepts) to an account's suppression list; returns each with whether it
-- was added now. A number that cannot be normalized raises an error and adds nothing.
CREATE FUNCTION l2i_suppress(p_account_id uuid, p_phones text[], p_reason text DEFAULT NULL)
RETURNS TABLE (phone text, added boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT p INTO v_bad FROM unnest(p_phones) AS p WHERE l2i_e164(p) IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'not a phone number: %', v_bad USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS phone FROM unnest(p_phones) AS p),
         ins AS (INSERT INTO suppressions AS s (account_id, phone, reason)
                 SELECT p_account_id, w.phone, p_reason FROM wanted AS w
                 ON CONFLICT ON CONSTRAINT suppressions_pkey DO NOTHING
                 RETURNING s.phone)
    SELECT w.phone, ins.phone IS NOT NULL FROM wanted AS w LEFT JOIN ins ON ins.phone = w.phone ORDER BY 1;
END
$$;

-- Removes numbers from an account's suppression list; returns each with whether it was there.
CREATE FUNCTION l2i_unsuppress(p_account_id uuid, p_phones text[])
RETURNS TABLE (phone text, removed boolean)
LANGUAGE sql AS $$
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS phone FROM unnest(p_phones) AS p),
         del AS (DELETE FROM suppressions AS s USING wanted AS w
                 WHERE s.account_id = p_account_id AND s.phone = w.phone
                 RETURNING s.phone)
    SELECT w.phone, del.phone IS NOT NULL FROM wanted AS w LEFT JOIN del ON del.phone = w.phone
    WHERE w.phone IS NOT NULL ORDER BY 1
$$;
