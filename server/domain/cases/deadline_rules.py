"""Deadline rules as versioned data in the database, and the deadline stored on a case.

A case keeps the rule version it started under; a new version applies to new cases only
and says what it would have done to the open ones. The case's deadline columns are
recomputed from its clock events whenever one of them is appended.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import ADMIN_ROLES, require_district_admin, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import deadlines, workdays
from server.domain.core import runtime
from server.domain.core.errors import Invalid
from server.domain.core.uow import command
from server.domain.core.vocab import CHANNELS, OPEN_STATUSES
from server.extensions import db
from server.models import Case, DeadlineRule, Notification, User
from server.models.base import utcnow
from server.models.case import COLOUR_FINAL, COLOUR_STALE

# How many open cases a rule change is tried on to say what it would do.
IMPACT_SAMPLE = 2000


def current_rules() -> list[DeadlineRule]:
    """The newest version of every rule, in the order they are tried."""
    newest = (sa.select(DeadlineRule.code, sa.func.max(DeadlineRule.version).label("v"))
              .group_by(DeadlineRule.code).subquery())
    rows = db.session.scalars(sa.select(DeadlineRule).join(
        newest, sa.and_(DeadlineRule.code == newest.c.code,
                        DeadlineRule.version == newest.c.v))).all()
    return sorted(rows, key=lambda r: (r.body.get("priority", 100),
                                       r.body.get("key") is None, r.code))


def rule_for(channel: str, key: bool) -> DeadlineRule | None:
    return next((r for r in current_rules() if deadlines.matches(r.body, channel, key)), None)


@cache
def _frozen(code: str, version: int, url: str) -> dict[str, Any]:  # versions never change
    row = db.session.scalar(sa.select(DeadlineRule).filter_by(code=code, version=version))
    if row is None:
        raise LookupError(f"deadline rule {code} v{version} is missing")
    return row.body


def rule_body(code: str, version: int) -> dict[str, Any]:
    return _frozen(code, version, str(db.engine.url))


def _tz() -> ZoneInfo:
    return ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))


def clock_events(case: Case) -> list[deadlines.ClockEvent]:
    return [deadlines.ClockEvent(e.kind, e.at, e.data)
            for e in timeline.events(case.id, kinds=deadlines.CLOCK_EVENTS)]


def compute(case: Case, events: list[deadlines.ClockEvent],
            rule: dict[str, Any] | None = None) -> deadlines.Schedule | None:
    if case.deadline_rule is None:
        return None
    body = rule or rule_body(case.deadline_rule, case.deadline_rule_version)
    cal = workdays.calendar() if deadlines.needs_calendar(body) else None
    # A year not loaded gives a provisional schedule (weekends only), never a refusal: it
    # is recomputed when the year is loaded (workdays.load_year); the board warns meanwhile.
    return deadlines.schedule(body, case.deadline_rule_version, events, calendar=cal,
                              tz=_tz())


def refresh(case: Case, now: datetime | None = None,
            pending: deadlines.ClockEvent | None = None) -> None:
    """Store the case's deadline as its events say (a helper: no commit). `pending` is the
    event about to be appended, so the case's row is written, and versioned, once."""
    if case.status not in OPEN_STATUSES or case.deadline_rule is None:
        _store(case, None, now)
        return
    with db.session.no_autoflush:  # the row is written once, after this
        events = clock_events(case) if case.id else []
        _store(case, compute(case, events + ([pending] if pending else [])), now)


def _store(case: Case, s: deadlines.Schedule | None, now: datetime | None) -> None:
    now = now or utcnow()
    if s is None:
        case.due_at = case.next_milestone_at = case.milestones = None
        case.deadline_provisional = False
        case.colour0 = case.colour1 = case.colour2 = case.colour3 = None
        case.colour1_at = case.colour2_at = case.colour3_at = None
        case.colour, case.colour_until = None, COLOUR_FINAL
        return
    # Computed in SQL until the next sweep caches it (resolve_colours): the colour is
    # decided in one place, colour_sql.
    case.colour, case.colour_until = None, COLOUR_STALE
    case.due_at = s.due_at
    case.deadline_provisional = s.provisional
    case.extended_days = s.extended_days
    case.milestones = [{"name": m.name, "at": m.at.isoformat()} for m in s.milestones]
    # The sweep raises every milestone not raised yet, those already behind the case too
    # (a case typed in late, a reminder missed): it marks them late, never skips them.
    raised = _raised(case)
    case.next_milestone_at = next((m.at for m in s.milestones
                                   if sweep_key(case.id, m.name, m.at) not in raised), None)
    case.colour0 = s.colour0
    steps = list(s.steps) + [(None, None)] * (3 - len(s.steps))
    (case.colour1_at, case.colour1), (case.colour2_at, case.colour2), \
        (case.colour3_at, case.colour3) = steps[:3]


