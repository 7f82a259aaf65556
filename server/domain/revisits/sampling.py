"""Revisit sampling (seed 000: 10% of a year's cases revisited by phone as a spot check).

A sample is a share of the handled cases received in a period, stratified (by unit,
channel) with proportional allocation, at least one case from every non-empty stratum, no
case twice. It is drawn from a recorded seed: the same parameters, seed and population
draw the same cases, so anyone can re-draw it and check.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, REVISIT_ROLES, require_role
from server.domain.audit import audit
from server.domain.cases import hooks
from server.domain.core.errors import Conflict, Invalid, NotFound
from server.domain.core.uow import command
from server.domain.core.vocab import SATISFACTION
from server.extensions import db
from server.models import Case, Revisit, RevisitSample, SampleCase, Unit, User
from server.models.base import utcnow

# Cases a revisit follows: handled (submitted for review) or closed.
HANDLED = ("submitted", "closed")
_COLUMNS = {"unit": Case.unit_id, "channel": Case.channel}


# ---- the draw: pure --------------------------------------------------------------------
def allocate(sizes: dict[str, int], share: float) -> dict[str, int]:
    """Cases to draw per stratum: proportional by largest remainder to the total
    round(share x N), then at least one from every non-empty stratum. Each count is within
    one case of share x its stratum's size."""
    quotas = {s: share * n for s, n in sizes.items() if n > 0}
    counts = {s: math.floor(q) for s, q in quotas.items()}
    total = round(share * sum(sizes.values()))
    # Largest remainders first; ties by name, so the allocation never depends on order.
    for s in sorted(quotas, key=lambda s: (counts[s] - quotas[s], s))[:max(
            0, total - sum(counts.values()))]:
        counts[s] += 1
    return {s: min(sizes[s], max(1, n)) for s, n in counts.items()}


def draw(population: Iterable[tuple[str, str]], share: float, seed: str
         ) -> dict[str, list[str]]:
    """{stratum: [case ids drawn]} from (case_id, stratum) pairs. Each stratum draws with
    its own generator seeded by (seed, stratum): a stratum's cases do not depend on the
    other strata, nor on the order the population came in."""
    members: dict[str, list[str]] = defaultdict(list)
    for case_id, stratum in population:
        members[stratum].append(case_id)
    counts = allocate({s: len(ids) for s, ids in members.items()}, share)
    return {s: sorted(random.Random(f"{seed}|{s}").sample(sorted(members[s]), counts[s]))
            for s in sorted(members)}


def population_hash(case_ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(case_ids)).encode()).hexdigest()


def stratum_of(strata: list[str], row: Any) -> str:
    return "|".join(f"{name}={getattr(row, name)}" for name in strata) or "all"


# ---- the population and the command ----------------------------------------------------
def population(user: User, period_from: datetime, period_to: datetime,
               strata: list[str]) -> list[tuple[str, str]]:
    """(case id, stratum) of the handled cases received in [from, to) that the user sees.
    Read as narrow rows in one query: the draw needs every id of the period once."""
    query = (scope.cases_query(user)
             .with_only_columns(Case.id, *(_COLUMNS[s].label(s) for s in strata))
             .where(Case.status.in_(HANDLED), Case.received_at >= period_from,
                    Case.received_at < period_to))
    return [(row.id, stratum_of(strata, row)) for row in db.session.execute(query)]


def _same_draw(user: User, params: dict[str, Any]) -> RevisitSample | None:
    """A live sample already drawn with these parameters and seed over the same units:
    drawing it again would task every case twice."""
    rows = db.session.scalars(sa.select(RevisitSample).where(
        RevisitSample.seed == params["seed"], RevisitSample.share == params["share"],
        RevisitSample.period_from == params["period_from"],
        RevisitSample.period_to == params["period_to"], RevisitSample.voided_at.is_(None))
        .order_by(RevisitSample.created_at))
    units = sorted(u.id for u in user.units)
    return next((s for s in rows if s.strata == params["strata"] and s.unit_scope == units),
                None)


