-- Load National Do-Not-Call Registry files (one 10-digit number per line) with COPY and one set-based merge.
-- kind: full (the file is the whole list of every area code in it), add or delete (a change file).
--   psql -v kind=full -f sql/admin/dnc_load.sql < 212.txt          (several files: cat A B | psql ...)
-- Queued leads of DNC-connected accounts whose numbers are now listed are held (reason dnc).
CREATE TEMP TABLE dnc_staging (raw text);
\copy dnc_staging FROM pstdin
SELECT kind, lines, rejected, added, removed, areas, held_leads FROM l2i_dnc_merge(:'kind');
