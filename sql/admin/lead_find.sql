-- An account's leads for one phone number (any format), newest first, with their transfer and revenue.
--   psql -v account_id=UUID -v phone='(212) 555-0100' -f sql/admin/lead_find.sql
SELECT l.id, l.status, array_to_string(l.reasons, ',') AS reasons, l.source, l.first_name, l.last_name,
       l.created_at, t.transferred_at, t.buyer, t.payout_cents
FROM leads AS l
LEFT JOIN transfers AS t ON t.lead_id = l.id
WHERE l.account_id = :'account_id' AND l.phone = l2i_e164(:'phone')
ORDER BY l.created_at DESC;
