-- Queries on an account's suppression list (the HTTP API; the CLI and psql use sql/admin/ and the same functions).

-- name: suppress_numbers :many
-- Adds E.164 numbers to an account's suppression list through l2i_suppress, which also pulls the account's queued
-- (not in-call) leads with those numbers off the queue; each number comes back with whether it was added now.
SELECT phone, added FROM l2i_suppress(%(account_id)s::uuid, %(phones)s::text[], %(reason)s::text,
                                      %(api_key_id)s::uuid);

-- name: unsuppress_numbers :many
-- Removes E.164 numbers from an account's suppression list through l2i_unsuppress, except opted_out ones; each with
-- whether it was removed and whether it stays because it opted out. The key is recorded on the removal's event.
SELECT phone, removed, opted_out FROM l2i_unsuppress(%(account_id)s::uuid, %(phones)s::text[], %(api_key_id)s::uuid);

-- name: suppression_get :one
-- One suppressed number of an account.
SELECT phone, reason, created_at FROM suppressions
WHERE account_id = %(account_id)s AND phone = %(phone)s;

-- name: suppressions_page :many
-- One page of an account's suppression list in number order, after the keyset cursor (the last number of the
-- previous page; the empty string on the first page), served by suppressions_pkey.
SELECT phone, reason, created_at FROM suppressions
WHERE account_id = %(account_id)s AND phone > %(after)s::text
ORDER BY phone
LIMIT %(limit)s;
