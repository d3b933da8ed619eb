-- One source's settings: adapter, defaults, field mapping, consent on submit, which secrets are set (never their
-- values), leads waiting for the platform's API.   psql -v source_id=UUID -f sql/admin/source_show.sql
SELECT s.id, s.account_id, s.name, s.prefix, coalesce(s.adapter, '') AS adapter, s.defaults, s.mapping,
       s.consent_on_submit, coalesce(s.consent_text_version, '') AS consent_text_version,
       coalesce(s.consent_text, '') AS consent_text, s.rate_limit,
       x.signing_secret IS NOT NULL AS has_signing_secret, x.verify_token IS NOT NULL AS has_verify_token,
       x.page_token IS NOT NULL AS has_page_token,
       (SELECT count(*) FROM source_pending_leads AS p WHERE p.source_id = s.id AND p.done_at IS NULL) AS pending_leads,
       s.created_at, s.last_used_at, s.revoked_at
FROM sources AS s
LEFT JOIN source_secrets AS x ON x.source_id = s.id
WHERE s.id = :'source_id';
