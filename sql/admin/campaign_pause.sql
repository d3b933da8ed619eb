-- Pause a campaign: its queued leads are not handed to dialers; they keep their place (campaign_resume.sql).
--   psql -v account_id=UUID -v campaign=SOLAR -f sql/admin/campaign_pause.sql
SELECT k.code, k.paused FROM l2i_campaign_update(:'account_id', :'campaign', '{"paused": true}') AS k;
