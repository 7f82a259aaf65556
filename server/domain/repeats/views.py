"""What a user may read of repeat complaints: the list, a subject's history, a case's
link. A subject is visible when one of its linked cases is; of the cases of units the user
does not see, only a count ever leaves here (no id, name, address or content)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES
from server.domain.core.errors import NotFound
from server.domain.repeats import detect
from server.extensions import db
from server.models import Case, RepeatLink, RepeatSubject, User

LIST_MAX = 500


def _visible_subjects(user: User) -> sa.Select:
    """Ids of subjects with a linked case (not undone) the user sees."""
    return (sa.select(RepeatLink.subject_id).join(Case, Case.id == RepeatLink.case_id)
            .where(scope.visible_clause(user), RepeatLink.state != "undone"))


def get_subject(user: User, subject_id: str, *, for_update: bool = False) -> RepeatSubject:
    """The subject if the user sees one of its cases; otherwise the same 404 as none."""
    query = sa.select(RepeatSubject).where(
        RepeatSubject.id == subject_id,
        RepeatSubject.id.in_(_visible_subjects(user).where(RepeatLink.subject_id == subject_id)))
    if for_update:
        query = query.with_for_update(of=RepeatSubject)
    subject = db.session.scalar(query)
    if subject is None:
        raise NotFound("repeat.not_found", "No such repeat complaint.")
    return subject


def _members(subject_ids: set[str]) -> dict[str, list[tuple[str, str]]]:
    """{subject id: [(case id, link state)]}."""
    out: dict[str, list[tuple[str, str]]] = {}
    for chunk in detect._chunks(subject_ids):
        for case_id, subject_id, state in db.session.execute(
                sa.select(RepeatLink.case_id, RepeatLink.subject_id, RepeatLink.state)
                .where(RepeatLink.subject_id.in_(chunk))):
            out.setdefault(subject_id, []).append((case_id, state))
    return out


def _as_seen(user: User, subject_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each subject as the user may read it, from the linked cases they see: the place (the
    address of the earliest), its category, the first and last complaint. The stored
    title, category and dates may come from another unit's case, which is a count only."""
    if not subject_ids:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for chunk in detect._chunks(subject_ids):
        rows = db.session.execute(
            sa.select(RepeatLink.subject_id, Case.address, Case.category, Case.received_at)
            .join(Case, Case.id == RepeatLink.case_id)
            .where(RepeatLink.subject_id.in_(chunk), RepeatLink.state != "undone",
                   scope.visible_clause(user))
            .order_by(RepeatLink.subject_id, Case.received_at, Case.id))
        for subject_id, address, category, at in rows:
            seen = out.setdefault(subject_id, {"title": address, "category": category,
                                               "first_at": at})
            seen["last_at"] = at
    return out


def summaries(user: User, subjects: list[RepeatSubject]) -> list[dict[str, Any]]:
    ids = {s.id for s in subjects}
    members = _members(ids)
    live = {sid: {cid for cid, state in rows if state != "undone"}
            for sid, rows in members.items()}
    visible = detect.visible_ids(user, set().union(*live.values()) if live else set())
    leaders = detect.leader_names({s.leader_id for s in subjects if s.leader_id})
    everything = scope.sees_everything(user)
    seen = {} if everything else _as_seen(user, ids)
    # Seen through none of its live cases (the user's own link undone): nothing of it.
    unseen = {"title": "", "category": None, "first_at": None, "last_at": None}
    out = []
    for s in subjects:
        cases = live.get(s.id, set())
        mine = {} if everything else seen.get(s.id, unseen)
        out.append({
            "id": s.id, "title": mine.get("title", s.title),
            "category": mine.get("category", s.category), "count": s.count,
            "first_at": mine.get("first_at", s.first_at),
            "last_at": mine.get("last_at", s.last_at),
            "listed": s.listed_at is not None,
            # When another unit's complaint listed it, its time is that complaint's.
            "listed_at": s.listed_at if everything or not cases - visible else None,
            "leader": {"id": s.leader_id, "name": leaders.get(s.leader_id, "")}
            if s.leader_id else None,
            "resolved": s.resolved_at is not None,
            "visible_cases": len(cases & visible), "other_units": len(cases - visible),
        })
    return out


def list_subjects(user: User, *, listed: bool = True) -> list[dict[str, Any]]:
    """The repeat-complaint list: listed subjects the user sees, the latest complaint first."""
    query = (sa.select(RepeatSubject).where(RepeatSubject.id.in_(_visible_subjects(user)))
             .order_by(RepeatSubject.last_at.desc(), RepeatSubject.id).limit(LIST_MAX))
    if listed:
        query = query.where(RepeatSubject.listed_at.is_not(None))
    return summaries(user, list(db.session.scalars(query)))


def subject_detail(user: User, subject_id: str) -> dict[str, Any]:
    """A subject's history: the linked cases the user sees, oldest first, with their link;
    the others as a count."""
    subject = get_subject(user, subject_id)
    rows = db.session.execute(
        sa.select(Case.id, Case.received_at, Case.status, Case.subject, Case.category,
                  Case.unit_id, RepeatLink.matched_by, RepeatLink.state,
                  RepeatLink.decided_at)
        .join(RepeatLink, RepeatLink.case_id == Case.id)
        .where(RepeatLink.subject_id == subject.id, scope.visible_clause(user))
        .order_by(Case.received_at, Case.id)).all()
    return {**summaries(user, [subject])[0], "cases": [
        {"id": r.id, "received_at": r.received_at, "status": r.status, "subject": r.subject,
         "category": r.category, "unit_id": r.unit_id, "matched_by": r.matched_by or [],
         "state": r.state, "decided_at": r.decided_at} for r in rows]}


def case_repeat(user: User, case_id: str) -> dict[str, Any]:
    """The case's link, as its page shows it: the subject's summary, the link's state, and
    whether the user may decide on it."""
    case = scope.get_case(user, case_id)
    link = db.session.scalar(sa.select(RepeatLink).where(RepeatLink.case_id == case.id))
    may_decide = user.role in OFFICE_ROLES
    if link is None:
        return {"linked": False, "may_decide": False, "link": None, "subject": None}
    subject = db.session.get(RepeatSubject, link.subject_id)
    assert subject is not None
    return {"linked": True, "may_decide": may_decide,
            "link": {"state": link.state, "matched_by": link.matched_by or [],
                     "decided_at": link.decided_at, "created_at": link.created_at},
            "subject": summaries(user, [subject])[0]}
