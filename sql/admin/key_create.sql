-- Create an API key; prints the key, which is never shown again (only its SHA-256 is stored).
--   psql -v account_id=UUID -v scopes=write,read [-v rate_limit=120] [-v label=website] -f sql/admin/key_create.sql
\if :{?rate_limit}
\else
\set rate_limit ''
\endif
\if :{?label}
\else
\set label ''
\endif
SELECT l2i_key_create(:'account_id', string_to_array(replace(:'scopes', ' ', ''), ','),
                      NULLIF(:'rate_limit', '')::integer, NULLIF(:'label', '')) AS key;
