"""cases: an index for the list's free text (subject, address, description, reference)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 06:00:00

Chinese has no spaces to split words on, and a search is often one or two characters
(噪音, 油烟), which a trigram index cannot serve. PostgreSQL: a GIN index over each case's
characters and pairs of characters (lower-cased, per field), computed by an immutable
function, so PostgreSQL keeps it current on every write and no extension is needed; a
search asks for every pair of its text (or its one character), and the ILIKE it always
ran rechecks the few rows found. SQLite: an FTS5 table with the trigram tokenizer (3.34+),
one row per case kept by the app (server/domain/cases/search.py), for searches of three
characters or more; shorter ones scan, as before. Both are filled here for existing cases.
The complainant's full name, which the office may search by too, gets an index of its own.
And two partial indexes of the open cases only: by colour and receipt, for the list's
colour filter (at 20% open the red filter walked every newer case to reach the oldest
open ones), and by unit and colour, for the board's counts (a fifth of the rows of
ix_cases_board at 20% open).
"""
import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# A text's characters and pairs of characters: the characters, then the pairs from the
# first character and those from the second (a regexp ends each pair with \x01, the split
# cuts there; an odd tail is one more character, and '' is never asked for). Built only
# of C functions, so a row costs microseconds: a plan that walks another index evaluates
# it on the rows it reads.
FIELD_GRAMS = r"""
CREATE OR REPLACE FUNCTION fieldcase_grams(v text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT string_to_array(v, NULL)
      || string_to_array(regexp_replace(v, '(..)', E'\\1\x01', 'g'), E'\x01')
      || string_to_array(regexp_replace(substr(v, 2), '(..)', E'\\1\x01', 'g'), E'\x01')
$$"""
# Each field's own, lower-cased (a pair never spans two fields).
CASE_GRAMS = """
CREATE OR REPLACE FUNCTION fieldcase_case_grams(subject text, address text,
                                                description text, external_ref text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(fieldcase_grams(lower(subject)), '{}')
      || coalesce(fieldcase_grams(lower(address)), '{}')
      || coalesce(fieldcase_grams(lower(description)), '{}')
      || coalesce(fieldcase_grams(lower(external_ref)), '{}')
$$"""
# What a search asks for: its one character, or each pair of its characters.
QUERY_GRAMS = """
CREATE OR REPLACE FUNCTION fieldcase_query_grams(q text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT CASE WHEN length(lower(q)) = 1 THEN ARRAY[lower(q)]
         ELSE ARRAY(SELECT DISTINCT substr(lower(q), i, 2)
                    FROM generate_series(1, length(lower(q)) - 1) AS i) END
$$"""
FTS_BATCH = 5_000
OPEN_WHERE = "status IN ('received', 'dispatched', 'in_progress', 'submitted')"


def upgrade():
    conn = op.get_bind()
    op.create_index("ix_cases_complainant_name", "cases", ["complainant_name"])
    # The list's colour filter: the open cases of a colour, newest first (closed cases
    # keep their last colour, and are most of a district's red rows).
    op.create_index("ix_cases_open_colour_received", "cases", ["colour", "received_at"],
                    postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE))
    # The board's counts: the open cases by unit and colour, in group order.
    op.create_index("ix_cases_open_board", "cases", ["unit_id", "colour", "colour_until"],
                    postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE))
    if conn.dialect.name == "postgresql":
        op.execute(FIELD_GRAMS)
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
        op.execute("DROP FUNCTION IF EXISTS fieldcase_grams(text)")
    elif conn.dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS cases_fts")
    op.drop_index("ix_cases_open_board", "cases")
    op.drop_index("ix_cases_open_colour_received", "cases")
    op.drop_index("ix_cases_complainant_name", "cases")
