-- Revoke an API key, given its id or the key itself; prints the revoked key's id (nothing if unknown).
--   psql -v key=UUID_OR_KEY -f sql/admin/key_revoke.sql
SELECT id, prefix, revoked_at FROM l2i_key_revoke(:'key');
