-- Add numbers (comma-separated, any format) to an account's suppression list.
--   psql -v account_id=UUID -v phones='(212) 555-0100,+13125550100' [-v reason=complaint] -f sql/admin/suppress.sql
\if :{?reason}
\else
\set reason ''
\endif
SELECT phone, added FROM l2i_suppress(:'account_id', string_to_array(:'phones', ','), NULLIF(:'reason', ''));
