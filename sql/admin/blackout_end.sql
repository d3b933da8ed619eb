-- End a blackout now (if it runs past now); the state's queued leads that waited for its end get their next legal
-- call time again. Prints the blackout and how many leads were released.
--   psql -v id=12 -f sql/admin/blackout_end.sql
SELECT id, state, starts_at, ends_at, ended_at, reason, released FROM l2i_blackout_end(:'id'::bigint);
