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
    # The colour is computed once per case, in a subquery both statements read.
    open_cases = cases.filtered(user, **filters).where(scope.is_open()).with_only_columns(
        Case.id, Case.unit_id, Case.due_at, Case.key,
        deadline_rules.colour_sql(now).label("colour")).subquery()
    grouped = db.session.execute(
        sa.select(open_cases.c.unit_id, open_cases.c.colour, sa.func.count())
        .group_by(open_cases.c.unit_id, open_cases.c.colour)).all()
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
    # The most urgent PER_COLOUR of each colour in one query: rank within the colour,
    # then join just the first ones for what a board card shows.
    ranked = sa.select(
        open_cases.c.id, open_cases.c.colour,
        # Partitioned by the colour's number, not its name: integers sort without a
        # collation, and this sort is most of the board's cost.
        sa.func.row_number().over(partition_by=sa.case(
            {g: i for i, g in enumerate(GROUPS)}, value=open_cases.c.colour, else_=-1),
            order_by=(
            open_cases.c.due_at, open_cases.c.key.desc(), open_cases.c.id)).label("rank")
    ).subquery()
    cards = db.session.execute(
        sa.select(Case.id, Case.subject, Case.address, Case.unit_id, Unit.name, Case.status,
                  Case.key, Case.leader, Case.due_at, ranked.c.colour)
        .join(ranked, ranked.c.id == Case.id).join(Unit, Unit.id == Case.unit_id)
        .where(ranked.c.rank <= PER_COLOUR, ranked.c.colour.in_(GROUPS))
        .order_by(ranked.c.colour, ranked.c.rank)).all()
    lists: dict[str, list[dict[str, Any]]] = {group: [] for group in GROUPS}
    for row in cards:
        lists[row.colour].append({
            "id": row.id, "subject": row.subject, "address": row.address,
            "unit": {"id": row.unit_id, "name": row.name}, "status": row.status,
            "key": row.key, "leader": row.leader, "due_at": row.due_at,
            "colour": row.colour, "overdue": row.colour == "overdue"})
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
