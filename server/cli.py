"""Operator commands, installed as the `fieldcase` console script."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Callable, Container
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import FlaskGroup
from flask_migrate import upgrade

from server import create_app
from server.domain.accounts import auth, login_throttle
from server.domain.audit import audit, audit_checkpoints, timeline
from server.domain.cases import sweep, workdays
from server.domain.closure import seal_check, sealing
from server.domain.core import runlock
from server.domain.core.errors import DomainError
from server.domain.core.uow import transaction
from server.domain.fieldwork import completion
from server.models import ROLES
from server.observability import periodic
from server.storage import StorageError

cli = FlaskGroup(create_app=lambda: create_app(), help="Fieldcase operator commands.")


def _fail(error: DomainError) -> None:
    raise click.ClickException(f"{error.detail} ({error.code})")


def _once_across_nodes(task: str, lock: str | None = None
                       ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Every node's timer runs the periodic commands; the run lock (`lock`, the task's own
    by default) lets one act and the others say so and exit 0 (a skipped tick is not a
    failure)."""
    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            with runlock.exclusive(lock or task) as held:
                if not held:
                    click.echo(f"{task}: skipped: running elsewhere")
                    return
                command(*args, **kwargs)
        return run
    return wrap


@cli.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema up to date (Alembic)."""
    from server.domain.cases.cases import backfill, index_phones
    from server.domain.repeats.links import index_addresses

    # Every node's unit migrates before it serves: one at a time, the others then find
    # nothing to do (two upgrades at once would both try the same DDL).
    with runlock.exclusive("migrate", wait=True):
        upgrade(directory=str(Path(current_app.root_path) / "migrations"))
        filled = backfill()
        indexed = index_phones()
        keyed = index_addresses()
    click.echo("database is up to date" + (f"; {filled} case timelines started" if filled else "")
               + (f"; {indexed} complainant numbers indexed" if indexed else "")
               + (f"; {keyed} case addresses keyed" if keyed else ""))


@cli.command("index-phones")
@click.option("--all", "every", is_flag=True,
              help="Recompute every case's (after PERSONAL_DATA_KEY changed).")
def index_phones_cmd(every: bool) -> None:
    """Fill the keyed hash that finds a case by the complainant's number (cases from
    before migration 0012, which could not know PERSONAL_DATA_KEY)."""
    from server.domain.cases.cases import index_phones

    click.echo(f"{index_phones(every=every)} complainant numbers indexed")


@cli.command("index-addresses")
@click.option("--all", "every", is_flag=True,
              help="Recompute every case's (after the address rules changed).")
def index_addresses_cmd(every: bool) -> None:
    """Fill the address key and location cell that find repeat complaints (cases from
    before migration 0019). Existing cases are keyed, not linked: new ones link to them."""
    from server.domain.repeats.links import index_addresses

    click.echo(f"{index_addresses(every=every)} case addresses keyed")


@cli.command("init-storage")
def init_storage_cmd() -> None:
    """Create the S3 bucket if missing and allow the app's origins (CORS_ORIGINS) to PUT."""
    storage = current_app.extensions["fieldcase.storage"]
    if not hasattr(storage, "ensure_bucket"):
        click.echo(f"{storage.alias} storage needs no set-up")
        return
    storage.ensure_bucket(cors_origins=tuple(current_app.config["CORS_ORIGINS"]))
    click.echo("bucket ready; CORS for: " + (", ".join(current_app.config["CORS_ORIGINS"])
                                              or "(none: set CORS_ORIGINS)"))


@cli.command("create-unit")
@click.argument("name")
@click.option("--parent", help="The unit above this one (a district above a street).")
def create_unit_cmd(name: str, parent: str | None) -> None:
    """Create a responsible unit."""
    try:
        unit = auth.create_unit(name, parent)
    except DomainError as error:
        _fail(error)
    click.echo(f"unit {unit.name} ({unit.id})")


