-- Forget Idempotency-Keys older than 24 hours (they no longer replay anything); prints how many. Cron-able.
--   psql -f sql/admin/idempotency_sweep.sql
WITH gone AS (
    DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING 1
)
SELECT count(*) AS swept FROM gone;
