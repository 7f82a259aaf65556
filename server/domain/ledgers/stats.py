"""Rates and counts (办结率, 及时率, 回访率, 满意度, 抽查不满意率; counts by category,
channel, unit and date received) over the cases a user sees, as of any moment.

Set-based throughout: three statements for the five rates, each one pass over the
period's cases in ix_cases_rates (their standing, and their latest revisit answer, as of
the moment: today's copies on the case, the event log or the revisits only for the cases
changed since), and one GROUP BY per count, whatever the number of cases. Nothing is
written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from server.domain.accounts import scope
from server.domain.core import labels
from server.domain.core.errors import NotFound
from server.domain.ledgers import asof, ledger_period
from server.domain.ledgers.definitions import BUCKETS, RATES
from server.domain.ledgers.period import Period
from server.domain.revisits import answers
from server.extensions import db
from server.models import Case, Revisit, RevisitSample, SampleCase, Unit, User

GOOD = ("satisfied", "basically_satisfied")
BAD = "dissatisfied"


@dataclass(frozen=True)
class Scope:
    unit: Unit | None = None
    channel: str | None = None
    category: str | None = None


def narrowed(user: User, unit_id: str | None, channel: str | None,
             category: str | None) -> Scope:
    """The narrowing asked for; a unit the user does not see is 404, as if none."""
    unit = None
    if unit_id:
        unit = db.session.get(Unit, unit_id)
        if unit is None or unit.id not in scope.visible_unit_ids(user):
            raise NotFound("unit.not_found", "No such unit.")
    return Scope(unit=unit, channel=channel, category=category)


def case_filter(user: User, p: Period, s: Scope) -> list[sa.ColumnElement[bool]]:
    """The cases the figures are about: seen by the user, received in the period and by
    the moment, in the unit's subtree, of the channel and category."""
    where = [scope.visible_clause(user), Case.received_at >= p.start,
             Case.received_at < p.end, Case.received_at <= p.at]
    if s.unit is not None:
        where.append(Case.unit_id.in_(scope.subtree([s.unit.id])))
    if s.channel:
        where.append(Case.channel == s.channel)
    if s.category:
        where.append(Case.category == s.category)
    return where


