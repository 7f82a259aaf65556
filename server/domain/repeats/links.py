"""Linking complaints to their subject as they arrive, and the office's decisions: confirm
or undo a link, the leader in charge (包案领导)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from server.domain.accounts import roles, scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, lifecycle
from server.domain.core.errors import Forbidden, Invalid, NotFound
from server.domain.core.runtime import setting
from server.domain.core.uow import command, transaction
from server.domain.repeats import detect
from server.domain.repeats.addresses import address_keys
from server.extensions import db
from server.models import Case, RepeatLink, RepeatSubject, User
from server.models.base import new_id, utcnow

_DEFERRED = "fieldcase.repeats.deferred"
# Edits that change what a case matches: its key and cell are read again.
_PLACE_FIELDS = {"address", "lat", "lon"}
_MATCH_FIELDS = {"address", "lat", "lon", "category", "received_at", "complainant_phone"}


def _keying() -> sa.Update:
    """UPDATE cases' key and cell by id (executemany; bind names unlike the columns')."""
    table = Case.__table__
    return (sa.update(table).where(table.c.id == sa.bindparam("case_id"))
            .values(address_key=sa.bindparam("new_key"), geo_cell=sa.bindparam("new_cell")))


def _index(cases: Sequence[Case]) -> None:
    """Key the (flushed) cases: a plain UPDATE, so the case's version stays the one its
    last event recorded (nobody edited it; a phone holding that version is not stale)."""
    values = [{"case_id": case.id, "new_key": key,
               "new_cell": detect.cell_of(case.lat, case.lon)}
              for case, key in zip(cases, address_keys([c.address for c in cases]),
                                   strict=True)]
    db.session.execute(_keying(), values)
    for case, row in zip(cases, values, strict=True):
        set_committed_value(case, "address_key", row["new_key"])
        set_committed_value(case, "geo_cell", row["new_cell"])


@hooks.case_added.register
def on_case_added(case: Case) -> None:
    """A new case is keyed, then linked to the complaints it repeats. Inside `deferred()`
    (a sheet's import) it is only keyed; the block links them all at its end, in one batch."""
    _index([case])
    waiting = db.session.info.get(_DEFERRED)
    if waiting is not None:
        waiting.append(case)
        return
    link_cases([case])


@hooks.case_updated.register
def on_case_updated(case: Case, fields: Sequence[str]) -> None:
    """An edit of the place re-keys the case; one that changes what it matches links it if
    it is not linked yet (an existing link is the office's to confirm or undo)."""
    if not _MATCH_FIELDS & set(fields):
        return
    if _PLACE_FIELDS & set(fields):
        _index([case])
    link_cases([case], new=False)


@contextmanager
def deferred() -> Iterator[None]:
    """Cases added inside are linked together at the end (one batched lookup for a whole
    sheet instead of one a row). Nested blocks join the outer one."""
    session = db.session
    if session.info.get(_DEFERRED) is not None:
        yield
        return
    session.info[_DEFERRED] = []
    try:
        yield
    finally:
        waiting = session.info.pop(_DEFERRED, [])
    session.flush()
    link_cases(waiting)


def link_cases(cases: Sequence[Case], *, new: bool = True) -> None:
    """Link each case to the complaints it repeats, oldest first: it joins their subject
    (or a new one made with them), the subject's count grows, and reaching REPEAT_LIST_AT
    lists it. Cases linked already (or whose link was undone) are left; `new`: the cases
    were just added, so none is. Never commits."""
    if not cases:
        return
    cases = sorted(cases, key=lambda c: (c.received_at, c.id))
    found = detect.match([detect.Draft.of_case(c) for c in cases],
                         keys=[c.address_key for c in cases])
    # Linked here or before: a case of the batch pulled into a subject by an earlier one
    # is not linked again.
    assigned: dict[str, str] = {}
    if not new:
        assigned = {case_id: subject_id for case_id, subject_id in db.session.execute(
            sa.select(RepeatLink.case_id, RepeatLink.subject_id)
            .where(RepeatLink.case_id.in_([c.id for c in cases])))}
    subjects: dict[str, RepeatSubject] = {}
    now, list_at = utcnow(), setting("REPEAT_LIST_AT")
    # Each link with the subject as it stood then (a sheet's second row says 2, not 4).
    linked: list[tuple[Case, RepeatLink, int, bool]] = []
    # A batch (a sheet) links as its rows would one by one, in the order received: a row
    # repeats the complaints before it, and the later rows of the batch join it later.
    order = {c.id: (c.received_at, c.id) for c in cases}
    for case, candidates in zip(cases, found, strict=True):
        candidates.pop(case.id, None)
        for later in [cid for cid in candidates if cid in order and order[cid] > order[case.id]]:
            del candidates[later]
        if case.id in assigned or not candidates:
            continue
        for candidate in candidates.values():
            candidate.subject_id = assigned.get(candidate.case_id, candidate.subject_id)
        resolution = detect.resolve([candidates], subjects, lock=True)[0]
        if resolution is None:
            continue
        subject = resolution.subject
        if subject is None:
            first = min(resolution.joiners, key=lambda c: (c.received_at, c.case_id))
            earliest = first if first.received_at < case.received_at else None
            subject = RepeatSubject(
                id=new_id(), title=(earliest.address if earliest else case.address)[:500],
                category=earliest.category if earliest else case.category,
                address_key=earliest.address_key if earliest else case.address_key,
                first_at=min(first.received_at, case.received_at),
                last_at=case.received_at, count=0, created_at=now)
            db.session.add(subject)
            db.session.flush()  # before its links (no relationship orders the inserts)
            subjects[subject.id] = subject
        for joiner in resolution.joiners:
            assigned[joiner.case_id] = subject.id
            db.session.add(RepeatLink(case_id=joiner.case_id, subject_id=subject.id,
                                      state="auto", matched_by=sorted(joiner.matched_by),
                                      created_at=now))
            _stretch(subject, joiner.received_at)
        link = RepeatLink(case_id=case.id, subject_id=subject.id, state="auto",
                          matched_by=sorted(resolution.matched_by), created_at=now)
        assigned[case.id] = subject.id
        db.session.add(link)
        _stretch(subject, case.received_at)
        subject.count += len(resolution.joiners) + 1
        if subject.count >= list_at and subject.listed_at is None:
            subject.listed_at = now
        linked.append((case, link, subject.count, subject.listed_at is not None))
    if not linked:
        return
    db.session.flush()
    timeline.append_many([
        (case, "repeat_linked", {"subject_id": link.subject_id, "count": count,
                                 "listed": listed, "matched_by": link.matched_by})
        for case, link, count, listed in linked], actor_id=None, at=now)


def _stretch(subject: RepeatSubject, at: Any) -> None:
    subject.first_at = min(subject.first_at, at)
    subject.last_at = max(subject.last_at, at)


# ---- the office's decisions -----------------------------------------------------------------
def _require_office(user: User) -> None:
    require_role(user, OFFICE_ROLES, "repeat.forbidden",
                 "Only office staff may decide on repeat complaints.")


def _case_link(user: User, case_id: str) -> tuple[Case, RepeatLink]:
    case = scope.get_case(user, case_id, for_update=True)
    if "lead" not in lifecycle.relations(user, case):
        # A co-handling unit sees the case but the link is the responsible unit's call.
        raise Forbidden("repeat.not_responsible", "Only the responsible unit's office may decide "
                        "on this case's link.")
    link = db.session.scalar(sa.select(RepeatLink).where(RepeatLink.case_id == case.id))
    if link is None:
        raise NotFound("repeat.no_link", "This case is not linked to a repeat complaint.")
    return case, link


def _recount(subject: RepeatSubject) -> None:
    """Count, dates and place from the live links (an undone earliest case no longer
    names the subject or starts it)."""
    live = db.session.execute(
        sa.select(Case.received_at, Case.address, Case.category, Case.address_key)
        .join(RepeatLink, RepeatLink.case_id == Case.id)
        .where(RepeatLink.subject_id == subject.id, RepeatLink.state != "undone")
        .order_by(Case.received_at, Case.id)).all()
    subject.count = len(live)
    if live:
        first = live[0]
        subject.first_at, subject.last_at = first.received_at, live[-1].received_at
        subject.title, subject.category = first.address[:500], first.category
        subject.address_key = first.address_key or subject.address_key
    if subject.count >= setting("REPEAT_LIST_AT"):
        subject.listed_at = subject.listed_at or utcnow()
    else:
        subject.listed_at = None


def _decide(user: User, case_id: str, state: str) -> tuple[Case, RepeatLink]:
    _require_office(user)
    case, link = _case_link(user, case_id)
    if link.state == state:
        return case, link  # a retry: decided already, nothing written twice
    subject = db.session.get(RepeatSubject, link.subject_id, with_for_update=True)
    assert subject is not None
    was = link.state
    link.state, link.decided_by, link.decided_at = state, user.id, utcnow()
    db.session.flush()
    _recount(subject)
    db.session.flush()
    data = {"subject_id": subject.id, "count": subject.count, "was": was}
    timeline.append(case, "repeat_link_confirmed" if state == "confirmed"
                    else "repeat_link_undone", actor_id=user.id, data=data)
    audit.append(f"repeat.link_{state}", "case", case.id, actor_id=user.id, data=data)
    return case, link


@command
def confirm(user: User, case_id: str) -> tuple[Case, RepeatLink]:
    """The office agrees the case repeats its subject (again after an undo: it counts)."""
    return _decide(user, case_id, "confirmed")


@command
def undo(user: User, case_id: str) -> tuple[Case, RepeatLink]:
    """Not a repeat: the case leaves its subject's count and is never linked again
    automatically (its undone link stays)."""
    return _decide(user, case_id, "undone")


@command
def set_leader(user: User, subject_id: str, leader_id: str | None) -> RepeatSubject:
    """The leader in charge of a subject (包案领导): an active user with a leader's role."""
    _require_office(user)
    from server.domain.repeats.views import get_subject

    subject = get_subject(user, subject_id, for_update=True)
    units = set(db.session.scalars(
        sa.select(Case.unit_id).join(RepeatLink, RepeatLink.case_id == Case.id)
        .where(RepeatLink.subject_id == subject.id, RepeatLink.state != "undone")))
    if not units <= set(scope.visible_unit_ids(user)):
        # Another unit's complaints are in it: the office over all of them decides.
        raise Forbidden("repeat.other_units", "This repeat complaint has cases of other units: "
                        "the office over all of them names its leader.")
    if leader_id is not None:
        leader = db.session.get(User, leader_id)
        if not all(roles.may_hold(leader, unit) for unit in units):
            raise Invalid("repeat.not_a_leader", "Only an active leader over every unit of "
                          "its cases may be put in charge.",
                          errors={"leader_id": ["Not an active leader of these units."]})
    if subject.leader_id == leader_id:
        return subject
    before = subject.leader_id
    subject.leader_id = leader_id
    db.session.flush()
    audit.append("repeat.leader_set", "repeat_subject", subject.id, actor_id=user.id,
                 data={"leader_id": leader_id, "was": before})
    return subject


# ---- existing cases ---------------------------------------------------------------------------
def index_addresses(*, every: bool = False, batch: int = 1000) -> int:
    """Fill the address key and grid cell of cases from before 0019 (or of all: `every`,
    after the rules changed). Plain UPDATEs in batches by id, each its own transaction; the
    cases are not linked (only arrivals are). Returns how many were written."""
    done, last_id = 0, ""
    while True:
        with transaction():
            query = (sa.select(Case.id, Case.address, Case.lat, Case.lon)
                     .where(Case.id > last_id).order_by(Case.id).limit(batch))
            if not every:
                query = query.where(Case.address_key.is_(None))
            rows = db.session.execute(query).all()
            keys = address_keys([r.address for r in rows])
            if rows:
                db.session.execute(_keying(), [
                    {"case_id": r.id, "new_key": key, "new_cell": detect.cell_of(r.lat, r.lon)}
                    for r, key in zip(rows, keys, strict=True)])
        done += len(rows)
        if len(rows) < batch:
            return done
        last_id = rows[-1][0]
