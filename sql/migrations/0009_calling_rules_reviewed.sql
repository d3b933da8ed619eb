-- 0009_calling_rules_reviewed: calling rules that hold up (issue 8). The reviewed state rules as dated data with
-- citations; holidays by rule for any year; the strictest of every state that may apply; Mississippi's fixed
-- standard-time clock; rolling 24-hour attempt caps; emergency blackouts; the US territories; protected opt-outs.
--
-- Why: a review of the rules of 0002 against the statutes (reviewed 2026-11-30; facts below) found l2i let
-- dialers call where a state forbids it: Pennsylvania 08:00-21:00 and Sunday afternoons (Act 47 of 2026:
-- 09:00-19:00, no Sunday), Oregon and Wyoming until 21:00 (20:00), Mississippi 08:00 local in daylight time (its
-- clock is Central Standard Time all year), five states' own holidays missing (0002 seeded six common dates, up
-- to 2040), no 3-per-24-hours cap (FL, OK, MD, OR), no area-code presumption (FL, OK, CT, OR), no emergency
-- blackouts (LA, NY), and any `write` key could delete an opted-out number from the suppression list.
--
-- How to run: applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). Forward-only. Existing queued
-- leads keep their zones; their states become {their old state} (no area-code state: it was not recorded).
-- Keys keep their scopes: none gains `suppressions` (it is never implied by `write`).
--
-- Facts and sources (this is research, not legal advice; a stricter value than the review is always lawful):
--   * Federal floor: 47 CFR 64.1200(c)(1) (and 16 CFR 310.4(c)): 08:00-21:00 at the called party's location.
--     Always applied, in every zone the lead may be in, whatever calling_rules says.
--   * Each state's row: window, citation and confidence as reviewed (high = statute or regulation read;
--     medium = a secondary source quoting it; low = unconfirmed, the stricter reading kept). The citation text
--     is in calling_rules.citation.
--   * Dated changes (a new row; the row it replaces stays for history and for "what applied at time T"):
--       PA: 73 P.S. 2245(a)(1) as amended by Act 47 of 2026 (SB 992, approved 2026-07-20), in force about
--           2026-10-18: 09:00-19:00, never on Sunday; 13 legal holidays (73 P.S. 2245(a)(10), Act 73 of 2019).
--       OR: ORS 646.563 as amended by HB 3865 (2025), in force 2026-01-01: 08:00-20:00, 3 per 24 hours.
--       MD: Md. Com. Law 14-4502(c) (Stop the Spam Calls Act of 2023), in force 2024-01-01: 08:00-20:00,
--           3 per 24 hours.
--     Corrections of rows that were wrong from the start (the statutes are older; the new rows apply from the
--     review, 2026-11-30): MS (Miss. Code 77-3-723(1): 08:00-20:00 Central Standard Time, no Sunday), SD
--     (SDCL 37-30A-3(2), unconfirmed: 09:00-21:00, no Sunday), WY (Wyo. Stat. 40-12-302(d): 08:00-20:00).
--   * Kept stricter than the review: CA and IL start at 09:00 (live calls may start at 08:00; Cal. Pub. Util.
--     Code 2872 and 815 ILCS 305/15 give 09:00 for recorded-message calls).
--   * Mississippi's clock: calling_rules.clock_utc_offset = -06:00 (Central Standard Time all year), so its
--     08:00-20:00 is 09:00-21:00 local while daylight time is in force.
--   * Caps (calling_rules.max_calls_24h = 3): Fla. Stat. 501.616(6)(b); 15 O.S. 775C.4; Md. Com. Law
--     14-4502(c); ORS 646.563 (HB 3865). Counted per number across the account, from the claims l2i hands out.
--   * Area codes: FL, OK, CT and OR presume a number with their area code is in-state. l2i applies, for every
--     lead, the rules of its address state AND of its area code's state, in every zone of each: the strictest.
--   * Emergencies: La. R.S. 45:844.31 and N.Y. Gen. Bus. Law 399-z(5-a), 399-pp(7)(f): no unsolicited calls into
--     an area under a declared state of emergency: calling_blackouts, managed by operators.
--   * Holidays (calling_holiday_rules; one-off proclaimed days stay rows of calling_holidays):
--       AL: Ala. Code 1-3-8 (holiday ban: Ala. Admin. Code r. 770-X-5-.17); Sat->Fri, Sun->Mon. Mardi Gras is a
--           holiday in Baldwin and Mobile counties only: banned statewide (l2i does not know a lead's county).
--       LA: La. R.S. 45:811, LPSC Gen. Order R-29617: the state's legal holidays; Good Friday and the day after
--           Thanksgiving are reported (unconfirmed) and banned; observance not stated: Sat->Fri and Sun->Mon
--           both banned (stricter).
--       PA: 73 P.S. 2245(a)(10); Election Day every November (stricter than only general-election years);
--           observance not stated: Sat->Fri and Sun->Mon both banned (stricter).
--       RI: R.I. Gen. Laws 5-61-2(2), 25-1-1 and 5 U.S.C. 6103: state or federal holidays; Election Day in
--           state general-election (even) years; Sun->Mon.
--       UT: Utah Code 13-25a-103(3), 63G-1-301; fixed dates Sat->Fri, Sun->Mon; Juneteenth observed on the
--           Monday before (on the Monday after when June 19 is a weekend day); Good Friday (added 2026,
--           unconfirmed) banned from 2026.
--     The holiday itself is always banned too, not only its observed day (stricter).
--   * US territories (PR, VI, GU, MP, AS) are inside the TCPA and the NANP: the federal window in their zones.
--   * Not enforced here: consent capture itself, recorded-message and autodialer rules, established-business-
--     relationship exemptions (README, "Compliance").
--
-- Operators update a rule by inserting a row with the date it takes effect (README, "Compliance"); rules are
-- data, no deploy.

-- ---------------------------------------------------------------------------------------------------------------
-- calling_rules: one row per state and date it takes effect.
ALTER TABLE calling_holidays DROP CONSTRAINT calling_holidays_state_fkey;
ALTER TABLE calling_rules DROP CONSTRAINT calling_rules_pkey;
ALTER TABLE calling_rules
    ADD COLUMN effective_from date NOT NULL DEFAULT date '2000-01-01',
    ADD COLUMN citation text,
    ADD COLUMN confidence text,
    ADD COLUMN clock_utc_offset interval,
    ADD COLUMN max_calls_24h integer;
UPDATE calling_rules
SET citation = 'As first shipped (0002, provisional chart): ' || sources, confidence = 'low';
ALTER TABLE calling_rules
    ALTER COLUMN effective_from DROP DEFAULT,
    ALTER COLUMN citation SET NOT NULL,
    ALTER COLUMN confidence SET NOT NULL,
    DROP COLUMN sources,
    ADD CONSTRAINT calling_rules_pkey PRIMARY KEY (state, effective_from),
    ADD CONSTRAINT calling_rules_citation_check CHECK (length(btrim(citation)) > 0),
    ADD CONSTRAINT calling_rules_confidence_check CHECK (confidence IN ('high', 'medium', 'low')),
    ADD CONSTRAINT calling_rules_clock_utc_offset_check
        CHECK (clock_utc_offset BETWEEN interval '-12 hours' AND interval '14 hours'),
    ADD CONSTRAINT calling_rules_max_calls_24h_check CHECK (max_calls_24h > 0);

COMMENT ON TABLE calling_rules IS
    'Per-state calling windows, one row per state (DC and the territories included) and date it takes effect: '
    'the row that applies on a local date is the one with the latest effective_from on or before it; older rows '
    'stay for history. The federal floor 08:00-21:00 local (47 CFR 64.1200(c)(1)) always applies on top. '
    'Windows are [start, end). Reviewed 2026-11-30 (0009); to change a rule, insert a row (README, Compliance).';
COMMENT ON COLUMN calling_rules.state IS 'Two-letter USPS code (DC and the territories PR, VI, GU, MP, AS included).';
COMMENT ON COLUMN calling_rules.weekday_start IS
    'Monday-Friday window start, inclusive: local time of the called party, or on clock_utc_offset when set.';
COMMENT ON COLUMN calling_rules.holidays_banned IS
    'The state bans calls on its legal holidays: the days of calling_holiday_rules (any year) are banned. '
    'Rows of calling_holidays (proclaimed days) are banned whatever this says.';
COMMENT ON COLUMN calling_rules.effective_from IS
    'First local date the row applies (2000-01-01: as first shipped, date unknown).';
COMMENT ON COLUMN calling_rules.citation IS 'The statute or regulation the row comes from, and notes.';
COMMENT ON COLUMN calling_rules.confidence IS
    'high = statute or regulation text read; medium = a secondary source quoting it; low = unconfirmed.';
COMMENT ON COLUMN calling_rules.clock_utc_offset IS
    'NULL: the windows are local time in each zone of the lead. Else the windows (and their days) are read on '
    'a clock at this fixed UTC offset all year (Mississippi: -06:00, Central Standard Time).';
COMMENT ON COLUMN calling_rules.max_calls_24h IS
    'At most this many call attempts (claims) to one number of an account in any 24 hours; NULL: no cap.';
COMMENT ON COLUMN calling_rules.updated_at IS 'When the row was last changed.';

-- The reviewed citation and confidence of every row whose window stays as it is (generated once from the
-- review's table, state-calling-rules.csv of 2026-11-30, citation column verbatim).
UPDATE calling_rules AS r
SET citation = v.citation, confidence = v.confidence, max_calls_24h = v.cap, updated_at = now()
FROM (VALUES
    ('AL', 'Ala. Admin. Code r. 770-X-5-.17 (no solicitation calls Sundays or holidays; not before 8am/after 8pm); holiday list: Ala. Code 1-3-8 (archives.alabama.gov). Caveat: PSC rule, applicability to non-utilities debated',
     'high', NULL::integer),
    ('AK', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (no state hours rule found)',
     'medium', NULL::integer),
    ('AZ', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; A.R.S. 44-1278(B)(6) imports federal rules. A.R.S. 44-1278(B)(3) bans UNSOLICITED sales calls to mobile numbers (not expressible)',
     'medium', NULL::integer),
    ('AR', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; Ark. Code 4-99-405(3) imports 16 CFR 310.4',
     'medium', NULL::integer),
    ('CO', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (no hours term in C.R.S. 6-1-304/6-1-904)',
     'medium', NULL::integer),
    ('CT', 'Conn. Gen. Stat. 42-288a(c) as amended by P.A. 23-98 (eff. 2023-10-01): 9am-8pm',
     'high', NULL::integer),
    ('DE', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (6 Del. C. ch. 25A has no hours provision)',
     'medium', NULL::integer),
    ('DC', 'D.C. Code 22-3226.08(3): not before 8am or after 9pm',
     'high', NULL::integer),
    ('FL', 'Fla. Stat. 501.616(6)(a) 8am-8pm; 501.616(6)(b) max 3 calls/24h same subject (2021 SB 1120)',
     'high', 3::integer),
    ('GA', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; O.C.G.A. 46-5-23 8am-9pm applies to ADAD equipment only',
     'medium', NULL::integer),
    ('HI', 'HRS 481P-3(8): 8am-9pm',
     'medium', NULL::integer),
    ('ID', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (Idaho Telephone Solicitation Act has no hours term)',
     'medium', NULL::integer),
    ('IN', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only for live calls; IC 24-5-14-8 ADAD calls reportedly 9am-8pm (unconfirmed)',
     'medium', NULL::integer),
    ('IA', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; no Iowa statute found (unconfirmed)',
     'low', NULL::integer),
    ('KS', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (K.S.A. 50-670 has no hours provision)',
     'medium', NULL::integer),
    ('KY', 'KRS 367.46955(16): residence calls only 10am-9pm',
     'medium', NULL::integer),
    ('LA', 'La. R.S. 45:811 (8am-8pm Mon-Sat; no Sundays or state holidays; ADAD or live operator); LPSC Gen. Order R-29617 s.V(A)(2); La. R.S. 45:844.31 (state of emergency)',
     'high', NULL::integer),
    ('ME', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only for live calls; 10 M.R.S. 1498(3) automated calling devices weekdays 9am-5pm only',
     'medium', NULL::integer),
    ('MA', '201 CMR 12.02(2) and M.G.L. c.159C s.3: no unsolicited sales call 8pm-8am',
     'high', NULL::integer),
    ('MI', 'MCL 750.540e(1)(f): unsolicited commercial call received 9pm-9am',
     'medium', NULL::integer),
    ('MN', 'Minn. Stat. 325E.30 (time-of-day limit, residential subscribers): 9am-9pm',
     'medium', NULL::integer),
    ('MO', 'RSMo 407.1076(5): 8am-9pm',
     'medium', NULL::integer),
    ('MT', 'MCA 30-14-1412(1)(d): 8am-9pm',
     'medium', NULL::integer),
    ('NE', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; Neb. Rev. Stat. 86-248(1)(a) ADAD to residential line 8am-9pm; prerecorded Sun/holiday 1pm-9pm per Neb. Admin. Code T.291 ch.11 (unconfirmed)',
     'medium', NULL::integer),
    ('NV', 'Live-call window unconfirmed (9am-8pm per secondary charts, NRS 598.0918(3) cited by one); NRS 597.814(2)(a) ADAD calls only 9am-9pm. Kept project value',
     'low', NULL::integer),
    ('NH', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (RSA 359-E has no hours provision)',
     'medium', NULL::integer),
    ('NJ', 'N.J.S.A. 56:8-128(d): no unsolicited sales call 9pm-8am',
     'high', NULL::integer),
    ('NM', 'NMSA 57-12-22(B)(5): not received before 9am or after 9pm',
     'high', NULL::integer),
    ('NY', 'N.Y. Gen. Bus. Law 399-z(2): 8am-9pm; 399-z(5-a) and 399-pp(7)(f): state-of-emergency ban (L.2019 ch.680)',
     'high', NULL::integer),
    ('NC', 'N.C.G.S. 75-102(f): not before 8am or after 9pm',
     'medium', NULL::integer),
    ('ND', 'N.D.C.C. 51-28-05: 8am-9pm',
     'medium', NULL::integer),
    ('OH', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (R.C. ch. 4719 has no hours term)',
     'medium', NULL::integer),
    ('RI', 'R.I. Gen. Laws 5-61-2(2) (hours of operation) and 5-61-3.6',
     'high', NULL::integer),
    ('SC', 'S.C. Code 37-21-30: 8am-9pm',
     'medium', NULL::integer),
    ('TN', 'T.C.A. 65-4-402: 8am-9pm (residential subscribers)',
     'medium', NULL::integer),
    ('TX', 'Tex. Bus. & Com. Code 301.051(b)(2): after 9am/before 9pm weekday and Saturday, after noon/before 9pm Sunday (not 302.101/305.053)',
     'high', NULL::integer),
    ('UT', 'Utah Code 13-25a-103(3): no solicitation without prior express consent 9pm-8am, on Sunday, or on a legal holiday',
     'high', NULL::integer),
    ('VT', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only; no Vermont hours provision found (unconfirmed)',
     'low', NULL::integer),
    ('VA', 'Va. Code 59.1-511: 8am-9pm',
     'medium', NULL::integer),
    ('WA', 'RCW 19.158.040(2): not before 8am or after 8pm; RCW 80.36.390',
     'high', NULL::integer),
    ('WV', 'W. Va. Code 46A-6F-601(a)(4): 8am-9pm',
     'medium', NULL::integer),
    ('WI', 'Wis. Admin. Code ATCP 127.16(3) (federal-equivalent window; text not read)',
     'low', NULL::integer),
    ('CA', '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only for live calls; Cal. Pub. Util. Code 2872 limits ADAD (recorded-message) calls to 9am-9pm (project''s 09:00 is stricter, harmless) [l2i keeps 09:00, stricter than the 08:00 the statute allows]',
     'medium', NULL::integer),
    ('IL', '815 ILCS 413/15(a): no solicitation between 9pm and 8am (live operators). Autodialer (recorded-message) calls 815 ILCS 305/15 reportedly 9am-9pm (unconfirmed); project''s 09:00 is stricter, harmless [l2i keeps 09:00, stricter than the 08:00 the statute allows]',
     'high', NULL::integer)
) AS v(state, citation, confidence, cap)
WHERE r.state = v.state;

-- New rows: dated changes (PA, OR, MD) and corrections (MS, SD, WY); zones as before. The rows they replace stay.
INSERT INTO calling_rules
    (state, effective_from, primary_tz, all_tzs, weekday_start, weekday_end, saturday_start, saturday_end,
     sunday_start, sunday_end, holidays_banned, clock_utc_offset, max_calls_24h, citation, confidence)
SELECT r.state, v.effective_from, r.primary_tz, r.all_tzs, v.weekday_start, v.weekday_end, v.saturday_start,
       v.saturday_end, v.sunday_start, v.sunday_end, v.holidays_banned, v.clock_utc_offset, v.max_calls_24h,
       v.citation, v.confidence
FROM calling_rules AS r
JOIN (VALUES
    ('PA', date '2026-10-18', '09:00'::time, '19:00'::time, '09:00'::time, '19:00'::time, NULL, NULL, true,
     NULL::interval, NULL::integer,
     '73 P.S. 2245(a)(1) as amended by Act 47 of 2026 (SB 992, approved 2026-07-20, eff. ~2026-10-18): no telemarketing on Sunday or before 9am/after 7pm (was 8am-9pm); holidays: Act 73 of 2019. Primary text of Act 47 not read',
     'medium'),
    ('OR', date '2026-01-01', '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, false,
     NULL::interval, 3::integer,
     'ORS 646.563 as amended by HB 3865 (2025), eff. 2026-01-01: 8am-8pm; max 3 solicitations/24h unless EBR (18 months); includes texts',
     'medium'),
    ('MD', date '2024-01-01', '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, false,
     NULL::interval, 3::integer,
     'Md. Com. Law 14-4502(c) (Stop the Spam Calls Act 2023, eff. 2024-01-01): 8am-8pm called party''s zone; max 3 per 24h same subject. (14-3201 cited in project is the wrong section)',
     'medium'),
    ('MS', date '2026-11-30', '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, NULL, NULL, false,
     interval '-06:00', NULL::integer,
     'Miss. Code 77-3-723(1): 8am-8pm CENTRAL STANDARD TIME, no Sunday calls; 09:00 start = 8am CST during DST (08:00 lawful Nov-Mar only). Holiday ban repealed with PSC rules (39 Miss. Admin. Code Pt. I R.1:28) after 2023 HB 1225 [l2i reads 08:00-20:00 on a fixed UTC-06:00 clock: clock_utc_offset]',
     'medium'),
    ('SD', date '2026-11-30', '09:00'::time, '21:00'::time, '09:00'::time, '21:00'::time, NULL, NULL, false,
     NULL::interval, NULL::integer,
     'UNCONFIRMED: SDCL 37-30A-3(2) residence-call hours reported as 9am-9pm, no Sunday (one secondary table); SDCL 37-30-28 (read): autodialed solicitations weekdays 9am-9pm only. Conservative until statute is read',
     'low'),
    ('WY', date '2026-11-30', '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, '08:00'::time, '20:00'::time, false,
     NULL::interval, NULL::integer,
     'Wyo. Stat. 40-12-302(d): not before 8am or after 8pm (quoted from official Title 40 PDF by a secondary source)',
     'medium')
) AS v (state, effective_from, weekday_start, weekday_end, saturday_start, saturday_end, sunday_start,
             sunday_end, holidays_banned, clock_utc_offset, max_calls_24h, citation, confidence)
  ON v.state = r.state;

-- The territories: the federal window in their own zones (47 CFR 64.1200(c)(1) applies; no territory hours rule).
INSERT INTO calling_rules
    (state, effective_from, primary_tz, all_tzs, weekday_start, weekday_end, saturday_start, saturday_end,
     sunday_start, sunday_end, holidays_banned, citation, confidence)
SELECT v.state, date '2000-01-01', v.zone, ARRAY[v.zone], '08:00', '21:00', '08:00', '21:00', '08:00', '21:00', false,
       '47 CFR 64.1200(c)(1) + 16 CFR 310.4(c) only (US territory in the NANP; no territorial hours rule found)',
       'medium'
FROM (VALUES ('PR', 'America/Puerto_Rico'), ('VI', 'America/St_Thomas'), ('GU', 'Pacific/Guam'),
             ('MP', 'Pacific/Saipan'), ('AS', 'Pacific/Pago_Pago')) AS v (state, zone);


-- ---------------------------------------------------------------------------------------------------------------
-- Holidays by rule, for any year. A rule names one day a year:
--   fixed    month/day (e.g. 7/4), plus its observed day when it falls on a weekend (observed, below);
--   weekday  the first `weekday` (ISO: Monday = 1 ... Sunday = 7) on or after month/day: 3rd Monday of January =
--            Monday on or after 1/15; last Monday of May = Monday on or after 5/25; Thanksgiving = Thursday on or
--            after 11/22; Election Day (Tuesday after the first Monday of November) = Tuesday on or after 11/2;
--   easter   Easter Sunday + easter_offset days (Good Friday -2, Mardi Gras -47).
-- observed (fixed days only): none; sat_fri_sun_mon (Saturday -> Friday before, Sunday -> Monday after);
--   sun_mon (Sunday -> Monday); monday (Tuesday-Friday -> the Monday before, Saturday/Sunday -> the Monday after).
--   The day itself stays banned as well.
CREATE TABLE calling_holiday_rules (
    state           text     NOT NULL,
    name            text     NOT NULL,
    kind            text     NOT NULL,
    month           smallint,
    day             smallint,
    weekday         smallint,
    easter_offset   smallint,
    observed        text     NOT NULL DEFAULT 'none',
    even_years_only boolean  NOT NULL DEFAULT false,
    first_year      integer,
    citation        text     NOT NULL,
    confidence      text     NOT NULL,
    CONSTRAINT calling_holiday_rules_pkey PRIMARY KEY (state, name),
    CONSTRAINT calling_holiday_rules_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_holiday_rules_kind_check CHECK (
        (kind = 'fixed' AND month IS NOT NULL AND day IS NOT NULL AND weekday IS NULL AND easter_offset IS NULL)
        OR (kind = 'weekday' AND month IS NOT NULL AND day IS NOT NULL AND weekday BETWEEN 1 AND 7
            AND easter_offset IS NULL)
        OR (kind = 'easter' AND month IS NULL AND day IS NULL AND weekday IS NULL
            AND easter_offset BETWEEN -100 AND 100)),
    CONSTRAINT calling_holiday_rules_date_check CHECK (
        month BETWEEN 1 AND 12
        AND day BETWEEN 1 AND CASE WHEN month = 2 THEN 28 WHEN month IN (4, 6, 9, 11) THEN 30 ELSE 31 END),
    CONSTRAINT calling_holiday_rules_observed_check CHECK (
        observed IN ('none', 'sat_fri_sun_mon', 'sun_mon', 'monday') AND (kind = 'fixed' OR observed = 'none')),
    CONSTRAINT calling_holiday_rules_confidence_check CHECK (confidence IN ('high', 'medium', 'low'))
);
COMMENT ON TABLE calling_holiday_rules IS
    'Each state''s banned holidays as rules, computed for any year by l2i_holiday_days(); they ban calls while '
    'the state''s calling_rules row has holidays_banned. Kinds: fixed (month/day), weekday (first ISO weekday on '
    'or after month/day), easter (Easter Sunday + easter_offset days). See 0009 for the sources.';
COMMENT ON COLUMN calling_holiday_rules.observed IS
    'fixed days only: none, sat_fri_sun_mon, sun_mon, or monday (Tue-Fri -> Monday before, Sat/Sun -> Monday '
    'after). The observed day is banned as well as the day itself.';
COMMENT ON COLUMN calling_holiday_rules.even_years_only IS 'The day exists only in even years (an election day).';
COMMENT ON COLUMN calling_holiday_rules.first_year IS 'The first year the holiday is banned; NULL: every year.';

INSERT INTO calling_holiday_rules
    (state, name, kind, month, day, weekday, easter_offset, observed, even_years_only, first_year, citation,
     confidence)
SELECT v.state, v.name, v.kind, v.month, v.day, v.weekday, v.easter_offset,
       CASE WHEN v.kind = 'fixed' THEN coalesce(v.observed, s.observed) ELSE 'none' END,
       coalesce(v.even_years_only, false), v.first_year, s.citation, coalesce(v.confidence, s.confidence)
FROM (VALUES
    ('AL', 'sat_fri_sun_mon', 'Ala. Code 1-3-8; Ala. Admin. Code r. 770-X-5-.17', 'high'),
    ('LA', 'sat_fri_sun_mon', 'La. R.S. 45:811; LPSC Gen. Order R-29617 s.V(A)(2) (observance not stated: both '
                              'weekend shifts banned)', 'high'),
    ('PA', 'sat_fri_sun_mon', '73 P.S. 2245(a)(10) (Act 73 of 2019) (observance not stated: both weekend shifts '
                              'banned)', 'medium'),
    ('RI', 'sun_mon', 'R.I. Gen. Laws 5-61-2(2), 25-1-1; 5 U.S.C. 6103', 'high'),
    ('UT', 'sat_fri_sun_mon', 'Utah Code 13-25a-103(3), 63G-1-301', 'high')
) AS s (state, observed, citation, confidence)
JOIN (VALUES
    -- state, name, kind, month, day, weekday, easter_offset, observed, even_years_only, first_year, confidence
    ('AL', 'New Year''s Day', 'fixed', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Martin Luther King Jr. / Robert E. Lee Day', 'weekday', 1, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'George Washington / Thomas Jefferson Day', 'weekday', 2, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Mardi Gras (Baldwin and Mobile counties)', 'easter', NULL, NULL, NULL, -47, NULL, NULL, NULL, NULL),
    ('AL', 'Confederate Memorial Day', 'weekday', 4, 22, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Memorial Day', 'weekday', 5, 25, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Jefferson Davis'' Birthday', 'weekday', 6, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Juneteenth', 'fixed', 6, 19, NULL, NULL, NULL, NULL, NULL, 'low'),
    ('AL', 'Independence Day', 'fixed', 7, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Labor Day', 'weekday', 9, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Columbus Day / American Indian Heritage Day', 'weekday', 10, 8, 1, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Veterans Day', 'fixed', 11, 11, NULL, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Thanksgiving Day', 'weekday', 11, 22, 4, NULL, NULL, NULL, NULL, NULL),
    ('AL', 'Christmas Day', 'fixed', 12, 25, NULL, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'New Year''s Day', 'fixed', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Martin Luther King Jr. Day', 'weekday', 1, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Mardi Gras', 'easter', NULL, NULL, NULL, -47, NULL, NULL, NULL, NULL),
    ('LA', 'Good Friday', 'easter', NULL, NULL, NULL, -2, NULL, NULL, NULL, 'low'),
    ('LA', 'Memorial Day', 'weekday', 5, 25, 1, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Independence Day', 'fixed', 7, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Labor Day', 'weekday', 9, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Thanksgiving Day', 'weekday', 11, 22, 4, NULL, NULL, NULL, NULL, NULL),
    ('LA', 'Day after Thanksgiving', 'weekday', 11, 23, 5, NULL, NULL, NULL, NULL, 'low'),
    ('LA', 'Christmas Day', 'fixed', 12, 25, NULL, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'New Year''s Day', 'fixed', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Martin Luther King Jr. Day', 'weekday', 1, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Presidents'' Day', 'weekday', 2, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Good Friday', 'easter', NULL, NULL, NULL, -2, NULL, NULL, NULL, NULL),
    ('PA', 'Memorial Day', 'weekday', 5, 25, 1, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Flag Day', 'fixed', 6, 14, NULL, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Independence Day', 'fixed', 7, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Labor Day', 'weekday', 9, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Columbus Day', 'weekday', 10, 8, 1, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Election Day', 'weekday', 11, 2, 2, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Veterans Day', 'fixed', 11, 11, NULL, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Thanksgiving Day', 'weekday', 11, 22, 4, NULL, NULL, NULL, NULL, NULL),
    ('PA', 'Christmas Day', 'fixed', 12, 25, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'New Year''s Day', 'fixed', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Martin Luther King Jr. Day', 'weekday', 1, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Washington''s Birthday', 'weekday', 2, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Rhode Island Independence Day', 'fixed', 5, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Memorial Day', 'weekday', 5, 25, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Juneteenth', 'fixed', 6, 19, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Independence Day', 'fixed', 7, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Victory Day', 'weekday', 8, 8, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Labor Day', 'weekday', 9, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Columbus Day', 'weekday', 10, 8, 1, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Election Day', 'weekday', 11, 2, 2, NULL, NULL, true, NULL, NULL),
    ('RI', 'Veterans Day', 'fixed', 11, 11, NULL, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Thanksgiving Day', 'weekday', 11, 22, 4, NULL, NULL, NULL, NULL, NULL),
    ('RI', 'Christmas Day', 'fixed', 12, 25, NULL, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'New Year''s Day', 'fixed', 1, 1, NULL, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Martin Luther King Jr. Day', 'weekday', 1, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Washington and Lincoln Day', 'weekday', 2, 15, 1, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Good Friday', 'easter', NULL, NULL, NULL, -2, NULL, NULL, 2026, 'low'),
    ('UT', 'Memorial Day', 'weekday', 5, 25, 1, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Juneteenth', 'fixed', 6, 19, NULL, NULL, 'monday', NULL, NULL, NULL),
    ('UT', 'Independence Day', 'fixed', 7, 4, NULL, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Pioneer Day', 'fixed', 7, 24, NULL, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Labor Day', 'weekday', 9, 1, 1, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Columbus Day', 'weekday', 10, 8, 1, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Veterans Day', 'fixed', 11, 11, NULL, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Thanksgiving Day', 'weekday', 11, 22, 4, NULL, NULL, NULL, NULL, NULL),
    ('UT', 'Christmas Day', 'fixed', 12, 25, NULL, NULL, NULL, NULL, NULL, NULL)
) AS v (state, name, kind, month, day, weekday, easter_offset, observed, even_years_only, first_year, confidence)
  ON v.state = s.state;

-- The dates 0002 listed (six holidays, 2025-2040) are now rules; calling_holidays keeps one-off days (a day the
-- Governor proclaims a holiday: La. R.S. 45:811 bans those too; Utah Code 63G-1-301 likewise).
DELETE FROM calling_holidays;
COMMENT ON TABLE calling_holidays IS
    'One-off banned days (local date of the called party), e.g. a holiday a governor proclaims: every row bans '
    'its whole day for numbers of the state, whatever calling_rules.holidays_banned says. Recurring holidays are '
    'rules: calling_holiday_rules.';
COMMENT ON COLUMN calling_holidays.name IS 'What the day is (and who proclaimed it).';
ALTER TABLE calling_holidays ADD CONSTRAINT calling_holidays_state_check CHECK (state ~ '^[A-Z]{2}$');

-- Easter Sunday (Gregorian calendar) of a year: the anonymous Gregorian algorithm (Meeus/Jones/Butcher).
CREATE FUNCTION l2i_easter(p_year integer) RETURNS date
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    a integer := p_year % 19;
    b integer := p_year / 100;
    c integer := p_year % 100;
    h integer;
    l integer;
    m integer;
BEGIN
    h := (19 * a + b - b / 4 - (b - (b + 8) / 25 + 1) / 3 + 15) % 30;
    l := (32 + 2 * (b % 4) + 2 * (c / 4) - h - c % 4) % 7;
    m := (a + 11 * h + 22 * l) / 451;
    RETURN make_date(p_year, (h + l - 7 * m + 114) / 31, (h + l - 7 * m + 114) % 31 + 1);
END
$$;
COMMENT ON FUNCTION l2i_easter(integer) IS 'Easter Sunday of a year (Gregorian; anonymous algorithm).';

-- The day a holiday rule names in a year, and how many days its observance moves it (0: not moved). Plain SQL
-- expressions, so that PostgreSQL inlines them into the queries that use them.
CREATE FUNCTION l2i_holiday_rule_day(p_kind text, p_month integer, p_day integer, p_weekday integer,
                                     p_easter_offset integer, p_year integer) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_kind
               WHEN 'fixed' THEN make_date(p_year, p_month, p_day)
               WHEN 'weekday' THEN make_date(p_year, p_month, p_day)
                   + (p_weekday - extract(isodow FROM make_date(p_year, p_month, p_day))::integer + 7) % 7
               WHEN 'easter' THEN l2i_easter(p_year) + p_easter_offset
           END
$$;
COMMENT ON FUNCTION l2i_holiday_rule_day(text, integer, integer, integer, integer, integer) IS
    'The day a calling_holiday_rules row names in a year (before any observance shift).';

CREATE FUNCTION l2i_holiday_shift(p_observed text, p_day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- by ISO day of week (Monday first); p_day appears once so that the function is inlined
    SELECT (CASE p_observed
                WHEN 'sat_fri_sun_mon' THEN ARRAY[0, 0, 0, 0, 0, -1, 1]
                WHEN 'sun_mon' THEN ARRAY[0, 0, 0, 0, 0, 0, 1]
                WHEN 'monday' THEN ARRAY[0, -1, -2, -3, -4, 2, 1]
                ELSE ARRAY[0, 0, 0, 0, 0, 0, 0]
            END)[extract(isodow FROM p_day)::integer]
$$;
COMMENT ON FUNCTION l2i_holiday_shift(text, date) IS
    'Days an observance rule moves a holiday that falls on p_day (0: not moved).';

-- The banned days of a state between two local dates (inclusive), for any years: the days of its holiday rules
-- and their observed days (by_rule true: banned while the state's rule has holidays_banned), and its one-off
-- calling_holidays rows (by_rule false: always banned). Sorted by day.
CREATE FUNCTION l2i_holiday_days(p_state text, p_from date, p_to date)
RETURNS TABLE (day date, name text, by_rule boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT o.day, o.name, o.by_rule
    FROM (SELECT a.day + s.shift AS day, r.name || CASE WHEN s.shift <> 0 THEN ' (observed)' ELSE '' END AS name,
                 true AS by_rule
          FROM calling_holiday_rules AS r
          CROSS JOIN generate_series(extract(year FROM p_from - 7)::integer,
                                     extract(year FROM p_to + 7)::integer) AS y(year)
          CROSS JOIN LATERAL (SELECT l2i_holiday_rule_day(r.kind, r.month, r.day, r.weekday, r.easter_offset, y.year)
                              AS day) AS a
          CROSS JOIN LATERAL (SELECT 0 AS shift UNION SELECT l2i_holiday_shift(r.observed, a.day)) AS s
          WHERE r.state = upper(p_state)
            AND (r.first_year IS NULL OR y.year >= r.first_year)
            AND (NOT r.even_years_only OR y.year % 2 = 0)
          UNION ALL
          SELECT h.day, h.name, false
          FROM calling_holidays AS h
          WHERE h.state = upper(p_state)) AS o
    WHERE o.day BETWEEN p_from AND p_to
    ORDER BY o.day, o.name
$$;
COMMENT ON FUNCTION l2i_holiday_days(text, date, date) IS
    'Banned days of a state between two local dates, any year: holiday rules (by_rule) and one-off rows.';

-- Whether a local date is a day of a state's holiday rules or their observed days (the by_rule days of
-- l2i_holiday_days), with one index lookup and arithmetic, for l2i_call_allowed.
CREATE FUNCTION l2i_is_rule_holiday(p_state text, p_day date) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_year integer := extract(year FROM p_day)::integer;
    v_month integer := extract(month FROM p_day)::integer;
BEGIN
    -- A fixed or weekday rule's day, observed or not, is at most 6 days after its month/day and 3 before: only
    -- rules of this month and the months next to it can match (and the next or last year's in January and
    -- December). Easter-relative rules are always computed.
    RETURN (EXISTS (
               SELECT 1
               FROM calling_holiday_rules AS r
               CROSS JOIN LATERAL (SELECT v_year AS year
                                   UNION ALL SELECT v_year + 1 WHERE v_month = 12
                                   UNION ALL SELECT v_year - 1 WHERE v_month = 1) AS y
               CROSS JOIN LATERAL (SELECT l2i_holiday_rule_day(r.kind, r.month, r.day, r.weekday, r.easter_offset,
                                                               y.year) AS day) AS a
               WHERE r.state = p_state
                 AND (r.kind = 'easter' OR abs(r.month - v_month) IN (0, 1, 11))
                 AND (r.first_year IS NULL OR y.year >= r.first_year)
                 AND (NOT r.even_years_only OR y.year % 2 = 0)
                 AND (a.day = p_day OR a.day + l2i_holiday_shift(r.observed, a.day) = p_day)));
END
$$;
COMMENT ON FUNCTION l2i_is_rule_holiday(text, date) IS
    'True iff the local date is a day of the state''s holiday rules (or an observed day of one).';

-- ---------------------------------------------------------------------------------------------------------------
-- The calling window over several states. A lead may be governed by its address state and by its area code's
-- state: the call must be legal under each of them (p_states; NULLs and states without a rule row are ignored),
-- in every zone of p_zones, on top of the federal 08:00-21:00 local in every zone, outside any blackout of those
-- states. For each state the rule is its row in force on the local date (latest effective_from on or before it);
-- a rule with clock_utc_offset is read on that fixed clock instead of the zone's local time.

-- True iff p_at is a legal calling instant. Fails closed: NULL/empty p_zones, a NULL zone or a NULL p_at give
-- false; an unknown zone name raises invalid_parameter_value.
CREATE FUNCTION l2i_call_allowed(p_zones text[], p_states text[], p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_states text[] := upper(p_states::text)::text[];
    v_zone text;
    v_state text;
    v_local timestamp;
    v_day date;
    v_dow integer;
    r record;
BEGIN
    IF p_at IS NULL OR coalesce(cardinality(p_zones), 0) = 0 OR array_position(p_zones, NULL) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- The federal floor in every zone: plain expressions, no query (most refusals end here).
    FOREACH v_zone IN ARRAY p_zones LOOP
        v_local := p_at AT TIME ZONE v_zone;
        IF v_local::time < time '08:00' OR v_local::time >= time '21:00' THEN
            RETURN false;
        END IF;
    END LOOP;
    -- Each state: one query for its rule in force on the local date (again only for a zone on another date),
    -- whether it is blacked out and whether that date is a one-off banned day; then plain expressions.
    FOREACH v_state IN ARRAY coalesce(v_states, '{}') LOOP
        CONTINUE WHEN v_state IS NULL;
        v_day := NULL;
        FOREACH v_zone IN ARRAY p_zones LOOP
            v_local := p_at AT TIME ZONE v_zone;
            IF v_day IS DISTINCT FROM v_local::date THEN
                v_day := v_local::date;
                SELECT cr.weekday_start, cr.weekday_end, cr.saturday_start, cr.saturday_end, cr.sunday_start,
                       cr.sunday_end, cr.holidays_banned, cr.clock_utc_offset,
                       EXISTS (SELECT 1 FROM calling_blackouts AS b
                               WHERE b.state = v_state AND b.starts_at <= p_at AND p_at < b.ends_at) AS blacked_out,
                       EXISTS (SELECT 1 FROM calling_holidays AS h WHERE h.state = v_state AND h.day = v_day)
                           AS one_off
                INTO r
                FROM calling_rules AS cr
                WHERE cr.state = v_state AND cr.effective_from <= v_day
                ORDER BY cr.effective_from DESC
                LIMIT 1;
                EXIT WHEN NOT FOUND;  -- no rule for this state: the federal floor alone
                IF r.blacked_out THEN
                    RETURN false;
                END IF;
            END IF;
            IF r.clock_utc_offset IS NOT NULL THEN
                v_local := (p_at AT TIME ZONE 'UTC') + r.clock_utc_offset;
            END IF;
            v_dow := extract(isodow FROM v_local)::integer;
            IF NOT coalesce(
                   v_local::time >= CASE v_dow WHEN 6 THEN r.saturday_start WHEN 7 THEN r.sunday_start
                                               ELSE r.weekday_start END
               AND v_local::time < CASE v_dow WHEN 6 THEN r.saturday_end WHEN 7 THEN r.sunday_end
                                              ELSE r.weekday_end END, false) THEN
                RETURN false;
            END IF;
            IF (r.one_off AND v_local::date = v_day)
               OR (r.clock_utc_offset IS NOT NULL AND v_local::date <> v_day
                   AND EXISTS (SELECT 1 FROM calling_holidays AS h WHERE h.state = v_state AND h.day = v_local::date))
               OR (r.holidays_banned AND l2i_is_rule_holiday(v_state, v_local::date)) THEN
                RETURN false;
            END IF;
        END LOOP;
    END LOOP;
    RETURN true;
END
$$;
COMMENT ON FUNCTION l2i_call_allowed(text[], text[], timestamptz) IS
    'True iff p_at is legal in every zone of p_zones under the federal window and the rules of every state of '
    'p_states (the strictest), outside their blackouts. Empty/NULL zones: false.';

-- Earliest instant t >= p_after with l2i_call_allowed(p_zones, p_states, t). The legal set is an intersection of
-- tracks (the federal window in each zone; each state's window in each zone, or on its fixed clock), each a union
-- of daily [start, end) windows, so the answer is p_after or the start of some window: the windows of the days
-- from 2 before p_after's local date to 3 after it (15 after it when that finds nothing) are listed, and the
-- first candidate inside a window of every track wins. A blackout covering that instant moves the search to the
-- blackout's end. NULL when nothing is legal within about 15 days of the start of the search (e.g. zones 16 hours
-- apart never share a window), and for NULL/empty p_zones, a NULL zone or a NULL p_after. Local windows are
-- turned into instants per day, so each day has its own UTC offset across DST; windows lie inside 08:00-21:00
-- and US zones change offset at 02:00. One generic plan for the session (a custom plan costs more to plan than
-- to run) and no JIT (the planner's estimate is far above what the query does).
CREATE FUNCTION l2i_next_call_time(p_zones text[], p_states text[], p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
DECLARE
    v_states text[];
    v_t timestamptz := p_after;
    v_until timestamptz;
    v_days integer := 3;
    v_from timestamptz;
BEGIN
    IF p_after IS NULL OR coalesce(cardinality(p_zones), 0) = 0 OR array_position(p_zones, NULL) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    v_states := ARRAY(SELECT DISTINCT upper(s) FROM unnest(p_states) AS s
                      WHERE s IS NOT NULL AND EXISTS (SELECT 1 FROM calling_rules AS r WHERE r.state = upper(s)));
    FOR i IN 1..100 LOOP
        v_from := v_t;
        v_t := (
            WITH zones AS (
                SELECT DISTINCT z.zone FROM unnest(p_zones) AS z(zone)
            ), days AS (
                SELECT z.zone, (v_t AT TIME ZONE z.zone)::date + o.n AS day
                FROM zones AS z CROSS JOIN generate_series(-2, v_days) AS o(n)
            ), banned AS (
                SELECT s.state, h.day, h.by_rule
                FROM unnest(v_states) AS s(state)
                CROSS JOIN LATERAL l2i_holiday_days(s.state, (v_t - interval '3 days')::date,
                                                    (v_t + make_interval(days => v_days + 2))::date) AS h
            ), windows AS (
                SELECT d.zone, ''::text AS state,
                       (d.day + time '08:00') AT TIME ZONE d.zone AS win_start,
                       (d.day + time '21:00') AT TIME ZONE d.zone AS win_end
                FROM days AS d
                UNION ALL
                SELECT d.zone, r.state,
                       CASE WHEN r.clock_utc_offset IS NULL THEN (d.day + w.win_start) AT TIME ZONE d.zone
                            ELSE ((d.day + w.win_start) AT TIME ZONE 'UTC') - r.clock_utc_offset END,
                       CASE WHEN r.clock_utc_offset IS NULL THEN (d.day + w.win_end) AT TIME ZONE d.zone
                            ELSE ((d.day + w.win_end) AT TIME ZONE 'UTC') - r.clock_utc_offset END
                FROM days AS d
                CROSS JOIN unnest(v_states) AS s(state)
                CROSS JOIN LATERAL (
                    SELECT cr.state, cr.weekday_start, cr.weekday_end, cr.saturday_start, cr.saturday_end,
                           cr.sunday_start, cr.sunday_end, cr.holidays_banned, cr.clock_utc_offset
                    FROM calling_rules AS cr
                    WHERE cr.state = s.state AND cr.effective_from <= d.day
                    ORDER BY cr.effective_from DESC
                    LIMIT 1) AS r
                CROSS JOIN LATERAL (
                    SELECT CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_start WHEN 7 THEN r.sunday_start
                                                           ELSE r.weekday_start END AS win_start,
                           CASE extract(isodow FROM d.day) WHEN 6 THEN r.saturday_end WHEN 7 THEN r.sunday_end
                                                           ELSE r.weekday_end END AS win_end) AS w
                WHERE w.win_start < w.win_end  -- a banned Sunday (NULL) has no window
                  AND NOT EXISTS (SELECT 1 FROM banned AS b
                                  WHERE b.state = r.state AND b.day = d.day AND (r.holidays_banned OR NOT b.by_rule))
            ), tracks AS (
                SELECT z.zone, s.state
                FROM zones AS z CROSS JOIN unnest(ARRAY[''] || v_states) AS s(state)
            ), candidates AS (
                SELECT v_t AS t
                UNION ALL
                SELECT w.win_start FROM windows AS w WHERE w.win_start > v_t
            )
            SELECT c.t
            FROM (SELECT t FROM candidates ORDER BY t OFFSET 0) AS c
            WHERE NOT EXISTS (
                    SELECT 1 FROM tracks AS k
                    WHERE NOT EXISTS (SELECT 1 FROM windows AS w
                                      WHERE w.zone = k.zone AND w.state = k.state
                                        AND w.win_start <= c.t AND c.t < w.win_end))
            LIMIT 1
        );
        IF v_t IS NULL AND v_days < 15 THEN
            -- nothing in the next few days (a long weekend, holidays): look again over about two weeks
            v_t := v_from;
            v_days := 15;
            CONTINUE;
        ELSIF v_t IS NULL THEN
            RETURN NULL;
        END IF;
        v_days := 3;
        SELECT max(b.ends_at) INTO v_until
        FROM calling_blackouts AS b
        WHERE b.state = ANY (v_states) AND b.starts_at <= v_t AND v_t < b.ends_at;
        IF v_until IS NULL THEN
            RETURN v_t;
        END IF;
        v_t := v_until;
    END LOOP;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION l2i_next_call_time(text[], text[], timestamptz) IS
    'Earliest instant >= p_after at which l2i_call_allowed(p_zones, p_states, instant) is true; p_after itself '
    'when already legal. NULL when nothing is legal within about 15 days or zones are empty.';

-- The one-state forms of 0002 (kept for psql and for callers that know one state): the same, over {p_state}.
CREATE OR REPLACE FUNCTION l2i_call_allowed(p_zones text[], p_state text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN l2i_call_allowed(p_zones, ARRAY[p_state]::text[], p_at);
END
$$;
COMMENT ON FUNCTION l2i_call_allowed(text[], text, timestamptz) IS
    'l2i_call_allowed(p_zones, ARRAY[p_state], p_at): the window of one state (NULL: the federal one).';

CREATE OR REPLACE FUNCTION l2i_next_call_time(p_zones text[], p_state text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN l2i_next_call_time(p_zones, ARRAY[p_state]::text[], p_after);
END
$$;
COMMENT ON FUNCTION l2i_next_call_time(text[], text, timestamptz) IS
    'l2i_next_call_time(p_zones, ARRAY[p_state], p_after): the window of one state (NULL: the federal one).';

-- Every zone a lead may be in: every zone of each of its states (address and area code), and the zones of its
-- area code; the area code's zones alone when no state is known. Sorted, without duplicates.
CREATE FUNCTION l2i_lead_zones(p_states text[], p_area_zones text[]) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT z.zone ORDER BY z.zone), '{}')
    FROM (SELECT unnest(r.all_tzs) AS zone
          FROM unnest(p_states) AS s(state)
          CROSS JOIN LATERAL (SELECT cr.all_tzs FROM calling_rules AS cr WHERE cr.state = upper(s.state)
                              ORDER BY cr.effective_from DESC LIMIT 1) AS r
          UNION ALL
          SELECT unnest(p_area_zones)) AS z
    WHERE z.zone IS NOT NULL
$$;
COMMENT ON FUNCTION l2i_lead_zones(text[], text[]) IS
    'Every zone a lead may be in: all zones of each of its states plus its area code''s zones.';

-- The rules a window was computed with, for the lead's record (gates.calling_window.rules).
CREATE FUNCTION l2i_rules_used(p_states text[], p_at timestamptz) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'state', r.state, 'effective_from', r.effective_from, 'citation', r.citation,
               'confidence', r.confidence, 'max_calls_24h', r.max_calls_24h) ORDER BY r.state), '[]'::jsonb)
    FROM (SELECT DISTINCT upper(s) AS state FROM unnest(p_states) AS s WHERE s IS NOT NULL) AS s
    CROSS JOIN LATERAL (SELECT cr.* FROM calling_rules AS cr
                        WHERE cr.state = s.state AND cr.effective_from <= (p_at AT TIME ZONE cr.primary_tz)::date
                        ORDER BY cr.effective_from DESC LIMIT 1) AS r
$$;
COMMENT ON FUNCTION l2i_rules_used(text[], timestamptz) IS
    'The calling_rules rows in force at p_at for these states: state, effective_from, citation, confidence, cap.';

-- ---------------------------------------------------------------------------------------------------------------
-- Attempt caps: every claim is an attempt on the number, recorded here; the states' max_calls_24h bounds them.
CREATE TABLE call_attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    account_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    lead_id     uuid        NOT NULL,
    claimed_at  timestamptz NOT NULL,
    CONSTRAINT call_attempts_pkey PRIMARY KEY (id),
    CONSTRAINT call_attempts_lead_id_fkey FOREIGN KEY (lead_id) REFERENCES leads (id) ON DELETE CASCADE
);
CREATE INDEX call_attempts_account_phone_idx ON call_attempts (account_id, phone, claimed_at);
COMMENT ON TABLE call_attempts IS
    'Every call attempt l2i handed out (a claim): counted per number across the account for the 24-hour caps.';
INSERT INTO call_attempts (account_id, phone, lead_id, claimed_at)
SELECT e.account_id, l.phone, e.lead_id, e.at
FROM lead_events AS e JOIN leads AS l ON l.id = e.lead_id
WHERE e.type = 'claimed'
ORDER BY e.at;

-- The earliest instant >= p_at at which one more attempt on the number is allowed by the strictest cap of the
-- states in force at p_at: p_at when under every cap, else when the attempt that fills the cap is 24 h old.
CREATE FUNCTION l2i_attempt_free_at(p_account_id uuid, p_phone text, p_states text[], p_at timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    v_cap integer;
    v_free timestamptz;
BEGIN
    SELECT min(r.max_calls_24h) INTO v_cap
    FROM (SELECT DISTINCT upper(s) AS state FROM unnest(p_states) AS s WHERE s IS NOT NULL) AS s
    CROSS JOIN LATERAL (SELECT cr.max_calls_24h FROM calling_rules AS cr
                        WHERE cr.state = s.state AND cr.effective_from <= (p_at AT TIME ZONE cr.primary_tz)::date
                        ORDER BY cr.effective_from DESC LIMIT 1) AS r;
    IF v_cap IS NULL OR p_at IS NULL THEN
        RETURN p_at;
    END IF;
    SELECT a.claimed_at + interval '24 hours' INTO v_free
    FROM call_attempts AS a
    WHERE a.account_id = p_account_id AND a.phone = p_phone
      AND a.claimed_at > p_at - interval '24 hours' AND a.claimed_at <= p_at
    ORDER BY a.claimed_at DESC
    OFFSET v_cap - 1 LIMIT 1;
    RETURN greatest(p_at, v_free);
END
$$;
COMMENT ON FUNCTION l2i_attempt_free_at(uuid, text, text[], timestamptz) IS
    'When one more attempt on the number is allowed by the states'' 24-hour caps: p_at, or later when capped.';

-- The next legal time of a lead's number: the calling window of its zones and states, from the time its caps let.
CREATE FUNCTION l2i_next_dial_time(p_account_id uuid, p_phone text, p_zones text[], p_states text[],
                                   p_after timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT l2i_next_call_time(p_zones, p_states, l2i_attempt_free_at(p_account_id, p_phone, p_states, p_after))
$$;
COMMENT ON FUNCTION l2i_next_dial_time(uuid, text, text[], text[], timestamptz) IS
    'l2i_next_call_time from the instant the attempt caps allow (l2i_attempt_free_at).';

-- ---------------------------------------------------------------------------------------------------------------
-- Emergency blackouts (La. R.S. 45:844.31; N.Y. Gen. Bus. Law 399-z(5-a)): no calls to the state's numbers from
-- starts_at to ends_at. l2i does not know a lead's county, so a blackout naming counties holds the whole state
-- (fails closed); the counties are kept for the record.
CREATE TABLE calling_blackouts (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    state       text        NOT NULL,
    counties    text[],
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL DEFAULT session_user,
    ended_at    timestamptz,
    CONSTRAINT calling_blackouts_pkey PRIMARY KEY (id),
    CONSTRAINT calling_blackouts_state_check CHECK (state ~ '^[A-Z]{2}$'),
    CONSTRAINT calling_blackouts_window_check CHECK (starts_at <= ends_at),
    CONSTRAINT calling_blackouts_reason_check CHECK (length(btrim(reason)) BETWEEN 1 AND 500),
    CONSTRAINT calling_blackouts_counties_check
        CHECK (cardinality(counties) > 0 AND array_position(counties, NULL) IS NULL)
);
CREATE INDEX calling_blackouts_state_idx ON calling_blackouts (state, ends_at);
COMMENT ON TABLE calling_blackouts IS
    'Declared states of emergency: no call to a lead of the state (address or area code) in [starts_at, ends_at). '
    'Managed with `l2i blackout add|list|end` or sql/admin/blackout_*.sql. Counties are recorded; the whole state '
    'is held (l2i does not know a lead''s county).';
COMMENT ON COLUMN calling_blackouts.ended_at IS 'When an operator ended it early (ends_at was moved to that time).';

-- Adds a blackout; returns it. Queued leads of the state are held by the claim (l2i_call_allowed) and new leads
-- get a not_before after it; nothing else changes.
CREATE FUNCTION l2i_blackout_add(p_state text, p_starts_at timestamptz, p_ends_at timestamptz, p_reason text,
                                 p_counties text[] DEFAULT NULL)
RETURNS SETOF calling_blackouts
LANGUAGE sql AS $$
    INSERT INTO calling_blackouts (state, counties, starts_at, ends_at, reason)
    VALUES (upper(btrim(p_state)), p_counties, coalesce(p_starts_at, now()), p_ends_at, btrim(p_reason))
    RETURNING *
$$;

-- Ends a blackout at p_at (default now) if it runs past it, and releases the state's queued leads that were
-- waiting for its end (not_before from its old end to a day after): their next legal time is computed again.
-- Returns the blackout, with the number of leads released.
CREATE FUNCTION l2i_blackout_end(p_id bigint, p_at timestamptz DEFAULT now())
RETURNS TABLE (id bigint, state text, starts_at timestamptz, ends_at timestamptz, ended_at timestamptz,
               reason text, released bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_old calling_blackouts;
    v_new calling_blackouts;
    v_released bigint := 0;
BEGIN
    SELECT * INTO v_old FROM calling_blackouts AS b WHERE b.id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE calling_blackouts AS b
    SET ends_at = greatest(b.starts_at, p_at), ended_at = p_at
    WHERE b.id = p_id AND b.ends_at > p_at
    RETURNING * INTO v_new;
    IF FOUND THEN
        UPDATE dial_queue AS q
        SET not_before = coalesce(l2i_next_dial_time(q.account_id, q.phone, q.zones, q.states, p_at), q.not_before)
        WHERE q.leased_until IS NULL AND v_old.state = ANY (q.states)
          AND q.not_before >= v_old.ends_at AND q.not_before < v_old.ends_at + interval '1 day';
        GET DIAGNOSTICS v_released = ROW_COUNT;
    ELSE
        v_new := v_old;
    END IF;
    RETURN QUERY SELECT v_new.id, v_new.state, v_new.starts_at, v_new.ends_at, v_new.ended_at, v_new.reason,
                        v_released;
END
$$;

-- ---------------------------------------------------------------------------------------------------------------
-- The dial queue keeps every state whose rules apply to the lead (address state, area code's state).
ALTER TABLE dial_queue ADD COLUMN states text[] NOT NULL DEFAULT '{}';
UPDATE dial_queue SET states = ARRAY[upper(state)] WHERE state IS NOT NULL;
ALTER TABLE dial_queue DROP COLUMN state;
COMMENT ON COLUMN dial_queue.states IS
    'Every state whose calling rules apply to the lead (its address state and its area code''s state).';

-- A claim that the attempt cap defers is an event on the lead's record.
ALTER TABLE lead_events DROP CONSTRAINT lead_events_type_check;
ALTER TABLE lead_events ADD CONSTRAINT lead_events_type_check CHECK (type IN (
    'claimed', 'lease_expired', 'no_answer', 'busy', 'voicemail', 'not_interested', 'not_qualified',
    'wrong_number', 'qualified', 'transferred', 'opted_out', 'removed', 'requeued', 'expired', 'suppressed',
    'dnc', 'consent_expired', 'deferred'));
COMMENT ON COLUMN lead_events.type IS 'The outcome reported, or claimed, lease_expired, removed, requeued, expired, '
    'suppressed, dnc, consent_expired, deferred (an attempt cap moved the next call).';

-- ---------------------------------------------------------------------------------------------------------------
-- Protected opt-outs. Managing the suppression list (listing it, taking numbers off) needs the `suppressions`
-- scope, never implied by `write` (which lead vendors and forms hold; it may still add numbers). An entry with
-- reason opted_out (an opted_out outcome, or a consumer's request sent with that reason) cannot be taken off
-- over the API at all: only sql/admin/opt_out_remove.sql (l2i_opt_out_remove) does it, saying who and why. Every
-- change of the list is a row of suppression_events, written by a trigger, whatever made the change.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['write', 'read', 'dial', 'admin', 'suppressions']::text[]);

CREATE TABLE suppression_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    account_id  uuid        NOT NULL,
    phone       text        NOT NULL,
    type        text        NOT NULL,
    reason      text,
    at          timestamptz NOT NULL DEFAULT now(),
    api_key_id  uuid,
    operator    text,
    why         text,
    db_user     text        NOT NULL DEFAULT session_user,
    CONSTRAINT suppression_events_pkey PRIMARY KEY (id),
    CONSTRAINT suppression_events_type_check CHECK (type IN ('added', 'opted_out', 'removed'))
);
CREATE INDEX suppression_events_account_phone_idx ON suppression_events (account_id, phone, id);
COMMENT ON TABLE suppression_events IS
    'Every change of a suppression list: added, opted_out (an entry became protected), removed; with the API key '
    'or the operator (and database user) that made it, when, and why (an opted_out removal must say).';
INSERT INTO suppression_events (account_id, phone, type, reason, at, db_user)
SELECT account_id, phone, CASE WHEN reason = 'opted_out' THEN 'opted_out' ELSE 'added' END, reason, created_at,
       'migration 0009'
FROM suppressions
ORDER BY created_at;

CREATE FUNCTION l2i_suppressions_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.reason = 'opted_out' AND (TG_OP = 'DELETE' OR NEW.reason IS DISTINCT FROM 'opted_out')
       AND coalesce(current_setting('l2i.opt_out_removal', true), '') <> 'on' THEN
        RAISE EXCEPTION 'number % opted out: only sql/admin/opt_out_remove.sql takes it off (who, why)', OLD.phone
            USING ERRCODE = 'check_violation', CONSTRAINT = 'suppressions_opted_out_protected',
                  TABLE = 'suppressions';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER suppressions_opted_out_protected BEFORE DELETE OR UPDATE ON suppressions
    FOR EACH ROW EXECUTE FUNCTION l2i_suppressions_guard();

CREATE FUNCTION l2i_suppressions_log() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_row suppressions := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reason IS NOT DISTINCT FROM OLD.reason THEN
        RETURN NULL;
    END IF;
    INSERT INTO suppression_events (account_id, phone, type, reason, api_key_id, operator, why)
    VALUES (v_row.account_id, v_row.phone,
            CASE WHEN TG_OP = 'DELETE' THEN 'removed' WHEN v_row.reason = 'opted_out' THEN 'opted_out'
                 ELSE 'added' END,
            v_row.reason, nullif(current_setting('l2i.api_key_id', true), '')::uuid,
            nullif(current_setting('l2i.operator', true), ''), nullif(current_setting('l2i.why', true), ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER suppressions_log AFTER INSERT OR DELETE OR UPDATE OF reason ON suppressions
    FOR EACH ROW EXECUTE FUNCTION l2i_suppressions_log();

-- Adds numbers (any format l2i_e164 accepts) to an account's suppression list and pulls the account's queued
-- (not in-call) leads with those numbers; returns each number with whether it was added now. A number already
-- there with another reason becomes protected when the new reason is opted_out. p_api_key_id: the key that asked.
DROP FUNCTION l2i_suppress(uuid, text[], text);
CREATE FUNCTION l2i_suppress(p_account_id uuid, p_phones text[], p_reason text DEFAULT NULL,
                             p_api_key_id uuid DEFAULT NULL)
RETURNS TABLE (phone text, added boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_bad text;
BEGIN
    SELECT p INTO v_bad FROM unnest(p_phones) AS p WHERE l2i_e164(p) IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'not a phone number: %', v_bad USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('l2i.api_key_id', coalesce(p_api_key_id::text, ''), true);
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         pulled AS (DELETE FROM dial_queue AS q USING wanted AS w
                    WHERE q.account_id = p_account_id AND q.phone = w.e164 AND q.leased_until IS NULL
                    RETURNING q.lead_id),
         held AS (UPDATE leads AS l SET status = 'ineligible', reasons = ARRAY['suppressed'], updated_at = now()
                  FROM pulled WHERE l.id = pulled.lead_id AND l.status = 'new'
                  RETURNING l.id, l.account_id)
    INSERT INTO lead_events (lead_id, account_id, type, from_status, to_status, detail)
    SELECT held.id, held.account_id, 'suppressed', 'new', 'ineligible',
           jsonb_strip_nulls(jsonb_build_object('reason', p_reason))
    FROM held;
    RETURN QUERY
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         ins AS (INSERT INTO suppressions AS s (account_id, phone, reason)
                 SELECT p_account_id, w.e164, p_reason FROM wanted AS w
                 ON CONFLICT ON CONSTRAINT suppressions_pkey DO UPDATE SET reason = excluded.reason
                 WHERE excluded.reason = 'opted_out' AND s.reason IS DISTINCT FROM 'opted_out'
                 RETURNING s.phone AS e164, (s.xmax = 0) AS inserted)
    SELECT w.e164, coalesce(ins.inserted, false) FROM wanted AS w LEFT JOIN ins ON ins.e164 = w.e164 ORDER BY 1;
    PERFORM set_config('l2i.api_key_id', '', true);
END
$$;

-- Takes numbers off an account's suppression list, except opted_out ones; returns each number with whether it was
-- removed and whether it stays because it opted out. p_api_key_id: the key that asked (recorded on the event).
DROP FUNCTION l2i_unsuppress(uuid, text[]);
CREATE FUNCTION l2i_unsuppress(p_account_id uuid, p_phones text[], p_api_key_id uuid DEFAULT NULL)
RETURNS TABLE (phone text, removed boolean, opted_out boolean)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('l2i.api_key_id', coalesce(p_api_key_id::text, ''), true);
    RETURN QUERY
    WITH wanted AS (SELECT DISTINCT l2i_e164(p) AS e164 FROM unnest(p_phones) AS p),
         del AS (DELETE FROM suppressions AS s USING wanted AS w
                 WHERE s.account_id = p_account_id AND s.phone = w.e164 AND s.reason IS DISTINCT FROM 'opted_out'
                 RETURNING s.phone AS e164)
    SELECT w.e164, del.e164 IS NOT NULL,
           EXISTS (SELECT 1 FROM suppressions AS s
                   WHERE s.account_id = p_account_id AND s.phone = w.e164 AND s.reason = 'opted_out')
    FROM wanted AS w LEFT JOIN del ON del.e164 = w.e164
    WHERE w.e164 IS NOT NULL
    ORDER BY 1;
    PERFORM set_config('l2i.api_key_id', '', true);
END
$$;

-- The only way to take an opted_out number off a suppression list (sql/admin/opt_out_remove.sql): the operator
-- names themself and says why (e.g. the consumer gave new written consent on a date); both go on the event with
-- the database user and the time. Returns the number and whether it was removed.
CREATE FUNCTION l2i_opt_out_remove(p_account_id uuid, p_phone text, p_operator text, p_why text)
RETURNS TABLE (phone text, removed boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_phone text := l2i_e164(p_phone);
    v_removed boolean;
BEGIN
    IF v_phone IS NULL THEN
        RAISE EXCEPTION 'not a phone number: %', p_phone USING ERRCODE = '22023';
    END IF;
    IF length(btrim(coalesce(p_operator, ''))) = 0 OR length(btrim(coalesce(p_why, ''))) = 0 THEN
        RAISE EXCEPTION 'say who you are (operator) and why the opt-out is lifted (why)' USING ERRCODE = '22023';
    END IF;
    PERFORM set_config('l2i.opt_out_removal', 'on', true);
    PERFORM set_config('l2i.operator', btrim(p_operator), true);
    PERFORM set_config('l2i.why', btrim(p_why), true);
    DELETE FROM suppressions AS s WHERE s.account_id = p_account_id AND s.phone = v_phone AND s.reason = 'opted_out';
    v_removed := FOUND;
    PERFORM set_config('l2i.opt_out_removal', '', true);
    PERFORM set_config('l2i.operator', '', true);
    PERFORM set_config('l2i.why', '', true);
    RETURN QUERY SELECT v_phone, v_removed;
END
$$;
