"""Alembic: one head, and upgrade / downgrade / upgrade on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from server import create_app
from server.extensions import db
from server.models import Base, Case
from tests.conftest import fresh_pg_database

MIGRATIONS = Path(__file__).resolve().parents[1] / "server" / "migrations"
TABLES = {t.name for t in Base.metadata.sorted_tables}


def test_single_head() -> None:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        with fresh_pg_database() as url:
            yield url


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def test_upgrade_downgrade_upgrade(empty_database: str, tmp_path: Path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "m",
                      "INSTANCE_PATH": str(tmp_path), "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        upgrade(directory=str(MIGRATIONS))  # a second run is a no-op
        assert _tables() >= TABLES
        downgrade(directory=str(MIGRATIONS), revision="base")
        assert _tables() <= {"alembic_version"}
        upgrade(directory=str(MIGRATIONS))
        assert _tables() >= TABLES
        db.engine.dispose()


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns(table)}


def test_0002_adds_device_columns_and_keeps_readings(empty_database: str,
                                                      tmp_path: Path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "m",
                      "INSTANCE_PATH": str(tmp_path), "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0001")
        assert "device" not in _columns("measurements")
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO units (id, name, created_at) VALUES ('u', 'U', :t);"
            ), {"t": "2026-11-24 10:00:00"})
            conn.execute(sa.text(
                "INSERT INTO users (id, username, display_name, password_hash, role, active,"
                " created_at) VALUES ('p', 'p', 'P', 'x', 'inspector', true, :t)"),
                {"t": "2026-11-24 10:00:00"})
            conn.execute(sa.text(
                "INSERT INTO cases (id, channel, category, subject, address, description,"
                " received_at, unit_id, key, status, version, created_at, updated_at)"
                " VALUES ('c', 'phone', 'noise_social', 's', 'a', '', :t, 'u', false,"
                " 'received', 1, :t, :t)"), {"t": "2026-11-24 10:00:00"})
            conn.execute(sa.text(
                "INSERT INTO cases (id, channel, category, subject, address, description,"
                " received_at, unit_id, key, status, version, created_at, updated_at)"
                " VALUES ('closed', 'phone', 'noise_social', 's', 'a', '', :t, 'u', false,"
                " 'closed', 1, :t, :t)"), {"t": "2026-11-24 10:00:00"})
            conn.execute(sa.text(
                "INSERT INTO visits (id, client_id, request_hash, case_id, kind, started_at,"
                " participants, findings, created_by, received_at) VALUES ('v', 'v', 'h',"
                " 'c', 'night_check', :t, '[]', '', 'p', :t)"), {"t": "2026-11-24 10:00:00"})
            conn.execute(sa.text(
                "INSERT INTO measurements (id, visit_id, position, kind, value_dba, period,"
                " source, exceeded) VALUES ('m', 'v', 0, 'noise', 58, 'night', 'meter', true)"))
        upgrade(directory=str(MIGRATIONS))
        assert {"device", "calibration_offset_db"} <= _columns("measurements")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT value_dba, exceeded, device, calibration_offset_db FROM measurements"
            )).one()
        assert (row[0], bool(row[1]), row[2], row[3]) == (58, True, None, None)
        # 0004: an open case's colour is left to the next sweep; a closed one has none.
        until = dict(db.session.execute(sa.select(Case.id, Case.colour_until)).all())
        assert (until["c"].year, until["closed"].year) == (1970, 9999)
        db.session.remove()
        downgrade(directory=str(MIGRATIONS), revision="0001")
        assert "device" not in _columns("measurements")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar() == 1
        db.engine.dispose()


def test_0011_gives_existing_webhooks_to_the_top_unit_and_keeps_their_deliveries(
        empty_database: str, tmp_path: Path) -> None:
    """The plain secret stays readable (legacy_secret) for the app to seal: the migration
    has no key. The table is rebuilt on SQLite: its deliveries stay."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "m",
                      "INSTANCE_PATH": str(tmp_path), "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0010")
        t = {"t": "2026-11-24 10:00:00"}
        with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO units (id, name, created_at) VALUES ('top', 'District', :t)",
                "INSERT INTO units (id, name, parent_id, created_at) VALUES ('st', 'Street',"
                " 'top', :t)",
                "INSERT INTO cases (id, channel, category, subject, address, description,"
                " received_at, unit_id, key, status, version, created_at, updated_at,"
                " colour_until) VALUES ('c', 'phone', 'noise_social', 's', 'a', '', :t, 'st',"
                " false, 'received', 1, :t, :t, :t)",
                "INSERT INTO notifications (id, case_id, unit_id, kind, milestone, dedupe_key,"
                " created_at, data) VALUES ('n', 'c', 'st', 'overdue', 'overdue', 'k', :t,"
                " '{}')",
                "INSERT INTO webhooks (id, url, secret, active, created_at) VALUES ('w',"
                " 'https://hooks.example.org/h', 'plain-old', true, :t)",
                "INSERT INTO webhook_deliveries (id, webhook_id, notification_id, state,"
                " attempts, next_attempt_at) VALUES ('d', 'w', 'n', 'pending', 0, :t)",
            ):
                conn.execute(sa.text(sql), t)
        upgrade(directory=str(MIGRATIONS), revision="0011")
        with db.engine.connect() as conn:
            row = conn.execute(sa.text("SELECT unit_id, legacy_secret, secret_sealed"
                                       " FROM webhooks")).one()
            assert tuple(row) == ("top", "plain-old", None)
            assert conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar() == 1
        downgrade(directory=str(MIGRATIONS), revision="0010")
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT secret FROM webhooks")).scalar() == "plain-old"
            assert conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar() == 1
        db.engine.dispose()