def _count(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _short_plans() -> None:
    """Plans for the rates' one pass, on PostgreSQL, for this transaction only: no JIT
    (the planner prices a CASE's subquery as if it ran for every row, then spends about a
    second compiling the statement to save milliseconds), and index pages priced as the
    cached pages they are (the default 4.0 assumes a spinning disk and makes the planner
    read the cases' wide rows rather than ix_cases_rates' narrow entries)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL jit = off"))
        db.session.execute(sa.text("SET LOCAL random_page_cost = 1.1"))


def _standing(where: list[sa.ColumnElement[bool]], at: datetime) -> sa.Subquery:
    """Per case of the period: its standing as of `at` (asof.code_at) and when a revisit
    first reached someone. OFFSET 0 keeps it a subquery, so the event-log probe of a case
    changed since `at` runs once, not once per figure that reads it."""
    return (sa.select(asof.code_at(at).label("code"),
                      Case.revisit_reached_at.label("reached"))
            .where(*where).offset(0).subquery("standing"))


def _closure_parts(where: list[sa.ColumnElement[bool]], at: datetime) -> dict[str, int]:
    """Received, closed, closed on time, closed with a deadline (one pass over the
    period's cases; the events only of those whose closure changed after `at`)."""
    code = _standing(where, at).c.code
    _short_plans()
    row = db.session.execute(
        sa.select(sa.func.count().label("received"),
                  _count(code.in_(asof.CLOSED)).label("closed"),
                  _count(code == asof.ON_TIME).label("on_time"),
                  _count(code.in_((asof.ON_TIME, asof.LATE))).label("with_deadline"))
        ).one()
    return {k: int(v) for k, v in row._mapping.items()}


def _revisit_parts(where: list[sa.ColumnElement[bool]], at: datetime) -> dict[str, int]:
    """Closed, and closed with a revisit that reached someone by `at` (the case's
    `revisit_reached_at`, kept by the revisits)."""
    standing = _standing(where, at)
    closed = standing.c.code.in_(asof.CLOSED)
    _short_plans()
    row = db.session.execute(
        sa.select(_count(closed).label("closed"),
                  _count(sa.and_(closed, standing.c.reached <= at)).label("revisited"))
        ).one()
    return {k: int(v) for k, v in row._mapping.items()}


def latest_answers(at: datetime) -> sa.Subquery:
    """The revisits alone: each case's latest answer by `at`, packed (answers.packed)."""
    return (sa.select(Revisit.case_id, sa.func.max(answers.packed()).label("last"))
            .where(Revisit.satisfaction.is_not(None), Revisit.received_at <= at)
            .group_by(Revisit.case_id).subquery("latest"))


def _answer_at(at: datetime) -> sa.ColumnElement[int]:
    """SQL over a `cases` row: its latest answer by `at`, packed. The case's copy when its
    latest answered revisit was received by `at`; else its revisits by `at`
    (ix_revisits_answered), a subquery that a CASE runs only for those few rows."""
    r = aliased(Revisit)
    then = (sa.select(sa.func.max(answers.packed(r)))
            .where(r.case_id == Case.id, r.satisfaction.is_not(None), r.received_at <= at)
            .correlate(Case).scalar_subquery())
    return sa.case((Case.last_answer_at <= at, Case.last_answer), else_=then)


def _answer_parts(where: list[sa.ColumnElement[bool]], at: datetime) -> dict[str, int]:
    """Of the latest answer per case by `at`: answered, satisfied or basically, and among
    the spot-checked cases (a sample not voided by `at`) answered and dissatisfied. Only
    the period's cases with an answer today are read (ix_cases_rates)."""
    sampled = (sa.select(SampleCase.case_id)
               .join(RevisitSample, RevisitSample.id == SampleCase.sample_id)
               .where(RevisitSample.created_at <= at,
                      sa.or_(RevisitSample.voided_at.is_(None), RevisitSample.voided_at > at)))
    latest = (sa.select(_answer_at(at).label("last"),
                        sa.case((Case.id.in_(sampled), 1), else_=0).label("sampled"))
              .where(*where, Case.last_answer.is_not(None)).offset(0).subquery("latest"))
    answer, in_sample = latest.c.last % 4, latest.c.sampled == 1
    good = [answers.ANSWER_CODES[k] for k in GOOD]
    _short_plans()
    row = db.session.execute(
        sa.select(sa.func.count().label("answered"),
                  _count(answer.in_(good)).label("satisfied"),
                  _count(in_sample).label("sampled_answered"),
                  _count(sa.and_(in_sample, answer == answers.ANSWER_CODES[BAD]))
                  .label("sampled_dissatisfied"))
        .where(latest.c.last.is_not(None))).one()
    return {k: int(v) for k, v in row._mapping.items()}


def percent(numerator: int, denominator: int) -> str | None:
    """One decimal, rounded half up as offices round: 600/607 is 98.8%."""
    if not denominator:
        return None
    value = (Decimal(numerator) * 100 / Decimal(denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value}%"


def rates(where: list[sa.ColumnElement[bool]], at: datetime) -> list[dict[str, Any]]:
    cases = _closure_parts(where, at)
    cases.update(_revisit_parts(where, at))
    said = _answer_parts(where, at)
    parts = {
        "closure_rate": (cases["closed"], cases["received"]),
        "on_time_rate": (cases["on_time"], cases["with_deadline"]),
        "revisit_rate": (cases["revisited"], cases["closed"]),
        "satisfaction_rate": (said["satisfied"], said["answered"]),
        "spot_check_dissatisfied_rate": (said["sampled_dissatisfied"],
                                         said["sampled_answered"]),
    }
    out = []
    for rate in RATES:
        num, den = parts[rate.code]
        out.append({"code": rate.code, "label": rate.label, "numerator": num,
                    "denominator": den, "value": num / den if den else None,
                    "percent": percent(num, den), "definition": rate.definition,
                    "numerator_means": rate.numerator_means,
                    "denominator_means": rate.denominator_means})
    return out


# ---- counts ----------------------------------------------------------------------------
def _named(group: str, rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"key": key, "label": {"zh": labels.label(group, key, "zh"),
                                   "en": labels.label(group, key, "en")}, "count": int(n)}
            for key, n in sorted(rows, key=lambda r: (-r[1], r[0]))]


def _local_day(p: Period) -> sa.ColumnElement[Any]:
    """SQL: the local date a case was received. SQLite has no zones: the zone's offset at
    the period's start is used (Asia/Shanghai keeps one all year)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone(p.tz.key, Case.received_at), sa.Date)
    offset = p.start.astimezone(p.tz).utcoffset() or timedelta(0)
    return sa.func.date(Case.received_at, f"{int(offset.total_seconds() // 60):+d} minutes")


def bucket_of(day: date, bucket: str) -> str:
    if bucket == "day":
        return day.isoformat()
    if bucket == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def buckets(p: Period, bucket: str, per_day: dict[date, int]) -> list[dict[str, Any]]:
    """Every bucket of the period, empty ones too (a chart's axis has no gaps), each with
    the days of it inside the period."""
    out: dict[str, dict[str, Any]] = {}
    day = p.first
    while day <= p.last:
        key = bucket_of(day, bucket)
        item = out.setdefault(key, {"key": key, "first": day, "last": day, "count": 0})
        item["last"] = day
        item["count"] += per_day.get(day, 0)
        day += timedelta(days=1)
    return list(out.values())


def counts(where: list[sa.ColumnElement[bool]], p: Period, bucket: str) -> dict[str, Any]:
    def grouped(column: sa.ColumnElement[Any]) -> list[tuple[Any, int]]:
        return [(k, int(n)) for k, n in db.session.execute(
            sa.select(column, sa.func.count()).where(*where).group_by(column))]

    by_unit = db.session.execute(
        sa.select(Unit.id, Unit.name, sa.func.count(Case.id)).join(Unit, Unit.id == Case.unit_id)
        .where(*where).group_by(Unit.id, Unit.name)).all()
    day = _local_day(p)
    per_day = {date.fromisoformat(str(k)): n for k, n in grouped(day)}
    return {
        "by_category": _named("categories", grouped(Case.category)),
        "by_channel": _named("channels", grouped(Case.channel)),
        "by_unit": [{"key": uid, "label": {"zh": name, "en": name}, "count": int(n)}
                    for uid, name, n in sorted(by_unit, key=lambda r: (-r[2], r[1]))],
        "by_period": buckets(p, bucket, per_day),
    }


# ---- the report ------------------------------------------------------------------------
def report(user: User, p: Period, s: Scope, bucket: str, max_days: int) -> dict[str, Any]:
    """GET /api/stats: the rates with their definitions and the counts, as of `p.at`."""
    ledger_period.require_reader(user)
    if bucket not in BUCKETS:
        bucket = "week"
    where = case_filter(user, p, s)
    return {
        "as_of": p.at.astimezone(p.tz),
        "period": {"first": p.first, "last": p.last},
        "scope": {"unit": {"id": s.unit.id, "name": s.unit.name} if s.unit else None,
                  "channel": s.channel, "category": s.category},
        "rates": rates(where, p.at),
        "counts": counts(where, p, bucket),
        "limits": {"max_days": max_days},
    }

