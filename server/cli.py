"""Operator commands, installed as the `fieldcase` console script."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
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
    counts = completion.reconcile(older_than=grace,
                                        expire_after=timedelta(hours=expire_after_hours))
    manifests = sealing.reconcile_manifests(older_than=grace)
    counts["manifests_removed"] = manifests["manifests_removed"]
    counts["errors"] += manifests["errors"]
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
    click.echo(json.dumps(sweep.sweep(deliver=not no_deliver)))


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
