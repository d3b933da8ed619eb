-- Queries on api_keys and rate_limit_windows. Each query starts with a `-- name: NAME :CARDINALITY` line and a
-- one-line description; l2i/sql.py loads them by name. Cardinality: :one (a row or none), :many (rows), :exec.

-- name: key_hit :one
-- Authenticate a key by its hash and count this request in the key's current one-minute window, in one
-- statement. No row: unknown or revoked key. The counter row is locked only for this statement (autocommit),
-- never across the request's own work, and the table is unlogged, so the commit waits for no WAL flush.
-- The first hit of a window also stamps api_keys.last_used_at (once a minute per key, not every request).
-- Windows only move forward: a request whose transaction began in the previous minute but got the row after
-- the next window opened counts in the newer window, never resets it (greatest, >=).
WITH k AS (
    SELECT id, account_id, prefix, scopes, rate_limit, default_campaign_id
    FROM api_keys
    WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
), hit AS (
    INSERT INTO rate_limit_windows AS w (api_key_id, window_start, hits)
    SELECT k.id, date_trunc('minute', now()), 1 FROM k
    ON CONFLICT ON CONSTRAINT rate_limit_windows_pkey DO UPDATE
        SET hits = CASE WHEN w.window_start >= excluded.window_start THEN w.hits + 1 ELSE 1 END,
            window_start = greatest(w.window_start, excluded.window_start)
    RETURNING w.hits, w.window_start
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    FROM k, hit
    WHERE api_keys.id = k.id AND hit.hits = 1
)
SELECT k.id, k.account_id, k.prefix, k.scopes, k.rate_limit, k.default_campaign_id, hit.hits,
       extract(epoch FROM hit.window_start)::bigint + 60 AS reset_at,
       extract(epoch FROM now()) AS now_epoch
FROM k CROSS JOIN hit;
