-- Queries of the CSV import (l2i/csv_import.py); the rows themselves go through lead_intake, as any lead does.

-- name: import_account :one
-- The account a CLI import goes to; no row if there is none (the HTTP import takes the key's account).
SELECT id, name FROM accounts WHERE id = %(account_id)s;

-- name: import_create :one
-- A new import job, queued; its file's chunks are added in the same transaction (import_chunk_add).
INSERT INTO imports (account_id, api_key_id, source, content_type, file_bytes, rows_total)
VALUES (%(account_id)s, %(api_key_id)s, %(source)s, %(content_type)s, %(file_bytes)s, %(rows_total)s)
RETURNING *;

-- name: import_chunk_add :exec
-- One piece of the job's file (seq from 0).
INSERT INTO import_chunks (import_id, seq, data) VALUES (%(import_id)s, %(seq)s, %(data)s);

-- name: import_chunk :one
-- One piece of the job's file; no row past the end.
SELECT data FROM import_chunks WHERE import_id = %(import_id)s AND seq = %(seq)s;

-- name: import_claim :one
-- Claims a job within the limits (l2i_import_claim, migration 0008), or that one job only; no row if none may start.
SELECT * FROM l2i_import_claim(%(max_total)s, %(max_per_account)s, %(lease_s)s, %(import_id)s::uuid);

-- name: import_renew :one
-- At the start of a batch, in its transaction: extends the lease and locks the job's row until the batch commits
-- (a claim passes over it). No row: the claim is no longer this runner's, and the batch must not run.
UPDATE imports SET lease_expires_at = now() + make_interval(secs => %(lease_s)s)
WHERE id = %(import_id)s AND claim_id = %(claim_id)s AND status = 'running'
RETURNING id;

-- name: import_record :one
-- At the end of a batch, in its transaction: the rows' outcomes and the job's progress. owned = 0: the claim is
-- no longer this runner's (then nothing is written, and the caller rolls the batch back).
WITH job AS (
    UPDATE imports SET last_row = %(last_row)s, totals = %(totals)s,
                       lease_expires_at = now() + make_interval(secs => %(lease_s)s)
    WHERE id = %(import_id)s AND claim_id = %(claim_id)s AND status = 'running'
    RETURNING id
), recorded AS (
    INSERT INTO import_rows (import_id, row_number, outcome, lead_id, result)
    SELECT job.id, (r ->> 'row')::integer, r ->> 'outcome', (r ->> 'lead_id')::uuid, r
    FROM job, jsonb_array_elements(%(rows)s) AS r
    RETURNING 1
)
SELECT (SELECT count(*) FROM job) AS owned, (SELECT count(*) FROM recorded) AS recorded;

-- name: import_finish :one
-- The job is done: final totals, and its file is deleted. owned = 0: the claim is no longer this runner's.
WITH job AS (
    UPDATE imports SET status = 'done', totals = %(totals)s, finished_at = now()
    WHERE id = %(import_id)s AND claim_id = %(claim_id)s AND status = 'running'
    RETURNING id
), dropped AS (
    DELETE FROM import_chunks AS c USING job WHERE c.import_id = job.id
)
SELECT count(*) AS owned FROM job;

-- name: import_fail :one
-- The job cannot go on (an unexpected error, or too many attempts): the rows decided so far stay decided.
WITH job AS (
    UPDATE imports SET status = 'failed', error = %(error)s, finished_at = now()
    WHERE id = %(import_id)s AND claim_id = %(claim_id)s AND status = 'running'
    RETURNING id
), dropped AS (
    DELETE FROM import_chunks AS c USING job WHERE c.import_id = job.id
)
SELECT count(*) AS owned FROM job;

-- name: import_release :exec
-- A runner stopping (or hitting a database error) gives its job back now rather than when the lease runs out.
UPDATE imports SET lease_expires_at = now()
WHERE id = %(import_id)s AND claim_id = %(claim_id)s AND status = 'running';

-- name: import_get :one
-- One job of the account; no row if there is none.
SELECT id, account_id, status, source, rows_total, totals, attempts, error, created_at, started_at, finished_at
FROM imports
WHERE id = %(import_id)s AND account_id = %(account_id)s;

-- name: import_rows_page :many
-- The job's row outcomes after a row number, in file order, optionally of one outcome only.
SELECT result
FROM import_rows
WHERE import_id = %(import_id)s AND row_number > %(after)s
  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s::text)
ORDER BY row_number
LIMIT %(limit)s;

-- name: import_do_not_call :one
-- A row whose do-not-call column says so: its number goes on the account's suppression list (l2i_suppress also
-- pulls the number's queued leads), in the row's transaction, before the row itself goes through lead_intake.
SELECT count(*) AS added FROM l2i_suppress(%(account_id)s, ARRAY[%(phone)s::text], %(reason)s) WHERE added;
