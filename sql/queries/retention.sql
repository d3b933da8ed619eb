-- Queries of `l2i retention apply` (l2i/retention.py): per account, in bounded batches, each in its own
-- transaction. Every statement works on one account and a time range (no ctid, no whole-table statement), so it
-- runs the same on plain and on month-partitioned leads and lead_events. See 0013_retention.sql for the why.

-- name: retention_accounts :many
-- Every account with the cut-offs of this run, fixed once: leads created before cutoff are anonymized (from
-- start, where the last complete run stopped); call attempts claimed before attempts_before go; consent evidence of
-- leads created before hold_before goes unless a call attempt on the number is younger than hold_before.
SELECT a.id AS account_id, a.retention_days, c.cutoff,
       least(coalesce(a.retention_done_before, timestamptz '0001-01-01 00:00:00Z'), c.cutoff) AS start,
       least(c.cutoff, c.now - l2i_consent_hold()) AS attempts_before,
       c.now - l2i_consent_hold() AS hold_before
FROM accounts AS a
CROSS JOIN LATERAL (SELECT now() AS now, now() - make_interval(days => a.retention_days) AS cutoff) AS c
ORDER BY a.id;

-- name: retention_batch :one
-- The next batch of an account's leads created in [start, cutoff), after the keyset cursor (after_created,
-- after_id), in creation order on leads_account_created_idx; anonymized by l2i_leads_anonymize (which locks them
-- and skips those already anonymized). scanned < batch: the range is done. last_*: the next cursor.
WITH picked AS (
    SELECT l.id, l.created_at
    FROM leads AS l
    WHERE l.account_id = %(account_id)s AND l.created_at >= %(start)s AND l.created_at < %(cutoff)s
      AND (l.created_at, l.id) > (%(after_created)s::timestamptz, %(after_id)s::uuid)
    ORDER BY l.created_at, l.id
    LIMIT %(batch)s
)
SELECT (SELECT count(*) FROM picked) AS scanned, last.created_at AS last_created, last.id AS last_id, done.*
FROM l2i_leads_anonymize(%(account_id)s, ARRAY(SELECT p.id FROM picked AS p), %(cutoff)s, true) AS done
LEFT JOIN LATERAL (SELECT p.created_at, p.id FROM picked AS p ORDER BY p.created_at DESC, p.id DESC LIMIT 1)
    AS last ON true;

-- name: retention_done :exec
-- The account's leads created before cutoff are all anonymized: its next run starts there.
UPDATE accounts
SET retention_done_before = greatest(coalesce(retention_done_before, '-infinity'), %(cutoff)s::timestamptz)
WHERE id = %(account_id)s;

