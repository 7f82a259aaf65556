"""The case list's free text: a substring of the subject, address, description or
platform reference, in any language, served by an index (migration 0021).

PostgreSQL: a GIN index over each case's characters and pairs of characters
(`fieldcase_case_grams`, kept current by PostgreSQL itself); a search asks for all the
pairs of its text, or its one character. SQLite: an FTS5 trigram table (`cases_fts`), one
row per case written here on every flush that adds or edits a case, for searches of three
characters or more. Either narrows the rows; the ILIKE the list always ran (wildcards in
the search escaped) decides, so what matches is exactly what a scan would find."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.extensions import db
from server.models import Case

FIELDS = ("subject", "address", "description", "external_ref")
# Searches shorter than this have no trigram: SQLite scans (as it always did) for them.
FTS_MIN = 3
FTS_TABLE = sa.table("cases_fts", sa.column("case_id"), sa.column("body"))
_fts_ready: dict[str, bool] = {}


def escape_like(text: str) -> str:
    r"""`text` as a LIKE pattern that matches itself only: % _ and \ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches(q: str, entity: Any = Case, *, indexed: bool = True) -> sa.ColumnElement[bool]:
    """SQL: `q` (stripped, non-empty) is a substring of one of the four fields, ignoring
    case, with the index narrowing the rows first where there is one (unless `indexed` is
    false: for a few rows already at hand). `entity`: Case or an alias of it."""
    # Written into the statement (quoted by SQLAlchemy), not bound: psycopg prepares a
    # statement run five times, and PostgreSQL's generic plan for it, blind to the search,
    # guessed how many cases match and read the index for a common word (or walked every
    # case for a rare one) at 3-4 times the cost.
    like = sa.bindparam(None, f"%{escape_like(q)}%", type_=sa.String, literal_execute=True)
    found = sa.or_(*(getattr(entity, name).ilike(like, escape="\\") for name in FIELDS))
    dialect = db.session.get_bind().dialect.name
    if not indexed:
        return found
    if dialect == "postgresql":
        grams = sa.func.fieldcase_case_grams(*(getattr(entity, name) for name in FIELDS))
        asked = sa.func.fieldcase_query_grams(
            sa.bindparam(None, q, type_=sa.String, literal_execute=True))
        return sa.and_(grams.op("@>", return_type=sa.Boolean)(asked), found)
    if dialect == "sqlite" and len(q) >= FTS_MIN and _has_fts():
        phrase = '"' + q.replace('"', '""') + '"'  # one FTS5 string: nothing is syntax
        hits = sa.select(FTS_TABLE.c.case_id).where(sa.text("cases_fts MATCH :phrase")
                                                    .bindparams(phrase=phrase))
        return sa.and_(entity.id.in_(hits), found)
    return found


def _has_fts(bind: Any = None) -> bool:
    """Whether migration 0021 made the FTS table (SQLite 3.34+ has the trigram tokenizer),
    asked once per database."""
    bind = bind if bind is not None else db.engine
    key = str(bind.url)
    if key not in _fts_ready:
        _fts_ready[key] = sqlite3.sqlite_version_info >= (3, 34) and sa.inspect(
            bind).has_table("cases_fts")
    return _fts_ready[key]


def body(values: dict[str, Any]) -> str:
    """The text the FTS row holds (as migration 0021 writes it): the fields on lines."""
    return "\n".join(values.get(name) or "" for name in FIELDS)


def index_inserted(session: Session, cases: list[Case]) -> None:
    """SQLite: FTS rows for cases written around the ORM (cases.add_cases' bulk insert),
    which the flush below never sees."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite" and cases and _has_fts(bind):
        session.execute(sa.insert(FTS_TABLE), [
            {"case_id": c.id, "body": body({n: getattr(c, n) for n in FIELDS})} for c in cases])


@sa.event.listens_for(Session, "after_flush")
def _sync(session: Session, _context: Any) -> None:
    """SQLite: the FTS row of every case this flush added, edited or deleted, in the same
    transaction. (PostgreSQL's index follows the table by itself.)"""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        return
    stale = [c for c in session.dirty if isinstance(c, Case) and any(
        sa.inspect(c).attrs[name].history.has_changes() for name in FIELDS)]
    added = [c for c in session.new if isinstance(c, Case)]
    gone = [c.id for c in session.deleted if isinstance(c, Case)]
    if not (stale or added or gone):
        return
    if not _has_fts(bind):
        return
    ids = [c.id for c in stale] + gone
    if ids:
        session.execute(sa.delete(FTS_TABLE).where(FTS_TABLE.c.case_id.in_(ids)))
    rows = [{"case_id": c.id, "body": body({n: getattr(c, n) for n in FIELDS})}
            for c in (*stale, *added)]
    if rows:
        session.execute(sa.insert(FTS_TABLE), rows)
