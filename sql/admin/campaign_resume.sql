-- Resume a paused campaign: its queue is called again, in the order it had.
--   psql -v account_id=UUID -v campaign=SOLAR -f sql/admin/campaign_resume.sql
SELECT k.code, k.paused FROM l2i_campaign_update(:'account_id', :'campaign', '{"paused": false}') AS k;
