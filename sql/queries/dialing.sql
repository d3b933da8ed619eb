-- Queries of the dialing side: claims with leases, lease and expiry reaping, outcomes, removal and requeue.
-- Every statement takes a now parameter: NULL means the database clock (what the service passes); tests pass
-- fixed instants. Statements that wait for a lock take dial_queue then leads; the claim and the reaper never wait
-- (SKIP LOCKED: they lock a lead, in its partition, before its queue row), so they cannot deadlock with anything.

-- name: dial_reap :many
-- Gives back the leases that ran out and expires the waiting leads past their expires_at, for one account (or
-- all of them when account_id is NULL), at most 1000 at a time. A lease that ran out was an attempt (the claim
-- counted it): at its campaign's max_attempts (the account's, without a campaign) the lead is unreached, else it
-- waits out the back-off (the campaign's for lease_expired) and goes back in the queue. A lead in a call (lease
-- still running) is never expired under the dialer.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), due AS (
    SELECT q.lead_id, q.lead_created_at, q.account_id, q.phone, q.zones, q.states, q.leased_until, q.lease_id,
           q.expires_at,
           l.status, l.attempts, coalesce(c.max_attempts, a.max_attempts) AS max_attempts,
           coalesce((c.backoff_s ->> 'lease_expired')::integer, c.retry_backoff_s, a.retry_backoff_s)
               AS retry_backoff_s, clock.now
    FROM dial_queue AS q
    -- Its lead, in one partition: a subquery per queue row, as in dial_claim (which says why).
    CROSS JOIN LATERAL (SELECT l.status, l.attempts FROM leads AS l
                        WHERE l.id = q.lead_id AND l.created_at = q.lead_created_at OFFSET 0) AS l
    JOIN accounts AS a ON a.id = q.account_id
    LEFT JOIN campaigns AS c ON c.id = q.campaign_id
    CROSS JOIN clock
    WHERE (%(account_id)s::uuid IS NULL OR q.account_id = %(account_id)s::uuid)
      AND (q.leased_until < clock.now OR (q.leased_until IS NULL AND q.expires_at <= clock.now))
    LIMIT 1000
    FOR UPDATE OF q, l SKIP LOCKED
), decided AS (
    SELECT due.*,
           CASE WHEN due.expires_at <= due.now THEN 'expired'
                WHEN due.attempts >= due.max_attempts THEN 'unreached'
                ELSE 'new' END AS to_status,
           due.now + make_interval(secs => least(86400, due.retry_backoff_s * power(2, greatest(due.attempts - 1, 0))))
               AS retry_after
    FROM due
), moved AS (
    UPDATE leads AS l
    SET status = d.to_status, updated_at = d.now,
        closed_at = CASE WHEN d.to_status = 'new' THEN NULL ELSE d.now END
    FROM decided AS d
    WHERE l.id = d.lead_id AND l.created_at = d.lead_created_at
    RETURNING l.id
), requeued AS (
    UPDATE dial_queue AS q
    SET leased_until = NULL, lease_id = NULL,
        not_before = coalesce(l2i_next_dial_time(d.account_id, d.phone, d.zones, d.states, d.retry_after),
                              d.retry_after)
    FROM decided AS d
    WHERE q.lead_id = d.lead_id AND d.to_status = 'new'
    RETURNING q.lead_id, q.not_before
), dequeued AS (
    DELETE FROM dial_queue AS q USING decided AS d
    WHERE q.lead_id = d.lead_id AND d.to_status <> 'new'
    RETURNING q.lead_id
), events AS (
    INSERT INTO lead_events (lead_id, lead_created_at, account_id, type, from_status, to_status, at, detail)
    SELECT d.lead_id, d.lead_created_at, d.account_id, CASE WHEN d.leased_until IS NULL THEN 'expired' ELSE 'lease_expired' END,
           d.status, d.to_status, d.now,
           jsonb_strip_nulls(jsonb_build_object('claim_id', d.lease_id, 'attempt', d.attempts,
                                                'next_attempt_at', r.not_before))
    FROM decided AS d
    LEFT JOIN requeued AS r ON r.lead_id = d.lead_id
)
SELECT d.lead_id, d.status AS from_status, d.to_status, r.not_before AS next_attempt_at
FROM decided AS d
LEFT JOIN requeued AS r ON r.lead_id = d.lead_id
JOIN moved AS m ON m.id = d.lead_id;

