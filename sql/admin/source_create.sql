-- Create an intake source; prints its id and token (the token is never shown again: only its SHA-256 is kept).
--   psql -v account_id=UUID -v name='Quote form' [-v adapter=typeform] [-v defaults='{"source": "quote-form"}']
--        [-v mapping='{"1.3": "first_name"}'] [-v consent_on_submit=true -v consent_text_version=quote-v3
--        -v consent_text='By submitting ...'] [-v rate_limit=120] [-v signing_secret=...] [-v verify_token=...]
--        [-v page_token=...] -f sql/admin/source_create.sql
-- A -v value shows in the process list: give the secrets in the environment instead (psql 15's \getenv):
--   L2I_SOURCE_PAGE_TOKEN="$(cat page-token.txt)" psql -v account_id=UUID -v name=... -f sql/admin/source_create.sql
--   (likewise L2I_SOURCE_SIGNING_SECRET, L2I_SOURCE_VERIFY_TOKEN; a -v value wins).
-- (`l2i source create` checks the adapter, defaults and mapping first; this script leaves that to the database's
-- constraints and to intake, which refuses a lead a bad mapping or default makes invalid.)
\if :{?adapter}
\else
\set adapter ''
\endif
\if :{?defaults}
\else
\set defaults '{}'
\endif
\if :{?mapping}
\else
\set mapping '{}'
\endif
\if :{?consent_on_submit}
\else
\set consent_on_submit false
\endif
\if :{?consent_text_version}
\else
\set consent_text_version ''
\endif
\if :{?consent_text}
\else
\set consent_text ''
\endif
\if :{?rate_limit}
\else
\set rate_limit ''
\endif
\if :{?signing_secret}
\else
\getenv signing_secret L2I_SOURCE_SIGNING_SECRET
\if :{?signing_secret}
\else
\set signing_secret ''
\endif
\endif
\if :{?verify_token}
\else
\getenv verify_token L2I_SOURCE_VERIFY_TOKEN
\if :{?verify_token}
\else
\set verify_token ''
\endif
\endif
\if :{?page_token}
\else
\getenv page_token L2I_SOURCE_PAGE_TOKEN
\if :{?page_token}
\else
\set page_token ''
\endif
\endif
SELECT id, token FROM l2i_source_create(:'account_id', :'name', NULLIF(:'adapter', ''), :'defaults'::jsonb,
                                        :'mapping'::jsonb, :'consent_on_submit'::boolean,
                                        NULLIF(:'consent_text_version', ''), NULLIF(:'consent_text', ''),
                                        NULLIF(:'rate_limit', '')::integer, NULLIF(:'signing_secret', ''),
                                        NULLIF(:'verify_token', ''), NULLIF(:'page_token', ''));
