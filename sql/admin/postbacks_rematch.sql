-- Match waiting postbacks to transfers that have arrived since (same caller id, within 4 hours); prints how
-- many were matched. Leave account_id empty for every account.
--   psql -v account_id=UUID -f sql/admin/postbacks_rematch.sql
\if :{?account_id}
\else
\set account_id ''
\endif
SELECT l2i_postbacks_rematch(NULLIF(:'account_id', '')::uuid) AS matched;