def sweep_key(case_id: str | None, name: str, at: datetime) -> str:
    """What makes a raise once (Notification.dedupe_key): the case, milestone and instant."""
    return f"{case_id}:{name}:{at.isoformat()}"


def _raised(case: Case) -> set[str]:
    if case.id is None:  # a new case: nothing raised yet
        return set()
    return set(db.session.scalars(sa.select(Notification.dedupe_key)
                                  .where(Notification.case_id == case.id)))


# What refresh writes: copied by recompute_provisional without touching the row's version.
_DEADLINE_COLUMNS = ("due_at", "next_milestone_at", "milestones", "extended_days",
                     "deadline_provisional", "colour0", "colour1", "colour1_at", "colour2",
                     "colour2_at", "colour3", "colour3_at", "colour", "colour_until")


def recompute_provisional(now: datetime | None = None) -> int:
    """Count again the open cases whose deadline was provisional, now that a year is
    loaded (a helper of the load: no commit). Not a change a user made: the rows'
    versions, which a phone's queued action carries, stay (a plain table UPDATE)."""
    table = Case.__table__
    cases = db.session.scalars(sa.select(Case).where(Case.deadline_provisional.is_(True),
                                                     Case.status.in_(OPEN_STATUSES))).all()
    for case in cases:
        refresh(case, now)
        values = {name: getattr(case, name) for name in _DEADLINE_COLUMNS}
        db.session.expunge(case)  # its changes go through the UPDATE below only
        db.session.execute(table.update().where(table.c.id == case.id)
                           .values(**values, updated_at=table.c.updated_at))
    return len(cases)


workdays.ON_LOAD.append(recompute_provisional)


def stored_schedule(case: Case) -> deadlines.Schedule | None:
    """The schedule kept on the case (no events read): for lists and presenters."""
    if case.due_at is None or case.deadline_rule is None:
        return None
    steps = tuple((at, c) for at, c in ((case.colour1_at, case.colour1),
                                        (case.colour2_at, case.colour2),
                                        (case.colour3_at, case.colour3)) if at is not None)
    milestones = tuple(deadlines.Milestone(m["name"], datetime.fromisoformat(m["at"]))
                       for m in case.milestones or [])
    return deadlines.Schedule(rule=case.deadline_rule, rule_version=case.deadline_rule_version,
                              due_at=case.due_at, milestones=milestones,
                              colour0=case.colour0 or "green", steps=steps,
                              extended_days=case.extended_days or 0,
                              provisional=bool(case.deadline_provisional))


def deadline_of(case: Case, now: datetime) -> deadlines.Deadline | None:
    s = stored_schedule(case)
    return deadlines.tell(s, now) if s and case.status in OPEN_STATUSES else None


def colour_sql(now: datetime) -> sa.ColumnElement[str]:
    """SQL: the case's colour at `now`, or 'overdue' past its due date (apart from red)."""
    return sa.case(
        (Case.due_at <= now, "overdue"),
        (Case.colour3_at <= now, Case.colour3),
        (Case.colour2_at <= now, Case.colour2),
        (Case.colour1_at <= now, Case.colour1),
        else_=Case.colour0)


def colour_now(now: datetime) -> sa.ColumnElement[str]:
    """SQL: the colour at `now`, read from the cache while it holds (see Case.colour)."""
    return sa.case((Case.colour_until > now, Case.colour), else_=colour_sql(now))


def colour_is(colour: str, now: datetime) -> sa.ColumnElement[bool]:
    """SQL: the case has `colour` at `now`, in two branches an index can each serve."""
    return sa.or_(*colour_arms(colour, now))


