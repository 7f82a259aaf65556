"""The operator CLI: units, users, demo, reconcile."""

from __future__ import annotations

import sqlalchemy as sa

from server.cli import cli
from server.extensions import db
from server.models import Case, Unit, User
from tests.conftest import PASSWORD


def run(app, *args: str):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(cli, list(args), catch_exceptions=False)


def test_create_unit_and_user_with_two_units(app):  # type: ignore[no-untyped-def]
    assert run(app, "create-unit", "Street C", "--parent", "District").exit_code == 0
    # The password is asked for (twice), never an argument others could see in `ps`.
    result = app.test_cli_runner().invoke(
        cli, ["create-user", "night1", "--role", "inspector", "--unit", "Street A",
              "--unit", "Street C"], input="long-enough-pw\nlong-enough-pw\n")
    assert result.exit_code == 0, result.output
    assert "long-enough-pw" not in result.output
    user = db.session.scalar(sa.select(User).filter_by(username="night1"))
    assert sorted(u.name for u in user.units) == ["Street A", "Street C"]
    db.session.delete(user)
    db.session.delete(db.session.scalar(sa.select(Unit).filter_by(name="Street C")))
    db.session.commit()


def test_cli_errors_are_clear(app):  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(cli, ["create-user", "x", "--password-stdin",
                                                "--role", "inspector", "--unit", "Nowhere"],
                                          input="short\n")
    assert result.exit_code != 0 and "No unit named 'Nowhere'" in result.output
    again = app.test_cli_runner().invoke(cli, ["create-unit", "Street A"])
    assert again.exit_code != 0 and "exists already" in again.output


def test_demo_only_seeds_an_empty_database(app):  # type: ignore[no-untyped-def]
    result = run(app, "demo", "--if-empty")
    assert "skipped" in result.output  # the test people are there
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_reconcile_reports_counts(app):  # type: ignore[no-untyped-def]
    result = run(app, "reconcile")
    assert result.exit_code == 0
    assert '"completed": 0' in result.output


def test_demo_seeds_a_fresh_database(tmp_path):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from flask_migrate import upgrade

    from server import create_app
    from server.demo import CASES, DEMO_PASSWORD, DEMO_USERS, EARLIER_ABOUT_BAR

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.db'}",
                      "SECRET_KEY": "d", "INSTANCE_PATH": str(tmp_path),
                      "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
        assert "demo data created" in run(app, "demo", "--if-empty").output
        made = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        assert made == len(CASES) + len(EARLIER_ABOUT_BAR)
        client = app.test_client()
        login = client.post("/api/auth/login",
                            json={"username": DEMO_USERS[0][0], "password": DEMO_PASSWORD})
        assert login.status_code == 200
        # The inspector of the first street sees that street's cases only.
        listed = client.get("/api/cases?per_page=100").get_json()
        assert 0 < listed["total"] < len(CASES)
        # The demo leader holds two cases (包案), one with an instruction of theirs.
        leader = app.test_client()
        assert leader.post("/api/auth/login", json={
            "username": "leader", "password": DEMO_PASSWORD}).status_code == 200
        held = leader.get("/api/cases?leader=me").get_json()["items"]
        # The bar is on the repeat-complaint list: the two earlier complaints and case 1.
        office = app.test_client()
        assert office.post("/api/auth/login", json={
            "username": "reviewer", "password": DEMO_PASSWORD}).status_code == 200
        [bar] = office.get("/api/repeats").get_json()["items"]
        assert bar["count"] >= 3 and bar["listed"]
        assert len(held) == 2
        assert any(leader.get(f"/api/cases/{c['id']}/instructions").get_json()["items"]
                   for c in held)
        assert "skipped" in run(app, "demo", "--if-empty").output
        db.session.remove()
        db.engine.dispose()


def test_init_storage_prepares_the_store(app):  # type: ignore[no-untyped-def]
    app.config["CORS_ORIGINS"] = ["https://field.example"]
    result = run(app, "init-storage")
    assert result.exit_code == 0
    if app.config["STACK"] == "scaled":
        assert "bucket ready; CORS for: https://field.example" in result.output
    else:
        assert "file storage needs no set-up" in result.output


def test_create_user_refuses_the_commonest_passwords_and_argv(app):  # type: ignore[no-untyped-def]
    for password in ("password1", "qwertyuiop", "12345678", "night2-x1"):
        result = app.test_cli_runner().invoke(
            cli, ["create-user", "night2", "--password-stdin", "--role", "inspector",
                  "--unit", "Street A"], input=f"{password}\n")
        assert result.exit_code != 0, password
        assert "commonest" in result.output or "user name" in result.output, result.output
    argv = app.test_cli_runner().invoke(
        cli, ["create-user", "night2", "--password", "Tr0ub4dor&3", "--role", "inspector",
              "--unit", "Street A"])
    assert argv.exit_code != 0 and "No such option" in argv.output
    ok = app.test_cli_runner().invoke(
        cli, ["create-user", "night2", "--password-stdin", "--role", "inspector",
              "--unit", "Street A"], input="vermilion-kettle-42\n")
    assert ok.exit_code == 0, ok.output
    user = db.session.scalar(sa.select(User).filter_by(username="night2"))
    db.session.delete(user)
    db.session.commit()


def test_deactivate_user_and_revoke_sessions_end_sessions_now(app):  # type: ignore[no-untyped-def]
    from tests.conftest import login

    phone = login(app, "insp_b")
    assert phone.get("/api/me").status_code == 200
    revoked = run(app, "revoke-sessions", "insp_b")
    assert revoked.exit_code == 0 and "1 session(s)" in revoked.output
    assert phone.get("/api/me").status_code == 401
    phone = login(app, "insp_b")
    deactivated = run(app, "deactivate-user", "insp_b")
    assert deactivated.exit_code == 0, deactivated.output
    assert phone.get("/api/me").status_code == 401
    refused = app.test_client().post("/api/auth/login", json={
        "username": "insp_b", "password": PASSWORD})
    assert refused.status_code == 401
    user = db.session.scalar(sa.select(User).filter_by(username="insp_b"))
    user.active = True
    db.session.commit()
    assert run(app, "revoke-sessions", "nobody").exit_code != 0
