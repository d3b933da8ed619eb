-- 0006_postback_rate_limit: a per-token rate limit for postback URLs (issue 9, section 5), and the do_not_call
-- reason of CSV rows in the leads.reasons comment.
--
-- Why: a postback token is a credential in a URL that buyer platforms fire; until now any number of requests a
-- minute was accepted. Now each token has a limit per minute (default 600: a platform fires one postback per call
-- and event, so this is far above a busy account's rate and stops only a runaway or abusive sender), counted
-- exactly as API keys are (sql/queries/api_keys.sql, key_hit): fixed one-minute windows, one row per token in an
-- UNLOGGED table, bumped by one upsert that only moves a window forward. Past the limit: 429 with Retry-After.
--
-- How: applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. The new column has a
-- default, so existing tokens get 600 without a table rewrite. l2i_postback_token_create gains a rate limit
-- argument, so it is dropped and created again (same name, one more argument with a default).

ALTER TABLE postback_tokens ADD COLUMN rate_limit integer NOT NULL DEFAULT 600;
ALTER TABLE postback_tokens ADD CONSTRAINT postback_tokens_rate_limit_check CHECK (rate_limit BETWEEN 1 AND 1000000);
COMMENT ON COLUMN postback_tokens.rate_limit IS
    'Postbacks a minute this token may send (fixed windows in postback_rate_limit_windows); past it, 429.';

-- Fixed one-minute windows, one row per postback token, counted by one upsert (sql/queries/postbacks.sql,
-- postback_token_hit). UNLOGGED: a counter needs no WAL; after a crash the table is empty, which resets every
-- window. Like rate_limit_windows, never readable by l2i_analyst.
CREATE UNLOGGED TABLE postback_rate_limit_windows (
    token_id      uuid        NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL,
    CONSTRAINT postback_rate_limit_windows_pkey PRIMARY KEY (token_id)
);
COMMENT ON TABLE postback_rate_limit_windows IS
    'Postbacks counted in the current one-minute window of each postback token (unlogged).';

DROP FUNCTION l2i_postback_token_create(uuid, text);
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

COMMENT ON COLUMN leads.reasons IS
    'Why the lead is held: suppressed, missing_consent, invalid_consent, not_us_number, no_calling_window, dnc, '
    'dnc_unavailable, consent_expired, do_not_call (a CSV row whose do-not-call column said so).';