def _plan(user: User, *, period_from: datetime, period_to: datetime, share: float,
          strata: list[str], seed: str | None) -> dict[str, Any]:
    """The draw's parameters checked, its population read and its cases drawn; nothing
    written (a preview is this)."""
    require_role(user, OFFICE_ROLES, "sample.forbidden", "Only the office draws samples.")
    if period_to <= period_from:
        raise Invalid("sample.bad_period", "The period ends before it starts.",
                      errors={"to": ["After from."]})
    strata = list(dict.fromkeys(strata))  # each once, in the order given
    seed = seed or secrets.token_hex(8)
    people = population(user, period_from, period_to, strata)
    if not people:
        raise Invalid("sample.empty", "No handled cases were received in that period.",
                      errors={"from": ["No handled cases in the period."]})
    drawn = draw(people, share, seed)
    sizes: dict[str, int] = defaultdict(int)
    for _, stratum in people:
        sizes[stratum] += 1
    return {"period_from": period_from, "period_to": period_to, "share": share,
            "strata": strata, "seed": seed, "population": len(people),
            "population_hash": population_hash(c for c, _ in people), "drawn": drawn,
            "allocation": [{"stratum": s, "population": sizes[s], "drawn": len(ids)}
                           for s, ids in drawn.items()]}


def preview(user: User, **params: Any) -> dict[str, Any]:
    """What a draw would take, written nowhere: the office looks before it tasks anyone."""
    plan = _plan(user, **params)
    return {**{k: v for k, v in plan.items() if k != "drawn"},
            "cases": [{"case_id": c, "stratum": s}
                      for s, ids in plan["drawn"].items() for c in ids]}


@command
def create(user: User, *, period_from: datetime, period_to: datetime, share: float,
           strata: list[str], seed: str | None) -> tuple[RevisitSample, bool]:
    """(sample, created): the same seed and parameters return the live sample drawn
    before instead of a second one."""
    if seed:
        require_role(user, OFFICE_ROLES, "sample.forbidden", "Only the office draws samples.")
        earlier = _same_draw(user, {"seed": seed, "share": share, "period_from": period_from,
                                    "period_to": period_to,
                                    "strata": list(dict.fromkeys(strata))})
        if earlier is not None:
            return earlier, False
    plan = _plan(user, period_from=period_from, period_to=period_to, share=share,
                 strata=strata, seed=seed)
    drawn = plan.pop("drawn")
    sample = RevisitSample(**plan, unit_scope=sorted(u.id for u in user.units),
                           created_by=user.id)
    db.session.add(sample)
    db.session.flush()
    db.session.add_all(SampleCase(sample_id=sample.id, case_id=case_id, stratum=stratum)
                       for stratum, ids in drawn.items() for case_id in ids)
    audit.append("sample.drawn", "revisit_sample", sample.id, actor_id=user.id,
                 data={"seed": sample.seed, "share": share, "strata": sample.strata,
                       "population": sample.population,
                       "drawn": sum(map(len, drawn.values())),
                       "population_hash": sample.population_hash})
    return sample, True


@command
def void(user: User, sample_id: str, reason: str) -> RevisitSample:
    """Void a sample drawn wrongly: kept for the record, its tasks gone with it."""
    require_role(user, OFFICE_ROLES, "sample.forbidden", "Only the office voids samples.")
    sample = get(user, sample_id)
    if not reason.strip():
        raise Invalid("sample.void_reason", "Say why the sample is voided.",
                      errors={"reason": ["Required."]})
    if sample.voided_at is not None:
        raise Conflict("sample.voided", "This sample is already voided.")
    sample.voided_at, sample.voided_by, sample.void_reason = utcnow(), user.id, reason.strip()
    audit.append("sample.voided", "revisit_sample", sample.id, actor_id=user.id,
                 data={"reason": sample.void_reason, "seed": sample.seed})
    return sample


def redraw(user: User, sample: RevisitSample) -> dict[str, list[str]]:
    """The sample drawn again from its recorded parameters (for checking it)."""
    people = population(user, sample.period_from, sample.period_to, sample.strata)
    return draw(people, sample.share, sample.seed)


def get(user: User, sample_id: str) -> RevisitSample:
    require_role(user, (*OFFICE_ROLES, *REVISIT_ROLES), "sample.forbidden",
                 "Your role may not see revisit samples.")
    sample = db.session.get(RevisitSample, sample_id)
    # Visible to whoever sees every unit it was drawn over (it counts their cases).
    if sample is None or not set(sample.unit_scope) <= scope.visible_unit_ids(user):
        raise NotFound("sample.not_found", "No such sample.")
    return sample