@cli.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--unit", "units", multiple=True, required=True, help="Repeat for more units.")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of stdin (for scripts).")
def create_user_cmd(username: str, role: str, units: tuple[str, ...], display_name: str,
                    password_stdin: bool) -> None:
    """Create a user in one or more units. The password is asked for (or read from stdin),
    never given on the command line, where other users and shell history would see it."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = auth.create_user(username, password, role, list(units), display_name)
    except DomainError as error:
        _fail(error)
    click.echo(f"user {user.username} ({user.role}) in {', '.join(units)}")


@cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has data.")
def demo_cmd(if_empty: bool) -> None:
    """Seed a demo district: units, a user of each role, a dozen cases."""
    from server.demo import seed_demo

    created = seed_demo(only_if_empty=if_empty)
    click.echo("demo data created" if created else "database not empty: demo skipped")


@cli.command("banner")
@click.option("--port", default=lambda: os.environ.get("PORT", "8000"))
def banner_cmd(port: str) -> None:
    """Print where to open the app and the demo logins."""
    from server.demo import DEMO_PASSWORD, DEMO_USERS

    host = os.environ.get("HOST", "127.0.0.1")
    click.echo(f"\n  Fieldcase is starting on http://localhost:{port}/")
    if host in ("127.0.0.1", "localhost"):
        click.echo("  Only this computer can reach it. For a phone on the same network run "
                   "`make run HOST=0.0.0.0`; a phone installs the app, keeps it offline and "
                   "gets a location fix only over HTTPS (see README, \"A real deployment\").")
    else:
        click.echo(f"  Listening on {host}:{port}: from a phone, http://<this computer's "
                   f"address>:{port}/ (HTTPS is needed to install it and for location).")
    base = os.environ.get("PUBLIC_BASE_URL") or f"http://localhost:{port}"
    click.echo(f"  QR codes in closure files point to {base}/v/… (PUBLIC_BASE_URL)")
    click.echo(f"  API health: http://localhost:{port}/api/health, "
               f"OpenAPI: http://localhost:{port}/api/openapi.json")
    click.echo(f"  Demo logins (password {DEMO_PASSWORD}):")
    for username, role, units, name in DEMO_USERS:
        click.echo(f"    {username:<12} {role:<10} {name} · {', '.join(units)}")
    click.echo("")


@cli.command("reconcile")
@click.option("--older-than-minutes", default=15, show_default=True)
@click.option("--expire-after-hours", default=24 * 7, show_default=True)
@_once_across_nodes("reconcile")
def reconcile_cmd(older_than_minutes: int, expire_after_hours: int) -> None:
    """Finish or expire evidence left pending; remove staging leftovers and seal manifests
    that no seal names (an approval that failed after writing its manifest)."""
    grace = timedelta(minutes=older_than_minutes)
    with periodic.recorded("reconcile") as run:
        counts = completion.reconcile(older_than=grace,
                                      expire_after=timedelta(hours=expire_after_hours))
        manifests = sealing.reconcile_manifests(older_than=grace)
        counts["manifests_removed"] = manifests["manifests_removed"]
        counts["errors"] += manifests["errors"]
        # Kept for /metrics: the counts, and how many items failed (not their messages).
        run.result = {**counts, "errors": len(counts["errors"])}
        run.ok = not counts["errors"]
    click.echo(json.dumps(counts, ensure_ascii=False))
    if counts["errors"]:
        # Every other row was processed; the timer's next run retries these.
        click.echo(f"{len(counts['errors'])} item(s) failed; see errors", err=True)
        sys.exit(1)


@cli.command("deactivate-user")
@click.argument("username")
def deactivate_user_cmd(username: str) -> None:
    """No more logins for USERNAME; every open session of theirs ends now."""
    try:
        ended = auth.deactivate_user(username)
    except DomainError as error:
        _fail(error)
    click.echo(f"user {username} deactivated; {ended} session(s) ended")


@cli.command("revoke-sessions")
@click.argument("username")
def revoke_sessions_cmd(username: str) -> None:
    """End every session of USERNAME (a lost phone); they log in again."""
    try:
        ended = auth.revoke_sessions(username)
    except DomainError as error:
        _fail(error)
    click.echo(f"{ended} session(s) of {username} ended")


@cli.command("unlock-user")
@click.argument("username")
def unlock_user_cmd(username: str) -> None:
    """Lift a login lock (too many wrong passwords) on USERNAME now."""
    had = login_throttle.unlock(username)
    click.echo(f"{username} unlocked" if had else f"{username} was not locked")


@cli.command("verify-audit")
@click.option("--public-key", default=None,
              help="Check checkpoints against this key (hex) rather than this server's.")
def verify_audit_cmd(public_key: str | None) -> None:
    """Check the audit log's hash chain and every case timeline's chain. Lists every entry
    and event that does not hold (a malformed row by name), not only the first."""
    entries = list(audit.chain_problems())
    cases_broken = list(timeline.chain_problems())
    anchors = audit_checkpoints.verify(public_key)
    for seq, why in entries:
        click.echo(f"audit entry {seq}: {why}", err=True)
    for case_id, seq, why in cases_broken:
        click.echo(f"case {case_id}: timeline altered at event {seq}: {why}", err=True)
    for problem in anchors:
        click.echo(f"checkpoint {problem.checkpoint_id} (audit entry {problem.audit_seq}): "
                   f"{problem.reason}", err=True)
    if entries:
        raise click.ClickException(
            f"audit chain broken at entry {entries[0][0]} ({len(entries)} entry(ies) in all)"
            + (f"; {len(cases_broken)} case timeline event(s) altered" if cases_broken
               else ""))
    if anchors:
        raise click.ClickException(f"audit log does not match {len(anchors)} signed "
                                   f"checkpoint problem(s); first at entry "
                                   f"{anchors[0].audit_seq}")
    if cases_broken:
        raise click.ClickException(f"{len(cases_broken)} case timeline event(s) altered "
                                   f"in {len({c for c, _s, _w in cases_broken})} case(s)")
    click.echo("audit chain intact and matching its signed checkpoints; every case "
               "timeline intact")


@cli.command("verify-case")
@click.argument("case_id")
def verify_case_cmd(case_id: str) -> None:
    """Recompute a sealed case from its stored bytes and rows: its timeline chain, each
    seal's manifest, hash and stored copy, the rows listed and every evidence item's bytes.
    Prints every difference, and every row that cannot be read, by name; exit status 1 if
    anything differs."""
    try:
        findings = seal_check.verify(case_id)
    except DomainError as error:
        _fail(error)
    for finding in findings:
        click.echo(f"{finding.what}: {finding.detail}", err=True)
    if findings:
        raise click.ClickException(f"case {case_id}: {len(findings)} difference(s) from "
                                   "what was sealed")
    seals = sealing.seals_of(case_id)
    click.echo(f"case {case_id}: intact; {len(seals)} seal(s), the last "
               f"{seals[-1].sha256}")


def _key_check(value: str) -> str:
    """A key's check value: tells whether two instances hold the same key, and nothing
    about the key itself (an HMAC of a fixed text under it)."""
    return hmac.new(value.encode(), b"fieldcase key check", hashlib.sha256).hexdigest()[:16]


_KEPT_APART = ("AUDIT_SIGNING_KEY", "PERSONAL_DATA_KEY", "WEBHOOK_SECRET_KEY", "SECRET_KEY")
_CHECKED = _KEPT_APART[1:3]  # the keys whose check values an archive carries


def _keys_manifest() -> dict[str, Any]:
    config = current_app.config
    return {
        "audit_public_key": audit_checkpoints.public_key_hex(),
        "checks": {name: _key_check(config[name]) for name in _CHECKED},
        "not_included": list(_KEPT_APART),
        "note": "Keys are never in the archive: keep AUDIT_SIGNING_KEY, PERSONAL_DATA_KEY and "
                "WEBHOOK_SECRET_KEY apart (a secrets manager) and give them to the restored "
                "instance. audit_public_key tells which key signed the checkpoints; check "
                "the restored log with the auditors' own copy of the public key "
                "(verify-audit --public-key), never this one alone: a forged archive "
                "carries its own. checks tell whether a key given is the same.",
    }


def _migration_note(head: str | None) -> str | None:
    """Refuse an archive from a newer schema; say when `migrate` is needed after."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(current_app.root_path) / "migrations"))
    scripts = ScriptDirectory.from_config(config)
    if head is None:
        return "the archive's database has no migration version: run `fieldcase migrate`"
    for revision in head.split(","):
        try:
            scripts.get_revision(revision)
        except Exception as exc:  # alembic's own errors for an unknown revision
            raise click.ClickException(
                f"the archive's database is at migration {revision}, which this version of "
                "Fieldcase does not know (a newer one made it): install that version to "
                "restore. Nothing was written.") from exc
    if set(head.split(",")) != set(scripts.get_heads()):
        return (f"the archive's database is at migration {head}; this version's is "
                f"{','.join(scripts.get_heads())}: run `fieldcase migrate` after the restore")
    return None


