-- Revoke a postback token, given its id or the token itself (nothing printed if unknown).
--   psql -v token=UUID_OR_TOKEN -f sql/admin/postback_token_revoke.sql
SELECT id, prefix, revoked_at FROM l2i_postback_token_revoke(:'token');
