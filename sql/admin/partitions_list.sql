-- The partitions of leads and lead_events, oldest first: UTC bounds, estimated rows, and whether the whole month
-- is before the given time (NULL: not asked). leads_default and lead_events_default come last; they should stay
-- empty.
--   psql -v before='2025-01-01' -f sql/admin/partitions_list.sql
SELECT partition_name, starts_at, ends_at, estimated_rows, before
FROM l2i_partitions(nullif(:'before', '')::timestamptz);
