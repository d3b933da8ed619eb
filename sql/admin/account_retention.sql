-- Show or set how many days an account keeps its leads' personal data (default 1461, 4 years: see
-- sql/migrations/0013_retention.sql). Leave days empty to show it. `l2i retention apply` (a daily timer) applies it.
--   psql -v account_id=UUID [-v days=730] -f sql/admin/account_retention.sql
\if :{?days}
\else
\set days ''
\endif
UPDATE accounts SET retention_days = coalesce(NULLIF(:'days', '')::integer, retention_days)
WHERE id = :'account_id'
RETURNING id AS account_id, retention_days, retention_done_before;
