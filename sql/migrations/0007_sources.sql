-- 0007_sources: intake sources (one URL per sender, for senders that cannot set an Authorization header), the
-- secrets some platforms need, their own rate-limit windows, Facebook leads waiting for the Graph API, the
-- Idempotency-Key store, and the `admin` scope for keys.
--
-- Why: form builders, ad platforms and lead vendors post to a URL they are given; most cannot send
-- `Authorization: Bearer ...`, wrap the lead in their own envelope, or spell fields their own way (issue 9).
-- A source holds a token (l2is_ + 64 hex, shown once, only its SHA-256 kept, revocable, write-only to its
-- account), defaults for its leads, an adapter name (l2i/adapters/), a field mapping, and whether a submission
-- from it is the consent act (consent on submit).
--
-- How: applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. Only new tables and one
-- nullable column on leads (no rewrite); the api_keys scope check is replaced (a metadata change plus one scan).
--
-- Sources for the platform behaviour kept here (details in tests/test_sources_*.py):
--   Facebook Lead Ads: the webhook only names the lead (leadgen_id); the lead is read from the Graph API with a page
--   access token (https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving), hence
--   source_secrets.page_token and source_pending_leads (a lead whose fetch failed is retried, never lost).
--   Typeform signs with a per-webhook secret (https://www.typeform.com/developers/webhooks/secure-your-webhooks/),
--   Google Ads lead forms send a google_key (https://developers.google.com/google-ads/webhook/docs/implementation):
--   source_secrets.signing_secret.

-- ---------------------------------------------------------------------------------------------------------------
-- The admin scope: manages an account's sources over the API. Never implied by write.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['write', 'read', 'dial', 'admin']::text[]);

-- ---------------------------------------------------------------------------------------------------------------
-- Sources.
CREATE TABLE sources (
    id                    uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id            uuid        NOT NULL,
    name                  text        NOT NULL,
    prefix                text        NOT NULL,
    token_hash            bytea       NOT NULL,
    adapter               text,
    defaults              jsonb       NOT NULL DEFAULT '{}',
    mapping               jsonb       NOT NULL DEFAULT '{}',
    consent_on_submit     boolean     NOT NULL DEFAULT false,
    consent_text_version  text,
    consent_text          text,
    rate_limit            integer     NOT NULL DEFAULT 120,
    created_at            timestamptz NOT NULL DEFAULT now(),
    last_used_at          timestamptz,
    revoked_at            timestamptz,
    CONSTRAINT sources_pkey PRIMARY KEY (id),
    CONSTRAINT sources_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT sources_token_hash_key UNIQUE (token_hash),
    CONSTRAINT sources_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT sources_adapter_check CHECK (adapter ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT sources_defaults_check CHECK (jsonb_typeof(defaults) = 'object'),
    CONSTRAINT sources_mapping_check CHECK (jsonb_typeof(mapping) = 'object'),
    CONSTRAINT sources_consent_check CHECK (NOT consent_on_submit OR coalesce(length(btrim(consent_text_version)), 0) > 0),
    CONSTRAINT sources_rate_limit_check CHECK (rate_limit BETWEEN 1 AND 1000000)
);
CREATE INDEX sources_account_id_idx ON sources (account_id);
COMMENT ON TABLE sources IS 'Intake sources: one sender (form, vendor, landing page) with its own URL token; token_hash is sha256 of the token, never stored.';
COMMENT ON COLUMN sources.prefix IS 'First 13 characters of the token (l2is_ + 8 hex): safe to show and log.';
COMMENT ON COLUMN sources.adapter IS 'The sender''s envelope (l2i/adapters/: unbounce, typeform, jotform, hubspot, facebook, google, ...); NULL: flat fields, or recognized from the body.';
COMMENT ON COLUMN sources.defaults IS 'Values for the source''s leads where the lead has none: source, sub_id, utm_*, ... and custom (an object).';
COMMENT ON COLUMN sources.mapping IS 'Sender key or JSON path (answers.3.text, properties.phone.value, 1.3) -> l2i field (phone, first_name, custom.x, ...).';
COMMENT ON COLUMN sources.consent_on_submit IS 'A real-time submission is the consent act: a lead without its own consent_timestamp gets its arrival time and consent_text_version.';

-- Secrets a source must keep in clear (to check a signature or call the platform's API). A table of their own so
-- that the analyst role, which may read sources, never reads these; the API never shows them after creation.
CREATE TABLE source_secrets (
    source_id       uuid        NOT NULL,
    signing_secret  text,
    verify_token    text,
    page_token      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT source_secrets_pkey PRIMARY KEY (source_id),
    CONSTRAINT source_secrets_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id)
);
COMMENT ON TABLE source_secrets IS 'Per-source secrets kept in clear: signing_secret (Typeform secret, Facebook app secret, Google key), verify_token (Facebook hub.verify_token), page_token (Facebook page access token).';

-- The same fixed one-minute window as rate_limit_windows, one row per source (sql/queries/sources.sql, source_hit).
CREATE UNLOGGED TABLE source_rate_limit_windows (
    source_id     uuid        NOT NULL,
    window_start  timestamptz NOT NULL,
    hits          integer     NOT NULL,
    CONSTRAINT source_rate_limit_windows_pkey PRIMARY KEY (source_id)
);
COMMENT ON TABLE source_rate_limit_windows IS 'Requests counted in the current one-minute window of each source (unlogged).';

-- Leads a platform only named (Facebook's leadgen_id) and that are fetched from its API. A failed fetch leaves the
-- row waiting (lead_id NULL); `l2i sources retry` or the source's next webhook tries again.
CREATE TABLE source_pending_leads (
    source_id    uuid        NOT NULL,
    external_id  text        NOT NULL,
    notice       jsonb       NOT NULL DEFAULT '{}',
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    lead_id      uuid,
    CONSTRAINT source_pending_leads_pkey PRIMARY KEY (source_id, external_id),
    CONSTRAINT source_pending_leads_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id)
);
CREATE INDEX source_pending_leads_waiting_idx ON source_pending_leads (received_at) WHERE done_at IS NULL;
COMMENT ON TABLE source_pending_leads IS 'Leads announced by a platform webhook and fetched from its API (Facebook Lead Ads); done_at NULL: still to fetch.';

-- ---------------------------------------------------------------------------------------------------------------
-- Which source a lead came through.
ALTER TABLE leads ADD COLUMN source_id uuid;
ALTER TABLE leads ADD CONSTRAINT leads_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id);
COMMENT ON COLUMN leads.source_id IS 'The intake source (sources.id) the lead came through; NULL for keys and CSV imports.';

-- ---------------------------------------------------------------------------------------------------------------
-- Idempotency-Key: the first answer to a request, replayed for the same key and body within 24 hours.
CREATE TABLE idempotency_keys (
    account_id    uuid        NOT NULL,
    idem_key      text        NOT NULL,
    request_hash  bytea       NOT NULL,
    status        smallint,
    response      jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (account_id, idem_key),
    CONSTRAINT idempotency_keys_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT idempotency_keys_idem_key_check CHECK (length(idem_key) BETWEEN 1 AND 255)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key of POST /v1/leads and source intake: request_hash is sha256 of the request; status NULL while the first request runs.';

-- ---------------------------------------------------------------------------------------------------------------
-- Operator functions (the CLI and sql/admin/*.sql call them).

-- Creates a source and returns its id and token: the only time the token is ever seen.
CREATE FUNCTION l2i_source_create(p_account_id uuid, p_name text, p_adapter text DEFAULT NULL,
                                  p_defaults jsonb DEFAULT '{}', p_mapping jsonb DEFAULT '{}',
                                  p_consent_on_submit boolean DEFAULT false, p_consent_text_version text DEFAULT NULL,
                                  p_consent_text text DEFAULT NULL, p_rate_limit integer DEFAULT NULL,
                                  p_signing_secret text DEFAULT NULL, p_verify_token text DEFAULT NULL,
                                  p_page_token text DEFAULT NULL)
RETURNS TABLE (id uuid, token text)
LANGUAGE plpgsql AS $$
DECLARE
    v_token text := 'l2is_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    v_id uuid;
BEGIN
    INSERT INTO sources AS s (account_id, name, prefix, token_hash, adapter, defaults, mapping, consent_on_submit,
                              consent_text_version, consent_text, rate_limit)
    VALUES (p_account_id, btrim(p_name), left(v_token, 13), sha256(convert_to(v_token, 'UTF8')),
            NULLIF(btrim(p_adapter), ''), coalesce(p_defaults, '{}'), coalesce(p_mapping, '{}'),
            coalesce(p_consent_on_submit, false), NULLIF(btrim(p_consent_text_version), ''),
            NULLIF(p_consent_text, ''), coalesce(p_rate_limit, 120))
    RETURNING s.id INTO v_id;
    IF coalesce(p_signing_secret, p_verify_token, p_page_token) IS NOT NULL THEN
        INSERT INTO source_secrets (source_id, signing_secret, verify_token, page_token)
        VALUES (v_id, NULLIF(p_signing_secret, ''), NULLIF(p_verify_token, ''), NULLIF(p_page_token, ''));
    END IF;
    RETURN QUERY SELECT v_id, v_token;
END
$$;

-- Revokes a source given its id or its token; returns it (no secret), or nothing if unknown.
CREATE FUNCTION l2i_source_revoke(p_source text) RETURNS TABLE (id uuid, prefix text, revoked_at timestamptz)
LANGUAGE sql AS $$
    UPDATE sources AS s SET revoked_at = coalesce(s.revoked_at, now())
    WHERE CASE WHEN p_source LIKE 'l2is\_%' THEN s.token_hash = sha256(convert_to(p_source, 'UTF8'))
               WHEN p_source ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$' THEN s.id = p_source::uuid
               ELSE false END
    RETURNING s.id, s.prefix, s.revoked_at
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- The analyst role reads sources without the token hash, and never source_secrets.
GRANT SELECT (id, account_id, name, prefix, adapter, defaults, mapping, consent_on_submit, consent_text_version,
              consent_text, rate_limit, created_at, last_used_at, revoked_at)
    ON sources TO l2i_analyst;
