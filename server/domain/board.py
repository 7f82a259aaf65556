"""The colour board (seed 004's wall chart, seed 003's four-colour ledger) and the map
feed: open cases counted and listed by colour and unit, all in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain import cases, deadline_rules, scope
from server.domain.deadlines import COLOURS
from server.extensions import db
from server.models import Case, Evidence, Unit, User

GROUPS = (*COLOURS, "overdue")
PER_COLOUR = 50


def board(user: User, now: datetime, **filters: Any) -> dict[str, Any]:
    base = cases.filtered(user, **filters).where(scope.is_open())
    colour = deadline_rules.colour_sql(now)
    grouped = db.session.execute(
        base.with_only_columns(Case.unit_id, colour.label("colour"), sa.func.count())
        .group_by(Case.unit_id, colour)).all()
    names = dict(db.session.execute(sa.select(Unit.id, Unit.name).where(
        Unit.id.in_({unit_id for unit_id, _, _ in grouped}))).all()) if grouped else {}
    empty = {g: 0 for g in (*GROUPS, "none", "all")}
    totals, per_unit = dict(empty), {}
    for unit_id, group, count in grouped:
        group = group or "none"  # no rule covers the case's channel
        row = per_unit.setdefault(unit_id, dict(empty))
        for counts in (row, totals):
            counts[group] += count
            counts["all"] += count
    lists = {}
    for group in GROUPS:
        lists[group] = db.session.scalars(
            base.where(colour == group).order_by(Case.due_at, Case.key.desc(), Case.id)
            .limit(PER_COLOUR)).all()
    return {"at": now, "colours": list(COLOURS), "totals": totals,
            "units": sorted(({"unit": {"id": u, "name": names.get(u, "")}, "counts": c}
                             for u, c in per_unit.items()), key=lambda r: r["unit"]["name"]),
            "cases": lists}


def map_features(user: User, now: datetime, *, limit: int = 5000, **filters: Any
                 ) -> tuple[list[Case], list[tuple[Evidence, str]]]:
    """Located cases, and the stored photos of those cases with a location."""
    query = cases.filtered(user, **filters).where(Case.lat.is_not(None))
    located = db.session.scalars(query.order_by(Case.due_at, Case.id).limit(limit)).all()
    ids = [c.id for c in located]
    photos = db.session.execute(
        sa.select(Evidence, Case.id).join(Case, Case.id == Evidence.case_id)
        .where(Evidence.case_id.in_(ids), Evidence.state == "stored",
               Evidence.geo_lat.is_not(None))
        .order_by(Evidence.captured_at).limit(limit)).all() if ids else []
    return list(located), [(ev, case_id) for ev, case_id in photos]
