-- 0002_calling_rules.sql: legal calling times for US outbound calls (TCPA and state rules).
--
-- What: two rule tables (calling_rules, calling_holidays) and two functions:
--   l2i_call_allowed(p_zones text[], p_state text, p_at timestamptz) -> boolean
--   l2i_next_call_time(p_zones text[], p_state text, p_after timestamptz) -> timestamptz
-- Why: intake stores the earliest legal call time on a queued lead (l2i_next_call_time) and the queue
--   claim checks that "now" is legal (l2i_call_allowed). The rules are data: operators fix a state's
--   window or add a holiday with psql (UPDATE calling_rules ... / INSERT INTO calling_holidays ...),
--   no code change and no deploy.
-- How to run: applied by `l2i migrate`, which runs every migration file in one transaction and records
--   it; this file therefore has no BEGIN/COMMIT. Forward-only: fix mistakes in a later migration.
--   Comes after 0001_core.sql and does not touch its tables. Uses no extension.
--
-- Facts and sources (carried from the project's reference sheet state-calling-rules.csv/.md, marked
-- PROVISIONAL on 2026-11-24: compiled from public compliance charts that do not always agree; where
-- they disagree the narrower window was taken. Review before relying on it; this is not legal advice):
--   * Federal floor (code FED): 47 CFR 64.1200(c)(1): no telephone solicitation before 08:00 or after
--     21:00 at the called party's location. Both functions always apply it, whatever the table says.
--   * Source codes stored in calling_rules.sources:
--       FED = 47 CFR 64.1200(c)(1) only (no stricter state rule found);
--       DC  = dropcowboy.com/state-compliance (updated 2025-11-01);
--       CP  = blog.clickpointsoftware.com/telemarketing-calling-hours-by-state (reviewed 2025-07) and
--             leadmanagerhelp.clickpointsoftware.com (holiday notes);
--       ST  = usestello.com/compliance (reviewed 2026-04-08), which cites e.g. Conn. Gen. Stat. 42-288a
--             (as amended 2023), Fla. Stat. 501.059/501.616, KRS 367.46955, Md. Com. Law 14-3201,
--             MCL 750.540e, Minn. Stat. 325E.30, Cal. Pub. Util. Code 2872(c).
--   * Holidays: states with holidays_banned ban calls on their own legal holidays, each with its own
--     list; Alabama moves a Saturday holiday to Friday and a Sunday holiday to Monday, Mississippi a
--     Sunday holiday to Monday. Only the common core is seeded here (see calling_holidays).
--   * Not modelled here: frequency caps, e.g. Florida (Fla. Stat. 501.616(6)(b)) and Oklahoma
--     (15 O.S. 775C.4): at most 3 solicitation calls to the same person on the same subject in 24 h.
--   * A lead whose zone is unknown is callable only when the time is legal in every candidate zone:
--     the caller passes all zones of the lead's state (calling_rules.all_tzs), or, without a state,
--     the zones of its area code.

-- calling_rules ----------------------------------------------------------------------------------

CREATE TABLE calling_rules (
    state           text        NOT NULL,
    primary_tz      text        NOT NULL,
    all_tzs         text[]      NOT NULL,
    weekday_start   time        NOT NULL,
    weekday_end     time        NOT NULL,
    saturday_start  time        NOT NULL,
    saturday_end    time        NOT NULL,
    sunday_start    time        NULL,
    sunday_end      time        NULL,
    holidays_banned boolean     NOT NULL,
    sources         text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calling_rules_pkey PRIMARY KEY (state),
    CONSTRAINT calling_rules_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_rules_all_tzs_check
        CHECK (cardinality(all_tzs) > 0 AND array_position(all_tzs, NULL) IS NULL),
    CONSTRAINT calling_rules_primary_tz_check CHECK (primary_tz = ANY (all_tzs)),
    CONSTRAINT calling_rules_weekday_window_check CHECK (weekday_start < weekday_end),
    CONSTRAINT calling_rules_saturday_window_check CHECK (saturday_start < saturday_end),
    CONSTRAINT calling_rules_sunday_window_check CHECK (
        (sunday_start IS NULL AND sunday_end IS NULL)
        OR (sunday_start IS NOT NULL AND sunday_end IS NOT NULL AND sunday_start < sunday_end))
);

