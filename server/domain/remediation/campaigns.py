"""Look-back campaigns (回头看, seed 001): the office chooses closed cases (received in a
period, of a channel, category or unit) and each becomes a re-check task, for the unit that
handled it or, in a cross-check (交叉检查), for another unit named by the campaign.

Who sees what: the organiser's scope (the creating office's unit and above it) sees the
whole campaign; a checking unit sees its own tasks only (tasks.visible_tasks).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit
from server.domain.core import runtime
from server.domain.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.domain.core.uow import command
from server.extensions import db
from server.models import Campaign, Case, RecheckTask, Unit, User
from server.models.base import new_id, utcnow

# A look-back reaches back at most this far in one campaign (a longer one is two).
MAX_PERIOD_DAYS = 5 * 366
DAY = timedelta(days=1)


def tz() -> ZoneInfo:
    return ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tz())


def local_today() -> date:
    return utcnow().astimezone(tz()).date()


# ---- selection ---------------------------------------------------------------------------
# The earliest day a look-back reaches (no case of this system is older).
EARLIEST = date(2000, 1, 1)


def _check_period(start: date, end: date) -> None:
    """A period of local days from 2000 to today: a look-back re-checks cases already
    closed, so a period reaching past today is a typo (and date.max once overflowed)."""
    for field, day in (("from", start), ("to", end)):
        if day < EARLIEST:
            raise Invalid("campaign.date_too_early", "A campaign's dates start in 2000 at "
                          "the earliest.", errors={field: ["2000-01-01 or later."]})
    if end > local_today():
        raise Invalid("campaign.to_in_future", "A campaign looks back: its period ends "
                      "today at the latest.", errors={"to": ["Today or earlier."]},
                      params={"today": local_today().isoformat()})
    if start > end:
        raise Invalid("campaign.bad_period", "The period's start is after its end.",
                      errors={"from": ["After `to`."]})
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise Invalid("campaign.period_too_long",
                      "A campaign looks back over at most 5 years; split the period.",
                      errors={"to": ["At most 5 years after `from`."]})


def _unit(unit_id: str | None, field: str) -> Unit | None:
    if unit_id is None:
        return None
    unit = db.session.get(Unit, unit_id)
    if unit is None:
        raise Invalid("campaign.no_such_unit", "No such unit.", errors={field: ["No such unit."]})
    return unit


def _selection(user: User, start: date, end: date, filters: dict[str, Any]) -> sa.Select:
    """The closed cases the organiser's unit leads (its own and those below it; not those
    it only co-handles) received in [start, end] (local days) that match the filters, as
    (id, unit_id) rows."""
    organiser = organiser_unit(user, filters.get("unit"))
    query = (sa.select(Case.id, Case.unit_id)
             .where(scope.lead_clause(user),
                    Case.unit_id.in_(scope.subtree([organiser.id])),
                    Case.status == "closed",
                    Case.received_at >= local_midnight(start),
                    Case.received_at < local_midnight(end + DAY)))
    if filters.get("channel"):
        query = query.where(Case.channel == filters["channel"])
    if filters.get("category"):
        query = query.where(Case.category == filters["category"])
    if filters.get("unit"):
        # The unit and the units below it, as the board counts a unit's cases.
        query = query.where(Case.unit_id.in_(scope.subtree([filters["unit"]])))
    return query


def _held() -> sa.ColumnElement[bool]:
    """SQL: the case is held by a pending task (of any campaign)."""
    return sa.exists().where(RecheckTask.case_id == Case.id, RecheckTask.status == "pending")


def organiser_unit(user: User, unit_id: str | None = None) -> Unit:
    """The unit a user's campaign is organised by: their highest unit, or, for a campaign
    over one unit, their highest unit over it. Its people see all of the campaign's tasks,
    so the campaign covers only its cases: someone in two streets organises each street's
    campaign apart, and neither street sees the other's cases through it."""
    units = list(user.units)
    if unit_id is not None:
        over = scope.unit_and_above(unit_id)
        units = [u for u in units if u.id in over] or units
    return min(units, key=lambda u: (u.parent_id is not None, u.name))


def district_unit_ids(user: User) -> frozenset[str]:
    """The user's district: every unit under the top unit above the organiser's unit (a
    cross-check goes to a sibling street, never outside the district)."""
    chain = scope.unit_and_above(organiser_unit(user).id)
    top = db.session.scalars(sa.select(Unit.id).where(Unit.id.in_(chain),
                                                      Unit.parent_id.is_(None))).all()
    return scope.subtree(top)


