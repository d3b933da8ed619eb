-- Create a campaign; prints its code (stable: senders and dialers name the campaign by it) and the campaign.
--   psql -v account_id=UUID -v name='Solar' [-v settings='{"code": "SOLAR", "states": ["TX"], "daily_cap": 500}']
--        -f sql/admin/campaign_create.sql
-- settings: the body of POST /v1/campaigns (see README, Campaigns); hours as {"mon": "10:00-16:00", ...}.
\if :{?settings}
\else
\set settings '{}'
\endif
SELECT k.code, l2i_campaign_document(k) AS campaign
FROM l2i_campaign_create(:'account_id', :'settings'::jsonb || jsonb_build_object('name', :'name'::text)) AS k;
