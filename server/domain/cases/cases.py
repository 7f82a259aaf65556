"""Cases: create, list with filters, read, update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, REVEAL_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import deadline_rules, hooks, leaders, lifecycle, search
from server.domain.cases.deadlines import ClockEvent
from server.domain.core import bulk, privacy
from server.domain.core.errors import Conflict, Forbidden, Invalid
from server.domain.core.uow import command, transaction
from server.extensions import db
from server.models import Case, CaseEvent, Unit, User, case_assignees
from server.models.base import utcnow

EDITABLE = ("channel", "category", "subject", "address", "description", "received_at", "key",
            "leader", "leader_id", "external_ref", "unit_id", "lat", "lon", "complainant_name",
            "complainant_phone")
COUNT_CAP = 1_000
# How many of the newest cases (in the list's order) a free-text search reads first.
RECENT = 500
# Edits that move the clock: the deadline is recomputed (a new channel or key flag takes
# the rule now current for it).
CLOCK_FIELDS = ("channel", "key", "received_at")


def _require_office(user: User) -> None:
    require_role(user, OFFICE_ROLES, "case.forbidden",
                 "Only office staff may create or edit cases.")


def _check_unit(user: User, unit_id: str) -> None:
    if db.session.get(Unit, unit_id) is None or unit_id not in scope.visible_unit_ids(user):
        raise Invalid("case.bad_unit", "That responsible unit is not one of yours.",
                      errors={"unit_id": ["Not one of your units."]})


def _require_lead(user: User, case: Case) -> None:
    if not lifecycle.leads(user, case):
        raise Forbidden("case.not_lead", "Only the unit that leads this case may change it "
                        "or see its complainant; a co-handling unit records its part.")


@command
def create_case(user: User, data: dict[str, Any]) -> Case:
    _require_office(user)
    _check_unit(user, data["unit_id"])
    if data.get("leader_id"):
        leaders.check_leader(data["unit_id"], data["leader_id"])
    return add_case(data, created_by=user.id)


def add_case(data: dict[str, Any], *, created_by: str | None,
             audit_data: dict[str, Any] | None = None) -> Case:
    """A new case with its rule, deadline, `received` event and audit entry; never commits
    (the caller's command does, once). The caller has checked who may create it and in
    which unit. `created_by` is None for a platform's push (the audit entry names the
    source in `audit_data`). One case made the way a sheet's thousands are (add_cases):
    one path, so a rule of a new case is written once."""
    return add_cases([data], created_by=created_by, audit_data=audit_data)[0]


def add_cases(items: list[dict[str, Any]], *, created_by: str | None,
              audit_data: dict[str, Any] | None = None) -> list[Case]:
    """Many new cases at once (a sheet's rows), each exactly as `add_case` makes it: its
    rule, deadline, `received` event, `case.created` audit entry and case_added listeners;
    never commits. Written in a few batched statements instead of eight round trips a
    case: one rule lookup per channel, the cases in one flush, their first events (a new
    case's chain starts at genesis: no head to read) and audit entries (one chain read
    under its lock) in one more each."""
    rules: dict[tuple[str, bool], Any] = {}
    now = utcnow()
    made: list[tuple[Case, dict[str, Any]]] = []
    for data in items:
        case = Case(created_by=created_by, status="received", **data)
        _index_phone(case)
        deadline_rules.assign_rule(case, rules)
        received = {"received_at": case.received_at, "channel": case.channel,
                    "category": case.category, "unit_id": case.unit_id,
                    "rule": case.deadline_rule, "rule_version": case.deadline_rule_version}
        deadline_rules.refresh(case, now, ClockEvent("received", now, received))
        made.append((case, received))
    # Flushed first: nothing pending may land after the bulk insert (or be lost by it).
    db.session.flush()
    bulk.insert(Case.__table__, [bulk.row_of(case) for case, _ in made])
    bulk.attach([case for case, _ in made])
    search.index_inserted(db.session, [case for case, _ in made])
    bulk.insert(CaseEvent.__table__, [
        timeline.first_event_row(case, "received", actor_id=created_by, at=now, data=received)
        for case, received in made])
    audit.append_many([
        ("case.created", "case", case.id,
         {"channel": case.channel, "category": case.category, "unit_id": case.unit_id,
          **(audit_data or {})}) for case, _ in made], actor_id=created_by)
    for case, _ in made:
        hooks.case_added(case)
    return [case for case, _ in made]


def list_cases(user: User, *, status: str | None = None, category: str | None = None,
               channel: str | None = None, unit: str | None = None, q: str | None = None,
               is_open: bool | None = None, colour: str | None = None,
               key: bool | None = None, mine: bool = False, sort: str = "received",
               phone: str | None = None, received_from: datetime | None = None,
               received_to: datetime | None = None, leader: str | None = None,
               hard: bool | None = None, now: datetime | None = None, page: int = 1,
               per_page: int = 20) -> tuple[list[Case], int]:
    """One page of the user's cases and the total matching, all in SQL.

    `colour` (green, blue, yellow, red, or overdue) is the colour at `now` from the
    deadline stored on each case. `sort="received"` is newest first; `sort="due"` is the
    most urgent first (earliest due, key cases first among equals), cases with no deadline
    (closed) last."""
    now = now or utcnow()
    query = filtered(user, status=status, category=category, channel=channel, unit=unit,
                     is_open=is_open, key=key, received_from=received_from,
                     received_to=received_to, leader=leader)
    if phone is not None:
        query = query.where(by_phone(user, phone))
    if mine:
        query = query.where(Case.id.in_(sa.select(case_assignees.c.case_id)
                                        .where(case_assignees.c.user_id == user.id)))
    if hard is not None:
        rule = hooks.hard_case_clause(now)  # remediation's one rule
        query = query.where(rule if hard else sa.not_(rule))
    base, order, named = query, _order(Case, sort), _named(user, q)
    text = text_filter(user, q, named=named)
    if text is not None:
        query = query.where(text)
    # Counted exactly up to COUNT_CAP: past that a district's whole history would be
    # counted on every page; the answer then says the total is "more than". The count
    # rides on the page's own statement (one round trip).
    if colour is not None:
        # Each branch of the colour (cached, lapsed) read in the page's order from its own
        # index, up to this page's end; the page is the head of the two. As one OR, the
        # planner walked every newer case to find the oldest open ones (red, at 20% open).
        arms = [query.where(scope.is_open(), arm).with_only_columns(Case.id)
                for arm in deadline_rules.colour_arms(colour, now)]
        counted = sa.union_all(*(_ids(arm.limit(COUNT_CAP + 1)) for arm in arms))
        heads = sa.union_all(*(_ids(arm.order_by(*order).limit(page * per_page))
                               for arm in arms))
        query = sa.select(Case).where(Case.id.in_(heads))
    else:
        counted = query.with_only_columns(Case.id).limit(COUNT_CAP + 1)
    total = sa.select(sa.func.count()).select_from(counted.subquery()).scalar_subquery()
    if text is not None and colour is None and page * per_page <= RECENT:
        # A common word (KTV in one case in ten) fills a page from the newest cases: read
        # those in order, and stop at a full page, which is then exactly the page (every
        # other match is older than all of them). The index finds a rare word, where the
        # first RECENT cases hold less than a page, cheaply; a common one it finds in the
        # thousands, each to be read and sorted.
        recent = aliased(Case, base.order_by(*order).limit(RECENT).subquery())
        rows = db.session.execute(
            sa.select(recent).add_columns(total.label("total"))
            .where(text_filter(user, q, recent, indexed=False, named=named))
            .order_by(*_order(recent, sort))
            .limit(per_page).offset((page - 1) * per_page)).all()
        if len(rows) == per_page:
            return [row[0] for row in rows], min(rows[0].total, COUNT_CAP + 1)
    rows = db.session.execute(query.add_columns(total.label("total")).order_by(*order)
                              .limit(per_page).offset((page - 1) * per_page)).all()
    if rows:
        return [row[0] for row in rows], min(rows[0].total, COUNT_CAP + 1)
    # A page past the end: still say how many there are.
    return [], min(db.session.scalar(sa.select(total)) or 0, COUNT_CAP + 1)


def _order(entity: Any, sort: str) -> tuple[sa.ColumnElement[Any], ...]:
    if sort == "due":
        # Closed cases have no due date (deadline_rules.refresh clears it), so NULLS LAST
        # puts them last and the due_at index serves the order.
        return (entity.due_at.asc().nulls_last(), entity.key.desc(),
                entity.received_at.desc(), entity.id)
    return (entity.received_at.desc(), entity.id)


def _ids(query: sa.Select) -> sa.Select:
    """The ids a limited (and ordered) select finds, as a member of a UNION."""
    found = query.subquery()
    return sa.select(found.c.id)


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and value == "")


def filtered(user: User, *, status: str | None = None, category: str | None = None,
             channel: str | None = None, unit: str | None = None, q: str | None = None,
             is_open: bool | None = None, key: bool | None = None,
             received_from: datetime | None = None, received_to: datetime | None = None,
             leader: str | None = None) -> sa.Select:
    """The user's cases narrowed by the list's filters (shared by the list, board, map).
    A value may be a bind parameter, for a statement built once and run many times.
    `leader`: a leader's user id, or "me" for the cases the user holds (包案)."""
    query = scope.cases_query(user)
    if _given(leader):
        mine = isinstance(leader, str) and leader == "me"  # not a bind parameter
        query = query.where(Case.leader_id == (user.id if mine else leader))
    if _given(status):
        query = query.where(Case.status == status)
    if is_open is not None:
        query = query.where(scope.is_open() if is_open else sa.not_(scope.is_open()))
    if _given(category):
        query = query.where(Case.category == category)
    if _given(channel):
        query = query.where(Case.channel == channel)
    if _given(unit):
        query = query.where(Case.unit_id == unit)
    if key is not None:
        query = query.where(Case.key == key)
    if received_from is not None:
        query = query.where(Case.received_at >= received_from)
    if received_to is not None:
        query = query.where(Case.received_at < received_to)
    text = text_filter(user, q)
    if text is not None:
        query = query.where(text)
    return query


def text_filter(user: User, q: str | None, entity: Any = Case, *, indexed: bool = True,
                named: bool | None = None) -> sa.ColumnElement[bool] | None:
    """The free text `q` (None when blank): a substring of the four fields, read from the
    text index unless `indexed` is false (search.py); % _ and \\ in it are themselves,
    never wildcards. `entity`: Case, or an alias of it; `named`: whether a case has that
    complainant's name, when already asked."""
    if not q or not q.strip():
        return None
    q = q.strip()
    text = search.matches(q, entity, indexed=indexed)
    # The complainant by full name only: a fragment ("张") would list a street's residents
    # by family name to whoever types one. The office proper only: the revisit team sees
    # every case in scope but may reveal only its tasks, and a match would confirm the
    # name behind 张* on any other. Asked first (an index lookup): an OR with the name
    # makes every row the text index finds evaluate the text condition again, so the OR
    # is there only when some case has that name.
    if named is None:
        named = _named(user, q)
    if named:
        text = sa.or_(text, entity.complainant_name == q)
    return text


def _named(user: User, q: str | None) -> bool:
    """Whether the office's free text `q` is some case's complainant's full name."""
    return bool(user.role in OFFICE_ROLES and q and q.strip() and db.session.scalar(
        sa.select(Case.id).where(Case.complainant_name == q.strip()).limit(1)))


def by_phone(user: User, phone: str) -> sa.ColumnElement[bool]:
    """Cases whose complainant's number is exactly `phone` (however typed: spaces, +86,
    full-width digits), matched on the keyed hash; a part of a number matches nothing.
    Only for the office proper (who may reveal any case's contact): to anyone else, the
    revisit team included (it may reveal only its tasks), the answer would confirm a
    guessed number behind a masked one."""
    require_role(user, OFFICE_ROLES, "case.search_forbidden",
                 "Your role may not look cases up by the complainant's number.")
    digest = privacy.phone_digest(phone)
    if digest is None:
        raise Invalid("case.bad_phone", "That is not a phone number.",
                      errors={"phone": ["Digits are needed."]})
    return Case.complainant_phone_hmac == digest


@command
def log_phone_search(user: User, found: int) -> None:
    """Who looked a number up, and whether it found anything (never the number): a run of
    lookups is someone guessing the digits behind a masked number, and shows here."""
    audit.append("case.phone_searched", "user", user.id, actor_id=user.id,
                 data={"found": found})


def _index_phone(case: Case) -> None:
    case.complainant_phone_hmac = privacy.phone_digest(case.complainant_phone)


def index_phones(*, every: bool = False, batch: int = 500) -> int:
    """Fill the number's keyed hash where it is missing (cases from before 0012, whose
    migration could not know the key); `every`: recompute all (after PERSONAL_DATA_KEY
    changed). Batches by id, each its own transaction; returns how many were written."""
    done, last_id = 0, ""
    key = privacy.personal_key()
    while True:
        with transaction():
            query = (sa.select(Case.id, Case.complainant_phone)
                     .where(Case.complainant_phone.is_not(None), Case.id > last_id)
                     .order_by(Case.id).limit(batch))
            if not every:
                query = query.where(Case.complainant_phone_hmac.is_(None))
            rows = db.session.execute(query).all()
            # A plain UPDATE (one executemany): no version bump, as no one edited the case.
            table = Case.__table__
            if rows:
                db.session.execute(
                    sa.update(table).where(table.c.id == sa.bindparam("case_id"))
                    .values(complainant_phone_hmac=sa.bindparam("digest")),
                    [{"case_id": case_id, "digest": privacy.phone_digest(phone, key)}
                     for case_id, phone in rows])
        done += len(rows)
        if len(rows) < batch:
            return done
        last_id = rows[-1][0]


@command
def update_case(user: User, case_id: str, changes: dict[str, Any], version: int) -> Case:
    _require_office(user)
    case = scope.get_case(user, case_id, for_update=True)
    _require_lead(user, case)
    # A closed case is sealed: its fields are what the seal and its closure files say,
    # until a reopen (under the lock, so an approval cannot slip in between).
    lifecycle.require_open(case, "changes")
    if case.version != version:
        raise lifecycle.version_conflict(user, case, version)
    if "unit_id" in changes and changes["unit_id"] != case.unit_id:
        # Correcting the unit intake named, before anyone was sent; after that the case
        # moves by transfer, with its reason, its event and the assignees released.
        if case.status != "received":
            raise Conflict("case.unit_by_transfer",
                           "This case has been dispatched: move it to another unit by "
                           "transfer, with a reason.",
                           errors={"unit_id": ["Use transfer to move a dispatched case."]})
        _check_unit(user, changes["unit_id"])
    if changes.get("leader_id") is not None and (
            changes["leader_id"] != case.leader_id or "unit_id" in changes):
        # The leader must be over the case's unit (its new one, when it moves too).
        leaders.check_leader(changes.get("unit_id", case.unit_id), changes["leader_id"])
    released: dict[str, Any] = {}
    if "unit_id" in changes and "leader_id" not in changes:
        lifecycle.release_leader(case, changes["unit_id"], released)
    changed = {k: v for k, v in changes.items() if k in EDITABLE and getattr(case, k) != v}
    if released:
        changed["leader_id"] = None
    if "external_ref" in changed and case.intake_source:
        # A platform's reference is the platform's: its replays find the case by it.
        raise Invalid("case.external_ref_locked",
                      "This case came from a platform: its reference cannot be changed.",
                      errors={"external_ref": ["Set by the platform; cannot be changed."]})
    for key, value in changed.items():
        setattr(case, key, value)
    if not changed:
        return case
    if "complainant_phone" in changed:
        _index_phone(case)
    if {"channel", "key"} & set(changed):
        deadline_rules.assign_rule(case)
    now = utcnow()
    # The received event is the clock's origin: a corrected receipt time is an event of
    # its own that moves it.
    corrected = ClockEvent("received", now, {"received_at": case.received_at,
                                             "corrected": True}) \
        if "received_at" in changed else None
    if set(CLOCK_FIELDS) & set(changed):
        deadline_rules.refresh(case, now, corrected)
    try:
        db.session.flush()
    except StaleDataError as exc:  # a concurrent writer won between read and write
        raise Conflict("case.version_conflict",
                       "Someone changed this case at the same time; reload and retry.") from exc
    fields = sorted(changed)
    if corrected:
        timeline.append(case, "received", actor_id=user.id, at=now, data=corrected.data)
    timeline.append(case, "updated", actor_id=user.id, at=now, data={"fields": fields})
    audit.append("case.updated", "case", case.id, actor_id=user.id, data={"fields": fields})
    hooks.case_updated(case, fields)  # after the edit's own events: what follows from it
    return case


@command
def reveal_complainant(user: User, case_id: str, reason: str) -> dict[str, str | None]:
    require_role(user, REVEAL_ROLES, "case.reveal_forbidden",
                 "Your role may not see complainants' contact.")
    if len(reason.strip()) < 4:
        raise Invalid("case.reveal_reason", "Say why you need the contact.",
                      errors={"reason": ["A reason is required."]})
    case = scope.get_case(user, case_id)
    # The office sees its cases' complainants (the lead unit's, not a co-handler's); the
    # revisit team only those it has to call.
    if user.role in OFFICE_ROLES:
        _require_lead(user, case)
    elif not hooks.revisit_assignment(user, case.id):
        raise Forbidden("case.reveal_not_assigned", "Only a case sampled and assigned to you "
                        "to revisit shows its complainant's number.")
    timeline.append(case, "complainant_revealed", actor_id=user.id,
                     data={"reason": reason.strip()})
    audit.append("case.complainant_revealed", "case", case.id, actor_id=user.id,
                 data={"reason": reason.strip()})
    return {"name": case.complainant_name, "phone": case.complainant_phone}


def backfill(batch: int = 500) -> int:
    """Cases from before timelines existed get their `received` event, rule and deadline
    (run by `fieldcase migrate`; a no-op once done)."""
    done = 0
    while True:
        with transaction():
            todo = db.session.scalars(
                sa.select(Case).where(~sa.exists().where(CaseEvent.case_id == Case.id))
                .limit(batch)).all()
            for case in todo:
                if case.deadline_rule is None:
                    deadline_rules.assign_rule(case)
                timeline.append(case, "received", actor_id=case.created_by,
                                at=case.created_at,
                                data={"received_at": case.received_at, "channel": case.channel,
                                      "unit_id": case.unit_id, "backfilled": True})
                deadline_rules.refresh(case)
        done += len(todo)
        if len(todo) < batch:
            return done
