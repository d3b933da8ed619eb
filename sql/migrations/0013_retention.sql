-- 0013_retention: how long a lead's personal data is kept, the consent evidence kept after it, and the erasure of
-- one number on a consumer's request (issue 12, section 4, second half).
--
-- Why, and the legal facts behind the numbers (links are to the texts; not legal advice):
-- - The TCPA gives the person called a private right of action: $500 per violating call, up to $1,500 when wilful
--   (47 U.S.C. § 227(b)(3); https://cliclaw.com/node/526 quotes it). Prior express consent is the caller's
--   affirmative defense, so the caller must be able to show it (https://plaintiffmagazine.com/recent-issues/item/
--   those-annoying-robo-calls-and-the-changing-standard-of-prior-express-consent).
-- - The TCPA names no limitation period; courts apply the federal catch-all, 28 U.S.C. § 1658(a): an action under
--   an Act of Congress enacted after 1 December 1990 "may not be commenced later than 4 years after the cause of
--   action accrues" (https://law.justia.com/codes/us/2019/title-28/part-v/chapter-111/sec-1658/; applied to the
--   TCPA since the Supreme Court's Mims v. Arrow Financial Services (2012), e.g. Giovanniello v. ALM Media,
--   726 F.3d 106 (2d Cir. 2013): https://tcpa.mobi/blog/tcpa-statute-of-limitations/,
--   https://severson.com/?p=13958). The claim accrues with the call, so the evidence for a call must live 4 years
--   after that call.
-- So: the default retention is 1461 days (4 years), per account (accounts.retention_days); consent evidence (the
-- lead's consent and the number it was given for) lives on in consent_evidence until 4 years after the lead's
-- creation or the last call attempt on that number, whichever is later (l2i_consent_hold()), even when the
-- account keeps leads for less. State laws with longer periods are not modelled: the hold is one function to change.
--
-- What retention does to a lead older than its account's retention_days (sql/queries/retention.sql, l2i/retention.py):
-- it is anonymized, not deleted. GET /v1/stats and the analyst views count leads by account, creation time,
-- source, sub_id, campaign, status, reasons, attempts, duplicate_count, cost and their transfer's buyer, payout and
-- time (sql/queries/stats.sql, analytics_*): those columns stay, so the stats of an old period never change. The
-- personal fields are NULLed (phone, names, email, address, external_id, referrer, landing page, utm_term and
-- utm_content, consent), custom and extra emptied, the number taken out of gates; anonymized_at says when. The
-- lead's events and queue row go; its transfer loses its caller id, its postbacks their caller id and raw fields.
-- A lead still new or dialing becomes expired (both moves are allowed; neither changes a count stats reads).
-- Why not roll counts up and delete: stats.sql groups by five dimensions and counts reasons; a roll-up table
-- would have to hold all of them and stats.sql would read two sources (and the analyst views too).
-- Other tables: call_attempts (numbers, for the 24-hour caps and as the record of calls made) go 4 years after
-- the attempt, or after the retention when longer; import_rows (they echo the CSV row) go with the import job's
-- retention; unmatched postbacks lose caller id and fields. Suppressions are never touched by retention.
--
-- Erasure (l2i_lead_erase, sql/admin/lead_erase.sql, `l2i lead erase`): a consumer's "delete me" anonymizes all of
-- the account's leads with that number the same way (so the revenue books do not change), deletes their events,
-- queue rows, call attempts, consent evidence, Idempotency-Key answers and import rows holding the number, clears
-- the number from transfers and postbacks, and puts the number on the suppression list as opted_out (protected:
-- only opt_out_remove.sql takes it off). The suppression list (and its history, suppression_events) is the one
-- place the number stays, so it is never called again. lead_erasures records it: a SHA-256 of the account and
-- number, never the number, with the counts, so an operator can prove it was done for a number they are given.
-- Erasure deletes the consent evidence too, as the issue asks ("removed everywhere except the suppression list"):
-- an operator who needs it to defend a claim already made about that number should not erase before the claim
-- is over (not modelled). The number space is small: the hash proves an erasure to someone holding the number,
-- it does not hide the number from someone who tries every number (the suppression list holds it anyway).
--
-- Partitions (the `partitions` branch partitions leads and lead_events by month): every statement here works on
-- one account and a created_at / claimed_at range, in bounded batches, and never uses ctid, so it runs the same on
-- plain and partitioned tables. l2i_retention_droppable() says when a whole month of a table may be dropped instead
-- of deleted row by row (lead_events: once every account's retention is past the month; leads: never, stats read
-- the anonymized rows).
--
-- How: applied by `l2i migrate` in one transaction. Forward-only. Adds nullable columns and CHECK constraints on
-- leads (validated: one scan of leads, under an ACCESS EXCLUSIVE lock: run it when intake is quiet).

-- ---------------------------------------------------------------------------------------------------------------
-- Per-account retention.
ALTER TABLE accounts ADD COLUMN retention_days integer NOT NULL DEFAULT 1461;
ALTER TABLE accounts ADD COLUMN retention_done_before timestamptz;
ALTER TABLE accounts ADD CONSTRAINT accounts_retention_days_check CHECK (retention_days BETWEEN 1 AND 36525);
COMMENT ON COLUMN accounts.retention_days IS
    'Days a lead''s personal data is kept (default 1461: the TCPA''s 4-year limitation); then l2i retention apply '
    'anonymizes it. Consent evidence is kept 4 years after the last call whatever this says.';
COMMENT ON COLUMN accounts.retention_done_before IS
    'Every lead of the account created before this was anonymized by l2i retention apply (where its next run starts).';

-- The legal hold of consent evidence and call records: 4 years (28 U.S.C. § 1658(a); see the header).
CREATE FUNCTION l2i_consent_hold() RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT interval '4 years'
$$;
COMMENT ON FUNCTION l2i_consent_hold() IS
    'How long consent evidence and call attempts are kept after the last call (TCPA: 28 U.S.C. 1658(a), 4 years).';

-- ---------------------------------------------------------------------------------------------------------------
-- Anonymized leads: no number, and a time saying so.
ALTER TABLE leads ALTER COLUMN phone DROP NOT NULL;
ALTER TABLE leads ADD COLUMN anonymized_at timestamptz;
ALTER TABLE leads ADD CONSTRAINT leads_anonymized_check CHECK ((phone IS NULL) = (anonymized_at IS NOT NULL));
COMMENT ON COLUMN leads.anonymized_at IS
    'When retention or an erasure removed the lead''s personal data (phone NULL from then on); NULL: it has it.';
-- A transfer's and a postback's caller id go with the lead's number (erasure, retention).
ALTER TABLE transfers ALTER COLUMN caller_id DROP NOT NULL;
ALTER TABLE postbacks ALTER COLUMN caller_id DROP NOT NULL;
-- The retention sweep of old call attempts reads them by account and time.
CREATE INDEX call_attempts_account_claimed_idx ON call_attempts (account_id, claimed_at);

-- ---------------------------------------------------------------------------------------------------------------
-- Consent evidence outliving its lead: the consent as the lead carried it and the number it was given for.
-- A row goes once its lead is older than l2i_consent_hold() and no call attempt on the number is younger.
CREATE TABLE consent_evidence (
    lead_id          uuid        NOT NULL,
    account_id       uuid        NOT NULL,
    phone            text        NOT NULL,
    consent          jsonb       NOT NULL,
    lead_created_at  timestamptz NOT NULL,
    kept_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consent_evidence_pkey PRIMARY KEY (lead_id),
    CONSTRAINT consent_evidence_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT consent_evidence_phone_check CHECK (phone ~ '^\+[1-9][0-9]{7,14}$')
);
CREATE INDEX consent_evidence_account_created_idx ON consent_evidence (account_id, lead_created_at);
CREATE INDEX consent_evidence_account_phone_idx ON consent_evidence (account_id, phone);
COMMENT ON TABLE consent_evidence IS
    'The consent of leads anonymized by retention, with the number, kept until 4 years after the lead or the last '
    'call attempt on the number, whichever is later (l2i retention apply deletes it then; an erasure at once).';

-- Erasures done: who asked, when, what went; the number only as sha256(account_id || ':' || phone), hex.
CREATE TABLE lead_erasures (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    account_id    uuid        NOT NULL,
    phone_sha256  text        NOT NULL,
    removed       jsonb       NOT NULL,
    operator      text,
    api_key_id    uuid,
    db_user       text        NOT NULL DEFAULT session_user,
    at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lead_erasures_pkey PRIMARY KEY (id),
    CONSTRAINT lead_erasures_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT lead_erasures_phone_sha256_check CHECK (phone_sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX lead_erasures_account_phone_idx ON lead_erasures (account_id, phone_sha256);
COMMENT ON TABLE lead_erasures IS
    'Every erasure of a number (l2i lead erase): the account, sha256 of account_id:phone in hex (not the number), '
    'the rows removed or cleared per table, who (operator or API key, database user) and when.';

-- The hash lead_erasures keeps: an operator given a number recomputes it to find the erasure.
CREATE FUNCTION l2i_phone_sha256(p_account_id uuid, p_phone text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(p_account_id::text || ':' || p_phone, 'UTF8')), 'hex')
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Anonymizes leads of one account (ids; created before p_before, which lets a partitioned leads prune): keeps
-- their consent as evidence when p_evidence and the hold still runs, then clears transfers' and postbacks' caller
-- ids, deletes queue rows and events, and NULLs the personal fields. Returns what it did, per table. Already
-- anonymized leads are skipped, so running it twice changes nothing the second time. Row locks are taken on the
-- leads first (an intake meeting one of them as a duplicate waits for this transaction, then inserts a new lead).
CREATE FUNCTION l2i_leads_anonymize(p_account_id uuid, p_ids uuid[], p_before timestamptz, p_evidence boolean)
RETURNS TABLE (leads integer, events integer, queue integer, evidence integer, transfers integer, postbacks integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_now timestamptz := now();
    v_hold timestamptz := now() - l2i_consent_hold();
    v_ids uuid[];
    v_leads integer;
    v_events integer;
    v_queue integer;
    v_evidence integer := 0;
    v_transfers integer;
    v_postbacks integer;
BEGIN
    -- Locks in the order the dialer's statements take them (dial_claim, dial_outcome, lead_remove: the queue row,
    -- then the lead), so that a claim and this never wait for each other in a circle; a claim skips a queue row
    -- locked here (SKIP LOCKED).
    PERFORM 1 FROM dial_queue AS q
    WHERE q.account_id = p_account_id AND q.lead_id = ANY(p_ids)
    ORDER BY q.lead_id
    FOR UPDATE;
    SELECT coalesce(array_agg(l.id), '{}') INTO v_ids
    FROM (SELECT l.id FROM leads AS l
          WHERE l.account_id = p_account_id AND l.id = ANY(p_ids) AND l.created_at < p_before
            AND l.anonymized_at IS NULL
          ORDER BY l.id
          FOR NO KEY UPDATE) AS l;
    IF p_evidence THEN
        INSERT INTO consent_evidence (lead_id, account_id, phone, consent, lead_created_at)
        SELECT l.id, l.account_id, l.phone, l.consent, l.created_at
        FROM leads AS l
        WHERE l.account_id = p_account_id AND l.id = ANY(v_ids) AND l.created_at < p_before
          AND l.consent IS NOT NULL
          AND (l.created_at >= v_hold
               OR EXISTS (SELECT 1 FROM call_attempts AS a
                          WHERE a.account_id = l.account_id AND a.phone = l.phone AND a.claimed_at >= v_hold))
        ON CONFLICT ON CONSTRAINT consent_evidence_pkey DO NOTHING;
        GET DIAGNOSTICS v_evidence = ROW_COUNT;
    END IF;
    -- Postbacks before transfers: the order l2i_postback_record locks them in.
    UPDATE postbacks AS p SET caller_id = NULL, fields = '{}', updated_at = v_now
    FROM transfers AS t
    WHERE p.account_id = p_account_id AND t.account_id = p_account_id AND t.lead_id = ANY(v_ids)
      AND p.transfer_id = t.id;
    GET DIAGNOSTICS v_postbacks = ROW_COUNT;
    UPDATE transfers AS t SET caller_id = NULL
    WHERE t.account_id = p_account_id AND t.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_transfers = ROW_COUNT;
    DELETE FROM dial_queue AS q WHERE q.account_id = p_account_id AND q.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_queue = ROW_COUNT;
    DELETE FROM lead_events AS e WHERE e.account_id = p_account_id AND e.lead_id = ANY(v_ids);
    GET DIAGNOSTICS v_events = ROW_COUNT;
    UPDATE leads AS l
    SET phone = NULL, first_name = NULL, last_name = NULL, email = NULL, zip = NULL, city = NULL, address1 = NULL,
        address2 = NULL, external_id = NULL, consent = NULL, referrer = NULL, landing_page = NULL, utm_term = NULL,
        utm_content = NULL, custom = '{}', extra = '{}', gates = l.gates #- '{phone,e164}', dedupe_open = false,
        status = CASE WHEN l.status IN ('new', 'dialing') THEN 'expired' ELSE l.status END,
        closed_at = CASE WHEN l.status IN ('new', 'dialing') THEN v_now ELSE l.closed_at END, anonymized_at = v_now,
        updated_at = v_now
    WHERE l.account_id = p_account_id AND l.id = ANY(v_ids) AND l.created_at < p_before;
    GET DIAGNOSTICS v_leads = ROW_COUNT;
    RETURN QUERY SELECT v_leads, v_events, v_queue, v_evidence, v_transfers, v_postbacks;
END
$$;
COMMENT ON FUNCTION l2i_leads_anonymize(uuid, uuid[], timestamptz, boolean) IS
    'Removes the personal data of an account''s leads (retention, erasure), keeping what stats read; see 0013_retention.';

-- ---------------------------------------------------------------------------------------------------------------
-- A consumer's "delete me": every lead of the account with the number, and what derives from them, in one
-- transaction; the number goes on the suppression list as opted_out (or stays there). Returns the erasure's row.
-- p_operator: who did it (the CLI's --operator, or NULL when an API key did: p_api_key_id).
CREATE FUNCTION l2i_lead_erase(p_account_id uuid, p_phone text, p_operator text DEFAULT NULL,
                               p_api_key_id uuid DEFAULT NULL)
RETURNS SETOF lead_erasures
LANGUAGE plpgsql AS $$
DECLARE
    v_phone text := l2i_e164(p_phone);
    v_ids uuid[];
    v_done record;
    v_attempts integer;
    v_evidence integer;
    v_transfers integer;
    v_postbacks integer;
    v_idempotency integer;
    v_import_rows integer;
    v_suppressed boolean;
BEGIN
    IF v_phone IS NULL THEN
        RAISE EXCEPTION 'not a phone number: %', p_phone USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = p_account_id) THEN
        RAISE EXCEPTION 'no such account: %', p_account_id USING ERRCODE = '22023';
    END IF;
    -- The suppression first: from its commit on, a new post of the number is held as suppressed.
    SELECT s.added INTO v_suppressed FROM l2i_suppress(p_account_id, ARRAY[v_phone], 'opted_out', p_api_key_id) AS s;
    SELECT coalesce(array_agg(l.id), '{}') INTO v_ids
    FROM leads AS l WHERE l.account_id = p_account_id AND l.phone = v_phone;
    SELECT * INTO v_done FROM l2i_leads_anonymize(p_account_id, v_ids, 'infinity', false);
    DELETE FROM call_attempts AS a WHERE a.account_id = p_account_id AND a.phone = v_phone;
    GET DIAGNOSTICS v_attempts = ROW_COUNT;
    DELETE FROM consent_evidence AS e WHERE e.account_id = p_account_id AND e.phone = v_phone;
    GET DIAGNOSTICS v_evidence = ROW_COUNT;
    -- The number as a caller id, whoever's lead it was on (postbacks first, as l2i_postback_record locks them).
    UPDATE postbacks AS p SET caller_id = NULL, fields = '{}', updated_at = now()
    WHERE p.account_id = p_account_id AND p.caller_id = v_phone;
    GET DIAGNOSTICS v_postbacks = ROW_COUNT;
    UPDATE transfers AS t SET caller_id = NULL WHERE t.account_id = p_account_id AND t.caller_id = v_phone;
    GET DIAGNOSTICS v_transfers = ROW_COUNT;
    -- Stored answers and import outcomes name the number or the leads (kept 24 hours / with the job).
    DELETE FROM idempotency_keys AS k
    WHERE k.account_id = p_account_id
      AND (k.response::text LIKE '%' || v_phone || '%'
           OR EXISTS (SELECT 1 FROM unnest(v_ids) AS i (id) WHERE k.response::text LIKE '%' || i.id::text || '%'));
    GET DIAGNOSTICS v_idempotency = ROW_COUNT;
    DELETE FROM import_rows AS r USING imports AS i
    WHERE i.account_id = p_account_id AND r.import_id = i.id
      AND (r.lead_id = ANY(v_ids) OR r.result::text LIKE '%' || v_phone || '%');
    GET DIAGNOSTICS v_import_rows = ROW_COUNT;
    RETURN QUERY
    INSERT INTO lead_erasures AS x (account_id, phone_sha256, removed, operator, api_key_id)
    VALUES (p_account_id, l2i_phone_sha256(p_account_id, v_phone),
            jsonb_build_object('leads', v_done.leads, 'lead_events', v_done.events, 'dial_queue', v_done.queue,
                               'call_attempts', v_attempts, 'consent_evidence', v_evidence,
                               'transfers', v_done.transfers + v_transfers,
                               'postbacks', v_done.postbacks + v_postbacks, 'idempotency_keys', v_idempotency,
                               'import_rows', v_import_rows, 'suppression_added', v_suppressed),
            NULLIF(btrim(p_operator), ''), p_api_key_id)
    RETURNING x.*;
END
$$;
COMMENT ON FUNCTION l2i_lead_erase(uuid, text, text, uuid) IS
    'Erases a number from an account (a consumer''s deletion request) except its suppression; records lead_erasures.';

-- ---------------------------------------------------------------------------------------------------------------
-- The hook for whole-month partitions: may the partition of p_table holding rows up to p_upper (exclusive) be
-- dropped instead of deleted row by row? The partitions branch lists the partitions and their bounds; `l2i
-- retention apply` would drop those for which this says true before the row-wise passes (l2i/retention.py).
-- lead_events: when every account's retention is past p_upper (their events go with the anonymized leads anyway).
-- call_attempts: when every account's retention and the consent hold are past it. leads: never (stats read the
-- anonymized rows; a roll-up table that stats.sql read would be needed first).
CREATE FUNCTION l2i_retention_droppable(p_table text, p_upper timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE p_table
               WHEN 'lead_events' THEN
                   p_upper <= now() - make_interval(days => (SELECT coalesce(max(a.retention_days), 36525)
                                                             FROM accounts AS a))
               WHEN 'call_attempts' THEN
                   p_upper <= least(now() - l2i_consent_hold(),
                                    now() - make_interval(days => (SELECT coalesce(max(a.retention_days), 36525)
                                                                   FROM accounts AS a)))
               ELSE false
           END
$$;
COMMENT ON FUNCTION l2i_retention_droppable(text, timestamptz) IS
    'True when a whole partition of lead_events or call_attempts ending at p_upper is past every account''s '
    'retention (and, for call attempts, the consent hold): drop it instead of deleting its rows. leads: never.';

-- ---------------------------------------------------------------------------------------------------------------
-- The database's analyst role (0010): the erasure records (no numbers). Not consent_evidence: legal evidence with
-- numbers, read by operators when a claim comes.
DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON lead_erasures TO %I', l2i_analyst_role());
END
$$;
