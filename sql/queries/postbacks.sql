-- Queries for buyer platforms' postbacks (the matching itself is l2i_postback_record, migration 0004).

-- name: postback_token_hit :one
-- Authenticate a postback URL's token by its hash and count this request in the token's current one-minute
-- window, as key_hit does for API keys (l2i_postback_token_hit, migration 0017: the same fixed window that only
-- moves forward, the row locked for this statement only). No row: unknown or revoked token. The first hit of a
-- window also stamps postback_tokens.last_used_at.
SELECT t.* FROM l2i_postback_token_hit(%(token_hash)s) AS t WHERE t.id IS NOT NULL;

-- name: postback_record :one
-- Record one postback exactly once and match it to a transfer: outcome matched, unmatched, duplicate or replaced.
SELECT postback_id, outcome, transfer_id, lead_id, payout_cents, previous_payout_cents
FROM l2i_postback_record(%(account_id)s, %(token_id)s, %(caller_id)s, coalesce(%(call_time)s::timestamptz, now()),
                         %(call_id)s, %(buyer)s, %(duration_s)s, %(payout_cents)s, %(fields)s);