-- name: dial_claim :many
-- Hands out up to limit leads of one account that may legally be called now, each to one caller only, in claim
-- order (campaign priority, then lead priority, higher first; then not_before; then enqueued_at), leasing each
-- for lease_seconds. Legal now: waiting (no lease) and due, not expired, and inside the calling window of every
-- state whose rules apply, in every zone the lead may be in, outside their blackouts (l2i_call_allowed).
-- campaign_ids (NULL: every campaign) limits the claim to those campaigns (dial_queue_campaign_claim_idx); a
-- lead of a paused campaign, or outside its campaign's hours, waits (l2i_campaign_callable: the campaign's
-- hours only narrow the legal window). Each lead comes with its campaign's code and agent.
-- Re-checked here, because they can change after intake: a suppressed number, a number on the Do-Not-Call
-- Registry (DNC-connected accounts) and consent older than the account allows are held (ineligible) instead
-- of handed out; where the registry data cannot answer, the lead is not handed out and waits (fail closed).
-- A number that reached the 24-hour attempt cap of one of its states (counted over the account's claims of that
-- number) is not handed out either: its not_before moves to when the cap lets the next attempt (event deferred).
-- Each claim counts as an attempt (call_attempts) and is recorded as an event.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), picked AS (
    SELECT q.lead_id, q.lead_created_at, q.account_id, q.phone, q.zones, q.states, clock.now,
           CASE WHEN EXISTS (SELECT 1 FROM suppressions AS s WHERE s.account_id = q.account_id AND s.phone = q.phone)
                    THEN 'suppressed'
                WHEN a.dnc_connected AND l2i_dnc_listed(q.phone, clock.now) THEN 'dnc'
                WHEN a.consent_max_age_days IS NOT NULL
                 AND (l.consent ->> 'consent_timestamp')::timestamptz
                     < clock.now - make_interval(days => a.consent_max_age_days)
                    THEN 'consent_expired'
           END AS hold,
           l2i_attempt_free_at(q.account_id, q.phone, q.states, clock.now) AS free_at
    FROM dial_queue AS q
    -- A subquery per queue row (OFFSET 0 keeps it one): its lead, in one partition (run-time pruning on
    -- lead_created_at). Joined directly, the planner multiplies the selectivities of id and created_at, expects no
    -- row and hashes every partition of leads instead of walking dial_queue_claim_idx up to the limit. The lead is
    -- locked (SKIP LOCKED) before its queue row here: neither waits, so the order cannot deadlock.
    CROSS JOIN LATERAL (SELECT l.status, l.consent FROM leads AS l
                        WHERE l.id = q.lead_id AND l.created_at = q.lead_created_at AND l.status = 'new'
                        OFFSET 0) AS l
    JOIN accounts AS a ON a.id = q.account_id
    CROSS JOIN clock
    WHERE q.account_id = %(account_id)s
      AND q.leased_until IS NULL
      AND q.not_before <= clock.now
      AND (q.expires_at IS NULL OR q.expires_at > clock.now)
      AND l.status = 'new'
      AND (NOT a.dnc_connected OR l2i_dnc_listed(q.phone, clock.now) IS NOT NULL)
      AND l2i_call_allowed(q.zones, q.states, clock.now)
      AND (%(campaign_ids)s::uuid[] IS NULL OR q.campaign_id = ANY (%(campaign_ids)s::uuid[]))
      AND l2i_campaign_callable(q.campaign_id, q.zones, clock.now)
    ORDER BY q.campaign_priority DESC, q.priority DESC, q.not_before, q.enqueued_at
    LIMIT %(limit)s
    FOR UPDATE OF q, l SKIP LOCKED
), decided AS (
    SELECT p.*,
           CASE WHEN p.hold IS NOT NULL THEN 'hold' WHEN p.free_at > p.now THEN 'defer' ELSE 'lease' END AS action
    FROM picked AS p
), leased AS (
    UPDATE dial_queue AS q
    SET leased_until = p.now + make_interval(secs => %(lease_seconds)s::integer), lease_id = gen_random_uuid()
    FROM decided AS p
    WHERE q.lead_id = p.lead_id AND p.action = 'lease'
    RETURNING q.lead_id, q.lease_id, q.leased_until, q.priority, q.not_before, q.enqueued_at, q.zones,
              q.expires_at, q.campaign_id, q.campaign_priority
), claimed AS (
    UPDATE leads AS l
    SET status = 'dialing', attempts = l.attempts + 1, updated_at = p.now
    FROM decided AS p
    WHERE l.id = p.lead_id AND l.created_at = p.lead_created_at AND p.action = 'lease'
    RETURNING l.id, l.account_id, l.phone, l.first_name, l.last_name, l.email, l.state, l.zip, l.city,
              l.address1, l.address2, l.source, l.external_id, l.custom, l.attempts, l.created_at
), attempted AS (
    INSERT INTO call_attempts (account_id, phone, lead_id, lead_created_at, claimed_at)
    SELECT p.account_id, p.phone, p.lead_id, p.lead_created_at, p.now FROM decided AS p WHERE p.action = 'lease'
), deferred AS (
    UPDATE dial_queue AS q
    SET not_before = coalesce(l2i_next_call_time(p.zones, p.states, p.free_at), p.free_at)
    FROM decided AS p
    WHERE q.lead_id = p.lead_id AND p.action = 'defer'
    RETURNING q.lead_id, q.not_before
), unqueued AS (
    DELETE FROM dial_queue AS q USING decided AS p
    WHERE q.lead_id = p.lead_id AND p.action = 'hold'
), held AS (
    UPDATE leads AS l
    SET status = 'ineligible', reasons = ARRAY[p.hold], updated_at = p.now
    FROM decided AS p
    WHERE l.id = p.lead_id AND l.created_at = p.lead_created_at AND p.action = 'hold'
    RETURNING l.id
), events AS (
    INSERT INTO lead_events (lead_id, lead_created_at, account_id, type, from_status, to_status, at, api_key_id,
                             detail)
    SELECT c.id, c.created_at, c.account_id, 'claimed', 'new', 'dialing', p.now, %(api_key_id)s::uuid,
           jsonb_build_object('claim_id', q.lease_id, 'attempt', c.attempts, 'lease_expires_at', q.leased_until)
    FROM claimed AS c
    JOIN leased AS q ON q.lead_id = c.id
    JOIN decided AS p ON p.lead_id = c.id
    UNION ALL
    SELECT p.lead_id, p.lead_created_at, p.account_id, p.hold, 'new', 'ineligible', p.now, %(api_key_id)s::uuid, '{}'::jsonb
    FROM decided AS p
    JOIN held AS h ON h.id = p.lead_id
    UNION ALL
    SELECT p.lead_id, p.lead_created_at, p.account_id, 'deferred', 'new', 'new', p.now, %(api_key_id)s::uuid,
           jsonb_build_object('reason', 'attempt_cap', 'not_before', d.not_before)
    FROM decided AS p
    JOIN deferred AS d ON d.lead_id = p.lead_id
)
SELECT c.id AS lead_id, q.lease_id AS claim_id, q.leased_until AS lease_expires_at, c.attempts AS attempt,
       c.phone, c.first_name, c.last_name, c.email, c.state, c.zip, c.city, c.address1, c.address2, c.source,
       c.external_id, c.custom, q.zones, q.priority, q.not_before, q.expires_at, c.created_at,
       k.code AS campaign, k.agent
