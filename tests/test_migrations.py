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
from server.models import Base
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
