"""The colour board (seed 004's wall chart, seed 003's four-colour ledger) and the map
feed: open cases counted and listed by colour and unit, all in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from server.domain.accounts import scope
from server.domain.cases import cases, deadline_rules
from server.domain.cases.deadlines import COLOURS
from server.extensions import db
from server.models import Case, Evidence, Unit, User
from server.models.base import UTCDateTime

GROUPS = (*COLOURS, "overdue")
PER_COLOUR = 20  # the wall shows the head of each colour; the list pages through the rest


def board(user: User, now: datetime, **filters: Any) -> dict[str, Any]:
    """One statement: the counts by unit and colour, and the most urgent PER_COLOUR of each
    colour with what a board card shows. Colours come from the cache the sweep keeps
    (Case.colour), computed only for the cases whose cached colour has lapsed."""
    given = {k: v for k, v in filters.items() if v is not None and v != ""}
    if given.get("leader") == "me":  # a value, so the shared statement serves it too
        given["leader"] = user.id
    if scope.sees_everything(user):
        # The same statement for everyone who sees every case: built once per set of
        # filters, run with this request's values.
        names = tuple(sorted(given))
        if names not in _BUILT:
            _BUILT[names] = _statement(user, sa.bindparam("now", type_=UTCDateTime()),
                                       {k: sa.bindparam(f"f_{k}") for k in names})
        rows = db.session.execute(_BUILT[names], {
            "now": now, **{f"f_{k}": v for k, v in given.items()}}).all()
    else:
        rows = db.session.execute(_statement(user, now, given)).all()
    return _assemble(rows, now)


_BUILT: dict[tuple[str, ...], sa.CompoundSelect] = {}


def _statement(user: User, now: Any, filters: dict[str, Any]) -> sa.CompoundSelect:
    open_cases = cases.filtered(user, **filters).where(scope.is_open())
    # Counted from the cache where it holds (an index-only scan), computed where it lapsed.
    tally = sa.union_all(
        open_cases.with_only_columns(Case.unit_id, Case.colour)
        .where(Case.colour_until > now),
        open_cases.with_only_columns(Case.unit_id, deadline_rules.colour_sql(now))
        .where(Case.colour_until <= now)).subquery("tally")
    grouped = (sa.select(tally.c.unit_id, tally.c.colour, sa.func.count().label("n"))
               .group_by(tally.c.unit_id, tally.c.colour).subquery("grouped"))
    counts = (sa.select(sa.literal("count").label("part"), grouped.c.unit_id,
                        Unit.name.label("unit_name"), grouped.c.colour, grouped.c.n, *_NO_CARD)
              .join(Unit, Unit.id == grouped.c.unit_id))
    urgent = (Case.due_at, Case.key.desc(), Case.id)
    # Each colour's head read from the (colour, due_at) index, plus the lapsed ones.
    heads = []
    for group in GROUPS:
        head = (open_cases.with_only_columns(*_HEAD)
                .where(Case.colour == group, Case.colour_until > now)
                .order_by(*urgent).limit(PER_COLOUR).subquery())
        heads.append(sa.select(sa.literal(group).label("colour"), *head.c))
    lapsed = open_cases.with_only_columns(deadline_rules.colour_sql(now).label("colour"),
                                          *_HEAD).where(Case.colour_until <= now)
    candidates = sa.union_all(*heads, lapsed).subquery("candidates")
    ranked = sa.select(
        candidates.c.id, candidates.c.colour,
        sa.func.row_number().over(partition_by=candidates.c.colour,
                                  order_by=(candidates.c.due_at, candidates.c.key.desc(),
                                            candidates.c.id)).label("rank")).subquery()
    # The leader in charge by name: the user's, else the free text of older cases.
    holder = aliased(User)
    cards = (sa.select(sa.literal("card"), Case.unit_id, Unit.name, ranked.c.colour,
                       ranked.c.rank, Case.id, Case.subject, Case.address, Case.status,
                       Case.key, sa.func.coalesce(holder.display_name, Case.leader),
                       Case.due_at, Case.leader_id)
             .join(ranked, ranked.c.id == Case.id).join(Unit, Unit.id == Case.unit_id)
             .outerjoin(holder, holder.id == Case.leader_id)
             .where(ranked.c.rank <= PER_COLOUR, ranked.c.colour.in_(GROUPS)))
    return sa.union_all(counts, cards)


def _assemble(rows: list[sa.Row], now: datetime) -> dict[str, Any]:
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
                "key": row.key, "leader": row.leader, "leader_id": row.leader_id,
                "due_at": row.due_at,
                "colour": row.colour, "overdue": row.colour == "overdue", "rank": row.n})
    for items in lists.values():
        items.sort(key=lambda card: card.pop("rank"))
    return {"at": now, "colours": list(COLOURS), "totals": totals,
            "units": sorted(per_unit.values(), key=lambda r: r["unit"]["name"]),
            "cases": lists}


# What ranks a card.
_HEAD = (Case.id, Case.due_at, Case.key)
# The card columns, empty in the count rows of the same statement.
_NO_CARD = (sa.null().label("id"), sa.null().label("subject"), sa.null().label("address"),
            sa.null().label("status"), sa.cast(sa.null(), sa.Boolean).label("key"),
            sa.null().label("leader"), sa.cast(sa.null(), Case.due_at.type).label("due_at"),
            sa.null().label("leader_id"))


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
