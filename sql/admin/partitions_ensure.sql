-- Make the month partitions of leads and lead_events from this month to months_ahead months ahead (UTC), where missing; prints
-- each month's partition and whether it was made now. Cron-able (l2i partitions ensure; l2i-partitions.timer).
--   psql -v months_ahead=3 -f sql/admin/partitions_ensure.sql
SELECT partition_name, made FROM l2i_partitions_ensure(:'months_ahead'::integer);
