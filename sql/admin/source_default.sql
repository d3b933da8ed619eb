-- Set one default of a source's leads (source, sub_id, utm_*, ...; custom.NAME for a custom field); an empty value
-- removes it. Prints the whole defaults object.
--   psql -v source_id=UUID -v name=utm_source -v value=facebook -f sql/admin/source_default.sql
UPDATE sources
SET defaults = CASE
        WHEN left(:'name', 7) = 'custom.' AND :'value' = '' THEN defaults #- ARRAY['custom', substr(:'name', 8)]
        WHEN left(:'name', 7) = 'custom.'
            THEN jsonb_set(defaults || jsonb_build_object('custom', coalesce(defaults -> 'custom', '{}')),
                           ARRAY['custom', substr(:'name', 8)], to_jsonb(:'value'::text))
        WHEN :'value' = '' THEN defaults - :'name'
        ELSE defaults || jsonb_build_object(:'name', :'value') END
WHERE id = :'source_id'
RETURNING id, defaults;
