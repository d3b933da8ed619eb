-- Remove numbers (comma-separated, any format) from an account's suppression list.
--   psql -v account_id=UUID -v phones='+12125550100' -f sql/admin/unsuppress.sql
SELECT phone, removed FROM l2i_unsuppress(:'account_id', string_to_array(:'phones', ','));