COMMENT ON TABLE calling_rules IS
    'Per-state calling windows (local time of the called party), one row per state plus DC. The federal '
    'floor 08:00-21:00 (47 CFR 64.1200(c)(1)) always applies on top: a wider window here has no effect. '
    'A state without a row (e.g. PR) gets the federal floor only. Windows are [start, end): end is not '
    'allowed. Seeded from a PROVISIONAL compilation (2026-11-24); edit with psql and set updated_at.';
COMMENT ON COLUMN calling_rules.state IS 'Two-letter USPS code (DC included).';
COMMENT ON COLUMN calling_rules.primary_tz IS 'IANA zone covering most of the state; one of all_tzs.';
COMMENT ON COLUMN calling_rules.all_tzs IS
    'Every IANA zone a number in the state may be in. A lead with an unknown zone is callable only when '
    'legal in all of them.';
COMMENT ON COLUMN calling_rules.weekday_start IS 'Monday-Friday window start, local time, inclusive.';
COMMENT ON COLUMN calling_rules.weekday_end IS 'Monday-Friday window end, local time, exclusive.';
COMMENT ON COLUMN calling_rules.saturday_start IS 'Saturday window start, local time, inclusive.';
COMMENT ON COLUMN calling_rules.saturday_end IS 'Saturday window end, local time, exclusive.';
COMMENT ON COLUMN calling_rules.sunday_start IS
    'Sunday window start, local time, inclusive. NULL (with sunday_end) = no calls on Sunday.';
COMMENT ON COLUMN calling_rules.sunday_end IS
    'Sunday window end, local time, exclusive. NULL (with sunday_start) = no calls on Sunday.';
COMMENT ON COLUMN calling_rules.holidays_banned IS
    'The state bans calls on its legal holidays; the banned days themselves are rows of calling_holidays.';
COMMENT ON COLUMN calling_rules.sources IS
    'Where the row comes from: FED = federal floor only; DC = dropcowboy.com/state-compliance (2025-11-01); '
    'CP = clickpointsoftware.com calling-hours chart (2025-07); ST = usestello.com/compliance (2026-04-08). '
    'Free text after the codes is a note.';
COMMENT ON COLUMN calling_rules.updated_at IS 'When the row was last changed (set it by hand in an UPDATE).';

-- Generated once from state-calling-rules.csv (51 rows). CSV sunday: "allowed" = the weekday window,
-- "banned" = NULL/NULL, "HH:MM-HH:MM" = that window. CSV holidays_banned yes/no = true/false.
INSERT INTO calling_rules
    (state, primary_tz, all_tzs,
     weekday_start, weekday_end, saturday_start, saturday_end, sunday_start, sunday_end, holidays_banned, sources)
