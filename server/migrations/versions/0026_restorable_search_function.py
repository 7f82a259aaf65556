"""cases: the text index's function names the schema of the function it calls, so a
pg_dump of the database restores (pg_restore empties search_path, and the index on
fieldcase_case_grams could not find fieldcase_grams)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 12:00:00

Same body as 0021's but schema-qualified; still one SQL expression, so PostgreSQL still
inlines it. The function's results do not change, so ix_cases_search stays valid. Nothing
on SQLite.
"""
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

CASE_GRAMS = """
CREATE OR REPLACE FUNCTION fieldcase_case_grams(subject text, address text,
                                                description text, external_ref text)
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce({q}fieldcase_grams(lower(subject)), '{{}}')
      || coalesce({q}fieldcase_grams(lower(address)), '{{}}')
      || coalesce({q}fieldcase_grams(lower(description)), '{{}}')
      || coalesce({q}fieldcase_grams(lower(external_ref)), '{{}}')
$$"""


def _schema_of_grams() -> str:
    return op.get_bind().exec_driver_sql(
        "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE p.proname = 'fieldcase_grams'").scalar_one()


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        schema = _schema_of_grams().replace('"', '""')
        op.execute(CASE_GRAMS.format(q=f'"{schema}".'))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CASE_GRAMS.format(q=""))