-- name: retention_attempts_sweep :one
-- Deletes up to batch of an account's call attempts claimed before attempts_before (oldest first); how many.
WITH gone AS (
    DELETE FROM call_attempts AS a
    WHERE a.account_id = %(account_id)s
      AND a.id IN (SELECT b.id FROM call_attempts AS b
                   WHERE b.account_id = %(account_id)s AND b.claimed_at < %(attempts_before)s
                   ORDER BY b.claimed_at
                   LIMIT %(batch)s)
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;

-- name: retention_evidence_sweep :one
-- Deletes up to batch of an account's consent evidence whose hold has run out: the lead is older than
-- hold_before and no call attempt on its number is younger (call attempts are kept at least that long). How many.
WITH gone AS (
    DELETE FROM consent_evidence AS e
    WHERE e.account_id = %(account_id)s
      AND e.lead_id IN (SELECT c.lead_id FROM consent_evidence AS c
                        WHERE c.account_id = %(account_id)s AND c.lead_created_at < %(hold_before)s
                          AND NOT EXISTS (SELECT 1 FROM call_attempts AS a
                                          WHERE a.account_id = c.account_id AND a.phone = c.phone
                                            AND a.claimed_at >= %(hold_before)s)
                        ORDER BY c.lead_created_at
                        LIMIT %(batch)s)
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;

-- name: retention_import_rows_sweep :one
-- Deletes up to batch row outcomes (they echo the CSV rows) of an account's finished import jobs created before
-- cutoff; the job and its totals stay. How many.
WITH gone AS (
    DELETE FROM import_rows AS r
    WHERE (r.import_id, r.row_number) IN (
        SELECT x.import_id, x.row_number
        FROM imports AS i
        JOIN import_rows AS x ON x.import_id = i.id
        WHERE i.account_id = %(account_id)s AND i.created_at < %(cutoff)s AND i.status IN ('done', 'failed')
        LIMIT %(batch)s)
    RETURNING 1
)
SELECT count(*) AS deleted FROM gone;

-- name: retention_postbacks_sweep :one
-- Clears the caller id and raw fields of up to batch of an account's unmatched postbacks received before cutoff
-- (the matched ones go with their lead); amounts, buyer and times stay for analytics_unmatched_postbacks. How many.
WITH cleared AS (
    UPDATE postbacks AS p SET caller_id = NULL, fields = '{}', updated_at = now()
    WHERE p.account_id = %(account_id)s
      AND p.id IN (SELECT q.id FROM postbacks AS q
                   WHERE q.account_id = %(account_id)s AND q.transfer_id IS NULL AND q.caller_id IS NOT NULL
                     AND q.received_at < %(cutoff)s
                   LIMIT %(batch)s)
    RETURNING 1
)
SELECT count(*) AS cleared FROM cleared;

-- name: retention_preview :one
-- What a run would do to one account now (l2i retention apply --dry-run), changing nothing.
WITH due AS (
    SELECT l.id, l.phone, l.consent, l.created_at
    FROM leads AS l
    WHERE l.account_id = %(account_id)s AND l.created_at >= %(start)s AND l.created_at < %(cutoff)s
      AND l.anonymized_at IS NULL
)
SELECT (SELECT count(*) FROM due) AS leads,
       (SELECT count(*) FROM lead_events AS e JOIN due ON due.id = e.lead_id
        WHERE e.account_id = %(account_id)s) AS events,
       (SELECT count(*) FROM dial_queue AS q JOIN due ON due.id = q.lead_id
        WHERE q.account_id = %(account_id)s) AS queue,
       (SELECT count(*) FROM due
        WHERE due.consent IS NOT NULL
          AND (due.created_at >= %(hold_before)s
               OR EXISTS (SELECT 1 FROM call_attempts AS a
                          WHERE a.account_id = %(account_id)s AND a.phone = due.phone
                            AND a.claimed_at >= %(hold_before)s))) AS evidence,
       (SELECT count(*) FROM transfers AS t JOIN due ON due.id = t.lead_id
        WHERE t.account_id = %(account_id)s AND t.caller_id IS NOT NULL) AS transfers,
       (SELECT count(*) FROM postbacks AS p JOIN transfers AS t ON t.id = p.transfer_id JOIN due ON due.id = t.lead_id
        WHERE p.account_id = %(account_id)s AND t.account_id = %(account_id)s) AS postbacks,
       (SELECT count(*) FROM call_attempts AS a
        WHERE a.account_id = %(account_id)s AND a.claimed_at < %(attempts_before)s) AS attempts,
       (SELECT count(*) FROM consent_evidence AS c
        WHERE c.account_id = %(account_id)s AND c.lead_created_at < %(hold_before)s
          AND NOT EXISTS (SELECT 1 FROM call_attempts AS a
                          WHERE a.account_id = c.account_id AND a.phone = c.phone
                            AND a.claimed_at >= %(hold_before)s)) AS evidence_expired,
       (SELECT count(*) FROM imports AS i JOIN import_rows AS x ON x.import_id = i.id
        WHERE i.account_id = %(account_id)s AND i.created_at < %(cutoff)s
          AND i.status IN ('done', 'failed')) AS import_rows,
       (SELECT count(*) FROM postbacks AS q
        WHERE q.account_id = %(account_id)s AND q.transfer_id IS NULL AND q.caller_id IS NOT NULL
          AND q.received_at < %(cutoff)s) AS unmatched_postbacks;

-- name: lead_erase :one
-- POST /v1/erasures: a consumer's deletion request for one E.164 number of the account, through l2i_lead_erase
-- (one transaction: leads anonymized, derived rows deleted or cleared, the number suppressed as opted_out); the
-- audit row, the number only as its SHA-256.
SELECT id, phone_sha256, removed, operator, at
FROM l2i_lead_erase(%(account_id)s::uuid, %(phone)s::text, %(operator)s::text, %(api_key_id)s::uuid);
