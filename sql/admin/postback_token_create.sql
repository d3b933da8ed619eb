-- Create a postback token for an account; prints it, the only time it is shown. Buyer platforms fire
-- https://YOUR-HOST/v1/postbacks/calls?token=TOKEN&caller_id=...&payout=...
--   psql -v account_id=UUID [-v label=ringba] [-v rate_limit=600] -f sql/admin/postback_token_create.sql
\if :{?label}
\else
\set label ''
\endif
\if :{?rate_limit}
\else
\set rate_limit ''
\endif
SELECT l2i_postback_token_create(:'account_id', NULLIF(:'label', ''), NULLIF(:'rate_limit', '')::integer) AS token;
