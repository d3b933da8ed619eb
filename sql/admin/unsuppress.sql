-- Remove numbers (comma-separated, any format) from an account's suppression list. Opted-out numbers stay (see
-- opt_out_remove.sql); every removal is a suppression_events row.
--   psql -v account_id=UUID -v phones='+12125550100' -f sql/admin/unsuppress.sql
SELECT phone, removed, opted_out FROM l2i_unsuppress(:'account_id', string_to_array(:'phones', ','));
