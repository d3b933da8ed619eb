-- 0017_window_hits: the authentication and rate count of a key (key_hit), a source (source_hit) and a postback
-- token (postback_token_hit) as PL/pgSQL functions (issue 13).
--
-- key_hit was one statement of three CTEs: the key, the counter's upsert, and an UPDATE of api_keys.last_used_at
-- joined to the count, which stamps only a window's first hit but whose ModifyTable PostgreSQL starts (opening
-- api_keys and its indexes) at every request. Every authenticated request sends key_hit, and a POST sends it
-- beside lead_intake, in its own transaction: at 32 clients it was a fifth of the SQL floor's time.
-- Measured (scratch database with the 20 bench keys, pgbench -M prepared -c 32, 2 cores, 2026-11-30):
--   * key_hit alone: 4,643-5,248 tps as one statement, 5,635-6,235 as a function (2 interleaved rounds);
--     the counter's upsert alone (without the stamp) 5,683-6,689: the stamp was the difference. This function
--     (the upsert, then the stamp when it applies), 3 more interleaved rounds: 6,309 / 6,144 / 5,715 tps against
--     the statement's 5,578 / 6,277 / 5,129.
--   * the floor (bench/run.py's floor scripts, key_hit + lead_intake, 8 s runs, 4 ABBA blocks): 741 tps median
--     with this function against 682 (+9%), ahead in 3 blocks of 4. In one session the backend's CPU per key_hit
--     is the same either way (bench/RESULTS.md, fifth pass): the difference shows under concurrency.
-- What: l2i_key_hit does the same three things in the same order, the stamp only when it applies: the key
-- (unknown or revoked: every column NULL, and the query keeps no row); the counter's upsert, as before; the
-- stamp, only for a window's first hit. The counter row stays locked only until key_hit's own commit
-- (autocommit), as before.
-- Windows only move forward, as before: a request that began in the previous minute but got the row after the
-- next window opened counts in the newer window (greatest, >=). source_hit and postback_token_hit were the same
-- statement over their own tables (0006, 0007) and become the same function, with their own columns. The three
-- share a shape, not their tables: each names its own, so PL/pgSQL keeps the statements' plans (one function
-- taking a table's name would plan a dynamic statement at every request).
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