def _clean(user: User, data: dict[str, Any]) -> tuple[date, date, dict[str, Any], Unit | None]:
    start, end = data["from"], data["to"]
    _check_period(start, end)
    unit = _unit(data.get("unit_id"), "unit_id")
    if unit is not None and unit.id not in scope.visible_unit_ids(user):
        raise Invalid("campaign.unit_out_of_scope", "That unit is not one of yours.",
                      errors={"unit_id": ["Not one of your units."]})
    check_unit = _unit(data.get("check_unit_id"), "check_unit_id")
    if check_unit is not None and (not user.units
                                   or check_unit.id not in district_unit_ids(user)):
        raise Invalid("campaign.check_unit_out_of_scope", "A cross-check goes to a unit of "
                      "your district.", errors={"check_unit_id": ["Not a unit of your "
                                                                  "district."]})
    filters = {k: v for k, v in (("channel", data.get("channel")),
                                 ("category", data.get("category")),
                                 ("unit", unit.id if unit else None)) if v}
    return start, end, filters, check_unit


def _counts(user: User, start: date, end: date, filters: dict[str, Any],
            check_unit: Unit | None) -> tuple[int, int, int]:
    """(free, held, own): how many chosen cases get a task, how many another campaign
    holds, and how many a cross-check skips as the checking unit's own cases."""
    chosen = _selection(user, start, end, filters).subquery()
    held = sa.exists().where(RecheckTask.case_id == chosen.c.id,
                             RecheckTask.status == "pending")
    own = (chosen.c.unit_id == check_unit.id) if check_unit is not None else sa.false()
    row = db.session.execute(sa.select(
        sa.func.count(), _sum(sa.and_(held, sa.not_(own))), _sum(own)
    ).select_from(chosen)).one()
    total, held_n, own_n = (int(n) for n in row)
    return total - held_n - own_n, held_n, own_n