@command
def assign(user: User, sample_id: str, user_ids: list[str]) -> RevisitSample:
    """Share the sample's unassigned cases among these revisit users, in turn."""
    require_role(user, OFFICE_ROLES, "sample.forbidden", "Only the office assigns samples.")
    sample = get(user, sample_id)
    if sample.voided_at is not None:
        raise Conflict("sample.voided", "This sample is voided; draw a new one.")
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(user_ids)))}
    wrong = [i for i in user_ids if i not in people or not people[i].active
             or people[i].role not in REVISIT_ROLES]
    if wrong:
        raise Invalid("sample.bad_assignee", "Not active revisit staff: " + ", ".join(wrong),
                      errors={"user_ids": [f"Not revisit staff: {', '.join(wrong)}"]})
    # Assigned cases reach the assignee's task list with their subjects and addresses:
    # only staff who may see every case of the sample take it (nothing written otherwise).
    case_ids = set(db.session.scalars(sa.select(SampleCase.case_id)
                                      .filter_by(sample_id=sample.id)))
    blind = [people[i].username for i in dict.fromkeys(user_ids)
             if scope.visible_case_ids(people[i], case_ids) != case_ids]
    if blind:
        raise Invalid("sample.assignee_out_of_scope",
                      "May not see every case of this sample: " + ", ".join(blind),
                      errors={"user_ids": [f"May not see every case of this sample: "
                                           f"{', '.join(blind)}"]})
    open_rows = db.session.scalars(
        sa.select(SampleCase).filter_by(sample_id=sample.id, assignee_id=None)
        .order_by(SampleCase.stratum, SampleCase.case_id)).all()
    for i, row in enumerate(open_rows):
        row.assignee_id = user_ids[i % len(user_ids)]
    audit.append("sample.assigned", "revisit_sample", sample.id, actor_id=user.id,
                 data={"user_ids": user_ids, "cases": len(open_rows)})
    return sample


def recent(user: User, limit: int = 50) -> list[RevisitSample]:
    """The newest samples the user may see (drawn over units they all see)."""
    require_role(user, (*OFFICE_ROLES, *REVISIT_ROLES), "sample.forbidden",
                 "Your role may not see revisit samples.")
    units = scope.visible_unit_ids(user)
    rows = db.session.scalars(sa.select(RevisitSample)
                              .order_by(RevisitSample.created_at.desc()).limit(limit * 4))
    return [s for s in rows if set(s.unit_scope) <= units][:limit]


def tasks(user: User) -> list[dict[str, Any]]:
    """A revisit user's list of calls to make: the calls they scheduled back (soonest
    first), then the sampled cases assigned to them (in live samples) that no revisit has
    followed since their draw."""
    done = (sa.select(Revisit.id).where(Revisit.case_id == SampleCase.case_id,
                                        Revisit.received_at >= RevisitSample.created_at,
                                        Revisit.outcome.not_in(("open", "callback"))).exists())
    rows = db.session.execute(
        sa.select(SampleCase.case_id, SampleCase.sample_id, Case.subject, Case.address,
                  Case.status, RevisitSample.created_at)
        .join(RevisitSample, RevisitSample.id == SampleCase.sample_id)
        .join(Case, Case.id == SampleCase.case_id)
        .where(SampleCase.assignee_id == user.id, RevisitSample.voided_at.is_(None), ~done,
               scope.visible_clause(user))  # never a case the user may not open
        .order_by(RevisitSample.created_at, SampleCase.case_id).limit(500)).all()
    return [*callbacks(user), *({"kind": "sample", "case_id": r.case_id,
                                 "sample_id": r.sample_id, "subject": r.subject,
                                 "address": r.address, "status": r.status,
                                 "drawn_at": r.created_at} for r in rows)]


def callbacks(user: User, case_id: str | None = None) -> list[dict[str, Any]]:
    """Calls this user scheduled back that no later revisit of the case has followed."""
    later = sa.orm.aliased(Revisit)
    followed = (sa.select(later.id).where(later.case_id == Revisit.case_id,
                                          later.received_at > Revisit.received_at).exists())
    query = (sa.select(Revisit.id, Revisit.case_id, Revisit.callback_at, Case.subject,
                       Case.address, Case.status)
             .join(Case, Case.id == Revisit.case_id)
             .where(Revisit.created_by == user.id, Revisit.outcome == "callback", ~followed,
                    scope.visible_clause(user)))
    if case_id is not None:
        query = query.where(Revisit.case_id == case_id)
    return [{"kind": "callback", "case_id": r.case_id, "revisit_id": r.id,
             "callback_at": r.callback_at, "subject": r.subject, "address": r.address,
             "status": r.status}
            for r in db.session.execute(query.order_by(Revisit.callback_at).limit(500))]


