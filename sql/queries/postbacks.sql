-- Queries for buyer platforms' postbacks (the matching itself is l2i_postback_record, migration 0004).

-- name: postback_token_hit :one
-- Authenticate a postback URL's token by its hash and count this request in the token's current one-minute
-- window, in one statement, as key_hit does for API keys (sql/queries/api_keys.sql: the same fixed window that
-- only moves forward, the row locked for this statement only). No row: unknown or revoked token. The first hit
-- of a window also stamps postback_tokens.last_used_at.
WITH t AS (
    SELECT id, account_id, prefix, rate_limit
    FROM postback_tokens
    WHERE token_hash = %(token_hash)s AND revoked_at IS NULL
), hit AS (
    INSERT INTO postback_rate_limit_windows AS w (token_id, window_start, hits)
    SELECT t.id, date_trunc('minute', now()), 1 FROM t
    ON CONFLICT ON CONSTRAINT postback_rate_limit_windows_pkey DO UPDATE
        SET hits = CASE WHEN w.window_start >= excluded.window_start THEN w.hits + 1 ELSE 1 END,
            window_start = greatest(w.window_start, excluded.window_start)
    RETURNING w.hits, w.window_start
), touched AS (
    UPDATE postback_tokens SET last_used_at = now()
    FROM t, hit
    WHERE postback_tokens.id = t.id AND hit.hits = 1
)
SELECT t.id, t.account_id, t.prefix, t.rate_limit, hit.hits,
       extract(epoch FROM hit.window_start)::bigint + 60 AS reset_at,
       extract(epoch FROM now()) AS now_epoch
FROM t CROSS JOIN hit;

-- name: postback_record :one
-- Record one postback exactly once and match it to a transfer: outcome matched, unmatched, duplicate or replaced.
SELECT postback_id, outcome, transfer_id, lead_id, payout_cents, previous_payout_cents
FROM l2i_postback_record(%(account_id)s, %(token_id)s, %(caller_id)s, coalesce(%(call_time)s::timestamptz, now()),
                         %(call_id)s, %(buyer)s, %(duration_s)s, %(payout_cents)s, %(fields)s);
