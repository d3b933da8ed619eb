-- Create an API key; prints the key, which is never shown again (only its SHA-256 is stored).
--   psql -v account_id=UUID -v scopes=write,read [-v rate_limit=120] [-v label=website] [-v campaign=SOLAR]
--        -f sql/admin/key_create.sql
-- campaign: the key's default campaign (code or name), for the leads it sends that name none.
\if :{?rate_limit}
\else
\set rate_limit ''
\endif
\if :{?label}
\else
\set label ''
\endif
\if :{?campaign}
\else
\set campaign ''
\endif
SELECT l2i_key_campaign(l2i_key_create(:'account_id', string_to_array(replace(:'scopes', ' ', ''), ','),
                                       NULLIF(:'rate_limit', '')::integer, NULLIF(:'label', '')),
                        :'campaign') AS key;
