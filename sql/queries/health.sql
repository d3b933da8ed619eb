-- Queries for the health endpoints.

-- name: ping :one
-- The cheapest statement that proves a pooled connection reaches the database.
SELECT 1 AS ok;
