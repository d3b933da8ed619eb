-- Queries on api_keys and rate_limit_windows. Each query starts with a `-- name: NAME :CARDINALITY` line and a
-- one-line description; l2i/sql.py loads them by name. Cardinality: :one (a row or none), :many (rows), :exec.

-- name: key_hit :one
-- Authenticate a key by its hash and count this request in the key's current one-minute window (l2i_key_hit,
-- migration 0017; the first hit of a window also stamps api_keys.last_used_at). No row: unknown or revoked key.
-- The counter row is locked only for this statement (autocommit), never across the request's own work, and the
-- table is unlogged, so the commit waits for no WAL flush.
SELECT k.* FROM l2i_key_hit(%(key_hash)s) AS k WHERE k.id IS NOT NULL;
