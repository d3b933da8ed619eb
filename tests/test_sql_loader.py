import pytest

from l2i import sql


def test_parse_splits_named_queries_with_cardinality_and_doc():
    source = """-- file header, not a query
-- name: first :one
-- The first one.
SELECT 1;

-- name: second_thing :many
-- Second,
-- on two lines.
SELECT 2
FROM x;
"""
    queries = sql.parse(source)
    assert list(queries) == ["first", "second_thing"]
    assert queries["first"].cardinality == "one"
    assert queries["first"].doc == "The first one."
    assert queries["first"].text.endswith("SELECT 1;")
    assert queries["second_thing"].doc == "Second, on two lines."
    assert queries["second_thing"].text.splitlines()[-1] == "FROM x;"


def test_parse_rejects_a_name_defined_twice():
    with pytest.raises(ValueError, match="twice"):
        sql.parse("-- name: a :one\nSELECT 1;\n-- name: a :exec\nSELECT 2;\n")


def test_every_project_query_is_named_documented_and_parameterized_by_name():
    assert {"key_hit", "lead_intake", "leads_page", "lead_get", "ping"} <= set(sql.QUERIES)
    for query in sql.QUERIES.values():
        assert query.doc, f"{query.name} has no description"
        assert "%s" not in query.text, f"{query.name} uses a positional parameter"


def test_no_placeholder_or_percent_sign_hides_in_a_comment():
    # psycopg does not know SQL comments: a %(name)s there would need a value, a lone % would break the query.
    # Comment lines are not sent (sql._compact); a comment at the end of a line is.
    for query in sql.QUERIES.values():
        for line in query.text.splitlines():
            assert not line.startswith("--"), f"{query.name}: {line}"
            if "--" in line and "'" not in line:
                assert "%" not in line.split("--", 1)[1], f"{query.name}: {line}"


def test_the_text_sent_is_compacted_but_quoted_text_keeps_its_spaces():
    queries = sql.parse("-- name: q :one\n-- Doc.\nSELECT  a,\n    -- why\n    'x  y' AS  b\n\nFROM   t;\n")
    assert queries["q"].text == "SELECT a,\n'x  y' AS  b\nFROM t;"


def test_the_text_sent_leaves_the_description_out_and_stays_within_psycopgs_cache():
    queries = sql.parse("-- name: first :one\n-- The first one.\n-- name-like words stay in the doc.\nSELECT 1;\n")
    assert queries["first"].text == "SELECT 1;"
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH
    for name in ("key_hit", "lead_intake"):
        # Longer, and psycopg converts the query again on every call (about 0.1 ms per intake): see l2i/sql.py.
        assert len(sql.QUERIES[name].text.encode()) <= MAX_CACHED_STATEMENT_LENGTH, name
