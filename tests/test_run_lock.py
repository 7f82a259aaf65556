"""Periodic work acts once whichever node's timer fires it (server/domain/core/runlock.py):
an advisory lock on PostgreSQL, a file lock in the instance folder on SQLite. A second
run that finds the lock held skips and says so (exit 0); the lock goes with the run, even
one that fails."""

from __future__ import annotations

import json
import threading
import time

import pytest
from flask import Flask

from server.cli import checkpoint_audit_cmd, reconcile_cmd, sweep_cmd
from server.domain.core import runlock


@pytest.mark.parametrize("command, args, task, lock", [
    (sweep_cmd, ["--no-deliver"], "sweep", "sweep"),
    (reconcile_cmd, [], "reconcile", "reconcile"),
    # A sweep signs the audit head as it ends: the two never sign at once.
    (checkpoint_audit_cmd, [], "checkpoint-audit", "sweep"),
])
def test_a_periodic_command_skips_while_another_node_runs_it(
        app: Flask, command, args: list[str], task: str, lock: str) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    with runlock.exclusive(lock) as held:
        assert held
        skipped = runner.invoke(command, args)
        assert skipped.exit_code == 0, skipped.output
        assert skipped.output.strip() == f"{task}: skipped: running elsewhere"
        with runlock.exclusive(lock) as again:
            assert again is False
        # One key per task: another task is not held off.
        other = "sweep" if lock != "sweep" else "reconcile"
        with runlock.exclusive(other) as free:
            assert free
    ran = runner.invoke(command, args)
    assert ran.exit_code == 0, ran.output
    assert "skipped" not in ran.output


def test_the_sweep_acts_when_free(app: Flask) -> None:
    ran = app.test_cli_runner().invoke(sweep_cmd, ["--no-deliver"])
    assert ran.exit_code == 0 and isinstance(json.loads(ran.output), dict)


def test_the_lock_goes_with_a_run_that_fails(app: Flask) -> None:
    with pytest.raises(RuntimeError), runlock.exclusive("reconcile") as held:
        assert held
        raise RuntimeError("the run failed half-way")
    with runlock.exclusive("reconcile") as held:
        assert held


def test_waiting_takes_the_lock_once_the_other_is_done(app: Flask) -> None:
    """`fieldcase migrate` on nodes starting together: one after the other."""
    taken, released = threading.Event(), threading.Event()

    def other_node() -> None:
        with app.app_context(), runlock.exclusive("migrate") as held:
            assert held
            taken.set()
            time.sleep(0.5)
            released.set()

    thread = threading.Thread(target=other_node)
    thread.start()
    assert taken.wait(10)
    with runlock.exclusive("migrate", wait=True) as held:
        assert held and released.is_set()
    thread.join()


def test_each_task_has_its_own_stable_key() -> None:
    keys = {task: runlock.advisory_key(task) for task in ("sweep", "reconcile",
                                                          "checkpoint-audit", "migrate")}
    assert len(set(keys.values())) == 4
    assert all(-2**63 <= key < 2**63 for key in keys.values())
    assert runlock.advisory_key("sweep") == keys["sweep"]  # the same on every node


def test_a_long_run_keeps_its_lock_past_an_idle_session_timeout(app: Flask) -> None:
    """The lock's connection sits idle while the task runs: with an idle_session_timeout
    set for the role (here through the connection's options, as a DBA might in the
    role's settings), the server would end it, and free the lock for another node."""
    if app.config["STACK"] != "scaled":
        pytest.skip("PostgreSQL's advisory lock; SQLite's is a file lock")
    import sqlalchemy as sa

    from server import create_app
    from server.extensions import db

    url = sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).update_query_dict(
        {"options": "-c idle_session_timeout=500"})
    timed = create_app({k: app.config[k] for k in (
        "TESTING", "SECRET_KEY", "STORAGE_URL", "INSTANCE_PATH")}
        | {"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False)})
    key = runlock.advisory_key("reconcile")
    probe = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        with timed.app_context():
            with runlock.exclusive("reconcile") as held:
                assert held
                time.sleep(1.5)  # the task at work: three timeouts' worth of idleness
                taken = probe.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
                if taken:
                    probe.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                assert taken is False  # still held by the run
            db.engine.dispose()
        assert probe.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key})
        probe.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        probe.close()