FROM claimed AS c
JOIN leased AS q ON q.lead_id = c.id
LEFT JOIN campaigns AS k ON k.id = q.campaign_id
ORDER BY q.campaign_priority DESC, q.priority DESC, q.not_before, q.enqueued_at;

-- name: dial_outcome :one
-- Records what a call did to a lead in dialing, in one statement: the event, the move (final outcomes close the
-- lead; no_answer, busy and voicemail send it back with the back-off, or make it unreached at the
-- max_attempts of its campaign, else of the account; the back-off base is the campaign's for that outcome), the
-- queue row, and for transferred the transfer. No row: the lead is not in dialing (or not
-- under the given claim_id), or is another account's.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), lead AS (
    SELECT l.id, l.created_at, l.account_id, l.phone, l.attempts, coalesce(c.max_attempts, a.max_attempts) AS max_attempts,
           coalesce((c.backoff_s ->> %(outcome)s::text)::integer, c.retry_backoff_s, a.retry_backoff_s)
               AS retry_backoff_s, q.zones, q.states, q.lease_id, clock.now,
           %(outcome)s::text AS outcome
    FROM dial_queue AS q
    -- (Joined, not a subquery as in dial_claim: the lock order stays dial_queue then leads, as this one waits. It
    -- probes the index of every partition for the one id; the claim and the reaper, which never wait, prune.)
    JOIN leads AS l ON l.id = q.lead_id AND l.created_at = q.lead_created_at
    JOIN accounts AS a ON a.id = l.account_id
    LEFT JOIN campaigns AS c ON c.id = q.campaign_id
    CROSS JOIN clock
    WHERE q.lead_id = %(lead_id)s AND l.account_id = %(account_id)s AND l.status = 'dialing'
      AND (%(claim_id)s::uuid IS NULL OR q.lease_id = %(claim_id)s::uuid)
    FOR UPDATE OF q, l
), decided AS (
    SELECT lead.*,
           CASE WHEN lead.outcome NOT IN ('no_answer', 'busy', 'voicemail') THEN lead.outcome
                WHEN lead.attempts >= lead.max_attempts THEN 'unreached'
                ELSE 'new' END AS to_status,
           lead.now + make_interval(secs => least(86400, lead.retry_backoff_s * power(2, greatest(lead.attempts - 1, 0))))
               AS retry_after
    FROM lead
), moved AS (
    UPDATE leads AS l
    SET status = d.to_status, updated_at = d.now,
        closed_at = CASE WHEN d.to_status = 'new' THEN NULL ELSE d.now END
    FROM decided AS d
    WHERE l.id = d.id AND l.created_at = d.created_at
    RETURNING l.id, l.status, l.attempts
), requeued AS (
    UPDATE dial_queue AS q
    SET leased_until = NULL, lease_id = NULL,
        not_before = coalesce(l2i_next_dial_time(d.account_id, d.phone, d.zones, d.states, d.retry_after),
                              d.retry_after)
    FROM decided AS d
    WHERE q.lead_id = d.id AND d.to_status = 'new'
    RETURNING q.not_before
), dequeued AS (
    DELETE FROM dial_queue AS q USING decided AS d
    WHERE q.lead_id = d.id AND d.to_status <> 'new'
), transfer AS (
    INSERT INTO transfers (lead_id, lead_created_at, account_id, destination, caller_id, transferred_at, call_id)
    SELECT d.id, d.created_at, d.account_id, %(destination)s::text, %(caller_id)s::text, %(transferred_at)s::timestamptz,
           %(call_id)s::text
    FROM decided AS d
    WHERE d.outcome = 'transferred'
    RETURNING id, destination, caller_id, transferred_at, call_id
), event AS (
    INSERT INTO lead_events (lead_id, lead_created_at, account_id, type, from_status, to_status, at, api_key_id,
                             detail)
    SELECT d.id, d.created_at, d.account_id, d.outcome, 'dialing', d.to_status, d.now, %(api_key_id)s::uuid,
           %(detail)s::jsonb || jsonb_strip_nulls(jsonb_build_object(
               'claim_id', d.lease_id, 'attempt', d.attempts, 'transfer_id', t.id, 'next_attempt_at', r.not_before))
    FROM decided AS d
    LEFT JOIN transfer AS t ON true
    LEFT JOIN requeued AS r ON true
)
SELECT m.id AS lead_id, m.status, d.outcome, m.attempts, d.phone, d.account_id, r.not_before AS next_attempt_at,
       CASE WHEN t.id IS NOT NULL THEN jsonb_build_object('id', t.id, 'destination', t.destination,
                                                          'caller_id', t.caller_id, 'transferred_at', t.transferred_at,
                                                          'call_id', t.call_id) END AS transfer
