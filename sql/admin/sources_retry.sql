-- Platform leads still waiting to be fetched (Facebook Lead Ads whose Graph API call failed), oldest first. Fetching
-- them needs HTTP: run `l2i sources retry [SOURCE_ID]` (the service's next webhook for the source also retries).
--   psql [-v source_id=UUID] -f sql/admin/sources_retry.sql
\if :{?source_id}
\else
\set source_id ''
\endif
SELECT p.source_id, s.prefix, p.external_id, p.attempts, coalesce(p.last_error, '') AS last_error, p.received_at
FROM source_pending_leads AS p
JOIN sources AS s ON s.id = p.source_id
WHERE p.done_at IS NULL AND (NULLIF(:'source_id', '') IS NULL OR p.source_id = NULLIF(:'source_id', '')::uuid)
ORDER BY p.received_at;
