-- Add every number in a file (one a line, any format) to an account's suppression list, all or nothing: a line
-- that is not a phone number stops it. Also pulls the numbers' queued leads off the dial queue.
--   psql -v account_id=UUID [-v reason=complaint] -f sql/admin/suppress_file.sql < numbers.txt
\if :{?reason}
\else
\set reason ''
\endif
CREATE TEMP TABLE suppress_staging (raw text);
\copy suppress_staging FROM pstdin
SELECT count(*) FILTER (WHERE added) AS added, count(*) FILTER (WHERE NOT added) AS already
FROM l2i_suppress(:'account_id', ARRAY(SELECT btrim(raw) FROM suppress_staging WHERE btrim(raw) <> ''),
                  NULLIF(:'reason', ''));
