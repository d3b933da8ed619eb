-- Queries for the health endpoints.

-- name: ping :one
-- Proves a pooled connection reaches the database, and says whether it can write: a standby (in recovery) or a
-- read-only server (default_transaction_read_only, as during a failover) answers reads but refuses every write.
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('transaction_read_only') = 'on' AS read_only;

-- name: partitions_ahead :one
-- Whether next month's partitions of leads and lead_events exist (l2i partitions ensure ran; without them intake
-- still works, in leads_default and lead_events_default). GET /readyz warns when one does not.
SELECT to_regclass('leads_' || to_char((now() + interval '1 month') AT TIME ZONE 'UTC', 'YYYY_MM')) IS NOT NULL
       AND to_regclass('lead_events_' || to_char((now() + interval '1 month') AT TIME ZONE 'UTC', 'YYYY_MM'))
           IS NOT NULL AS ahead;


-- name: session_settings :one
-- Read once per new pooled connection: the server backend's pid (another pid than the one the connection
-- announced means a pooler such as pgbouncer sits in between) and the settings l2i relies on.
SELECT pg_backend_pid() AS backend_pid,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('TimeZone') AS time_zone;
