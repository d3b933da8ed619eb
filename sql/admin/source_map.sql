-- Set one entry of a source's field mapping: the sender's key or JSON path -> an l2i field (an empty field removes
-- the entry). Prints the whole mapping.
--   psql -v source_id=UUID -v path=answers.3.text -v field=phone -f sql/admin/source_map.sql
UPDATE sources
SET mapping = CASE WHEN :'field' = '' THEN mapping - :'path'
                   ELSE mapping || jsonb_build_object(:'path', :'field') END
WHERE id = :'source_id'
RETURNING id, mapping;