def _backup_failure(exc: Exception) -> str:
    """A backup's or restore's failure in a line, never a traceback."""
    if isinstance(exc, StorageError):
        return (f"the object store failed: {exc} (STORAGE_URL; a new S3 bucket is made "
                "with `fieldcase init-storage`)")
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return f"the database failed: {getattr(exc, 'orig', None) or exc} (DATABASE_URL)"
    return str(exc)


def _database_url() -> str:
    """The URL the app's engine really uses: Flask-SQLAlchemy resolves a relative SQLite
    path (`sqlite:///rel.db`) against the instance folder, not the working directory, so
    DATABASE_URL as written may name another file. With the password, for pg_dump."""
    from server.extensions import db

    return db.engine.url.render_as_string(hide_password=False)


def _to_stderr(message: str) -> None:
    click.echo(message, err=True)  # progress and notes: stdout may be the archive itself


@cli.command("backup")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The archive to write (a tar); `-` writes it to stdout.")
def backup_cmd(output: str) -> None:
    """One archive of a consistent database snapshot (SQLite's online backup API, or
    pg_dump on PostgreSQL) and every object of the store, with a manifest of row counts
    and each object's size and sha256. The app keeps serving meanwhile. Keys are not in
    it (see README, "Backup and restore")."""
    from importlib.metadata import version

    from server.backup import KeyIndex

    storage = current_app.extensions["fieldcase.storage"]
    # The keys written, for the check below: kept on disk, whatever their number.
    with KeyIndex() as written:
        manifest = _write_backup(output, dict(
            database_url=_database_url(), storage=storage, keys=_keys_manifest(),
            app_version=version("fieldcase"), progress=_to_stderr, on_object=written.add))
        _check_named_objects(written, datetime.fromisoformat(manifest["created_at"]))


