-- One campaign, by code (or name, or id), as JSON.   psql -v account_id=UUID -v campaign=SOLAR -f sql/admin/campaign_show.sql
SELECT jsonb_pretty(l2i_campaign_document(k)) AS campaign
FROM campaigns AS k
WHERE k.account_id = :'account_id'
  AND (k.code = upper(btrim(:'campaign')) OR lower(k.name) = lower(btrim(:'campaign'))
       OR k.id::text = lower(btrim(:'campaign')));