def colour_arms(colour: str, now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """`colour_is` as its two disjoint branches: cached (read in order from the open
    cases' (colour, received_at) or the (colour, due_at) index), and lapsed (the few
    whose cache ran out since the last sweep)."""
    return (sa.and_(Case.colour == colour, Case.colour_until > now),
            sa.and_(Case.colour_until <= now, colour_sql(now) == colour))


def resolve_colours(now: datetime, limit: int = 5_000) -> int:
    """Cache the colour of up to `limit` cases whose cached colour has lapsed, until its
    next change (a helper of the sweep: no commit). The instants ascend (check_rule), so
    the first one ahead is the next change; past the due date nothing changes any more."""
    ahead = sa.case(*((at > now, at) for at in (Case.colour1_at, Case.colour2_at,
                                                Case.colour3_at, Case.due_at)),
                    else_=COLOUR_FINAL)
    lapsed = sa.select(Case.id).where(Case.colour_until <= now).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        lapsed = lapsed.with_for_update(skip_locked=True)  # another sweep has those
    # A cache, not a change to the case: no version bump, updated_at kept.
    result = db.session.execute(
        Case.__table__.update().where(Case.id.in_(lapsed.scalar_subquery()))
        .values(colour=colour_sql(now), colour_until=ahead, updated_at=Case.updated_at))
    return result.rowcount or 0


def assign_rule(case: Case, rules: dict[tuple[str, bool], Any] | None = None) -> None:
    """Freeze the current rule for the case's channel and key flag on it. `rules`: a cache
    of those already looked up (a sheet's thousands of cases share a few channels)."""
    wanted = (case.channel, bool(case.key))
    rules = {} if rules is None else rules
    if wanted not in rules:
        rules[wanted] = rule_for(*wanted)
    row = rules[wanted]
    case.deadline_rule = row.code if row else None
    case.deadline_rule_version = row.version if row else None


def deadline_at(case: Case, when: datetime) -> deadlines.Deadline | None:
    """The deadline as it stood at a past moment, recomputed from the events up to then."""
    past = [e for e in clock_events(case) if e.at <= when]
    if not past or case.deadline_rule is None:
        return None
    if past[-1].kind == "approved":
        return None  # closed then (a reopen after it would be the last clock event)
    s = compute(case, past)
    return deadlines.tell(s, when) if s else None


# ---- admin -----------------------------------------------------------------------------
def _check_overlap(body: dict[str, Any]) -> None:
    for other in current_rules():
        if other.code == body["code"] or other.body.get("priority", 100) != body.get(
                "priority", 100):
            continue
        keys_meet = None in (other.body.get("key"), body.get("key")) or \
            other.body.get("key") == body.get("key")
        shared = sorted(set(other.body["channels"]) & set(body["channels"]))
        if keys_meet and shared:
            raise Invalid("deadline_rule.overlap",
                          f"Rule {other.code} already covers {', '.join(shared)}; give one "
                          "of them another priority or other channels.",
                          errors={"channels": [f"Also under {other.code}: "
                                               f"{', '.join(shared)}"]})


def validate(body: dict[str, Any]) -> None:
    try:
        deadlines.check_rule(body)
    except deadlines.RuleError as exc:
        raise Invalid(exc.code, str(exc), errors=exc.errors) from exc
    unknown = sorted(set(body["channels"]) - set(CHANNELS))
    if unknown:
        raise Invalid("deadline_rule.bad_channel", f"Unknown channels: {', '.join(unknown)}.",
                      errors={"channels": [f"Unknown: {', '.join(unknown)}"]})
    _check_overlap(body)


def impact(user: User, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What the new version would do to the open cases now under this code that the user
    sees (they keep theirs): a street's admin is told about their street's cases only."""
    query = (scope.cases_query(user).where(Case.deadline_rule == body["code"],
                                           Case.status.in_(OPEN_STATUSES))
             .order_by(Case.received_at.desc()))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    moved = earlier = 0
    sample = db.session.scalars(query.limit(IMPACT_SAMPLE)).all()
    for case in sample:
        new = compute(case, clock_events(case), rule=body)
        if new and case.due_at and new.due_at != case.due_at:
            moved += 1
            earlier += new.due_at < case.due_at
    return {"open_cases": total, "examined": len(sample), "would_move_due": moved,
            "would_be_due_earlier": earlier,
            "applied": "New cases only; open cases keep the version they started with."}


@command
def save_rule(user: User, body: dict[str, Any], *, dry_run: bool = False
              ) -> tuple[DeadlineRule | None, dict[str, Any]]:
    # Any admin may try a rule on their own cases; saving one changes it district-wide.
    if dry_run:
        require_role(user, ADMIN_ROLES, "deadline_rule.forbidden",
                     "Only an admin may change deadline rules.")
    else:
        require_district_admin(user, "deadline_rule.forbidden",
                               "Only an admin may change deadline rules.")
    validate(body)
    now = utcnow()
    report = impact(user, body, now)
    if dry_run:
        return None, report
    latest = db.session.scalar(sa.select(sa.func.max(DeadlineRule.version))
                               .where(DeadlineRule.code == body["code"])) or 0
    row = DeadlineRule(code=body["code"], version=latest + 1, body=body, created_by=user.id)
    db.session.add(row)
    db.session.flush()
    audit.append("deadline_rule.saved", "deadline_rule", row.id, actor_id=user.id,
                 data={"code": row.code, "version": row.version, "impact": report})
    return row, report
