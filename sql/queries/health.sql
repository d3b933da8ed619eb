-- Queries for the health endpoints.

-- name: ping :one
-- The cheapest statement that proves a pooled connection reaches the database.
SELECT 1 AS ok;

-- name: session_settings :one
-- Read once per new pooled connection: the server backend's pid (another pid than the one the connection
-- announced means a pooler such as pgbouncer sits in between) and the settings l2i relies on.
SELECT pg_backend_pid() AS backend_pid,
       current_setting('statement_timeout') AS statement_timeout,
       current_setting('TimeZone') AS time_zone;
