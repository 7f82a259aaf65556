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
    """One statement: the open cases and their colour (computed once, in a CTE read
    twice) give both the counts by unit and colour and the most urgent PER_COLOUR of each
    colour with what a board card shows."""
    open_cases = cases.filtered(user, **filters).where(scope.is_open()).with_only_columns(
        Case.id, Case.unit_id, Case.due_at, Case.key,
        deadline_rules.colour_sql(now).label("colour")).cte("open_cases")
    counts = (sa.select(sa.literal("count").label("part"), open_cases.c.unit_id,
                        Unit.name.label("unit_name"), open_cases.c.colour,
                        sa.func.count().label("n"), *_NO_CARD)
              .join(Unit, Unit.id == open_cases.c.unit_id)
              .group_by(open_cases.c.unit_id, Unit.name, open_cases.c.colour))
    ranked = sa.select(
        open_cases.c.id, open_cases.c.colour,
        # Partitioned by the colour's number, not its name: integers sort without a
        # collation, and this sort is most of the board's cost.
        sa.func.row_number().over(
            partition_by=sa.case({g: i for i, g in enumerate(GROUPS)},
                                 value=open_cases.c.colour, else_=-1),
            order_by=(open_cases.c.due_at, open_cases.c.key.desc(), open_cases.c.id))
        .label("rank")).subquery()
    cards = (sa.select(sa.literal("card"), Case.unit_id, Unit.name, ranked.c.colour,
                       ranked.c.rank, Case.id, Case.subject, Case.address, Case.status,
                       Case.key, Case.leader, Case.due_at)
             .join(ranked, ranked.c.id == Case.id).join(Unit, Unit.id == Case.unit_id)
             .where(ranked.c.rank <= PER_COLOUR, ranked.c.colour.in_(GROUPS)))
    rows = db.session.execute(sa.union_all(counts, cards)).all()

    empty = {g: 0 for g in (*GROUPS, "none", "all")}
    totals: dict[str, int] = dict(empty)
    per_unit: dict[str, dict[str, Any]] = {}
    lists: dict[str, list[dict[str, Any]]] = {group: [] for group in GROUPS}
    for row in rows:
        if row.part == "count":
            group = row.colour or "none"  # no rule covers the case's channel
            unit = per_unit.setdefault(row.unit_id, {
                "unit": {"id": row.unit_id, "name": row.unit_name}, "counts": dict(empty)})
            for tally in (unit["counts"], totals):
                tally[group] += row.n
                tally["all"] += row.n
        else:
            lists[row.colour].append({
                "id": row.id, "subject": row.subject, "address": row.address,
                "unit": {"id": row.unit_id, "name": row.unit_name}, "status": row.status,
                "key": row.key, "leader": row.leader, "due_at": row.due_at,
                "colour": row.colour, "overdue": row.colour == "overdue", "rank": row.n})
    for items in lists.values():
        items.sort(key=lambda card: card.pop("rank"))
    return {"at": now, "colours": list(COLOURS), "totals": totals,
            "units": sorted(per_unit.values(), key=lambda r: r["unit"]["name"]),
            "cases": lists}


# The card columns, empty in the count rows of the same statement.
_NO_CARD = (sa.null().label("id"), sa.null().label("subject"), sa.null().label("address"),
            sa.null().label("status"), sa.cast(sa.null(), sa.Boolean).label("key"),
            sa.null().label("leader"), sa.cast(sa.null(), Case.due_at.type).label("due_at"))


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
