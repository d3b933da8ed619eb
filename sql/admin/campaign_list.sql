-- List an account's campaigns.   psql -v account_id=UUID -f sql/admin/campaign_list.sql
SELECT k.code, k.name, k.active, k.paused, k.is_default AS "default", k.priority, k.daily_cap,
       coalesce(array_to_string(k.states, ','), '') AS states, coalesce(k.agent, '') AS agent,
       l2i_campaign_document(k) ->> 'hours' AS hours, k.max_attempts, k.created_at
FROM campaigns AS k
WHERE k.account_id = :'account_id'
ORDER BY k.created_at, k.id;
