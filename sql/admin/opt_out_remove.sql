-- Take an opted_out number off an account's suppression list: the only way (the API refuses, and so does
-- unsuppress.sql). Say who you are and why (e.g. "new written consent of 2026-12-01, ticket 4411"): both go on the
-- removal's suppression_events row with your database user and the time.
--   psql -v account_id=UUID -v phone='+12125550100' -v operator='Jane Ops' -v why='...' -f sql/admin/opt_out_remove.sql
SELECT phone, removed FROM l2i_opt_out_remove(:'account_id', :'phone', :'operator', :'why');
