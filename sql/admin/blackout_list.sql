-- Blackouts not over yet (or every one with -v all=yes), of one state or of all (-v state=LA).
--   psql [-v state=LA] [-v all=yes] -f sql/admin/blackout_list.sql
\if :{?state}
\else
\set state ''
\endif
\if :{?all}
\else
\set all ''
\endif
SELECT id, state, counties, starts_at, ends_at, reason, created_by, created_at, ended_at
FROM calling_blackouts
WHERE (NULLIF(:'state', '') IS NULL OR state = upper(btrim(:'state')))
  AND (ends_at > now() OR :'all' = 'yes')
ORDER BY starts_at, id;