def _write_backup(output: str, args: dict[str, Any]) -> dict[str, Any]:
    from server.backup import BackupError, make_backup

    try:
        if output == "-":
            manifest = make_backup(sys.stdout.buffer, **args)
        else:
            # Written aside and renamed when whole: a cut backup never looks like one.
            partial = Path(f"{output}.partial")
            try:
                # 0o600, not the umask's 0o644: the archive holds every photo and row.
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)  # a .partial left from before keeps its old mode
                with os.fdopen(fd, "wb") as out:
                    manifest = make_backup(out, **args)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(partial, output)
            finally:
                partial.unlink(missing_ok=True)
    except (BackupError, StorageError, sa.exc.SQLAlchemyError) as exc:
        raise click.ClickException(_backup_failure(exc)) from exc
    _to_stderr(f"backup written: {output}; {manifest['object_count']} objects "
        f"({manifest['object_bytes']} bytes), {sum(manifest['database']['tables'].values())} "
        f"rows, migration {manifest['migration_head']}; keys are not in it")
    return manifest


# At most this many lost objects are named one by one (the count says the rest).
_NAMED_AT_MOST = 20


def _check_named_objects(held: Container[str], started: datetime) -> None:
    """Every object the rows name (those settled when the backup began) must have been
    in the store: one lost there before the backup is missing from the archive too, and
    nothing else would say so. The archive stays (it is still the best there is); the exit
    status is 1 and each lost object is named, with the row kind that names it."""
    from server.domain.core import named_objects

    try:
        lost = named_objects.missing_from(held, started)
    except sa.exc.SQLAlchemyError as exc:
        raise click.ClickException(
            "the archive is written, but the objects the database names could not be "
            f"checked against it: {type(exc).__name__}; run the backup again") from exc
    if not lost:
        return
    for what, key in lost[:_NAMED_AT_MOST]:
        click.echo(f"object {key} ({what}): named in the database, missing from the store",
                   err=True)
    if len(lost) > _NAMED_AT_MOST:
        click.echo(f"... and {len(lost) - _NAMED_AT_MOST} more", err=True)
    raise click.ClickException(
        f"{len(lost)} object(s) the database names were not in the store, so they are not in "
        "this archive either; it was written all the same. Restore them from an older "
        "backup or the store's versions (README, Backup and restore).")