FROM moved AS m
CROSS JOIN decided AS d
LEFT JOIN requeued AS r ON true
LEFT JOIN transfer AS t ON true;

-- name: lead_state :one
-- A lead's status and current claim, to tell a 404 from a 409 when a move found no lead to move.
SELECT l.status, q.lease_id AS claim_id
FROM leads AS l
LEFT JOIN dial_queue AS q ON q.lead_id = l.id
WHERE l.id = %(lead_id)s AND l.account_id = %(account_id)s;

-- name: lead_remove :one
-- Takes a waiting or held lead off for good (status removed), with its queue row. A lead in a call cannot be
-- removed (its outcome is on its way); removing a removed lead changes nothing and returns it.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), queued AS (
    SELECT q.lead_id FROM dial_queue AS q
    WHERE q.lead_id = %(lead_id)s AND q.account_id = %(account_id)s AND q.leased_until IS NULL
    FOR UPDATE
), lead AS (
    SELECT l.id, l.account_id, l.status, l.reasons, clock.now
    FROM leads AS l
    CROSS JOIN clock
    WHERE l.id = %(lead_id)s AND l.account_id = %(account_id)s AND l.status IN ('new', 'ineligible')
    FOR UPDATE OF l
), unqueued AS (
    DELETE FROM dial_queue AS q USING queued, lead WHERE q.lead_id = queued.lead_id AND lead.id = queued.lead_id
), moved AS (
    UPDATE leads AS l
    SET status = 'removed', reasons = '{}', closed_at = lead.now, updated_at = lead.now
    FROM lead
    WHERE l.id = lead.id
    RETURNING l.id, l.status, l.closed_at
), event AS (
    INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, at, api_key_id, detail)
    SELECT lead.id, lead.account_id, 'removed', lead.status, 'removed', lead.now, %(api_key_id)s::uuid,
           CASE WHEN cardinality(lead.reasons) > 0 THEN jsonb_build_object('reasons', lead.reasons)
                ELSE '{}'::jsonb END
    FROM lead
)
SELECT id AS lead_id, status, closed_at FROM moved;

