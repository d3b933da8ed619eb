"""Legal calling windows (sql/migrations/0002_calling_rules.sql, reviewed and dated by 0009), against a real
PostgreSQL. The one-state forms of the functions; tests/test_calling_oracle.py compares the several-state forms
with an independent implementation of the reviewed table.

The clock is never read: every test passes explicit instants, written with their UTC offset, and
compares exact instants. Uses the `db` fixture from tests/conftest.py (psycopg 3, autocommit, all
migrations applied). Tests that change rule rows do it inside a transaction that is rolled back.
"""

from datetime import datetime

import psycopg
import pytest

NY = "America/New_York"
CHI = "America/Chicago"
DEN = "America/Denver"
PHX = "America/Phoenix"
LAX = "America/Los_Angeles"

HOLIDAY_STATES = {"AL", "LA", "PA", "RI", "UT"}


def ts(text):
    """An aware datetime from ISO text that carries its offset, e.g. '2026-11-24 08:00-05:00'."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def allowed(db, zones, state, at):
    return db.execute(
        "SELECT l2i_call_allowed(%s::text[], %s::text, %s::timestamptz)", (zones, state, at)
    ).fetchone()[0]


def next_time(db, zones, state, after):
    return db.execute(
        "SELECT l2i_next_call_time(%s::text[], %s::text, %s::timestamptz)", (zones, state, after)
    ).fetchone()[0]


# --- seeded data and constraints -----------------------------------------------------------------


def test_every_state_dc_and_territory_is_seeded(db):
    states = [row[0] for row in db.execute("SELECT DISTINCT state FROM calling_rules ORDER BY state")]
    assert len(states) == 56
    assert {"DC", "PR", "VI", "GU", "MP", "AS"} <= set(states)


@pytest.mark.parametrize(
    "state, expected",
    [
        # state: (all_tzs, weekday, saturday, sunday, holidays_banned)
        ("CA", ([LAX], "09:00-21:00", "09:00-21:00", "09:00-21:00", False)),
        ("CT", ([NY], "09:00-20:00", "09:00-20:00", "09:00-20:00", False)),
        ("FL", ([NY, CHI], "08:00-20:00", "08:00-20:00", "08:00-20:00", False)),
        ("AL", ([CHI, NY], "08:00-20:00", "08:00-20:00", None, True)),
        ("MS", ([CHI], "08:00-20:00", "08:00-20:00", None, False)),  # on a fixed UTC-06:00 clock
        ("PA", ([NY], "09:00-19:00", "09:00-19:00", None, True)),  # Act 47 of 2026
        ("OR", ([LAX, "America/Boise"], "08:00-20:00", "08:00-20:00", "08:00-20:00", False)),
        ("WY", ([DEN], "08:00-20:00", "08:00-20:00", "08:00-20:00", False)),
        ("RI", ([NY], "09:00-18:00", "10:00-17:00", None, True)),
        ("TX", ([CHI, DEN], "09:00-21:00", "09:00-21:00", "12:00-21:00", False)),
        ("MI", (["America/Detroit", "America/Menominee"], "09:00-21:00", "09:00-21:00", "09:00-21:00", False)),
        ("NY", ([NY], "08:00-21:00", "08:00-21:00", "08:00-21:00", False)),
    ],
)
def test_seeded_rule_rows(db, state, expected):
    row = db.execute(
        """
        SELECT all_tzs,
               to_char(weekday_start, 'HH24:MI') || '-' || to_char(weekday_end, 'HH24:MI'),
               to_char(saturday_start, 'HH24:MI') || '-' || to_char(saturday_end, 'HH24:MI'),
               to_char(sunday_start, 'HH24:MI') || '-' || to_char(sunday_end, 'HH24:MI'),
               holidays_banned
        FROM calling_rules WHERE state = %s ORDER BY effective_from DESC LIMIT 1
        """,
        (state,),
    ).fetchone()
    assert row == expected


def test_every_seeded_zone_is_known_to_postgres(db):
    unknown = db.execute(
        """
        SELECT r.state, z.zone
        FROM calling_rules AS r CROSS JOIN unnest(r.all_tzs) AS z(zone)
        WHERE z.zone NOT IN (SELECT name FROM pg_timezone_names)
        """
    ).fetchall()
    assert unknown == []


def test_holiday_rules_exist_only_for_holiday_states(db):
    rules = {state for (state,) in db.execute("SELECT DISTINCT state FROM calling_holiday_rules")}
    banning = {state for (state, banned) in db.execute(
        "SELECT DISTINCT ON (state) state, holidays_banned FROM calling_rules ORDER BY state, effective_from DESC")
        if banned}
    assert rules == banning == HOLIDAY_STATES
    # 0002's list of dates that ran out in 2040 is gone; rules cover any year.
    assert db.execute("SELECT count(*) FROM calling_holidays").fetchone()[0] == 0
    assert [str(d) for (d,) in db.execute(
        "SELECT day FROM l2i_holiday_days('UT', '2187-01-01', '2187-12-31') WHERE name = 'Pioneer Day'")] == [
        "2187-07-24"]


@pytest.mark.parametrize(
    "day, name",
    [
        ("2026-01-01", "New Year's Day"),
        ("2026-05-25", "Memorial Day"),  # last Monday of May (May 31 2026 is a Sunday)
        ("2026-07-03", "Independence Day (observed)"),  # Jul 4 2026 is a Saturday
        ("2026-07-04", "Independence Day"),
        ("2026-09-07", "Labor Day"),
        ("2026-11-26", "Thanksgiving Day"),
        ("2026-12-25", "Christmas Day"),
        ("2027-05-31", "Memorial Day"),  # May 31 2027 is itself the last Monday
        ("2027-07-05", "Independence Day (observed)"),  # Jul 4 2027 is a Sunday
        ("2027-09-06", "Labor Day"),
        ("2027-11-25", "Thanksgiving Day"),
        ("2027-12-24", "Christmas Day (observed)"),  # Dec 25 2027 is a Saturday
        ("2027-12-31", "New Year's Day (observed)"),  # Jan 1 2028 is a Saturday
        ("2032-11-25", "Thanksgiving Day"),  # Nov 1 2032 is a Monday
        ("2040-09-03", "Labor Day"),  # Sep 1 2040 is a Saturday
    ],
)
def test_holiday_dates_by_rule(db, day, name):
    names = db.execute("SELECT name FROM l2i_holiday_days('UT', %s::date, %s::date)", (day, day)).fetchall()
    assert names == [(name,)]


@pytest.mark.parametrize("day", ["2026-11-27", "2026-12-24", "2026-12-26", "2027-01-02"])
def test_no_holiday_on_ordinary_days(db, day):
    for state in HOLIDAY_STATES - {"LA"}:  # Louisiana also bans the day after Thanksgiving (2026-11-27)
        assert db.execute("SELECT count(*) FROM l2i_holiday_days(%s, %s::date, %s::date)",
                          (state, day, day)).fetchone()[0] == 0


RULE_COLUMNS = (
    "state", "primary_tz", "all_tzs", "weekday_start", "weekday_end", "saturday_start", "saturday_end",
    "sunday_start", "sunday_end", "holidays_banned", "effective_from", "citation", "confidence",
)
VALID_RULE = {
    "state": "ZZ", "primary_tz": CHI, "all_tzs": [CHI], "weekday_start": "08:00", "weekday_end": "21:00",
    "saturday_start": "08:00", "saturday_end": "21:00", "sunday_start": None, "sunday_end": None,
    "holidays_banned": False, "effective_from": "2000-01-01", "citation": "test", "confidence": "low",
}


def insert_rule(db, **changes):
    row = {**VALID_RULE, **changes}
    db.execute(
        "INSERT INTO calling_rules ({}) VALUES ({})".format(
            ", ".join(RULE_COLUMNS),
            ", ".join(
                f"%({c})s::text[]" if c == "all_tzs" else f"%({c})s::time" if c.endswith(("_start", "_end"))
                else f"%({c})s::date" if c == "effective_from" else f"%({c})s"
                for c in RULE_COLUMNS
            ),
        ),
        row,
    )


def test_a_valid_rule_row_is_accepted(db):
    with db.transaction():
        insert_rule(db)
        assert allowed(db, [CHI], "ZZ", ts("2026-11-29 12:00-06:00")) is False  # Sunday NULL = banned
        raise psycopg.Rollback()


@pytest.mark.parametrize(
    "changes, error, constraint",
    [
        ({"state": "CA"}, psycopg.errors.UniqueViolation, "calling_rules_pkey"),
        ({"state": "zz"}, psycopg.errors.CheckViolation, "calling_rules_state_check"),
        ({"state": "ZZZ"}, psycopg.errors.CheckViolation, "calling_rules_state_check"),
        ({"all_tzs": [CHI, None]}, psycopg.errors.CheckViolation, "calling_rules_all_tzs_check"),
        ({"primary_tz": DEN}, psycopg.errors.CheckViolation, "calling_rules_primary_tz_check"),
        ({"weekday_start": "21:00"}, psycopg.errors.CheckViolation, "calling_rules_weekday_window_check"),
        ({"saturday_end": "08:00"}, psycopg.errors.CheckViolation, "calling_rules_saturday_window_check"),
        ({"sunday_start": "12:00"}, psycopg.errors.CheckViolation, "calling_rules_sunday_window_check"),
        ({"sunday_end": "12:00"}, psycopg.errors.CheckViolation, "calling_rules_sunday_window_check"),
        (
            {"sunday_start": "13:00", "sunday_end": "12:00"},
            psycopg.errors.CheckViolation,
            "calling_rules_sunday_window_check",
        ),
        ({"confidence": "sure"}, psycopg.errors.CheckViolation, "calling_rules_confidence_check"),
        ({"citation": " "}, psycopg.errors.CheckViolation, "calling_rules_citation_check"),
    ],
)
def test_rule_constraints_are_named(db, changes, error, constraint):
    with pytest.raises(error) as caught:
        with db.transaction():
            insert_rule(db, **changes)
    assert caught.value.diag.constraint_name == constraint


def test_empty_zone_list_is_rejected(db):
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        with db.transaction():
            insert_rule(db, all_tzs=[])
    assert caught.value.diag.constraint_name in {"calling_rules_all_tzs_check", "calling_rules_primary_tz_check"}


@pytest.mark.parametrize(
    "row, error, constraint",
    [
        (("zz", "2026-12-25", "x"), psycopg.errors.CheckViolation, "calling_holidays_state_check"),
        (("UT", "2026-12-28", "again"), psycopg.errors.UniqueViolation, "calling_holidays_pkey"),
    ],
)
def test_holiday_constraints_are_named(db, row, error, constraint):
    with pytest.raises(error) as caught:
        with db.transaction():
            db.execute("INSERT INTO calling_holidays (state, day, name) VALUES ('UT', '2026-12-28', 'proclaimed')")
            db.execute("INSERT INTO calling_holidays (state, day, name) VALUES (%s, %s::date, %s)", row)
    assert caught.value.diag.constraint_name == constraint


# --- l2i_call_allowed ----------------------------------------------------------------------------

# 2026-11-24 is a Tuesday (EST = UTC-5, CST = UTC-6, MST = UTC-7, PST = UTC-8).


@pytest.mark.parametrize("state", [None, "NY", "PR"])
@pytest.mark.parametrize(
    "at, expected",
    [
        ("2026-11-24 07:59:59-05:00", False),
        ("2026-11-24 08:00:00-05:00", True),
        ("2026-11-24 20:59:59.999999-05:00", True),
        ("2026-11-24 21:00:00-05:00", False),
        ("2026-11-24 23:30:00-05:00", False),
        ("2026-11-24 03:00:00-05:00", False),
    ],
)
def test_federal_window_boundaries(db, state, at, expected):
    assert allowed(db, [NY], state, ts(at)) is expected


@pytest.mark.parametrize(
    "zones, state, at, expected",
    [
        ([LAX], "CA", "2026-11-24 08:59:59-08:00", False),
        ([LAX], "CA", "2026-11-24 09:00:00-08:00", True),
        ([LAX], "CA", "2026-11-24 20:59:59-08:00", True),
        ([LAX], "ca", "2026-11-24 08:30:00-08:00", False),  # state code is upper-cased
        ([NY], "CT", "2026-11-24 19:59:59-05:00", True),
        ([NY], "CT", "2026-11-24 20:00:00-05:00", False),
        ([NY, CHI], "KY", "2026-11-24 10:00:00-05:00", False),  # 09:00 in Chicago
        ([NY, CHI], "KY", "2026-11-24 10:00:00-06:00", True),
        # Rhode Island: Saturday 10:00-17:00 (2026-11-28 is a Saturday)
        ([NY], "RI", "2026-11-28 09:59:59-05:00", False),
        ([NY], "RI", "2026-11-28 10:00:00-05:00", True),
        ([NY], "RI", "2026-11-28 17:00:00-05:00", False),
        ([NY], "RI", "2026-11-24 17:59:59-05:00", True),
        ([NY], "RI", "2026-11-24 18:00:00-05:00", False),
    ],
)
def test_state_windows_narrow_the_federal_one(db, zones, state, at, expected):
    assert allowed(db, zones, state, ts(at)) is expected


@pytest.mark.parametrize(
    "zones, state, at, expected",
    [
        ([CHI, NY], "AL", "2026-11-29 12:00:00-06:00", False),  # Sunday
        ([CHI, NY], "AL", "2026-11-28 12:00:00-06:00", True),  # Saturday
        ([CHI], "LA", "2026-11-29 12:00:00-06:00", False),
        ([CHI], "LA", "2026-11-30 08:00:00-06:00", True),  # Monday
        ([CHI], "MS", "2026-11-29 15:00:00-06:00", False),
        ([NY], "RI", "2026-11-29 12:00:00-05:00", False),
        ([DEN], "UT", "2026-11-29 12:00:00-07:00", False),
        ([NY], None, "2026-11-29 08:00:00-05:00", True),  # federal only: Sunday allowed
    ],
)
def test_sunday_bans(db, zones, state, at, expected):
    assert allowed(db, zones, state, ts(at)) is expected


@pytest.mark.parametrize(
    "zones, state, at, expected",
    [
        ([CHI], "TX", "2026-11-29 11:59:59-06:00", False),
        ([CHI], "TX", "2026-11-29 12:00:00-06:00", True),
        ([CHI], "TX", "2026-11-29 20:59:59-06:00", True),
        ([CHI], "TX", "2026-11-29 21:00:00-06:00", False),
        ([CHI], "TX", "2026-11-30 09:00:00-06:00", True),  # weekday 09:00
        ([CHI, DEN], "TX", "2026-11-29 12:00:00-06:00", False),  # 11:00 in Denver
        ([CHI, DEN], "TX", "2026-11-29 13:00:00-06:00", True),
        # Pennsylvania before Act 47 of 2026 (in force 2026-10-18): Sunday 13:30-21:00, 08:00 on weekdays
        ([NY], "PA", "2026-10-11 13:29:59-04:00", False),
        ([NY], "PA", "2026-10-11 13:30:00-04:00", True),
        ([NY], "PA", "2026-10-10 08:00:00-04:00", True),  # Saturday
        ([NY], "PA", "2026-10-13 08:00:00-04:00", True),
        ([NY], "PA", "2026-10-13 20:30:00-04:00", True),
        # and after: 09:00-19:00, never on Sunday
        ([NY], "PA", "2026-11-29 13:30:00-05:00", False),
        ([NY], "PA", "2026-11-28 08:00:00-05:00", False),
        ([NY], "PA", "2026-11-28 09:00:00-05:00", True),
        ([NY], "PA", "2026-11-24 18:59:59-05:00", True),
        ([NY], "PA", "2026-11-24 19:00:00-05:00", False),
    ],
)
def test_sunday_windows(db, zones, state, at, expected):
    assert allowed(db, zones, state, ts(at)) is expected


@pytest.mark.parametrize(
    "state, at, expected",
    [
        ("UT", "2026-12-24 12:00:00-07:00", True),  # Thursday
        ("UT", "2026-12-25 12:00:00-07:00", False),  # Christmas, Friday
        ("UT", "2026-12-25 08:00:00-07:00", False),
        ("UT", "2026-12-26 08:00:00-07:00", True),  # Saturday after
        ("UT", "2026-07-03 12:00:00-06:00", False),  # observed: Jul 4 2026 is a Saturday
        ("UT", "2026-07-04 12:00:00-06:00", False),
        ("UT", "2027-12-24 12:00:00-07:00", False),  # observed: Dec 25 2027 is a Saturday
        ("UT", "2027-12-25 12:00:00-07:00", False),
        ("UT", "2027-12-31 12:00:00-07:00", False),  # observed New Year's Day 2028
        ("UT", "2026-11-26 12:00:00-07:00", False),  # Thanksgiving
        ("UT", "2026-11-27 12:00:00-07:00", True),
        ("CO", "2026-12-25 12:00:00-07:00", True),  # same zone, no holiday ban
        (None, "2026-12-25 12:00:00-07:00", True),
    ],
)
def test_holidays(db, state, at, expected):
    assert allowed(db, [DEN], state, ts(at)) is expected


@pytest.mark.parametrize(
    "at, expected",
    [
        ("2026-12-25 03:30:00+00:00", True),  # UTC date is Christmas, Utah is still Dec 24 20:30
        ("2026-12-26 03:30:00+00:00", False),  # UTC date Dec 26, Utah is Christmas 20:30
    ],
)
def test_holiday_is_the_local_date_not_the_utc_date(db, at, expected):
    assert allowed(db, [DEN], "UT", ts(at)) is expected


@pytest.mark.parametrize(
    "at, expected",
    [
        ("2026-11-24 08:00:00-05:00", False),  # 07:00 in Chicago
        ("2026-11-24 08:59:59-05:00", False),
        ("2026-11-24 09:00:00-05:00", True),  # 08:00 in Chicago
        ("2026-11-24 19:59:59-05:00", True),
        ("2026-11-24 20:00:00-05:00", False),  # FL ends at 20:00 in New York (19:00 Chicago)
    ],
)
def test_multi_zone_state_must_be_legal_in_every_zone(db, at, expected):
    assert allowed(db, [NY, CHI], "FL", ts(at)) is expected
    assert allowed(db, [CHI, NY], "FL", ts(at)) is expected


@pytest.mark.parametrize(
    "zones, at, expected",
    [
        ([CHI, DEN], "2026-11-24 08:59:59-06:00", False),
        ([CHI, DEN], "2026-11-24 09:00:00-06:00", True),
        ([CHI, DEN], "2026-11-24 20:59:59-06:00", True),
        ([CHI, DEN], "2026-11-24 21:00:00-06:00", False),
        (["America/Puerto_Rico"], "2026-11-29 08:00:00-04:00", True),
        (["Pacific/Honolulu"], "2026-11-24 07:59:59-10:00", False),
    ],
)
def test_lead_without_state_uses_zones_only(db, zones, at, expected):
    assert allowed(db, zones, None, ts(at)) is expected


@pytest.mark.parametrize("zones", [[], None, [None], [NY, None]])
def test_no_usable_zone_fails_closed(db, zones):
    at = ts("2026-11-24 12:00:00-05:00")
    assert allowed(db, zones, None, at) is False
    assert allowed(db, zones, "NY", at) is False
    assert next_time(db, zones, "NY", at) is None


def test_null_instant_fails_closed(db):
    assert allowed(db, [NY], "NY", None) is False
    assert next_time(db, [NY], "NY", None) is None


def test_unknown_zone_name_is_an_error(db):
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        allowed(db, ["Mars/Olympus_Mons"], None, ts("2026-11-24 12:00:00-05:00"))
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        next_time(db, ["Mars/Olympus_Mons"], None, ts("2026-11-24 12:00:00-05:00"))


@pytest.mark.parametrize(
    "at, expected",
    [
        # fall back 2026-11-01 02:00 EDT -> 01:00 EST: 08:00 local is 13:00Z, not 12:00Z
        ("2026-11-01 12:00:00+00:00", False),
        ("2026-11-01 12:59:59+00:00", False),
        ("2026-11-01 13:00:00+00:00", True),
        ("2026-11-01 01:59:59+00:00", False),  # Oct 31 21:59:59 EDT
        ("2026-11-01 00:59:59+00:00", True),  # Oct 31 20:59:59 EDT
        # spring forward 2027-03-14 02:00 EST -> 03:00 EDT: 08:00 local is 12:00Z, not 13:00Z
        ("2027-03-14 11:59:59+00:00", False),
        ("2027-03-14 12:00:00+00:00", True),
        ("2027-03-15 00:59:59+00:00", True),  # Mar 14 20:59:59 EDT
        ("2027-03-15 01:00:00+00:00", False),  # Mar 14 21:00 EDT
    ],
)
def test_dst_days_in_new_york(db, at, expected):
    assert allowed(db, [NY], None, ts(at)) is expected


# --- l2i_next_call_time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zones, state, after",
    [
        ([NY], None, "2026-11-24 15:17:42.123456+00:00"),
        ([NY], None, "2026-11-24 08:00:00-05:00"),
        ([NY, CHI], "FL", "2026-11-24 09:00:00-05:00"),
        ([NY], "PA", "2026-10-11 13:30:00-04:00"),
        ([NY], "PA", "2026-11-30 09:00:00-05:00"),
        ([CHI], "TX", "2026-11-29 20:59:59.999999-06:00"),
    ],
)
def test_next_is_the_instant_itself_when_already_legal(db, zones, state, after):
    assert next_time(db, zones, state, ts(after)) == ts(after)


@pytest.mark.parametrize(
    "zones, states",
    [
        ([CHI, DEN], ["TX"]),  # a state on two zones, Sunday noon opening
        ([NY], ["PA", "NY"]),  # holidays (PA) and two states at once
        ([LAX], ["CA", "OR"]),
        ([CHI], ["MS"]),  # a rule on a fixed clock (clock_utc_offset)
        ([NY, LAX], []),  # the federal window over zones three hours apart
    ],
)
def test_the_fast_path_answers_as_the_search(db, zones, states):
    """l2i_next_call_time answers p_after itself when l2i_call_allowed says it is legal, and otherwise asks
    l2i_next_call_time_search (migration 0012): over 2027, every 97 minutes (all hours, days and DST changes), the
    two must agree on every instant."""
    disagreements = db.execute(
        """SELECT count(*) FILTER (WHERE l2i_next_call_time(%(z)s::text[], %(s)s::text[], t)
                                         IS DISTINCT FROM l2i_next_call_time_search(%(z)s::text[], %(s)s::text[], t)),
                  count(*) FILTER (WHERE l2i_next_call_time(%(z)s::text[], %(s)s::text[], t) > t)
           FROM generate_series(timestamptz '2027-01-01 00:00+00', '2027-12-31 23:59+00', interval '97 minutes') AS t""",
        {"z": zones, "s": states}).fetchone()
    assert disagreements[0] == 0
    assert disagreements[1] > 1000  # most instants of a year are outside every window: the search answered them


@pytest.mark.parametrize(
    "zones, state, after, expected",
    [
        # federal: before opening, at closing, after closing, Friday night -> Saturday
        ([NY], None, "2026-11-24 07:59:59-05:00", "2026-11-24 08:00:00-05:00"),
        ([NY], None, "2026-11-24 21:00:00-05:00", "2026-11-25 08:00:00-05:00"),
        ([NY], None, "2026-11-24 23:59:59-05:00", "2026-11-25 08:00:00-05:00"),
        ([NY], None, "2026-11-27 21:00:00-05:00", "2026-11-28 08:00:00-05:00"),
        # state windows
        ([LAX], "CA", "2026-11-24 08:00:00-08:00", "2026-11-24 09:00:00-08:00"),
        ([NY], "CT", "2026-11-24 20:00:00-05:00", "2026-11-25 09:00:00-05:00"),
        ([NY], "RI", "2026-11-27 18:00:00-05:00", "2026-11-28 10:00:00-05:00"),  # Fri -> Sat 10:00
        # multi-zone: the later zone opens last, the earlier zone closes first
        ([NY, CHI], "FL", "2026-11-24 08:00:00-05:00", "2026-11-24 08:00:00-06:00"),
        ([NY, CHI], "FL", "2026-11-24 20:00:00-05:00", "2026-11-25 08:00:00-06:00"),
        ([CHI, DEN], None, "2026-11-24 05:00:00-06:00", "2026-11-24 08:00:00-07:00"),
        ([CHI, DEN], "TX", "2026-11-29 08:00:00-06:00", "2026-11-29 12:00:00-07:00"),  # Sunday
        # Saturday night in a Sunday-banned state -> Monday's start
        ([CHI, NY], "AL", "2026-11-28 20:00:00-06:00", "2026-11-30 08:00:00-06:00"),
        ([CHI], "LA", "2026-11-28 19:59:59-06:00", "2026-11-28 19:59:59-06:00"),
        ([CHI], "LA", "2026-11-28 20:00:00-06:00", "2026-11-30 08:00:00-06:00"),
        ([NY], "RI", "2026-11-28 17:00:00-05:00", "2026-11-30 09:00:00-05:00"),
        ([NY], "PA", "2026-10-10 21:00:00-04:00", "2026-10-11 13:30:00-04:00"),  # Sunday window before Act 47
        ([NY], "PA", "2026-11-28 19:00:00-05:00", "2026-11-30 09:00:00-05:00"),  # none after it
        # holidays
        ([DEN], "UT", "2026-12-24 21:00:00-07:00", "2026-12-26 08:00:00-07:00"),  # skip Christmas (Fri)
        ([DEN], "UT", "2026-07-02 21:00:00-06:00", "2026-07-06 08:00:00-06:00"),  # Fri obs, Sat, Sun
        ([DEN], "UT", "2027-12-23 21:00:00-07:00", "2027-12-27 08:00:00-07:00"),  # Fri obs, Sat, Sun
        ([NY], "PA", "2027-12-23 21:00:00-05:00", "2027-12-27 09:00:00-05:00"),  # Fri obs, Sat, Sunday
        ([DEN], "CO", "2026-12-24 21:00:00-07:00", "2026-12-25 08:00:00-07:00"),  # no holiday ban
        # no state, zones only
        (["America/Puerto_Rico"], "PR", "2026-11-24 21:00:00-04:00", "2026-11-25 08:00:00-04:00"),
        (["America/Anchorage", "America/Adak"], "AK", "2026-11-24 07:00:00-09:00", "2026-11-24 08:00:00-10:00"),
    ],
)
def test_next_call_time(db, zones, state, after, expected):
    assert next_time(db, zones, state, ts(after)) == ts(expected)


@pytest.mark.parametrize(
    "zones, state, after, expected",
    [
        # fall back (Sunday 2026-11-01): 08:00 EST = 13:00Z; Saturday night 21:00 EDT = 01:00Z
        ([NY], None, "2026-11-01 01:00:00+00:00", "2026-11-01 13:00:00+00:00"),
        ([NY], None, "2026-11-01 05:30:00+00:00", "2026-11-01 13:00:00+00:00"),  # 01:30 EDT
        ([NY], None, "2026-11-01 06:30:00+00:00", "2026-11-01 13:00:00+00:00"),  # 01:30 EST, repeated hour
        ([NY], "PA", "2026-11-01 01:00:00+00:00", "2026-11-02 14:00:00+00:00"),  # Mon 09:00 EST
        ([NY], "PA", "2026-10-31 12:00:00+00:00", "2026-10-31 13:00:00+00:00"),  # 09:00 EDT Saturday
        ([NY], "RI", "2026-10-31 21:00:00+00:00", "2026-11-02 14:00:00+00:00"),  # Sat 17:00 EDT -> Mon 09:00 EST
        # spring forward (Sunday 2027-03-14): 08:00 EDT = 12:00Z; Saturday night 21:00 EST = 02:00Z
        ([NY], None, "2027-03-14 02:00:00+00:00", "2027-03-14 12:00:00+00:00"),
        ([NY], None, "2027-03-14 07:00:00+00:00", "2027-03-14 12:00:00+00:00"),  # 03:00 EDT, just jumped
        ([NY], "PA", "2027-03-14 02:00:00+00:00", "2027-03-15 13:00:00+00:00"),  # Mon 09:00 EDT
        ([NY], "RI", "2027-03-13 22:00:00+00:00", "2027-03-15 13:00:00+00:00"),  # Sat 17:00 EST -> Mon 09:00 EDT
        # Phoenix keeps MST while Denver moves to MDT: after the change Phoenix opens an hour later (UTC)
        ([PHX, DEN], "AZ", "2027-03-13 14:00:00+00:00", "2027-03-13 15:00:00+00:00"),
        ([PHX, DEN], "AZ", "2027-03-15 14:00:00+00:00", "2027-03-15 15:00:00+00:00"),
        ([PHX, DEN], "AZ", "2027-03-15 03:00:00+00:00", "2027-03-15 15:00:00+00:00"),  # 21:00 MDT Sunday
        ([PHX, DEN], "AZ", "2027-03-15 02:59:59+00:00", "2027-03-15 02:59:59+00:00"),
    ],
)
def test_next_call_time_across_dst(db, zones, state, after, expected):
    assert next_time(db, zones, state, ts(after)) == ts(expected)


def test_next_is_null_beyond_the_horizon(db):
    with db.transaction():
        db.execute(
            """
            INSERT INTO calling_holidays (state, day, name)
            SELECT 'NY', d::date, 'test' FROM generate_series(date '2026-11-24', date '2026-12-15', '1 day') AS d
            """
        )
        assert next_time(db, [NY], "NY", ts("2026-11-24 12:00:00-05:00")) is None
        db.execute("DELETE FROM calling_holidays WHERE state = 'NY' AND day >= '2026-12-08'")
        assert next_time(db, [NY], "NY", ts("2026-11-24 12:00:00-05:00")) == ts("2026-12-08 08:00:00-05:00")
        raise psycopg.Rollback()


def test_operators_change_rules_with_sql(db):
    at = ts("2026-11-24 09:30:00-08:00")
    assert allowed(db, [LAX], "CA", at) is True
    with db.transaction():
        db.execute("UPDATE calling_rules SET weekday_start = '10:00', updated_at = now() WHERE state = 'CA'")
        assert allowed(db, [LAX], "CA", at) is False
        assert next_time(db, [LAX], "CA", at) == ts("2026-11-24 10:00:00-08:00")
        # a state window wider than the federal one does not widen it
        db.execute("UPDATE calling_rules SET weekday_start = '06:00', weekday_end = '23:00' WHERE state = 'CA'")
        assert allowed(db, [LAX], "CA", ts("2026-11-24 07:30:00-08:00")) is False
        assert allowed(db, [LAX], "CA", ts("2026-11-24 21:00:00-08:00")) is False
        assert next_time(db, [LAX], "CA", ts("2026-11-24 06:00:00-08:00")) == ts("2026-11-24 08:00:00-08:00")
        # a holiday row bans the day even for a state without holidays_banned
        db.execute("INSERT INTO calling_holidays (state, day, name) VALUES ('CA', '2026-11-24', 'test')")
        assert allowed(db, [LAX], "CA", at) is False
        assert next_time(db, [LAX], "CA", at) == ts("2026-11-25 08:00:00-08:00")
        raise psycopg.Rollback()
    assert allowed(db, [LAX], "CA", at) is True


@pytest.mark.parametrize(
    "zones, state, start",
    [
        ([NY, CHI], "FL", "2026-11-20"),  # Thanksgiving week, no holiday ban
        ([CHI, NY], "AL", "2027-12-18"),  # Christmas and New Year's Day on Saturdays
        ([DEN], "UT", "2026-06-27"),  # Independence Day on a Saturday
        ([NY], "PA", "2027-03-06"),  # spring forward, Sunday 13:30
        ([CHI, DEN], "TX", "2026-10-26"),  # fall back, Sunday 12:00
        ([NY], "RI", "2026-10-26"),  # fall back, Saturday 10:00-17:00, Sunday banned
        ([PHX, DEN], None, "2027-03-06"),  # a zone without DST next to one with it
        (["America/Anchorage", "America/Adak"], "AK", "2026-10-26"),
        (["America/Detroit", "America/Menominee"], "MI", "2027-03-06"),
    ],
)
def test_next_matches_a_brute_force_scan(db, zones, state, start):
    """Every window bound is on a 5-minute grid, so the first legal grid point at or after a grid
    point p is exactly the answer for p. Scan three weeks, compare the first two."""
    rows = db.execute(
        """
        WITH grid AS (
            SELECT g AS t, l2i_call_allowed(%(zones)s::text[], %(state)s::text, g) AS ok
            FROM generate_series(%(start)s::timestamptz, %(start)s::timestamptz + interval '21 days',
                                 interval '5 minutes') AS g
        ), brute AS (
            SELECT t, ok, min(t) FILTER (WHERE ok) OVER (ORDER BY t DESC) AS expected
            FROM grid
        )
        SELECT t, ok, expected, l2i_next_call_time(%(zones)s::text[], %(state)s::text, t) AS got
        FROM brute
        WHERE t < %(start)s::timestamptz + interval '14 days'
        ORDER BY t
        """,
        {"zones": zones, "state": state, "start": start + " 00:00:00+00:00"},
    ).fetchall()
    assert len(rows) == 14 * 24 * 12
    assert all(expected is not None for _t, _ok, expected, _got in rows)
    assert 0 < sum(ok for _t, ok, _e, _g in rows) < len(rows)
    mismatches = [(t, expected, got) for t, _ok, expected, got in rows if got != expected]
    assert mismatches == []
