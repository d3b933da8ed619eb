-- Declare an emergency blackout: no calls to the state's numbers (address or area code) from `from` (default now)
-- until `until`. Counties (comma-separated) are recorded; the whole state is held (l2i knows no lead's county).
--   psql -v state=LA -v until='2026-12-10 00:00-06' -v reason='Hurricane X, Gov. proclamation JBE 2026-100' \
--        [-v from='2026-12-01 00:00-06'] [-v counties='Orleans,Jefferson'] -f sql/admin/blackout_add.sql
\if :{?from}
\else
\set from ''
\endif
\if :{?counties}
\else
\set counties ''
\endif
SELECT id, state, counties, starts_at, ends_at, reason, created_by
FROM l2i_blackout_add(:'state', NULLIF(:'from', '')::timestamptz, :'until'::timestamptz, :'reason',
                      string_to_array(NULLIF(replace(:'counties', ', ', ','), ''), ','));
