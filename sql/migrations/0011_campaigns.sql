-- 0011_campaigns: campaigns. What a lead is for, who may call it, when, how often, and which agent takes it.
--
-- Why: one account runs several calling operations (auto insurance, solar, Medicare), each with its own voice
-- agent, the fields it cannot work without, the states it is licensed in, its own hours inside the legal window,
-- its own attempt policy and daily volume. Until now every lead of an account was one pool, with the attempt
-- settings on `accounts`. The lead marketplaces l2i takes leads from route the same way: a post names its
-- `category`, which "must match an active campaign", and "required fields depend on the campaign category"
-- (https://routio.io/api-docs, a lead marketplace's posting API); Trackdrive's `lead_token` names the destination
-- schedule of a lead (Trackdrive's "How to Submit Leads via API" page).
--
-- What:
--   campaigns        one row per campaign of an account: a stable code (never changes: campaigns_code_immutable),
--                    name, active (takes leads), paused (its queue is not called), required_fields, states served,
--                    weekly hours (local time of the lead, always inside the legal window), attempt policy
--                    (max_attempts, retry_backoff_s, backoff_s per outcome), daily_cap of queued leads, priority,
--                    agent (an opaque value dialers receive with each lead), cost_per_lead_cents.
--   campaign_days    leads queued per campaign and UTC day: the daily cap is counted here, one upsert per lead.
--   leads.campaign_id, leads.cost_cents, dial_queue.campaign_id, dial_queue.campaign_priority,
--   api_keys.default_campaign_id, the state_not_served and campaign_cap reasons, the ineligible -> new move (a lead held over the cap is released),
--   the `released` event, claim indexes with the campaign, and the analyst views with the campaign.
--
-- Moving existing accounts: every account that has leads gets one campaign, code DEFAULT, flagged is_default,
-- holding the account's max_attempts and retry_backoff_s, and all its leads and queue rows are put in it. A
-- default campaign requires nothing, serves every state, has no hours of its own, no cap, and takes the leads that
-- name no campaign for as long as the account has no other campaign: nothing changes for an account until it
-- creates campaigns. (This rewrites every row of leads and dial_queue once: on a large database, run it in a quiet
-- hour.) Accounts without leads, and new accounts, have no campaign until they create one; their leads have no
-- campaign and the account's settings apply.
--
-- Applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. Applies on top of
-- 0010_analyst_per_database (grants go to l2i_analyst_role()) and 0009_calling_rules_reviewed: a campaign's hours only narrow the legal window of every state whose rules apply
-- (dial_queue.states, l2i_next_call_time over states, blackouts, attempt caps): they never widen it.

-- (The `admin` key scope that /v1/campaigns needs came with 0007_sources.)

-- ---------------------------------------------------------------------------------------------------------------
CREATE TABLE campaigns (
    id                   uuid        NOT NULL DEFAULT gen_random_uuid(),
    account_id           uuid        NOT NULL,
    code                 text        NOT NULL,
    name                 text        NOT NULL,
    is_default           boolean     NOT NULL DEFAULT false,
    active               boolean     NOT NULL DEFAULT true,
    paused               boolean     NOT NULL DEFAULT false,
    required_fields      text[]      NOT NULL DEFAULT '{}',
    states               text[],
    hours_start          time[],
    hours_end            time[],
    max_attempts         integer     NOT NULL DEFAULT 3,
    retry_backoff_s      integer     NOT NULL DEFAULT 1800,
    backoff_s            jsonb       NOT NULL DEFAULT '{}',
    daily_cap            integer,
    priority             smallint    NOT NULL DEFAULT 0,
    agent                text,
    cost_per_lead_cents  bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_pkey PRIMARY KEY (id),
    CONSTRAINT campaigns_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT campaigns_account_code_key UNIQUE (account_id, code),
    CONSTRAINT campaigns_code_check CHECK (code ~ '^[A-Z0-9][A-Z0-9_-]{1,31}$'),
    CONSTRAINT campaigns_name_check CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT campaigns_required_fields_check CHECK (array_position(required_fields, NULL) IS NULL),
    CONSTRAINT campaigns_states_check
        CHECK (cardinality(states) > 0 AND array_to_string(states, ',') ~ '^[A-Z]{2}(,[A-Z]{2})*$'),
    CONSTRAINT campaigns_hours_check CHECK ((hours_start IS NULL) = (hours_end IS NULL)
        AND (hours_start IS NULL OR (cardinality(hours_start) = 7 AND cardinality(hours_end) = 7))),
    CONSTRAINT campaigns_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 50),
    CONSTRAINT campaigns_retry_backoff_s_check CHECK (retry_backoff_s BETWEEN 1 AND 604800),
    CONSTRAINT campaigns_backoff_s_check CHECK (jsonb_typeof(backoff_s) = 'object'),
    CONSTRAINT campaigns_daily_cap_check CHECK (daily_cap BETWEEN 0 AND 10000000),
    CONSTRAINT campaigns_priority_check CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT campaigns_agent_check CHECK (length(agent) BETWEEN 1 AND 200),
    CONSTRAINT campaigns_cost_per_lead_cents_check CHECK (cost_per_lead_cents BETWEEN 0 AND 10000000)
);
-- A post may name a campaign by its name too (the marketplace's `category` is a name): one per account.
CREATE UNIQUE INDEX campaigns_account_name_key ON campaigns (account_id, lower(name));
CREATE UNIQUE INDEX campaigns_account_default_key ON campaigns (account_id) WHERE is_default;
COMMENT ON TABLE campaigns IS
    'A calling operation of an account: which leads it takes, when and how often they are called, which agent '
    'calls them. Managed with l2i campaign, sql/admin/campaign_*.sql or /v1/campaigns (admin scope).';
COMMENT ON COLUMN campaigns.code IS 'Short stable code (never changes): how senders and dialers name the campaign.';
COMMENT ON COLUMN campaigns.is_default IS
    'The campaign 0011 gave an account with leads: takes leads that name none while it is the only campaign.';
COMMENT ON COLUMN campaigns.active IS 'false: takes no new leads (422); its queue is still called unless paused.';
COMMENT ON COLUMN campaigns.paused IS 'true: its queued leads are not handed out; they keep their order.';
COMMENT ON COLUMN campaigns.required_fields IS
    'Lead fields (canonical names, consent fields included; custom.NAME for custom fields) without which a lead '
    'is refused (422).';
COMMENT ON COLUMN campaigns.states IS 'States served (licensing); NULL = all. A lead outside: held state_not_served.';
COMMENT ON COLUMN campaigns.hours_start IS
    'Weekly hours, local time of the lead: start of day n (1 = Monday ... 7 = Sunday), NULL = not that day. NULL '
    'array: the legal window only. Always intersected with the legal window (never widens it).';
COMMENT ON COLUMN campaigns.hours_end IS 'End (exclusive) of each day''s hours; see hours_start.';
COMMENT ON COLUMN campaigns.max_attempts IS 'Claims of one lead before no_answer/busy/voicemail make it unreached.';
COMMENT ON COLUMN campaigns.retry_backoff_s IS
    'Wait before a retry: base * 2^(attempts - 1), at most one day; base = backoff_s[outcome] else this.';
COMMENT ON COLUMN campaigns.backoff_s IS
    'Back-off base per outcome: {"no_answer": s, "busy": s, "voicemail": s, "lease_expired": s}.';
COMMENT ON COLUMN campaigns.daily_cap IS
    'Leads queued per UTC day at most; over it a lead is held campaign_cap and released on a later day or when '
    'the cap is raised. NULL: no cap.';
COMMENT ON COLUMN campaigns.priority IS 'Claim order across campaigns, 0-9: higher first (then the lead''s priority).';
COMMENT ON COLUMN campaigns.agent IS 'Opaque value (voice agent or script id) handed to dialers with each lead.';
COMMENT ON COLUMN campaigns.cost_per_lead_cents IS 'What the buyer pays the vendor for one lead; copied to leads.cost_cents.';

CREATE FUNCTION l2i_campaigns_code_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a campaign''s code never changes (% stays %)', NEW.code, OLD.code
        USING ERRCODE = 'check_violation', CONSTRAINT = 'campaigns_code_immutable', TABLE = 'campaigns';
END
$$;
CREATE TRIGGER campaigns_code_immutable BEFORE UPDATE OF code ON campaigns
    FOR EACH ROW WHEN (OLD.code IS DISTINCT FROM NEW.code) EXECUTE FUNCTION l2i_campaigns_code_guard();

-- The daily cap: leads queued per campaign and UTC day (l2i_campaign_slot, l2i_campaign_release).
CREATE TABLE campaign_days (
    campaign_id  uuid    NOT NULL,
    day          date    NOT NULL,
    queued       integer NOT NULL,
    CONSTRAINT campaign_days_pkey PRIMARY KEY (campaign_id, day),
    CONSTRAINT campaign_days_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id)
);
COMMENT ON TABLE campaign_days IS 'Leads queued per campaign and UTC day, counted against campaigns.daily_cap.';

-- ---------------------------------------------------------------------------------------------------------------
ALTER TABLE api_keys
    ADD COLUMN default_campaign_id uuid,
    ADD CONSTRAINT api_keys_default_campaign_id_fkey FOREIGN KEY (default_campaign_id) REFERENCES campaigns (id);
COMMENT ON COLUMN api_keys.default_campaign_id IS 'The campaign of the leads this key sends that name none.';

ALTER TABLE leads
    ADD COLUMN campaign_id uuid,
    ADD COLUMN cost_cents bigint,
    ADD CONSTRAINT leads_campaign_id_fkey FOREIGN KEY (campaign_id) REFERENCES campaigns (id);
COMMENT ON COLUMN leads.campaign_id IS 'The campaign the lead is for; NULL for accounts without campaigns.';
COMMENT ON COLUMN leads.cost_cents IS 'What the lead cost (its campaign''s cost_per_lead_cents at intake).';
COMMENT ON COLUMN leads.reasons IS
    'Why the lead is held: suppressed, missing_consent, invalid_consent, not_us_number, no_calling_window, dnc, '
    'dnc_unavailable, consent_expired, do_not_call (a CSV row whose do-not-call column said so), state_not_served, '
    'campaign_cap.';

ALTER TABLE dial_queue
    ADD COLUMN campaign_id uuid,
    ADD COLUMN campaign_priority smallint NOT NULL DEFAULT 0,
    ADD CONSTRAINT dial_queue_campaign_priority_check CHECK (campaign_priority BETWEEN 0 AND 9);
COMMENT ON COLUMN dial_queue.campaign_priority IS 'The campaign''s priority (kept in step by l2i_campaign_update).';
COMMENT ON TABLE dial_queue IS
    'Leads that are new (waiting, leased_until NULL) or dialing (leased); not_before is the earliest legal '
    'call time when the row was (re)queued. Claim order: campaign_priority, priority (higher first), not_before, '
    'enqueued_at.';

-- The claim, in claim order: for all of an account's campaigns, and for chosen ones (dial_claim).
DROP INDEX dial_queue_claim_idx;
CREATE INDEX dial_queue_claim_idx ON dial_queue (account_id, campaign_priority DESC, priority DESC, not_before,
                                                 enqueued_at)
    WHERE leased_until IS NULL;
CREATE INDEX dial_queue_campaign_claim_idx ON dial_queue (account_id, campaign_id, campaign_priority DESC,
                                                          priority DESC, not_before, enqueued_at)
    WHERE leased_until IS NULL;
-- Leads held over a campaign's daily cap, oldest first, for their release.
CREATE INDEX leads_campaign_cap_idx ON leads (campaign_id, created_at, id)
    WHERE status = 'ineligible' AND reasons = '{campaign_cap}';
-- Stats by campaign, with the cost, from the index alone.
DROP INDEX leads_stats_idx;
CREATE INDEX leads_stats_idx ON leads (account_id, created_at)
    INCLUDE (id, status, source, sub_id, duplicate_count, attempts, reasons, campaign_id, cost_cents);

-- A lead held over a campaign's cap goes back to new when it is released; the event that records it.
CREATE OR REPLACE FUNCTION l2i_lead_transition_allowed(p_from text, p_to text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (p_from, p_to) IN (
        ('new', 'dialing'), ('new', 'ineligible'), ('new', 'removed'), ('new', 'expired'),
        ('dialing', 'new'), ('dialing', 'unreached'), ('dialing', 'expired'), ('dialing', 'qualified'),
        ('dialing', 'transferred'), ('dialing', 'not_interested'), ('dialing', 'not_qualified'),
        ('dialing', 'wrong_number'), ('dialing', 'opted_out'),
        ('ineligible', 'removed'), ('ineligible', 'new'),
        ('unreached', 'new'), ('expired', 'new'))
$$;
ALTER TABLE lead_events DROP CONSTRAINT lead_events_type_check;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_type_check CHECK (type IN (
    'claimed', 'lease_expired', 'no_answer', 'busy', 'voicemail', 'not_interested', 'not_qualified',
    'wrong_number', 'qualified', 'transferred', 'opted_out', 'removed', 'requeued', 'expired', 'suppressed',
    'dnc', 'consent_expired', 'deferred', 'released'));
COMMENT ON COLUMN lead_events.type IS 'The outcome reported, or claimed, lease_expired, removed, requeued, expired, '
    'suppressed, dnc, consent_expired, deferred (an attempt cap moved the next call), released (from '
    'campaign_cap).';

-- ---------------------------------------------------------------------------------------------------------------
-- Campaign hours. PL/pgSQL, as the calling-window functions (0005): they run for every intake and every claim
-- candidate, and PL/pgSQL keeps its plan for the session.

-- True iff p_at is inside the campaign's hours in every zone of p_zones (local day of week and time); true when
-- the campaign has no hours. The legal window is checked separately (l2i_call_allowed): both must hold.
CREATE FUNCTION l2i_campaign_open(p_start time[], p_end time[], p_zones text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN p_start IS NULL OR NOT EXISTS (
        SELECT 1
        FROM unnest(p_zones) AS z(zone)
        CROSS JOIN LATERAL (SELECT p_at AT TIME ZONE z.zone AS ts) AS l
        CROSS JOIN LATERAL (SELECT extract(isodow FROM l.ts)::integer AS dow, l.ts::time AS tod) AS lt
        WHERE NOT coalesce(lt.tod >= p_start[lt.dow] AND lt.tod < p_end[lt.dow], false));
END
$$;

-- Earliest instant >= p_after inside the campaign's hours in every zone (the answer is p_after or the start of
-- some zone's day), looking 8 days ahead; NULL if none.
CREATE FUNCTION l2i_campaign_next_open(p_start time[], p_end time[], p_zones text[], p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN (
        SELECT c.t
        FROM (SELECT p_after AS t
              UNION ALL
              SELECT (d.day + p_start[extract(isodow FROM d.day)::integer]) AT TIME ZONE z.zone
              FROM unnest(p_zones) AS z(zone)
              CROSS JOIN generate_series(0, 8) AS o(n)
              CROSS JOIN LATERAL (SELECT (p_after AT TIME ZONE z.zone)::date + o.n AS day) AS d) AS c
        WHERE c.t >= p_after AND l2i_campaign_open(p_start, p_end, p_zones, c.t)
        ORDER BY c.t
        LIMIT 1);
END
$$;

-- Earliest instant >= p_after that is both legal (l2i_next_call_time: the strictest window of every state in
-- p_states, in every zone, outside their blackouts) and inside the campaign's hours: the two searches take turns
-- until they agree, so the campaign's hours only narrow the legal window. Without campaign hours,
-- l2i_next_call_time itself. (Attempt caps: callers pass p_after from l2i_attempt_free_at.)
CREATE FUNCTION l2i_campaign_next_call_time(p_start time[], p_end time[], p_zones text[], p_states text[],
                                            p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    v_at timestamptz := p_after;
BEGIN
    FOR i IN 1..20 LOOP
        v_at := l2i_next_call_time(p_zones, p_states, v_at);
        IF v_at IS NULL OR p_start IS NULL OR l2i_campaign_open(p_start, p_end, p_zones, v_at) THEN
            RETURN v_at;
        END IF;
        v_at := l2i_campaign_next_open(p_start, p_end, p_zones, v_at);
        IF v_at IS NULL THEN
            RETURN NULL;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Intake: which campaign a lead is for, and its checks (called once by lead_intake).
--   p_campaign: the campaign the post names (code, name or id), else NULL; p_default: the default campaign of
--   the sender (the key's; a source's, where one is given), else NULL; p_present: the lead's fields that have a
--   value; p_state: the state whose rules apply (the lead's, else its area code's).
-- refused: required (the account has campaigns, the post names none), unknown, inactive, missing_fields; the
-- lead is then not stored (422). reasons: state_not_served. gate: what was checked, for leads.gates.
CREATE FUNCTION l2i_campaign_gate(p_account_id uuid, p_campaign text, p_default uuid, p_present text[],
                                  p_state text)
RETURNS TABLE (id uuid, code text, refused text, missing text[], reasons text[], hours_start time[],
               hours_end time[], daily_cap integer, priority smallint, cost_cents bigint, gate jsonb)
LANGUAGE plpgsql STABLE ROWS 1 AS $$
DECLARE
    c campaigns;
    v_wanted text := upper(btrim(p_campaign));
    v_how text := 'named';
    v_refused text;
    v_missing text[] := '{}';
    v_served boolean;
BEGIN
    IF p_campaign IS NOT NULL THEN
        SELECT * INTO c FROM campaigns AS k
        WHERE k.account_id = p_account_id
          AND (k.code = v_wanted OR lower(k.name) = lower(btrim(p_campaign)) OR k.id::text = lower(v_wanted))
        ORDER BY k.code = v_wanted DESC
        LIMIT 1;
    ELSIF p_default IS NOT NULL THEN
        v_how := 'sender_default';
        SELECT * INTO c FROM campaigns AS k WHERE k.id = p_default AND k.account_id = p_account_id;
    END IF;
    IF c.id IS NULL THEN
        -- One look at the account's campaigns, its own first: if it has one, the lead needed a campaign; if it
        -- has only its default campaign (0011), that one takes the lead whatever the post names (what it named
        -- is kept in the gate); if it has none, the lead has no campaign.
        SELECT * INTO c FROM campaigns AS k WHERE k.account_id = p_account_id ORDER BY k.is_default LIMIT 1;
        IF c.id IS NOT NULL AND NOT c.is_default THEN
            c := NULL;
            v_refused := CASE WHEN p_campaign IS NULL THEN 'required' ELSE 'unknown' END;
        ELSE
            v_how := 'account_default';
        END IF;
    END IF;
    IF c.id IS NOT NULL AND NOT c.active THEN
        v_refused := 'inactive';
    END IF;
    IF c.id IS NOT NULL AND v_refused IS NULL THEN
        v_missing := ARRAY(SELECT r.f FROM unnest(c.required_fields) WITH ORDINALITY AS r(f, n)
                           WHERE r.f <> ALL (p_present) ORDER BY r.n);
        IF cardinality(v_missing) > 0 THEN
            v_refused := 'missing_fields';
        END IF;
        v_served := c.states IS NULL OR coalesce(p_state = ANY (c.states), false);
    END IF;
    RETURN QUERY SELECT
        c.id, c.code, v_refused, v_missing,
        CASE WHEN v_served = false THEN ARRAY['state_not_served'] ELSE '{}'::text[] END,
        c.hours_start, c.hours_end, c.daily_cap, c.priority, c.cost_per_lead_cents,
        CASE WHEN c.id IS NOT NULL OR p_campaign IS NOT NULL THEN jsonb_strip_nulls(jsonb_build_object(
            'code', c.code, 'sent', p_campaign, 'how', CASE WHEN c.id IS NOT NULL THEN v_how END,
            'required_fields', c.required_fields, 'states', c.states, 'state', p_state,
            'state_served', v_served, 'hours', c.hours_start IS NOT NULL, 'daily_cap', c.daily_cap)) END;
END
$$;

-- The daily cap at intake: counts one queued lead against today's (UTC) cap of the campaign; false when the cap
-- is reached (the lead is then held campaign_cap). A number with an open lead in the account takes no slot (a
-- duplicate stores nothing); two first posts of one number at the same instant may both count (the cap errs on
-- the side of fewer calls). The campaign_days row is locked only for the rest of the intake statement.
CREATE FUNCTION l2i_campaign_slot(p_campaign_id uuid, p_cap integer, p_account_id uuid, p_phone text,
                                  p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_counted integer;
BEGIN
    IF p_cap IS NULL OR EXISTS (SELECT 1 FROM leads AS l
                                WHERE l.account_id = p_account_id AND l.phone = p_phone AND l.dedupe_open) THEN
        RETURN true;
    END IF;
    IF p_cap <= 0 THEN
        RETURN false;
    END IF;
    INSERT INTO campaign_days AS d (campaign_id, day, queued)
    VALUES (p_campaign_id, (p_at AT TIME ZONE 'UTC')::date, 1)
    ON CONFLICT ON CONSTRAINT campaign_days_pkey DO UPDATE SET queued = d.queued + 1 WHERE d.queued < p_cap
    RETURNING d.queued INTO v_counted;
    RETURN v_counted IS NOT NULL;
END
$$;

-- Releases leads held over a campaign's cap (campaign_cap, and nothing else) into the queue, oldest first, as far
-- as today's cap allows: the next day, or once the cap is raised or removed. For one account (or all when NULL).
-- Run by every claim (for its account), by l2i_campaign_update and by `l2i dial reap`. Returns how many.
CREATE FUNCTION l2i_campaign_release(p_account_id uuid, p_at timestamptz DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_at timestamptz := coalesce(p_at, now());
    v_day date := (coalesce(p_at, now()) AT TIME ZONE 'UTC')::date;
    c record;
    v_room integer;
    v_moved integer;
    v_total integer := 0;
BEGIN
    FOR c IN
        SELECT k.id, k.account_id, k.daily_cap, k.priority, k.hours_start, k.hours_end
        FROM campaigns AS k
        WHERE (p_account_id IS NULL OR k.account_id = p_account_id)
          AND EXISTS (SELECT 1 FROM leads AS l
                      WHERE l.campaign_id = k.id AND l.status = 'ineligible' AND l.reasons = '{campaign_cap}')
    LOOP
        v_room := 1000;
        IF c.daily_cap IS NOT NULL THEN
            INSERT INTO campaign_days AS d (campaign_id, day, queued) VALUES (c.id, v_day, 0)
            ON CONFLICT ON CONSTRAINT campaign_days_pkey DO UPDATE SET queued = d.queued
            RETURNING least(1000, c.daily_cap - d.queued) INTO v_room;
        END IF;
        CONTINUE WHEN v_room <= 0;
        WITH picked AS (
            SELECT l.id, l.account_id, l.phone, l.priority, l.expires_at,
                   ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'zones')) AS zones,
                   CASE WHEN l.gates -> 'calling_window' ? 'states'
                        THEN ARRAY(SELECT jsonb_array_elements_text(l.gates -> 'calling_window' -> 'states'))
                        ELSE array_remove(ARRAY[l.gates -> 'calling_window' ->> 'state'], NULL) END AS states
            FROM leads AS l
            WHERE l.campaign_id = c.id AND l.status = 'ineligible' AND l.reasons = '{campaign_cap}'
              AND (l.expires_at IS NULL OR l.expires_at > v_at)
            ORDER BY l.created_at, l.id
            LIMIT v_room
            FOR UPDATE SKIP LOCKED
        ), placed AS (
            SELECT p.*, coalesce(l2i_campaign_next_call_time(
                                     c.hours_start, c.hours_end, p.zones, p.states,
                                     l2i_attempt_free_at(p.account_id, p.phone, p.states, v_at)),
                                 v_at) AS not_before
            FROM picked AS p
            WHERE cardinality(p.zones) > 0
        ), moved AS (
            UPDATE leads AS l SET status = 'new', reasons = '{}', updated_at = v_at
            FROM placed AS p WHERE l.id = p.id
            RETURNING l.id
        ), queued AS (
            INSERT INTO dial_queue (lead_id, account_id, campaign_id, campaign_priority, phone, states, zones,
                                    not_before, priority, enqueued_at, expires_at)
            SELECT p.id, p.account_id, c.id, c.priority, p.phone, p.states, p.zones, p.not_before, p.priority, v_at,
                   p.expires_at
            FROM placed AS p
        ), events AS (
            INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, at, detail)
            SELECT p.id, p.account_id, 'released', 'ineligible', 'new', v_at,
                   jsonb_build_object('reason', 'campaign_cap', 'not_before', p.not_before)
            FROM placed AS p
        )
        SELECT count(*) INTO v_moved FROM moved;
        IF v_moved > 0 AND c.daily_cap IS NOT NULL THEN
            UPDATE campaign_days SET queued = queued + v_moved WHERE campaign_id = c.id AND day = v_day;
        END IF;
        v_total := v_total + v_moved;
    END LOOP;
    RETURN v_total;
END
$$;

-- True iff a queued lead of this campaign may be handed out at p_at (dial_claim): no campaign, or a campaign
-- that is not paused and is open at that time in every zone of the lead. The legal window is checked on its own.
CREATE FUNCTION l2i_campaign_callable(p_campaign_id uuid, p_zones text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    c record;
BEGIN
    IF p_campaign_id IS NULL THEN
        RETURN true;
    END IF;
    SELECT k.paused, k.hours_start, k.hours_end INTO c FROM campaigns AS k WHERE k.id = p_campaign_id;
    RETURN NOT c.paused AND l2i_campaign_open(c.hours_start, c.hours_end, p_zones, p_at);
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Managing campaigns: the CLI, the psql scripts (sql/admin/campaign_*.sql) and /v1/campaigns all call these.

-- A campaign's hours from their JSON form {"mon": "10:00-16:00", ..., "sun": null}: the starts (p_end false) or
-- the ends (p_end true), Monday first; a day not given has no hours. NULL (or JSON null): no hours of its own.
CREATE FUNCTION l2i_campaign_hours(p_hours jsonb, p_end boolean) RETURNS time[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_hours IS NULL OR jsonb_typeof(p_hours) = 'null' THEN NULL ELSE
        ARRAY(SELECT NULLIF(split_part(p_hours ->> d.name, '-', CASE WHEN p_end THEN 2 ELSE 1 END), '')::time
              FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) WITH ORDINALITY AS d(name, n)
              ORDER BY d.n) END
$$;

-- A campaign as the API shows it.
CREATE FUNCTION l2i_campaign_document(c campaigns) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'code', c.code, 'name', c.name, 'default', c.is_default, 'active', c.active,
        'paused', c.paused, 'required_fields', to_jsonb(c.required_fields), 'states', to_jsonb(c.states),
        'hours', CASE WHEN c.hours_start IS NOT NULL THEN (
            SELECT coalesce(jsonb_object_agg(d.name, to_char(c.hours_start[d.n], 'HH24:MI') || '-'
                                                     || CASE WHEN c.hours_end[d.n] = time '24:00' THEN '24:00'
                                                             ELSE to_char(c.hours_end[d.n], 'HH24:MI') END)
                                FILTER (WHERE c.hours_start[d.n] IS NOT NULL), '{}')
            FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) WITH ORDINALITY AS d(name, n)) END,
        'max_attempts', c.max_attempts, 'retry_backoff_s', c.retry_backoff_s, 'backoff_s', c.backoff_s,
        'daily_cap', c.daily_cap, 'priority', c.priority, 'agent', c.agent,
        'cost_per_lead_cents', c.cost_per_lead_cents,
        'queued_today', coalesce((SELECT d.queued FROM campaign_days AS d
                                  WHERE d.campaign_id = c.id AND d.day = (now() AT TIME ZONE 'UTC')::date), 0),
        'created_at', c.created_at, 'updated_at', c.updated_at)
$$;

-- Changes a campaign (given by code, name or id) with the settings present in p_settings (the API's body:
-- name, active, paused, required_fields, states, hours, max_attempts, retry_backoff_s, backoff_s, daily_cap,
-- priority, agent, cost_per_lead_cents; JSON null clears the optional ones). Keeps the queue's campaign_priority
-- in step, and releases held leads the new settings make room for. No row: no such campaign in the account.
CREATE FUNCTION l2i_campaign_update(p_account_id uuid, p_campaign text, p_settings jsonb)
RETURNS SETOF campaigns
LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    v_unknown text;
    v_row campaigns;
    s jsonb := coalesce(p_settings, '{}');
BEGIN
    SELECT k INTO v_unknown FROM jsonb_object_keys(s) AS k
    WHERE k NOT IN ('name', 'active', 'paused', 'required_fields', 'states', 'hours', 'max_attempts',
                    'retry_backoff_s', 'backoff_s', 'daily_cap', 'priority', 'agent', 'cost_per_lead_cents')
    LIMIT 1;
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'not a campaign setting: %', v_unknown USING ERRCODE = '22023';
    END IF;
    UPDATE campaigns AS k SET
        name = CASE WHEN s ? 'name' THEN btrim(s ->> 'name') ELSE k.name END,
        active = CASE WHEN s ? 'active' THEN (s ->> 'active')::boolean ELSE k.active END,
        paused = CASE WHEN s ? 'paused' THEN (s ->> 'paused')::boolean ELSE k.paused END,
        required_fields = CASE WHEN s ? 'required_fields'
            THEN ARRAY(SELECT jsonb_array_elements_text(coalesce(NULLIF(s -> 'required_fields', 'null'), '[]')))
            ELSE k.required_fields END,
        states = CASE WHEN s ? 'states' THEN CASE WHEN jsonb_typeof(s -> 'states') = 'array'
            THEN ARRAY(SELECT upper(jsonb_array_elements_text(s -> 'states'))) END ELSE k.states END,
        hours_start = CASE WHEN s ? 'hours' THEN l2i_campaign_hours(s -> 'hours', false) ELSE k.hours_start END,
        hours_end = CASE WHEN s ? 'hours' THEN l2i_campaign_hours(s -> 'hours', true) ELSE k.hours_end END,
        max_attempts = CASE WHEN s ? 'max_attempts' THEN (s ->> 'max_attempts')::integer ELSE k.max_attempts END,
        retry_backoff_s = CASE WHEN s ? 'retry_backoff_s' THEN (s ->> 'retry_backoff_s')::integer
                               ELSE k.retry_backoff_s END,
        backoff_s = CASE WHEN s ? 'backoff_s' THEN coalesce(NULLIF(s -> 'backoff_s', 'null'), '{}') ELSE k.backoff_s END,
        daily_cap = CASE WHEN s ? 'daily_cap' THEN (s ->> 'daily_cap')::integer ELSE k.daily_cap END,
        priority = CASE WHEN s ? 'priority' THEN (s ->> 'priority')::smallint ELSE k.priority END,
        agent = CASE WHEN s ? 'agent' THEN NULLIF(btrim(s ->> 'agent'), '') ELSE k.agent END,
        cost_per_lead_cents = CASE WHEN s ? 'cost_per_lead_cents' THEN (s ->> 'cost_per_lead_cents')::bigint
                                   ELSE k.cost_per_lead_cents END,
        updated_at = now()
    WHERE k.account_id = p_account_id
      AND (k.code = upper(btrim(p_campaign)) OR lower(k.name) = lower(btrim(p_campaign))
           OR k.id::text = lower(btrim(p_campaign)))
    RETURNING k.* INTO v_row;
    IF v_row.id IS NULL THEN
        RETURN;
    END IF;
    IF s ? 'priority' THEN
        UPDATE dial_queue AS q SET campaign_priority = v_row.priority
        WHERE q.campaign_id = v_row.id AND q.campaign_priority <> v_row.priority;
    END IF;
    IF s ? 'daily_cap' THEN
        PERFORM l2i_campaign_release(p_account_id);
    END IF;
    RETURN NEXT v_row;
END
$$;

-- Creates a campaign: p_settings as for l2i_campaign_update, plus name (required) and code (optional: 2-32 of
-- A-Z, 0-9, _ and -; by default 8 random characters). Returns the new campaign.
CREATE FUNCTION l2i_campaign_create(p_account_id uuid, p_settings jsonb)
RETURNS SETOF campaigns
LANGUAGE plpgsql ROWS 1 AS $$
DECLARE
    v_code text := upper(btrim(p_settings ->> 'code'));
    v_id uuid;
BEGIN
    IF v_code IS NULL OR v_code = '' THEN
        v_code := (SELECT string_agg(substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', 1 + floor(random() * 32)::integer, 1),
                                     '')
                   FROM generate_series(1, 8));
    END IF;
    INSERT INTO campaigns (account_id, code, name)
    VALUES (p_account_id, v_code, btrim(p_settings ->> 'name'))
    RETURNING id INTO v_id;
    RETURN QUERY SELECT * FROM l2i_campaign_update(p_account_id, v_id::text, p_settings - 'code');
END
$$;

-- Sets the default campaign of a key (given as the key itself, as l2i_key_create returns it) and returns the key,
-- so the two compose: SELECT l2i_key_campaign(l2i_key_create(...), 'SOLAR'). A NULL or empty campaign changes
-- nothing; an unknown one raises an error.
CREATE FUNCTION l2i_key_campaign(p_key text, p_campaign text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_found boolean;
BEGIN
    IF NULLIF(btrim(p_campaign), '') IS NULL THEN
        RETURN p_key;
    END IF;
    UPDATE api_keys AS a SET default_campaign_id = k.id
    FROM campaigns AS k
    WHERE a.key_hash = sha256(convert_to(p_key, 'UTF8')) AND k.account_id = a.account_id
      AND (k.code = upper(btrim(p_campaign)) OR lower(k.name) = lower(btrim(p_campaign))
           OR k.id::text = lower(btrim(p_campaign)))
    RETURNING true INTO v_found;
    IF v_found IS NULL THEN
        RAISE EXCEPTION 'no campaign % in the key''s account', p_campaign USING ERRCODE = '22023';
    END IF;
    RETURN p_key;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- Every account with leads gets its default campaign, holding today's attempt settings.
INSERT INTO campaigns (account_id, code, name, is_default, max_attempts, retry_backoff_s)
SELECT a.id, 'DEFAULT', 'Default', true, a.max_attempts, a.retry_backoff_s
FROM accounts AS a
WHERE EXISTS (SELECT 1 FROM leads AS l WHERE l.account_id = a.id);
UPDATE leads AS l SET campaign_id = k.id FROM campaigns AS k WHERE k.account_id = l.account_id AND k.is_default;
UPDATE dial_queue AS q SET campaign_id = k.id FROM campaigns AS k WHERE k.account_id = q.account_id AND k.is_default;

-- ---------------------------------------------------------------------------------------------------------------
-- Analyst views carry the campaign (columns added at the end; a row is now per campaign as well).
CREATE OR REPLACE VIEW analytics_funnel_daily AS
SELECT l.account_id,
       (l.created_at AT TIME ZONE 'UTC')::date AS day,
       l.source,
       count(*) AS leads,
       sum(l.duplicate_count) AS duplicates,
       count(*) FILTER (WHERE l.status = 'ineligible') AS ineligible,
       count(*) FILTER (WHERE l.status <> 'ineligible') AS queued,
       count(*) FILTER (WHERE l.attempts > 0) AS dialed,
       count(*) FILTER (WHERE l.status IN ('qualified', 'transferred')) AS qualified,
       count(t.id) AS transferred,
       coalesce(sum(t.payout_cents), 0) AS revenue_cents,
       l.campaign_id,
       coalesce(sum(l.cost_cents), 0) AS cost_cents
FROM leads AS l
LEFT JOIN transfers AS t ON t.lead_id = l.id
GROUP BY l.account_id, (l.created_at AT TIME ZONE 'UTC')::date, l.source, l.campaign_id;
COMMENT ON VIEW analytics_funnel_daily IS
    'Per account, UTC day of intake, source and campaign: leads stored, duplicates rejected (counted on the lead '
    'they repeat), held, queued, dialed, qualified (incl. transferred), transferred, revenue and cost in cents.';

CREATE OR REPLACE VIEW analytics_revenue_by_buyer AS
SELECT t.account_id,
       t.buyer,
       (t.transferred_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS transfers,
       count(*) FILTER (WHERE t.payout_cents IS NOT NULL) AS paid_transfers,
       coalesce(sum(t.payout_cents), 0) AS revenue_cents,
       round(avg(t.duration_s)) AS avg_duration_s,
       l.campaign_id
FROM transfers AS t
JOIN leads AS l ON l.id = t.lead_id
GROUP BY t.account_id, t.buyer, (t.transferred_at AT TIME ZONE 'UTC')::date, l.campaign_id;
COMMENT ON VIEW analytics_revenue_by_buyer IS
    'Per account, buyer (from postbacks; NULL until one names it), UTC day of transfer and campaign: transfers, '
    'paid transfers, revenue in cents, average call duration.';

CREATE VIEW analytics_campaigns AS
SELECT k.account_id, k.id AS campaign_id, k.code, k.name, k.active, k.paused, k.agent, k.daily_cap,
       k.cost_per_lead_cents, k.is_default
FROM campaigns AS k;
COMMENT ON VIEW analytics_campaigns IS
    'The campaigns, to join analytics_funnel_daily and analytics_revenue_by_buyer on campaign_id.';
-- The database's analyst role (0010_analyst_per_database: later migrations grant to l2i_analyst_role()).
DO $$
BEGIN
    EXECUTE format('GRANT SELECT ON analytics_campaigns, campaigns TO %I', l2i_analyst_role());
END
$$;
