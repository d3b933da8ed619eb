-- Queries for buyer platforms' postbacks (the matching itself is l2i_postback_record, migration 0004).

-- name: postback_token_auth :one
-- The account and token behind a postback URL's token (by its hash); no row: unknown or revoked.
UPDATE postback_tokens SET last_used_at = now()
WHERE token_hash = %(token_hash)s AND revoked_at IS NULL
RETURNING id, account_id, prefix;

-- name: postback_record :one
-- Record one postback exactly once and match it to a transfer: outcome matched, unmatched, duplicate or replaced.
SELECT postback_id, outcome, transfer_id, lead_id, payout_cents, previous_payout_cents
FROM l2i_postback_record(%(account_id)s, %(token_id)s, %(caller_id)s, coalesce(%(call_time)s::timestamptz, now()),
                         %(call_id)s, %(buyer)s, %(duration_s)s, %(payout_cents)s, %(fields)s);
