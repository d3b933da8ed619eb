-- The calling rule of a state in force at a time (default now): window, clock, attempt cap, citation, the year's
-- banned days, blackouts not over yet, and the dates of the state's other rule rows.
--   psql -v state=PA [-v at='2026-12-06 12:00-05'] -f sql/admin/rules_show.sql
\if :{?at}
\else
\set at ''
\endif
SELECT r.state, r.effective_from, t.at,
       to_char(r.weekday_start, 'HH24:MI') || '-' || to_char(r.weekday_end, 'HH24:MI') AS weekdays,
       to_char(r.saturday_start, 'HH24:MI') || '-' || to_char(r.saturday_end, 'HH24:MI') AS saturday,
       coalesce(to_char(r.sunday_start, 'HH24:MI') || '-' || to_char(r.sunday_end, 'HH24:MI'), 'no calls') AS sunday,
       coalesce('fixed UTC' || CASE WHEN r.clock_utc_offset < interval '0' THEN '' ELSE '+' END
                || regexp_replace(r.clock_utc_offset::text, ':00$', ''), 'local time') AS clock,
       coalesce(r.max_calls_24h::text, 'none') AS max_calls_24h, r.holidays_banned, array_to_string(r.all_tzs, ', ')
           AS zones, r.citation, r.confidence,
       (SELECT string_agg(h.day || ' ' || h.name, '; ' ORDER BY h.day, h.name)
        FROM l2i_holiday_days(r.state, make_date(extract(year FROM t.at)::integer, 1, 1),
                              make_date(extract(year FROM t.at)::integer, 12, 31)) AS h
        WHERE r.holidays_banned OR NOT h.by_rule) AS banned_days,
       (SELECT string_agg('#' || b.id || ' ' || b.starts_at || ' to ' || b.ends_at || ': ' || b.reason, '; '
                          ORDER BY b.starts_at)
        FROM calling_blackouts AS b WHERE b.state = r.state AND b.ends_at > t.at) AS blackouts,
       (SELECT string_agg(o.effective_from::text, ', ' ORDER BY o.effective_from)
        FROM calling_rules AS o WHERE o.state = r.state AND o.effective_from <> r.effective_from) AS other_rows
FROM (SELECT coalesce(NULLIF(:'at', '')::timestamptz, now()) AS at) AS t
CROSS JOIN LATERAL (SELECT cr.* FROM calling_rules AS cr
                    WHERE cr.state = upper(btrim(:'state'))
                      AND cr.effective_from <= (t.at AT TIME ZONE cr.primary_tz)::date
                    ORDER BY cr.effective_from DESC LIMIT 1) AS r;
