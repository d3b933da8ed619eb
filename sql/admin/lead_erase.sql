-- A consumer's deletion request: erase one number (any format) from an account, everywhere but the suppression
-- list, in one transaction: its leads are anonymized (their counts stay in the stats), their events, queue rows,
-- call attempts, consent evidence, stored Idempotency-Key answers and import rows deleted, the number cleared from
-- transfers and postbacks; the number is suppressed as opted_out so it is never called again. Prints the
-- lead_erasures row (the number only as phone_sha256 = sha256 of 'ACCOUNT_ID:+E164', hex) with what went.
--   psql -v account_id=UUID -v phone='+12125550100' -v operator='Jane Ops, ticket 4411' -f sql/admin/lead_erase.sql
\if :{?operator}
\else
\set operator ''
\endif
SELECT id, account_id, phone_sha256, removed, operator, db_user, at
FROM l2i_lead_erase(:'account_id', :'phone', NULLIF(:'operator', ''));
