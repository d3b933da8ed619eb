-- 0008_import_jobs: CSV imports become jobs. POST /v1/leads/import stores the file and answers 202; runners (threads
-- in each gunicorn worker, or `l2i worker` on other hosts) claim the jobs and import them; GET /v1/imports/{id}
-- shows the progress and every row's outcome.
--
-- Why: an import used to run inside its request, holding a request thread and a database connection until it
-- ended; four imports from one account stalled another account's GET /v1/leads for 7 s (issue 10).
--
-- How the file is kept: in rows of import_chunks, 256 KiB of the file's bytes each, in order. Both sides stream
-- it with bounded memory (the request writes one chunk at a time from its spool; a runner reads one chunk at a
-- time), which a single bytea value does not allow (a client builds the whole value in memory to send it, and
-- reads it whole). Unlike a large object, the chunks go with their job (ON DELETE CASCADE), need no lo_unlink
-- and no lo_* privileges, and are deleted as soon as the job is done. Rows per CSV line would mean parsing the
-- file into 100,000 inserts on the request thread; the runner reads the same bytes through the same parser
-- (l2i/csv_import.py) as before.
--
-- How a job is run once: a runner claims it with l2i_import_claim (a lease, like pgmq's visibility timeout),
-- renews the lease at the start of every batch of rows, and commits each batch's leads, the rows' outcomes
-- (import_rows) and the job's progress (imports.last_row, totals) in one transaction that first checks the
-- claim is still its own. A runner that dies loses its uncommitted batch (rolled back with its connection); once
-- its lease has run out, the next claim resumes after last_row. import_rows' primary key is the backstop: no row
-- of a file is decided twice.
--
-- Applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only.

CREATE TABLE imports (
    id                uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id        uuid        NOT NULL,
    api_key_id        uuid,
    source            text,
    content_type      text,
    status            text        NOT NULL DEFAULT 'queued',
    file_bytes        bigint      NOT NULL,
    rows_total        integer     NOT NULL,
    last_row          integer     NOT NULL DEFAULT 1,
    totals            jsonb       NOT NULL DEFAULT '{}',
    claim_id          uuid,
    lease_expires_at  timestamptz,
    attempts          integer     NOT NULL DEFAULT 0,
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    CONSTRAINT imports_pkey PRIMARY KEY (id),
    CONSTRAINT imports_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT imports_api_key_id_fkey FOREIGN KEY (api_key_id) REFERENCES api_keys (id),
    CONSTRAINT imports_status_check CHECK (status IN ('queued', 'running', 'done', 'failed')),
    CONSTRAINT imports_claim_check CHECK (status <> 'running' OR (claim_id IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CONSTRAINT imports_finished_check CHECK ((finished_at IS NOT NULL) = (status IN ('done', 'failed'))),
    CONSTRAINT imports_error_check CHECK ((error IS NOT NULL) = (status = 'failed')),
    CONSTRAINT imports_rows_check CHECK (rows_total >= 0 AND last_row >= 1 AND file_bytes >= 0)
);
-- The claim's candidates: queued jobs, and running ones whose lease may have run out.
CREATE INDEX imports_open_idx ON imports (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX imports_account_id_idx ON imports (account_id, created_at);
COMMENT ON TABLE imports IS 'CSV import jobs (POST /v1/leads/import, l2i import): one per file, run by l2i/import_jobs.py.';
COMMENT ON COLUMN imports.rows_total IS 'Rows after the header, counted when the file was checked at upload.';
COMMENT ON COLUMN imports.last_row IS 'Every row of the file up to this one (1 = the header) is decided and committed.';
COMMENT ON COLUMN imports.totals IS 'rows, created, duplicate, ineligible, invalid, blank, as of last_row (final once done).';
COMMENT ON COLUMN imports.claim_id IS 'The current runner''s claim; a batch commits only if it is still this one.';
COMMENT ON COLUMN imports.lease_expires_at IS 'A running job whose lease has run out is claimed again (its runner died).';
COMMENT ON COLUMN imports.attempts IS 'How many times the job was claimed.';

CREATE TABLE import_chunks (
    import_id  uuid    NOT NULL,
    seq        integer NOT NULL,
    data       bytea   NOT NULL,
    CONSTRAINT import_chunks_pkey PRIMARY KEY (import_id, seq),
    CONSTRAINT import_chunks_import_id_fkey FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE
);
COMMENT ON TABLE import_chunks IS 'The uploaded file of a job not done yet, in 256 KiB pieces (seq from 0); deleted when it is done.';

CREATE TABLE import_rows (
    import_id   uuid    NOT NULL,
    row_number  integer NOT NULL,
    outcome     text    NOT NULL,
    lead_id     uuid,
    result      jsonb   NOT NULL,
    CONSTRAINT import_rows_pkey PRIMARY KEY (import_id, row_number),
    CONSTRAINT import_rows_import_id_fkey FOREIGN KEY (import_id) REFERENCES imports (id) ON DELETE CASCADE,
    CONSTRAINT import_rows_outcome_check CHECK (outcome IN ('created', 'duplicate', 'ineligible', 'invalid'))
);
COMMENT ON TABLE import_rows IS 'Each non-blank row''s outcome, as GET /v1/imports/{id} answers it (result); row 1 is the header.';

-- Claims one job: the oldest claimable one whose account runs fewer than p_max_per_account jobs, while fewer than
-- p_max_total run in all (accounts running fewer jobs first). Claimable: queued, or running with a lease that ran
-- out. The advisory lock makes claims take turns, so two runners never both see the last free place; each
-- statement of a PL/pgSQL function sees the others' committed claims (a new snapshot after the lock). SKIP LOCKED
-- passes over a job whose runner is inside a batch (it holds the job's row until the batch commits).
-- p_import_id: claim that job only (`l2i import` runs its own file).
CREATE FUNCTION l2i_import_claim(p_max_total integer, p_max_per_account integer, p_lease_s integer,
                                 p_import_id uuid DEFAULT NULL)
RETURNS SETOF imports
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7140322006);
    RETURN QUERY
    WITH busy AS (
        SELECT i.account_id, count(*) AS n
        FROM imports AS i
        WHERE i.status = 'running' AND i.lease_expires_at > now()
        GROUP BY i.account_id
    ), candidate AS (
        SELECT i.id
        FROM imports AS i
        LEFT JOIN busy AS b ON b.account_id = i.account_id
        WHERE i.status IN ('queued', 'running')
          AND (i.status = 'queued' OR i.lease_expires_at <= now())
          AND (p_import_id IS NULL OR i.id = p_import_id)
          AND coalesce(b.n, 0) < p_max_per_account
          AND (SELECT coalesce(sum(n), 0) FROM busy) < p_max_total
        ORDER BY coalesce(b.n, 0), i.created_at
        LIMIT 1
        FOR UPDATE OF i SKIP LOCKED
    )
    UPDATE imports AS i
    SET status = 'running', claim_id = gen_random_uuid(), attempts = i.attempts + 1,
        lease_expires_at = now() + make_interval(secs => p_lease_s), started_at = coalesce(i.started_at, now())
    FROM candidate
    WHERE i.id = candidate.id
    RETURNING i.*;
END
$$;
COMMENT ON FUNCTION l2i_import_claim(integer, integer, integer, uuid) IS
    'Claims one import job within the per-account and total limits (l2i/import_jobs.py); no row if none may start.';

GRANT SELECT ON imports, import_rows TO l2i_analyst;
