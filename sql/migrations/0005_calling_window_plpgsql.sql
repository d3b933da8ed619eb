-- 0005_calling_window_plpgsql: the calling-window functions of 0002, same queries, as PL/pgSQL.
--
-- Why: a LANGUAGE sql function that PostgreSQL cannot inline (these cannot: they hold CTEs and aggregates) is
-- planned anew on every call; PL/pgSQL keeps its plan for the session. l2i_next_call_time runs inside every
-- intake, so this was the largest cost of the intake statement: about 1 ms of database CPU per call under load.
-- Measured with bench/run.py (the calls alone: 3,900/s as SQL, 19,300/s as PL/pgSQL; the SQL floor of intake
-- at 32 clients: 860 -> 2,060 tps). The answers are the same: tests/test_calling_window.py compares
-- l2i_next_call_time with l2i_call_allowed minute by minute.
--
-- Applied by `l2i migrate` in one transaction (no BEGIN/COMMIT here). The comments on the functions stay.

CREATE OR REPLACE FUNCTION l2i_call_allowed(p_zones text[], p_state text, p_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN (SELECT coalesce(cardinality(p_zones), 0) > 0
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
           )
    );
END
$$;

CREATE OR REPLACE FUNCTION l2i_next_call_time(p_zones text[], p_state text, p_after timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    RETURN (WITH zones AS (
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
        LIMIT 1
    );
END
$$;
