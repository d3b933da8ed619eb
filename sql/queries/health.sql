-- Queries for the health endpoints.

-- name: ping :one
-- Proves a pooled connection reaches the database, and says whether it can write: a standby (in recovery) or a
-- read-only server (default_transaction_read_only, as during a failover) answers reads but refuses every write.
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('transaction_read_only') = 'on' AS read_only;