def preview(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """How many cases the selection would make tasks of, and how many it skips: held by
    another campaign's pending task, or (a cross-check) handled by the checking unit
    itself. Writes nothing."""
    require_role(user, OFFICE_ROLES, "campaign.forbidden", "Only the office starts campaigns.")
    start, end, filters, check_unit = _clean(user, data)
    free, held, own = _counts(user, start, end, filters, check_unit)
    return {"count": free, "skipped_held": held, "skipped_own": own}


@command
def create(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """A campaign and a task for each chosen case not held by another campaign, in one
    transaction: the tasks inserted in one statement, whatever their number."""
    require_role(user, OFFICE_ROLES, "campaign.forbidden", "Only the office starts campaigns.")
    title = (data.get("title") or "").strip()
    if not title:
        raise Invalid("campaign.title_missing", "Give the campaign a title.",
                      errors={"title": ["Required."]})
    if not user.units:
        raise Forbidden("campaign.forbidden", "Only the office starts campaigns.")
    start, end, filters, check_unit = _clean(user, data)
    free, held, own = _counts(user, start, end, filters, check_unit)
    if free == 0:
        raise Invalid("campaign.empty",
                      "No closed case matches this selection"
                      + (f" ({held} are held by another campaign's re-check)." if held
                         else "."), extra={"skipped_held": held}, params={"held": held})
    organiser = organiser_unit(user, filters.get("unit"))
    now = utcnow()
    campaign = Campaign(id=new_id(), title=title, unit_id=organiser.id,
                        period_from=start, period_to=end, filters=filters,
                        check_unit_id=check_unit.id if check_unit else None, status="open",
                        skipped_held=held, created_by=user.id, created_at=now)
    db.session.add(campaign)
    db.session.flush()
    chosen = _selection(user, start, end, filters).where(sa.not_(_held()))
    if check_unit is not None:  # a unit does not cross-check its own cases
        chosen = chosen.where(Case.unit_id != check_unit.id)
    check = sa.literal(check_unit.id, sa.String) if check_unit else Case.unit_id
    rows = chosen.with_only_columns(Case.id.label("case_id"), check.label("check_unit_id"))
    try:
        made = _insert_tasks(campaign.id, rows)
    except IntegrityError as exc:  # a case taken by another campaign at the same moment
        raise Conflict("campaign.held_concurrently", "Another campaign took some of these "
                       "cases at the same moment; try again.") from exc
    # What the INSERT made is the truth: the count above may be stale (another campaign,
    # a reopening committed between the two). None: no campaign (the transaction undone).
    total = free + held
    if made == 0:
        raise Invalid("campaign.empty", "No closed case matches this selection"
                      + (f" ({total} are held by another campaign's re-check)." if total
                         else "."), extra={"skipped_held": total}, params={"held": total})
    campaign.skipped_held = max(total - made, 0)
    audit.append("campaign.created", "campaign", campaign.id, actor_id=user.id,
                 data={"title": campaign.title, "from": start, "to": end, "filters": filters,
                       "check_unit_id": campaign.check_unit_id, "tasks": made,
                       "skipped_held": campaign.skipped_held, "skipped_own": own})
    return {**present(user, campaign), "skipped_own": own}


def _insert_tasks(campaign_id: str, rows: sa.Select) -> int:
    """INSERT ... SELECT: one statement for every task, no row through Python; the ids
    are random UUIDs made by the database (gen_random_uuid on PostgreSQL, randomblob
    spelt as a version-4 UUID on SQLite)."""
    table = RecheckTask.__table__
    chosen = rows.subquery()
    if db.session.get_bind().dialect.name == "postgresql":
        new_uuid: sa.ColumnElement[str] = sa.cast(sa.func.gen_random_uuid(), sa.String)
    else:
        h = sa.func.lower(sa.func.hex(sa.func.randomblob(16)))
        new_uuid = sa.func.printf("%s-%s-4%s-a%s-%s", sa.func.substr(h, 1, 8),
                                  sa.func.substr(h, 9, 4), sa.func.substr(h, 14, 3),
                                  sa.func.substr(h, 18, 3), sa.func.substr(h, 21, 12))
    source = sa.select(new_uuid, sa.literal(campaign_id, sa.String), chosen.c.case_id,
                       chosen.c.check_unit_id, sa.literal("pending", sa.String))
    db.session.execute(table.insert().from_select(
        ["id", "campaign_id", "case_id", "check_unit_id", "status"], source))
    # Counted, not the cursor's rowcount: a driver may answer -1 for INSERT ... SELECT.
    return db.session.scalar(sa.select(sa.func.count()).select_from(RecheckTask).where(
        RecheckTask.campaign_id == campaign_id)) or 0


# ---- reading -----------------------------------------------------------------------------
def _organises(user: User, campaign: Campaign) -> bool:
    return campaign.unit_id in scope.visible_unit_ids(user)


def task_clause(user: User, campaign: Campaign | None = None) -> sa.ColumnElement[bool]:
    """SQL: the tasks `user` sees: those their units (or units below) check, and in a
    campaign they organise (or whose organiser is below them) the tasks of the cases they
    still lead (one transferred out of their units since is another unit's case; its task
    followed it, rechecks.follow_the_case)."""
    units = scope.visible_unit_ids(user)
    mine = RecheckTask.check_unit_id.in_(units)
    if campaign is not None and campaign.unit_id not in units:
        return mine
    led = sa.true() if scope.sees_everything(user) else RecheckTask.case_id.in_(
        sa.select(Case.id).where(scope.lead_clause(user)))
    if campaign is not None:
        return sa.or_(mine, led)
    organised = sa.select(Campaign.id).where(Campaign.unit_id.in_(units))
    return sa.or_(mine, sa.and_(RecheckTask.campaign_id.in_(organised), led))


def get_campaign(user: User, campaign_id: str) -> Campaign:
    """The campaign if the user organises it or checks one of its tasks; the same 404 as
    a campaign that does not exist otherwise."""
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or not (_organises(user, campaign) or db.session.scalar(
            sa.select(sa.exists().where(RecheckTask.campaign_id == campaign.id,
                                        task_clause(user, campaign))))):
        raise NotFound("campaign.not_found", "No such campaign.")
    return campaign


def counts(user: User, campaigns: list[Campaign]) -> dict[str, dict[str, int]]:
    """Each campaign's task counts the user sees (one grouped query for the list)."""
    if not campaigns:
        return {}
    ids = [c.id for c in campaigns]
    found = _new_problem()
    query = (sa.select(RecheckTask.campaign_id, sa.func.count(),
                       _sum(RecheckTask.status == "done"),
                       _sum(RecheckTask.rebound.is_(True)), _sum(found))
             .where(RecheckTask.campaign_id.in_(ids), task_clause(user))
             .group_by(RecheckTask.campaign_id))
    out = {i: {"total": 0, "done": 0, "rebound": 0, "new_problems": 0} for i in ids}
    for cid, total, done, rebound, new in db.session.execute(query):
        out[cid] = {"total": total, "done": int(done), "rebound": int(rebound),
                    "new_problems": int(new)}
    return out


def _sum(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _new_problem() -> sa.ColumnElement[bool]:
    """SQL: a done task found a rebound or a new problem (新发现问题)."""
    return sa.and_(RecheckTask.status == "done",
                   sa.or_(RecheckTask.rebound.is_(True),
                          sa.func.coalesce(RecheckTask.new_problem, "") != ""))


def _unit_names(campaigns: list[Campaign]) -> dict[str, str]:
    """The organiser and cross-check units' names of these campaigns, in one query."""
    wanted = {u for c in campaigns for u in (c.unit_id, c.check_unit_id) if u}
    if not wanted:
        return {}
    return dict(db.session.execute(sa.select(Unit.id, Unit.name).where(
        Unit.id.in_(wanted))).all())


def present(user: User, campaign: Campaign, tally: dict[str, int] | None = None,
            names: dict[str, str] | None = None,
            units: frozenset[str] | None = None) -> dict[str, Any]:
    """A campaign as the API gives it; a list passes what it read once for all its rows
    (the counts, the units' names, the user's visible units)."""
    names = names if names is not None else _unit_names([campaign])
    units = units if units is not None else scope.visible_unit_ids(user)
    return {"id": campaign.id, "title": campaign.title,
            "from": campaign.period_from.isoformat(), "to": campaign.period_to.isoformat(),
            "filters": campaign.filters or {},
            "organiser_unit": {"id": campaign.unit_id, "name": names.get(campaign.unit_id)},
            "check_unit": {"id": campaign.check_unit_id,
                           "name": names.get(campaign.check_unit_id)}
            if campaign.check_unit_id else None,
            "status": campaign.status, "created_at": campaign.created_at,
            "counts": tally or counts(user, [campaign])[campaign.id],
            "skipped_held": campaign.skipped_held or 0,
            "organiser": campaign.unit_id in units}


def list_campaigns(user: User) -> list[dict[str, Any]]:
    """The campaigns the user organises or checks tasks of, newest first: a fixed number
    of queries however many there are (the campaigns, their counts, their units' names)."""
    units = scope.visible_unit_ids(user)
    checked = sa.select(RecheckTask.campaign_id).where(RecheckTask.check_unit_id.in_(units))
    found = list(db.session.scalars(
        sa.select(Campaign).where(sa.or_(Campaign.unit_id.in_(units),
                                         Campaign.id.in_(checked)))
        .order_by(Campaign.created_at.desc()).limit(500)))
    tally = counts(user, found)
    names = _unit_names(found)
    return [present(user, c, tally[c.id], names, units) for c in found]


def detail(user: User, campaign_id: str) -> dict[str, Any]:
    return present(user, get_campaign(user, campaign_id))


# ---- progress (annex 2) --------------------------------------------------------------------
def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # Monday


def progress(user: User, campaign_id: str, week: date | None = None) -> dict[str, Any]:
    """Seed 001 annex 2 for one week (Monday to Sunday, local time; the current week by
    default): per checking unit, 信访总数 (tasks), 本周核查数, 累计核查数 (to the week's
    end), 完成率, 新发现问题数 (this week), 累计新发现问题数, 备注; and the totals. One grouped
    query; a re-check counts when it was done (the phone's time, judged)."""
    campaign = get_campaign(user, campaign_id)
    first = week_start(campaign.created_at.astimezone(tz()).date())
    current = week_start(local_today())
    monday = week_start(week) if week is not None else current
    if not first <= monday <= max(current, first):
        # Only the campaign's own weeks have figures (and a far date overflowed).
        raise Invalid("campaign.bad_week", "That week is not one of this campaign's: "
                      f"from {first.isoformat()} to {current.isoformat()}.",
                      errors={"week": ["A week of the campaign."]},
                      params={"first": first.isoformat(), "last": current.isoformat()})
    begin, end = local_midnight(monday), local_midnight(monday + timedelta(days=7))
    done = sa.and_(RecheckTask.status == "done", RecheckTask.checked_at < end)
    this_week = sa.and_(done, RecheckTask.checked_at >= begin)
    found = _new_problem()
    query = (sa.select(RecheckTask.check_unit_id, Unit.name, sa.func.count(),
                       _sum(this_week), _sum(done), _sum(sa.and_(this_week, found)),
                       _sum(sa.and_(done, found)))
             .join(Unit, Unit.id == RecheckTask.check_unit_id)
             .where(RecheckTask.campaign_id == campaign.id, task_clause(user, campaign))
             .group_by(RecheckTask.check_unit_id, Unit.name).order_by(Unit.name))
    rows = [_row(unit_id, name, *(int(n) for n in numbers))
            for unit_id, name, *numbers in db.session.execute(query)]
    totals = _row(None, "合计", *(sum(r[k] for r in rows) for k in
                                  ("total", "week_done", "done", "week_new", "new_total")))
    last = max(current, monday)
    weeks = [(first + timedelta(days=7 * i)).isoformat()
             for i in range((last - first).days // 7 + 1)]
    return {"campaign": {"id": campaign.id, "title": campaign.title},
            "week": {"from": monday.isoformat(),
                     "to": (monday + timedelta(days=6)).isoformat()},
            "weeks": weeks, "rows": rows, "totals": totals}


def _row(unit_id: str | None, unit: str, total: int, week_done: int, done: int,
         week_new: int, new_total: int) -> dict[str, Any]:
    return {"unit_id": unit_id, "unit": unit, "total": total, "week_done": week_done,
            "done": done, "rate": {"numerator": done, "denominator": total,
                                   "value": round(done / total, 4) if total else None},
            "week_new": week_new, "new_total": new_total, "note": ""}
