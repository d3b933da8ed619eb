-- List an account's intake sources: no token, no secret.   psql -v account_id=UUID -f sql/admin/source_list.sql
SELECT s.id, s.name, s.prefix, coalesce(s.adapter, '') AS adapter, s.consent_on_submit, s.rate_limit, s.created_at,
       greatest(s.last_used_at, w.window_start) AS last_used_at, s.revoked_at
FROM sources AS s
LEFT JOIN source_rate_limit_windows AS w ON w.source_id = s.id
WHERE s.account_id = :'account_id'
ORDER BY s.created_at, s.id;