VALUES
    ('AL', 'America/Chicago', ARRAY['America/Chicago', 'America/New_York'],
     '08:00', '20:00', '08:00', '20:00', NULL, NULL, true, 'DC CP ST'),
    ('AK', 'America/Anchorage', ARRAY['America/Anchorage', 'America/Adak'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('AZ', 'America/Phoenix', ARRAY['America/Phoenix', 'America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('AR', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('CA', 'America/Los_Angeles', ARRAY['America/Los_Angeles'],
     '09:00', '21:00', '09:00', '21:00', '09:00', '21:00', false, 'ST'),
    ('CO', 'America/Denver', ARRAY['America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('CT', 'America/New_York', ARRAY['America/New_York'],
     '09:00', '20:00', '09:00', '20:00', '09:00', '20:00', false, 'DC ST CP'),
    ('DE', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('DC', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('FL', 'America/New_York', ARRAY['America/New_York', 'America/Chicago'],
     '08:00', '20:00', '08:00', '20:00', '08:00', '20:00', false, 'DC CP ST'),
    ('GA', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('HI', 'Pacific/Honolulu', ARRAY['Pacific/Honolulu'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('ID', 'America/Boise', ARRAY['America/Boise', 'America/Los_Angeles'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('IL', 'America/Chicago', ARRAY['America/Chicago'],
     '09:00', '21:00', '09:00', '21:00', '09:00', '21:00', false, 'ST CP (DC says 08:00)'),
    ('IN', 'America/Indiana/Indianapolis', ARRAY['America/Indiana/Indianapolis', 'America/Chicago'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('IA', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('KS', 'America/Chicago', ARRAY['America/Chicago', 'America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('KY', 'America/New_York', ARRAY['America/New_York', 'America/Chicago'],
     '10:00', '21:00', '10:00', '21:00', '10:00', '21:00', false, 'DC CP ST'),
    ('LA', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '20:00', '08:00', '20:00', NULL, NULL, true, 'DC CP ST'),
    ('ME', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('MD', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '20:00', '08:00', '20:00', '08:00', '20:00', false, 'DC ST'),
    ('MA', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '20:00', '08:00', '20:00', '08:00', '20:00', false, 'DC CP ST'),
    ('MI', 'America/Detroit', ARRAY['America/Detroit', 'America/Menominee'],
     '09:00', '21:00', '09:00', '21:00', '09:00', '21:00', false, 'DC ST'),
    ('MN', 'America/Chicago', ARRAY['America/Chicago'],
     '09:00', '21:00', '09:00', '21:00', '09:00', '21:00', false, 'DC ST'),
    ('MS', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '20:00', '08:00', '20:00', NULL, NULL, false, 'DC ST'),
    ('MO', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('MT', 'America/Denver', ARRAY['America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('NE', 'America/Chicago', ARRAY['America/Chicago', 'America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('NV', 'America/Los_Angeles', ARRAY['America/Los_Angeles', 'America/Denver'],
     '09:00', '20:00', '09:00', '20:00', '09:00', '20:00', false, 'DC'),
    ('NH', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('NJ', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('NM', 'America/Denver', ARRAY['America/Denver'],
     '09:00', '21:00', '09:00', '21:00', '09:00', '21:00', false, 'DC'),
    ('NY', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('NC', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('ND', 'America/Chicago', ARRAY['America/Chicago', 'America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('OH', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('OK', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '20:00', '08:00', '20:00', '08:00', '20:00', false, 'DC CP'),
    ('OR', 'America/Los_Angeles', ARRAY['America/Los_Angeles', 'America/Boise'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('PA', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '13:30', '21:00', true, 'DC (Sunday 13:30 per statute summaries)'),
    ('RI', 'America/New_York', ARRAY['America/New_York'],
     '09:00', '18:00', '10:00', '17:00', NULL, NULL, true, 'DC CP'),
    ('SC', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('SD', 'America/Chicago', ARRAY['America/Chicago', 'America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('TN', 'America/Chicago', ARRAY['America/Chicago', 'America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('TX', 'America/Chicago', ARRAY['America/Chicago', 'America/Denver'],
     '09:00', '21:00', '09:00', '21:00', '12:00', '21:00', false, 'CP (Tex. Bus. & Com. Code 301.051)'),
    ('UT', 'America/Denver', ARRAY['America/Denver'],
     '08:00', '21:00', '08:00', '21:00', NULL, NULL, true, 'CP'),
    ('VT', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('VA', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('WA', 'America/Los_Angeles', ARRAY['America/Los_Angeles'],
     '08:00', '20:00', '08:00', '20:00', '08:00', '20:00', false, 'CP (RCW 80.36.390)'),
    ('WV', 'America/New_York', ARRAY['America/New_York'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('WI', 'America/Chicago', ARRAY['America/Chicago'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED'),
    ('WY', 'America/Denver', ARRAY['America/Denver'],
     '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false, 'FED');

-- calling_holidays -------------------------------------------------------------------------------

CREATE TABLE calling_holidays (
    state text NOT NULL,
    day   date NOT NULL,
    name  text NOT NULL,
    CONSTRAINT calling_holidays_pkey PRIMARY KEY (state, day),
    CONSTRAINT calling_holidays_state_fkey FOREIGN KEY (state) REFERENCES calling_rules (state)
);

COMMENT ON TABLE calling_holidays IS
    'Days (local date of the called party) on which no call may be made to a number in the state; every '
    'row bans its whole day, whatever calling_rules.holidays_banned says. Seeded for holidays_banned '
    'states with only the six holidays nearly all states observe (New Year, Memorial Day, Independence '
    'Day, Labor Day, Thanksgiving, Christmas), 2025-2040, plus the observed Friday/Monday of a fixed-date '
    'holiday on a weekend. Each state has its own longer list: operators add rows for the others.';
COMMENT ON COLUMN calling_holidays.state IS 'State whose numbers may not be called that day.';
COMMENT ON COLUMN calling_holidays.day IS 'The banned local date.';
COMMENT ON COLUMN calling_holidays.name IS 'Holiday name; "(observed)" marks a moved weekend holiday.';

-- Conservative: for a fixed-date holiday on Saturday both Saturday and the Friday before are banned,
-- on Sunday both Sunday and the Monday after (Alabama moves Sat->Fri and Sun->Mon, Mississippi
-- Sun->Mon; other states vary). New Year's Day on a Saturday bans Dec 31 of the year before.
INSERT INTO calling_holidays (state, day, name)
WITH years AS (
    SELECT y FROM generate_series(2025, 2040) AS g(y)
), fixed AS (
    SELECT make_date(y, 1, 1) AS day, 'New Year''s Day' AS name FROM years
    UNION ALL
    SELECT make_date(y, 7, 4), 'Independence Day' FROM years
    UNION ALL
    SELECT make_date(y, 12, 25), 'Christmas Day' FROM years
), floating AS (
    -- last Monday of May: step back from May 31 to its Monday (isodow: Monday = 1)
    SELECT make_date(y, 5, 31) - (extract(isodow FROM make_date(y, 5, 31))::int - 1) AS day,
           'Memorial Day' AS name
    FROM years
    UNION ALL
    -- first Monday of September
    SELECT make_date(y, 9, 1) + (8 - extract(isodow FROM make_date(y, 9, 1))::int) % 7, 'Labor Day'
    FROM years
    UNION ALL
    -- fourth Thursday of November = first Thursday + 21 days (Thursday = 4)
    SELECT make_date(y, 11, 1) + (11 - extract(isodow FROM make_date(y, 11, 1))::int) % 7 + 21,
           'Thanksgiving Day'
    FROM years
), observed AS (
    SELECT day - 1 AS day, name || ' (observed)' AS name FROM fixed WHERE extract(isodow FROM day) = 6
    UNION ALL
    SELECT day + 1, name || ' (observed)' FROM fixed WHERE extract(isodow FROM day) = 7
), all_days AS (
    SELECT day, name FROM fixed
    UNION ALL
    SELECT day, name FROM floating
    UNION ALL
    SELECT day, name FROM observed
)
SELECT r.state, d.day, d.name
FROM calling_rules AS r
CROSS JOIN all_days AS d
WHERE r.holidays_banned
ORDER BY r.state, d.day;

-- functions --------------------------------------------------------------------------------------

-- True iff p_at is a legal calling instant in EVERY zone of p_zones: for each zone, the local time
-- of p_at is inside [08:00, 21:00) (federal floor) and, when p_state has a calling_rules row, inside
-- that state's window for the local day of week (Sunday NULL = banned) and the local date is not a
-- calling_holidays day of the state. p_state is compared upper-cased; NULL or without a row (e.g. PR)
-- = federal floor only. Fails closed: NULL/empty p_zones, a NULL zone or a NULL p_at give false.
-- An unknown zone name raises an error (invalid_parameter_value) rather than guessing.
CREATE FUNCTION l2i_call_allowed(p_zones text[], p_state text, p_at timestamptz)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT coalesce(cardinality(p_zones), 0) > 0
       AND p_at IS NOT NULL
       AND NOT EXISTS (
            SELECT 1
            FROM unnest(p_zones) AS z(zone)
            CROSS JOIN LATERAL (SELECT p_at AT TIME ZONE z.zone AS ts) AS l
            CROSS JOIN LATERAL (SELECT l.ts::time AS tod, l.ts::date AS day,
                                       extract(isodow FROM l.ts) AS dow) AS lt
            LEFT JOIN calling_rules AS r ON r.state = upper(p_state)
            -- a join, not NOT EXISTS: inside the OR the planner would hash the whole holiday table
            LEFT JOIN calling_holidays AS h ON h.state = r.state AND h.day = lt.day
            WHERE NOT coalesce(
                    lt.tod >= time '08:00' AND lt.tod < time '21:00'
                AND (r.state IS NULL OR (
                        h.state IS NULL
                    AND lt.tod >= CASE lt.dow WHEN 6 THEN r.saturday_start
                                              WHEN 7 THEN r.sunday_start
                                              ELSE r.weekday_start END
                    AND lt.tod <  CASE lt.dow WHEN 6 THEN r.saturday_end
                                              WHEN 7 THEN r.sunday_end
                                              ELSE r.weekday_end END)),
                    false)
       );
$$;

COMMENT ON FUNCTION l2i_call_allowed(text[], text, timestamptz) IS
    'True iff p_at is inside the legal calling window (federal 08:00-21:00, narrowed by calling_rules and '
    'calling_holidays of p_state) in every zone of p_zones. Empty/NULL zones: false.';

-- Earliest instant t >= p_after with l2i_call_allowed(p_zones, p_state, t).
-- The legal set is an intersection (over zones) of unions of daily [start, end) windows, so the answer
-- is p_after itself or the start of some zone's window. One set-based query:
--   windows:    for every zone and every local date from the day before p_after's local date to 15
--               days after it, the day's window (state window for the day of week clamped to the
--               federal 08:00-21:00; no row for a banned Sunday or a calling_holidays day) as instants,
--               (date + time) AT TIME ZONE zone, so each day gets its own UTC offset across DST;
--   candidates: p_after plus every window start after it, sorted;
--   answer:     the first candidate that lies inside a window of every zone (checked lazily, in order;
--               usually the first or second candidate wins).
-- Returns NULL when no instant within that horizon is legal (e.g. >= 15 banned days in a row, which the
-- seeded rules never produce), and for NULL/empty p_zones, a NULL zone or a NULL p_after.
-- The window rule is the same as in l2i_call_allowed (keep the two in step: the tests compare them
-- minute by minute). Converting a local window to instants is exact because every window lies inside
-- 08:00-21:00 local and US zones change offset at 02:00 local; a window start that fell in a
-- spring-forward gap would be read with the pre-jump offset (02:30 -> 03:30 new time): late, not early.
CREATE FUNCTION l2i_next_call_time(p_zones text[], p_state text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    WITH zones AS (
        SELECT DISTINCT z.zone FROM unnest(p_zones) AS z(zone)
    ), windows AS (
        SELECT z.zone,
               (d.day + w.win_start) AT TIME ZONE z.zone AS win_start,
               (d.day + w.win_end) AT TIME ZONE z.zone AS win_end
        FROM zones AS z
        CROSS JOIN generate_series(-1, 15) AS o(n)
        CROSS JOIN LATERAL (SELECT (p_after AT TIME ZONE z.zone)::date + o.n AS day) AS d
        LEFT JOIN calling_rules AS r ON r.state = upper(p_state)
        CROSS JOIN LATERAL (
            SELECT CASE WHEN r.state IS NULL THEN time '08:00'
                        ELSE CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_start
                                                             WHEN 7 THEN r.sunday_start
                                                             ELSE r.weekday_start END
                   END AS rule_start,
                   CASE WHEN r.state IS NULL THEN time '21:00'
                        ELSE CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_end
                                                             WHEN 7 THEN r.sunday_end
                                                             ELSE r.weekday_end END
                   END AS rule_end
        ) AS rw
        -- clamp to the federal floor; a NULL (banned Sunday) stays NULL (greatest() would drop it)
        CROSS JOIN LATERAL (
            SELECT CASE WHEN rw.rule_start < time '08:00' THEN time '08:00' ELSE rw.rule_start END AS win_start,
                   CASE WHEN rw.rule_end > time '21:00' THEN time '21:00' ELSE rw.rule_end END AS win_end
        ) AS w
        WHERE w.win_start < w.win_end
          AND NOT EXISTS (SELECT 1 FROM calling_holidays AS h WHERE h.state = r.state AND h.day = d.day)
    ), candidates AS (
        SELECT p_after AS t
        UNION ALL
        SELECT w.win_start FROM windows AS w WHERE w.win_start > p_after
    )
    SELECT c.t
    FROM (SELECT t FROM candidates WHERE t >= p_after ORDER BY t OFFSET 0) AS c
    WHERE EXISTS (SELECT 1 FROM zones)
      AND NOT EXISTS (
            SELECT 1 FROM zones AS z
            WHERE NOT EXISTS (SELECT 1 FROM windows AS w
                              WHERE w.zone = z.zone AND w.win_start <= c.t AND c.t < w.win_end))
    LIMIT 1;
$$;

COMMENT ON FUNCTION l2i_next_call_time(text[], text, timestamptz) IS
    'Earliest instant >= p_after at which l2i_call_allowed(p_zones, p_state, instant) is true; p_after '
    'itself when already legal. NULL when nothing is legal within about 15 days or zones are empty.';