def _print_findings(findings: list[Any], verb: str) -> None:
    for finding in findings:
        click.echo(str(finding), err=True)
    if findings:
        missing = sum("missing" in f.detail for f in findings)
        raise click.ClickException(f"{len(findings)} problem(s) {verb}"
                                   + (f", {missing} missing from the archive" if missing
                                      else ""))


@cli.command("backup-verify", with_appcontext=False)
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify_cmd(archive: Path) -> None:
    """Check an archive without restoring it: every object and the database file against
    the manifest's sizes and sha256. Names each one missing or different; exit status 1
    if any."""
    from server.backup import BackupError, check_archive

    try:
        manifest, findings = check_archive(archive)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_findings(findings, "in the archive")
    click.echo(f"{archive}: intact; {manifest['object_count']} objects, database "
               f"{manifest['database']['dialect']} at migration {manifest['migration_head']}, "
               f"made {manifest['created_at']}")


@cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--check", is_flag=True, help="Only check the archive (as backup-verify).")
@click.option("--partial", is_flag=True,
              help="Restore although objects are missing from the archive (each is named; "
                   "the exit status is still 1).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the database file is unpacked and checked before it is loaded, "
                   "and the archive's list of objects indexed (default: the system's "
                   "temporary folder; it needs the database's size and about twice the "
                   "list's).")
def restore_cmd(archive: Path, check: bool, partial: bool, work_dir: Path | None) -> None:
    """Restore an archive of `fieldcase backup` onto this instance's DATABASE_URL (a new
    SQLite file or an empty PostgreSQL database) and STORAGE_URL (a new bucket or folder).
    Refused, with nothing written, if either holds data. Checks every object's sha256 as
    it is written and names each one missing or different (exit status 1)."""
    from server.backup import BackupError, read_manifest, restore

    if check:
        backup_verify_cmd.callback(archive)  # type: ignore[misc]
        return
    try:
        note = _migration_note(read_manifest(archive).get("migration_head"))
        report = restore(archive, database_url=_database_url(),
                         storage=current_app.extensions["fieldcase.storage"],
                         partial=partial, work_dir=work_dir, progress=_to_stderr)
    except (BackupError, StorageError, sa.exc.SQLAlchemyError) as exc:
        raise click.ClickException(_backup_failure(exc)) from exc
    keys = report.manifest.get("keys", {})  # a dict: the manifest's shape was checked
    if keys.get("audit_public_key") != audit_checkpoints.public_key_hex():
        _to_stderr("note: this instance's AUDIT_SIGNING_KEY is not the one that signed the "
                   "backed-up checkpoints: give it the original key, and check the log with "
                   "`fieldcase verify-audit --public-key <the auditors' copy of the key>` "
                   "(the archive says it was signed by "
                   f"{keys.get('audit_public_key')}; a forged archive would carry its own "
                   "key, so compare it with the auditors' copy, never use it alone)")
    checks = keys.get("checks") if isinstance(keys.get("checks"), dict) else {}
    for name in _CHECKED:  # only these: a name the archive makes up is no setting here
        if name in checks and _key_check(current_app.config[name]) != checks[name]:
            _to_stderr(f"note: this instance's {name} is not the backed-up instance's; set "
                       "the original before serving (see README, \"Backup and restore\")")
    if not report.database_restored:
        _print_findings(report.findings, "in the archive; nothing was restored (--partial "
                                         "restores the rest)")
    _print_findings(report.findings, "after the restore")
    click.echo(f"restored {report.objects} objects ({report.object_bytes} bytes) and the "
               f"database ({sum(report.manifest['database']['tables'].values())} rows) "
               f"from {archive}" + (f"; {note}" if note else ""))


