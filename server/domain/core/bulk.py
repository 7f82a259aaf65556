"""Many new rows in one statement: PostgreSQL's COPY, else one executemany. For writes of
thousands of rows at once (a sheet's cases, their first events, their audit entries),
where the ORM's flush spends more time building and parsing one giant INSERT per thousand
rows than the database spends storing them. In the session's transaction: the rows commit
or roll back with everything else."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached

from server.extensions import db


def row_of(obj: Any) -> dict[str, Any]:
    """A new ORM object's column values, its Python-side defaults filled in (on the object
    too, so it reads as the row stored); an autoincremented key is left to the database."""
    table = obj.__table__
    row: dict[str, Any] = {}
    for column in table.columns:
        value = getattr(obj, column.key)
        if value is None and column.default is not None:
            default = column.default
            value = default.arg if default.is_scalar else default.arg(None)
        # Set even when None: an attribute never set would be expired once attached, and
        # read back with one SELECT per object.
        setattr(obj, column.key, value)
        if value is None and column.autoincrement is True and column.primary_key:
            continue
        row[column.key] = value
    return row


def insert(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (each with the same keys) into `table` in the session's transaction."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    names = list(rows[0])
    as_json = {n for n in names if isinstance(table.c[n].type, sa.JSON)}
    columns = ", ".join(f'"{n}"' for n in names)
    # COPY writes rows in order: an autoincremented key follows the list's order.
    with connection.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n], ensure_ascii=False, default=str)
                            if n in as_json and row[n] is not None else row[n]
                            for n in names])


def attach(objects: list[Any]) -> None:
    """Objects just inserted by `insert`, made persistent in the session (as if loaded):
    later changes to them are flushed as updates."""
    for obj in objects:
        make_transient_to_detached(obj)
        db.session.add(obj)
