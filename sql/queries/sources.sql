-- Queries on intake sources (migration 0007): authentication with the per-source rate limit, the admin API,
-- leads waiting for a platform's API, and the Idempotency-Key store.

-- name: source_hit :one
-- Authenticate a source token by its hash and count this request in the source's one-minute window, exactly as
-- key_hit does for keys (l2i_source_hit, migration 0017); the source's settings and secrets come back with it. No
-- row: unknown or revoked token (or an X-Source-Id that is not the token's source).
SELECT s.* FROM l2i_source_hit(%(token_hash)s, %(source_id)s::uuid) AS s WHERE s.id IS NOT NULL;

-- name: source_create :one
-- A new source of an account (the admin API); the token comes back this once.
SELECT id, token FROM l2i_source_create(
    %(account_id)s, %(source_name)s, %(adapter)s, %(defaults)s, %(mapping)s, %(consent_on_submit)s,
    %(consent_text_version)s, %(consent_text)s, %(rate_limit)s, %(signing_secret)s, %(verify_token)s,
    %(page_token)s);

-- name: source_get :one
-- One source of an account, as the API shows it: no token, no secret, only whether each secret is set.
SELECT s.id, s.name, s.prefix, s.adapter, s.defaults, s.mapping, s.consent_on_submit, s.consent_text_version,
       s.consent_text, s.rate_limit, s.created_at, s.last_used_at, s.revoked_at,
       x.signing_secret IS NOT NULL AS has_signing_secret, x.verify_token IS NOT NULL AS has_verify_token,
       x.page_token IS NOT NULL AS has_page_token,
       (SELECT count(*) FROM source_pending_leads AS p WHERE p.source_id = s.id AND p.done_at IS NULL) AS pending_leads
FROM sources AS s
LEFT JOIN source_secrets AS x ON x.source_id = s.id
WHERE s.id = %(id)s AND s.account_id = %(account_id)s;

-- name: sources_list :many
-- An account's sources, oldest first (no token, no secret).
SELECT s.id, s.name, s.prefix, s.adapter, s.consent_on_submit, s.rate_limit, s.created_at, s.last_used_at,
       s.revoked_at
FROM sources AS s
WHERE s.account_id = %(account_id)s
ORDER BY s.created_at, s.id;

-- name: source_revoke :one
-- Revoke one of an account's sources (the first revocation time stays).
UPDATE sources AS s SET revoked_at = coalesce(s.revoked_at, now())
WHERE s.id = %(id)s AND s.account_id = %(account_id)s
RETURNING s.id, s.prefix, s.revoked_at;

-- name: source_pending_add :one
-- Note a lead a platform announced (Facebook's leadgen_id). A lead already fetched comes back with done = true
-- (the platform sent the notice again: nothing to do).
INSERT INTO source_pending_leads AS p (source_id, external_id, notice)
VALUES (%(source_id)s, %(external_id)s, %(notice)s)
ON CONFLICT ON CONSTRAINT source_pending_leads_pkey DO UPDATE SET notice = p.notice
RETURNING p.external_id, p.done_at IS NOT NULL AS done;

-- name: source_pending_waiting :many
-- Leads still to fetch: of one source (its next webhook retries them), or of every source (`l2i sources retry`),
-- oldest first, with what a fetch needs.
SELECT p.source_id, p.external_id, p.attempts
FROM source_pending_leads AS p
JOIN sources AS s ON s.id = p.source_id AND s.revoked_at IS NULL
WHERE p.done_at IS NULL AND (%(source_id)s::uuid IS NULL OR p.source_id = %(source_id)s::uuid)
ORDER BY p.received_at
LIMIT %(limit)s;

-- name: source_for_retry :one
-- A source's settings and secrets, for a retry outside a request (`l2i sources retry`).
SELECT s.id, s.account_id, s.name, s.prefix, s.adapter, s.defaults, s.mapping, s.consent_on_submit,
       s.consent_text_version, s.consent_text, s.rate_limit, now() AS arrived_at,
       x.signing_secret, x.verify_token, x.page_token
FROM sources AS s
LEFT JOIN source_secrets AS x ON x.source_id = s.id
WHERE s.id = %(id)s AND s.revoked_at IS NULL;

-- name: source_pending_done :exec
-- A waiting lead was fetched and taken in (lead_id: the lead it became or duplicated; NULL if refused).
UPDATE source_pending_leads
SET done_at = now(), lead_id = %(lead_id)s, attempts = attempts + 1, last_error = %(error)s
WHERE source_id = %(source_id)s AND external_id = %(external_id)s;

-- name: source_pending_failed :exec
-- A fetch failed: the lead keeps waiting, with the attempt and the error (no secret in it).
UPDATE source_pending_leads SET attempts = attempts + 1, last_error = %(error)s
WHERE source_id = %(source_id)s AND external_id = %(external_id)s;

-- name: idempotency_claim :one
-- Claim an Idempotency-Key for this request (claimed = true: go ahead, then idempotency_store), or get the row
-- that holds it: its request hash and, once its first request finished, the answer. A key older than 24 hours
-- is taken over. No row: a request holding the key committed after this statement began (retry shortly).
WITH ins AS (
    INSERT INTO idempotency_keys AS i (account_id, idem_key, request_hash)
    VALUES (%(account_id)s, %(idem_key)s, %(request_hash)s)
    ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE
        SET request_hash = excluded.request_hash, status = NULL, response = NULL, created_at = now()
        WHERE i.created_at < now() - interval '24 hours'
    RETURNING true AS claimed, i.request_hash, i.status, i.response
)
SELECT claimed, request_hash, status, response FROM ins
UNION ALL
SELECT false, k.request_hash, k.status, k.response
FROM idempotency_keys AS k
WHERE k.account_id = %(account_id)s AND k.idem_key = %(idem_key)s AND NOT EXISTS (SELECT 1 FROM ins);

-- name: idempotency_store :exec
-- The first request's answer, replayed for the same key and body.
UPDATE idempotency_keys SET status = %(status)s, response = %(response)s
WHERE account_id = %(account_id)s AND idem_key = %(idem_key)s AND request_hash = %(request_hash)s;

-- name: idempotency_release :exec
-- The first request failed without an answer worth keeping (an error): the key is free again.
DELETE FROM idempotency_keys
WHERE account_id = %(account_id)s AND idem_key = %(idem_key)s AND request_hash = %(request_hash)s
  AND status IS NULL;