-- name: lead_requeue :one
-- Puts a lead at the end of its account's queue: behind every lead that is due now, at its own priority, and
-- never before its next legal call time. A waiting lead moves; an unreached or expired lead comes back
-- (attempts start again from 0 and it no longer expires). Calling windows come from the intake's gates. An
-- anonymized lead (retention, erasure: no number) is never queued again.
WITH clock AS (
    SELECT coalesce(%(now)s::timestamptz, now()) AS now
), lead AS (
    SELECT l.id, l.account_id, l.phone, l.status, l.priority, l.expires_at, clock.now, l.campaign_id,
           coalesce((SELECT k.priority FROM campaigns AS k WHERE k.id = l.campaign_id), 0) AS campaign_priority,
           coalesce(q.zones, ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'zones')))
               AS zones,
           coalesce(q.states,
                    CASE WHEN l.gates -> 'calling_window' ? 'states'
                         THEN ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'states'))
                         ELSE array_remove(ARRAY[l.gates -> 'calling_window' ->> 'state'], NULL) END) AS states
    FROM leads AS l
    LEFT JOIN dial_queue AS q ON q.lead_id = l.id
    CROSS JOIN clock
    WHERE l.id = %(lead_id)s AND l.account_id = %(account_id)s
      AND l.status IN ('new', 'unreached', 'expired') AND l.anonymized_at IS NULL
      AND cardinality(coalesce(q.zones, ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'zones')))) > 0
    FOR UPDATE OF l
), placed AS (
    SELECT lead.*,
           greatest(coalesce(l2i_next_dial_time(lead.account_id, lead.phone, lead.zones, lead.states, lead.now),
                             lead.now),
                    (SELECT max(q.not_before) FROM dial_queue AS q
                     WHERE q.account_id = lead.account_id AND q.leased_until IS NULL
                       AND q.not_before <= lead.now AND q.lead_id <> lead.id)) AS not_before,
           CASE WHEN lead.status = 'new' THEN lead.expires_at END AS new_expires_at
    FROM lead
), queued AS (
    INSERT INTO dial_queue AS q (lead_id, account_id, phone, states, zones, priority, not_before, enqueued_at,
                                 expires_at, campaign_id, campaign_priority)
    SELECT p.id, p.account_id, p.phone, p.states, p.zones, p.priority, p.not_before, p.now, p.new_expires_at,
           p.campaign_id, p.campaign_priority
    FROM placed AS p
    ON CONFLICT ON CONSTRAINT dial_queue_pkey DO UPDATE
        SET not_before = excluded.not_before, enqueued_at = excluded.enqueued_at
        WHERE q.leased_until IS NULL
    RETURNING q.not_before, q.enqueued_at
), moved AS (
    UPDATE leads AS l
    SET status = 'new', closed_at = NULL, updated_at = p.now, expires_at = p.new_expires_at,
        attempts = CASE WHEN p.status = 'new' THEN l.attempts ELSE 0 END
    FROM placed AS p
    WHERE l.id = p.id
    RETURNING l.id, l.status
), event AS (
    INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, at, api_key_id, detail)
    SELECT p.id, p.account_id, 'requeued', p.status, 'new', p.now, %(api_key_id)s::uuid,
           jsonb_build_object('position', 'end', 'not_before', q.not_before)
    FROM placed AS p
    CROSS JOIN queued AS q
)
SELECT m.id AS lead_id, m.status, q.not_before, q.enqueued_at
FROM moved AS m
CROSS JOIN queued AS q;