@cli.command("checkpoint-audit")
# The sweep's lock: a sweep signs the head as it ends, and two signings at once would
# have one wait on the other's row while it writes the store's copy.
@_once_across_nodes("checkpoint-audit", lock="sweep")
def checkpoint_audit_cmd() -> None:
    """Sign the audit log's head now (the sweep does this every run)."""
    row = audit_checkpoints.checkpoint()
    click.echo(f"checkpoint at audit entry {row.audit_seq}" if row else "nothing new to sign")


@cli.command("audit-public-key")
def audit_public_key_cmd() -> None:
    """The public half of AUDIT_SIGNING_KEY: give it to auditors (verify-audit --public-key)."""
    click.echo(audit_checkpoints.public_key_hex())


@cli.command("sweep")
@click.option("--no-deliver", is_flag=True, help="Raise reminders but post no webhooks.")
@_once_across_nodes("sweep")
def sweep_cmd(no_deliver: bool) -> None:
    """Raise due milestones and overdue escalations once; post them to the webhooks."""
    with periodic.recorded("sweep") as run:
        run.result = sweep.sweep(deliver=not no_deliver)
        run.ok = not run.result.get("audit_checkpoint_failed")
    click.echo(json.dumps(run.result))


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
def worker_cmd(burst: bool) -> None:
    """Run jobs (batch closure files, archives) from the RQ queue on JOBS_REDIS_URL, and
    reap the jobs of killed workers. Run several: each job is done once."""
    from server.domain.jobs import worker

    try:
        worker.run(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("reap-jobs")
def reap_jobs_cmd() -> None:
    """Once: take again the jobs whose worker stopped, fail those out of attempts, send
    those that never reached the queue, delete results past JOB_RESULT_DAYS."""
    from server.domain.jobs import runner

    click.echo(json.dumps(runner.reap()))


@cli.command("load-calendar")
@click.argument("year", type=int)
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--source", default="", help="Where the schedule comes from (the notice).")
def load_calendar_cmd(year: int, file: Any, source: str) -> None:
    """Load a year's holidays and make-up working days from a JSON list of
    {date, kind: holiday|workday, name}."""
    from server.domain.cases.workcalendar import CalendarDataError, check_year

    try:
        days = check_year(year, json.load(file))
    except (CalendarDataError, ValueError) as exc:
        raise click.ClickException(f"{exc} {getattr(exc, 'errors', '')}") from exc
    with transaction():
        recomputed = workdays.write_year(year, days, source=source or file.name,
                                         actor_id=None)
        audit.append("calendar.loaded", "calendar", str(year), actor_id=None,
                     data={"days": len(days), "source": source or file.name,
                           "recomputed": recomputed})
    click.echo(f"{year}: {len(days)} days loaded; {recomputed} provisional deadlines "
               "counted again")


@cli.command("openapi")
@click.option("--output", type=click.Path(dir_okay=False), default="-")
def openapi_cmd(output: str) -> None:
    """Write the OpenAPI document (docs/openapi.json is kept in the repo)."""
    spec = current_app.extensions["fieldcase.api"].spec.to_dict()
    text = json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def main() -> None:
    cli(prog_name="fieldcase")
