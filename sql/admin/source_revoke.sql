-- Revoke an intake source, given its id or its token; refused from the next request on.
--   psql -v source=UUID-or-TOKEN -f sql/admin/source_revoke.sql
SELECT id, prefix, revoked_at FROM l2i_source_revoke(:'source');