LINKED_ON_ARRIVAL = ("repeat_links", "repeat_subjects")
# Rows the demo writes into tables made after 0011 by the office's hand, which no
# migration can make again once the table is dropped: the bar's remediation plan (0023).
WRITTEN_AFTER_0011 = ("remediation_plans",)


def _row_counts() -> dict[str, int]:
    # An FTS5 table's own storage (cases_fts_data...) is laid out by how its rows came in
    # (one by one, or in a batch): the FTS table itself has to keep its rows.
    with db.engine.connect() as conn:
        return {table: conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
                for table in sorted(_tables() - {"alembic_version", "deadline_rules"})
                if not table.startswith("cases_fts_")}


def test_this_sessions_migrations_keep_every_row_of_a_populated_database(
        empty_database: str, tmp_path: Path) -> None:
    """The demo district (cases, their timelines, assignees, visits, evidence, revisits,
    seals, notifications) down to 0011 and up again: 0012 and later rebuild tables on SQLite,
    and a rebuild with foreign keys enforced would delete (or refuse to drop) every child
    row. Every table keeps its rows both ways (deadline_rules aside: 0013 adds versions)."""
    from server.demo import seed_demo

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "m",
                      "INSTANCE_PATH": str(tmp_path), "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        seed_demo(only_if_empty=True)
        db.session.commit()
        db.session.remove()
        before = _row_counts()
        assert before["cases"] and before["case_events"] and before["evidence"]
        assert before["case_assignees"] and before["seals"] and before["revisits"]
        downgrade(directory=str(MIGRATIONS), revision="0011")
        down = _row_counts()
        # Tables made after 0011 are gone; every other keeps its rows.
        assert down == {table: n for table, n in before.items() if table in down}
        assert {"cases", "case_events", "evidence", "seals", "revisits"} <= set(down)
        upgrade(directory=str(MIGRATIONS))
        # Repeat subjects and links are made as cases arrive, not by a migration: after
        # 0019 is undone and redone they are empty (only new arrivals link again); so are
        # the tables of what the office wrote by hand after 0011.
        assert before["remediation_plans"]
        assert _row_counts() == {**before, **{t: 0 for t in
                                              LINKED_ON_ARRIVAL + WRITTEN_AFTER_0011}}
        db.engine.dispose()
