-- List an account's API keys: no secrets, only the prefix.   psql -v account_id=UUID -f sql/admin/key_list.sql
SELECT k.id, coalesce(k.label, '') AS label, k.prefix, array_to_string(k.scopes, ',') AS scopes, k.rate_limit,
       k.created_at, greatest(k.last_used_at, w.window_start) AS last_used_at, k.revoked_at
FROM api_keys AS k
LEFT JOIN rate_limit_windows AS w ON w.api_key_id = k.id
WHERE k.account_id = :'account_id'
ORDER BY k.created_at, k.id;