def assigned_to(user: User, case_id: str) -> bool:
    """Whether the case is this user's to revisit: sampled to them in a live sample. A call
    they scheduled back is not (it stays in their task list): any revisit user may record a
    callback on any case they see, so it must not open the complainant's number."""
    sampled = db.session.scalar(sa.select(sa.exists().where(
        SampleCase.case_id == case_id, SampleCase.assignee_id == user.id,
        SampleCase.sample_id == RevisitSample.id, RevisitSample.voided_at.is_(None))))
    return bool(sampled)


hooks.revisit_assignment.register(assigned_to)


# ---- progress and figures ----------------------------------------------------------------
def _rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator,
            "rate": round(numerator / denominator, 4) if denominator else None}


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """回访率 (revisited: reached, refused, or unreachable after the attempts: each is a
    result),
    满意度 (satisfied or basically satisfied, of those who gave one) and the dissatisfied
    rate, each with its numerator and denominator."""
    outcomes = [r["revisit"]["outcome"] if r["revisit"] else None for r in rows]
    said = [r["revisit"]["satisfaction"] for r in rows
            if r["revisit"] and r["revisit"]["satisfaction"] in SATISFACTION]
    revisited = sum(o in ("reached", "unreachable", "refused") for o in outcomes)
    happy = sum(s in ("satisfied", "basically_satisfied") for s in said)
    return {"sampled": len(rows), "revisited": revisited,
            "reached": outcomes.count("reached"), "unreachable": outcomes.count("unreachable"),
            "refused": outcomes.count("refused"),
            "revisit_rate": _rate(revisited, len(rows)),
            "satisfaction_rate": _rate(happy, len(said)),
            "dissatisfied_rate": _rate(said.count("dissatisfied"), len(said))}


def seen_by(user: User, sample: RevisitSample,
            rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The progress rows of the cases the user still sees: a case transferred away since
    the draw still counts in the sample's figures, but its subject and revisit are another
    unit's now. One query by the sample (a large sample is no list of parameters)."""
    if scope.sees_everything(user):
        return rows
    visible = set(db.session.scalars(
        sa.select(SampleCase.case_id).join(Case, Case.id == SampleCase.case_id)
        .where(SampleCase.sample_id == sample.id, scope.visible_clause(user))))
    return [r for r in rows if r["case_id"] in visible]


def progress(sample: RevisitSample) -> list[dict[str, Any]]:
    """Each drawn case with its assignee and its latest revisit since the draw, in one
    query (a window picks the latest revisit per case)."""
    latest = (sa.select(Revisit.case_id, Revisit.id, Revisit.outcome, Revisit.satisfaction,
                        Revisit.at, sa.func.row_number().over(
                            partition_by=Revisit.case_id,
                            order_by=(Revisit.received_at.desc(), Revisit.id.desc()))
                        .label("n"))
              .join(SampleCase, sa.and_(SampleCase.case_id == Revisit.case_id,
                                        SampleCase.sample_id == sample.id))
              .where(Revisit.received_at >= sample.created_at).subquery())
    assignee = sa.orm.aliased(User)
    rows = db.session.execute(
        sa.select(SampleCase.case_id, SampleCase.stratum, Case.subject, Case.channel,
                  Unit.id.label("unit_id"), Unit.name.label("unit_name"),
                  assignee.id.label("assignee_id"), assignee.display_name.label("assignee"),
                  latest.c.id.label("revisit_id"), latest.c.outcome, latest.c.satisfaction,
                  latest.c.at)
        .join(Case, Case.id == SampleCase.case_id).join(Unit, Unit.id == Case.unit_id)
        .outerjoin(assignee, assignee.id == SampleCase.assignee_id)
        .outerjoin(latest, sa.and_(latest.c.case_id == SampleCase.case_id, latest.c.n == 1))
        .where(SampleCase.sample_id == sample.id)
        .order_by(SampleCase.stratum, SampleCase.case_id)).all()
    return [{"case_id": r.case_id, "subject": r.subject, "channel": r.channel,
             "unit": {"id": r.unit_id, "name": r.unit_name}, "stratum": r.stratum,
             "assignee": {"id": r.assignee_id, "name": r.assignee} if r.assignee_id else None,
             "revisit": {"id": r.revisit_id, "outcome": r.outcome,
                         "satisfaction": r.satisfaction, "at": r.at}
             if r.revisit_id else None} for r in rows]


def grouped(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names: dict[str, str] = {}
    for r in rows:
        value = r["unit"]["id"] if key == "unit" else r["channel"]
        names[value] = r["unit"]["name"] if key == "unit" else value
        groups[value].append(r)
    return [{key: {"id": value, "name": names[value]}, **figures(group)}
            for value, group in sorted(groups.items())]
