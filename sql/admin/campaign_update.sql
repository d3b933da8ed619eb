-- Change a campaign's settings (only those given; null clears an optional one); prints the campaign. Raising or
-- removing daily_cap releases the leads held over it.
--   psql -v account_id=UUID -v campaign=SOLAR -v settings='{"daily_cap": 800, "priority": 3}' -f sql/admin/campaign_update.sql
SELECT jsonb_pretty(l2i_campaign_document(k)) AS campaign
FROM l2i_campaign_update(:'account_id', :'campaign', :'settings'::jsonb) AS k;
