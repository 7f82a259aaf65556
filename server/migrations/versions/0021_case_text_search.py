"""cases: an index for the list's free text (subject, address, description, reference)

Revision ID: 0021
Revises: 0016
Create Date: 2026-12-05 06:00:00

Chinese has no spaces to split words on, and a search is often one or two characters
(噪音, 油烟), which a trigram index cannot serve. PostgreSQL: a GIN index over each case's
characters and pairs of characters (lower-cased, per field), computed by an immutable
function, so PostgreSQL keeps it current on every write and no extension is needed; a
search asks for every pair of its text (or its one character), and the ILIKE it always
ran rechecks the few rows found. SQLite: an FTS5 table with the trigram tokenizer (3.34+),
one row per case kept by the app (server/domain/cases/search.py), for searches of three
characters or more; shorter ones scan, as before. Both are filled here for existing cases.
The complainant's full name, which the office may search by too, gets an index of its own
(an OR with an unindexed column would scan every case).
"""
import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0016"
branch_labels = None
depends_on = None

# Each field's characters and pairs of characters, lower-cased (a pair never spans two
# fields). IMMUTABLE: lower() and substr() depend on nothing but their input.
CASE_GRAMS = """
CREATE OR REPLACE FUNCTION fieldcase_case_grams(subject text, address text,
                                                description text, external_ref text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT g), '{}')
  FROM unnest(ARRAY[lower(subject), lower(address), lower(description),
                    lower(external_ref)]) AS f(v)
  CROSS JOIN LATERAL generate_series(1, length(f.v)) AS i
  CROSS JOIN LATERAL (VALUES (substr(f.v, i, 1)), (substr(f.v, i, 2))) AS x(g)
  WHERE f.v IS NOT NULL
$$"""
# What a search asks for: its one character, or each pair of its characters.
QUERY_GRAMS = """
CREATE OR REPLACE FUNCTION fieldcase_query_grams(q text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT CASE WHEN length(lower(q)) = 1 THEN ARRAY[lower(q)]
         ELSE coalesce((SELECT array_agg(DISTINCT substr(lower(q), i, 2))
                        FROM generate_series(1, length(lower(q)) - 1) AS i), '{}') END
$$"""
FTS_BATCH = 5_000


def upgrade():
    conn = op.get_bind()
    op.create_index("ix_cases_complainant_name", "cases", ["complainant_name"])
    if conn.dialect.name == "postgresql":
        op.execute(CASE_GRAMS)
        op.execute(QUERY_GRAMS)
        # Built in one pass over the table (faster than filling it row by row).
        op.execute("CREATE INDEX ix_cases_search ON cases USING gin "
                   "(fieldcase_case_grams(subject, address, description, external_ref))")
    elif conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info >= (3, 34):
        op.execute("CREATE VIRTUAL TABLE cases_fts USING fts5("
                   "case_id UNINDEXED, body, tokenize='trigram')")
        # Existing cases, in batches by id (the same text search.py writes).
        last = ""
        while True:
            rows = conn.execute(sa.text(
                "SELECT id FROM cases WHERE id > :last ORDER BY id LIMIT :n"),
                {"last": last, "n": FTS_BATCH}).scalars().all()
            if not rows:
                break
            conn.execute(sa.text(
                "INSERT INTO cases_fts (case_id, body) SELECT id, "
                "coalesce(subject, '') || char(10) || coalesce(address, '') || char(10) || "
                "coalesce(description, '') || char(10) || coalesce(external_ref, '') "
                "FROM cases WHERE id > :last AND id <= :upto"),
                {"last": last, "upto": rows[-1]})
            last = rows[-1]


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_cases_search")
        op.execute("DROP FUNCTION IF EXISTS fieldcase_case_grams(text, text, text, text)")
        op.execute("DROP FUNCTION IF EXISTS fieldcase_query_grams(text)")
    elif conn.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS cases_fts")
    op.drop_index("ix_cases_complainant_name", "cases")
