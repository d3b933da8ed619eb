-- 0004_revenue: postback tokens, buyer postbacks matched to transfers, revenue on transfers, analyst views and a
-- read-only role for analysts.
--
-- Applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only.
--
-- How a postback finds its transfer: by caller id (E.164), among the account's transfers whose transferred_at is
-- within 4 hours either side of the call time, the nearest. A postback that finds none waits (unmatched) and is
-- matched by the trigger transfers_match_postbacks when such a transfer is recorded. Both sides take the same
-- advisory lock (account, caller id) and look with a fresh snapshot after it, so a postback and a transfer that
-- arrive at the same moment still meet.

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
    CONSTRAINT postback_tokens_pkey PRIMARY KEY (id),
    CONSTRAINT postback_tokens_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT postback_tokens_token_hash_key UNIQUE (token_hash)
);
CREATE INDEX postback_tokens_account_id_idx ON postback_tokens (account_id);
COMMENT ON TABLE postback_tokens IS 'Postback URL tokens (l2ipb_ + 64 hex): token_hash is sha256 of the token, never stored.';

CREATE FUNCTION l2i_postback_token_create(p_account_id uuid, p_label text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_token text := 'l2ipb_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO postback_tokens (account_id, label, prefix, token_hash)
    VALUES (p_account_id, p_label, left(v_token, 14), sha256(convert_to(v_token, 'UTF8')));
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
ALTER TABLE transfers
    ADD COLUMN payout_cents bigint,
    ADD COLUMN buyer text,
    ADD COLUMN duration_s integer,
    ADD COLUMN paid_at timestamptz;
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
    caller_id              text        NOT NULL,
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
-- Stats: GET /v1/stats scans an account's leads by creation time; this index holds what the query reads, so the
-- scan never visits the table (sql/queries/stats.sql, stats_by_group).
CREATE INDEX leads_stats_idx ON leads (account_id, created_at)
    INCLUDE (id, status, source, sub_id, duplicate_count, attempts, reasons);

-- Operators find an account's leads by number, old ones included (sql/admin/lead_find.sql); leads_dedupe_key
-- only holds the open ones.
CREATE INDEX leads_account_phone_idx ON leads (account_id, phone);

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
       coalesce(sum(t.payout_cents), 0) AS revenue_cents
FROM leads AS l
LEFT JOIN transfers AS t ON t.lead_id = l.id
GROUP BY l.account_id, (l.created_at AT TIME ZONE 'UTC')::date, l.source;
COMMENT ON VIEW analytics_funnel_daily IS
    'Per account, UTC day of intake and source: leads stored, duplicates rejected (counted on the lead they '
    'repeat), held, queued, dialed, qualified (incl. transferred), transferred, revenue in cents.';

CREATE VIEW analytics_revenue_by_buyer AS
SELECT t.account_id,
       t.buyer,
       (t.transferred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS transfers,
       count(*) FILTER (WHERE t.payout_cents IS NOT NULL) AS paid_transfers,
       coalesce(sum(t.payout_cents), 0) AS revenue_cents,
       round(avg(t.duration_s)) AS avg_duration_s
FROM transfers AS t
GROUP BY t.account_id, t.buyer, (t.transferred_at AT TIME ZONE 'UTC')::date;
COMMENT ON VIEW analytics_revenue_by_buyer IS
    'Per account, buyer (from postbacks; NULL until one names it) and UTC day of transfer: transfers, paid '
    'transfers, revenue in cents, average call duration.';

CREATE VIEW analytics_unmatched_postbacks AS
SELECT p.account_id, p.id AS postback_id, p.caller_id, p.call_time, p.call_id, p.buyer, p.payout_cents,
       p.duration_s, p.hits, p.received_at, now() - p.received_at AS waiting
FROM postbacks AS p
WHERE p.transfer_id IS NULL;
COMMENT ON VIEW analytics_unmatched_postbacks IS
    'Postbacks no transfer matched yet (same caller id within 4 hours). sql/admin/postbacks_rematch.sql retries.';

-- ---------------------------------------------------------------------------------------------------------------
-- l2i_analyst: read-only, for analysts and dashboards. It sees the views and the tables without secrets; never
-- api_keys, postback_tokens (hashes) or rate_limit_windows. NOLOGIN: grant it to a login role
-- (GRANT l2i_analyst TO alice). Roles belong to the whole server, so it is created only if missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'l2i_analyst') THEN
        CREATE ROLE l2i_analyst NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO l2i_analyst;
GRANT SELECT ON analytics_funnel_daily, analytics_revenue_by_buyer, analytics_unmatched_postbacks,
                accounts, leads, lead_events, dial_queue, transfers, postbacks, suppressions,
                calling_rules, calling_holidays
    TO l2i_analyst;
