"""Which earlier complaints a complaint repeats: the one matching rule, for a new case
(links.link_cases) and for a sheet's rows before they are cases (`hints`, the import's
preview).

Two complaints are linked when, within REPEAT_WINDOW_DAYS of each other,
- they are about the same place (the same address key, or both located within
  REPEAT_RADIUS_M) and of the same category, or
- they come from the same complainant's number (its keyed hash: never the number).

Every lookup reads an index (cases.address_key, cases.geo_cell, complainant_phone_hmac),
batched for many drafts at once, so the cost stays flat however many cases there are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.core.geo import distance_m
from server.domain.core.runtime import setting
from server.domain.repeats.addresses import address_keys
from server.extensions import db
from server.models import Case, RepeatLink, RepeatSubject, User

# The grid of cases.geo_cell: 0.001° of latitude is 111 m. Fixed (stored on every case);
# the radius only decides how many cells around a point are read.
CELL_DEG = 0.001
_LON_CELLS = 10_000_000
CHUNK = 500  # values in one IN (...)


@dataclass(frozen=True)
class Draft:
    """A complaint not yet a case (a sheet's row), or a case."""

    category: str
    address: str
    lat: float | None
    lon: float | None
    phone_digest: str | None  # privacy.phone_digest(phone): never the number in clear
    received_at: datetime
    unit_id: str

    @classmethod
    def of_case(cls, case: Case) -> Draft:
        return cls(category=case.category, address=case.address or "", lat=case.lat,
                   lon=case.lon, phone_digest=case.complainant_phone_hmac,
                   received_at=case.received_at, unit_id=case.unit_id)


@dataclass
class Candidate:
    """An earlier complaint a draft repeats, with what matched, and the subject it is
    linked to already (None: not linked)."""

    case_id: str
    received_at: datetime
    unit_id: str
    matched_by: set[str]
    subject_id: str | None = None
    address: str = ""
    category: str = ""
    address_key: str | None = None


def cell_of(lat: float | None, lon: float | None) -> int | None:
    if lat is None or lon is None:
        return None
    return (math.floor((lat + 90) / CELL_DEG) * _LON_CELLS
            + math.floor((lon + 180) / CELL_DEG))


def cells_around(lat: float, lon: float, radius_m: float) -> list[int]:
    """The cells a circle of `radius_m` around the point touches."""
    dlat = radius_m / 111_320
    dlon = radius_m / (111_320 * max(0.01, math.cos(math.radians(lat))))
    lat0, lat1 = (math.floor((v + 90) / CELL_DEG) for v in (lat - dlat, lat + dlat))
    lon0, lon1 = (math.floor((v + 180) / CELL_DEG) for v in (lon - dlon, lon + dlon))
    return [i * _LON_CELLS + j for i in range(lat0, lat1 + 1) for j in range(lon0, lon1 + 1)]


def window() -> timedelta:
    return timedelta(days=setting("REPEAT_WINDOW_DAYS"))


def _chunks(values: Iterable[Any]) -> Iterable[list[Any]]:
    items = list(values)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


_COLUMNS = (Case.id, Case.category, Case.received_at, Case.lat, Case.lon, Case.address_key,
            Case.complainant_phone_hmac, Case.unit_id, Case.address,
            RepeatLink.subject_id, RepeatLink.state)


def match(drafts: Sequence[Draft], *, keys: Sequence[str | None] | None = None,
          exclude: Iterable[str] = ()) -> list[dict[str, Candidate]]:
    """For each draft, the complaints it repeats ({case id: candidate}). `keys`: the drafts'
    address keys when already known. Cases in `exclude` (the drafts themselves) and cases
    whose link the office undid (judged not a repeat) are never candidates."""
    if not drafts:
        return []
    keys = list(keys) if keys is not None else address_keys([d.address for d in drafts])
    span, radius = window(), float(setting("REPEAT_RADIUS_M"))
    lo = min(d.received_at for d in drafts) - span
    hi = max(d.received_at for d in drafts) + span
    # Each candidate's link comes along (one statement): an undone one is dropped below.
    base = (sa.select(*_COLUMNS).outerjoin(RepeatLink, RepeatLink.case_id == Case.id)
            .where(Case.received_at >= lo, Case.received_at <= hi))
    # Every lookup in one statement (UNION ALL of index reads): one round trip for a case.
    selects = [base.where(Case.address_key.in_(chunk))
               for chunk in _chunks({k for k in keys if k})]
    selects += [base.where(Case.complainant_phone_hmac.in_(chunk))
                for chunk in _chunks({d.phone_digest for d in drafts if d.phone_digest})]
    selects += [base.where(Case.geo_cell.in_(chunk)) for chunk in _chunks(
        {c for d in drafts if d.lat is not None and d.lon is not None
         for c in cells_around(d.lat, d.lon, radius)})]
    rows: dict[str, sa.Row] = {}
    for i in range(0, len(selects), 16):
        rows.update((r.id, r) for r in db.session.execute(sa.union_all(*selects[i:i + 16])))
    excluded = set(exclude)
    by_key: dict[str, list[sa.Row]] = {}
    by_phone: dict[str, list[sa.Row]] = {}
    by_cell: dict[int, list[sa.Row]] = {}
    for row in rows.values():
        if row.id in excluded or row.state == "undone":
            continue
        if row.address_key:
            by_key.setdefault(row.address_key, []).append(row)
        if row.complainant_phone_hmac:
            by_phone.setdefault(row.complainant_phone_hmac, []).append(row)
        cell = cell_of(row.lat, row.lon)
        if cell is not None:
            by_cell.setdefault(cell, []).append(row)
    out: list[dict[str, Candidate]] = []
    for draft, key in zip(drafts, keys, strict=True):
        found: dict[str, Candidate] = {}

        def add(row: sa.Row, how: str, draft: Draft = draft,
                found: dict[str, Candidate] = found) -> None:
            if abs(row.received_at - draft.received_at) > span:
                return
            found.setdefault(row.id, Candidate(
                row.id, row.received_at, row.unit_id, set(), row.subject_id, row.address,
                row.category, row.address_key)).matched_by.add(how)

        if key:
            for row in by_key.get(key, ()):
                if row.category == draft.category:
                    add(row, "address")
        if draft.lat is not None and draft.lon is not None:
            for cell in cells_around(draft.lat, draft.lon, radius):
                for row in by_cell.get(cell, ()):
                    if row.category == draft.category and distance_m(
                            (draft.lat, draft.lon), (row.lat, row.lon)) <= radius:
                        add(row, "radius")
        if draft.phone_digest:
            for row in by_phone.get(draft.phone_digest, ()):
                add(row, "phone")
        out.append(found)
    return out


@dataclass
class Resolution:
    """Where a draft's complaint goes: the subject it joins (None: a new one is made) and
    the earlier complaints not linked yet that join with it."""

    subject: RepeatSubject | None
    joiners: list[Candidate]
    matched_by: set[str]


def resolve(candidates: list[dict[str, Candidate]],
            subjects: dict[str, RepeatSubject] | None = None, *,
            lock: bool = False) -> list[Resolution | None]:
    """The subject each draft's candidates belong to: the largest of their subjects (they
    are not merged); candidates not linked yet join it. `subjects`: those known already
    (the rest are read here). `lock`: read them locked, fresh (a count about to grow:
    two arrivals at once must not both write the same new count)."""
    subjects = subjects if subjects is not None else {}
    wanted = {c.subject_id for found in candidates for c in found.values()
              if c.subject_id and c.subject_id not in subjects}
    for chunk in _chunks(wanted):
        query = sa.select(RepeatSubject).where(RepeatSubject.id.in_(sorted(chunk)))
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        subjects.update((s.id, s) for s in db.session.scalars(query))
    out: list[Resolution | None] = []
    for found in candidates:
        if not found:
            out.append(None)
            continue
        theirs = {c.subject_id for c in found.values() if c.subject_id}
        subject = max((subjects[s] for s in theirs), default=None,
                      key=lambda s: (s.count, s.last_at, s.id))
        joiners = [c for c in found.values() if c.subject_id is None]
        kept = [c for c in found.values()
                if c.subject_id is None or (subject is not None and c.subject_id == subject.id)]
        out.append(Resolution(subject, joiners, set().union(*(c.matched_by for c in kept))))
    return out


def hints(user: User, drafts: Sequence[Draft]) -> list[dict | None]:
    """For each draft (a sheet's row), None or what it repeats, as `user` may know it:
    {"subject_id", "listed" (the subject is on the list once this complaint arrives),
    "count" (complaints linked, this one included), "matched_by", "case_ids" (the linked
    cases the user may see), "other_units" (a count of those they may not: never their
    ids), "leader" {"id", "name"} | None}. Reads only; batched for a whole sheet.
    Only existing cases are looked at: two rows of one sheet about the same place are
    linked to each other when the sheet is imported (links.deferred), not hinted here."""
    found = match(drafts)
    resolved = resolve(found)
    subject_ids = {r.subject.id for r in resolved if r and r.subject}
    members: dict[str, set[str]] = {}
    for chunk in _chunks(subject_ids):
        for case_id, subject_id in db.session.execute(
                sa.select(RepeatLink.case_id, RepeatLink.subject_id)
                .where(RepeatLink.subject_id.in_(chunk), RepeatLink.state != "undone")):
            members.setdefault(subject_id, set()).add(case_id)
    linked = [(members.get(r.subject.id, set()) if r.subject else set())
              | {c.case_id for c in r.joiners} if r else set() for r in resolved]
    visible = visible_ids(user, set().union(*linked) if linked else set())
    leader_ids = {r.subject.leader_id for r in resolved if r and r.subject
                  and r.subject.leader_id}
    leaders = leader_names(leader_ids)
    list_at = setting("REPEAT_LIST_AT")
    out: list[dict | None] = []
    for r, ids in zip(resolved, linked, strict=True):
        if r is None:
            out.append(None)
            continue
        count = len(ids) + 1
        leader_id = r.subject.leader_id if r.subject else None
        out.append({
            "subject_id": r.subject.id if r.subject else None,
            "listed": count >= list_at,
            "count": count,
            "matched_by": sorted(r.matched_by),
            "case_ids": sorted(ids & visible),
            "other_units": len(ids - visible),
            "leader": {"id": leader_id, "name": leaders.get(leader_id, "")}
            if leader_id else None,
        })
    return out


def visible_ids(user: User, case_ids: set[str]) -> set[str]:
    """Those of `case_ids` the user may see (chunked; nothing to ask for the district)."""
    if not case_ids or scope.sees_everything(user):
        return set(case_ids)
    seen: set[str] = set()
    for chunk in _chunks(case_ids):
        seen |= scope.visible_case_ids(user, chunk)
    return seen


def leader_names(user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    return {uid: name or username for uid, name, username in db.session.execute(
        sa.select(User.id, User.display_name, User.username).where(User.id.in_(user_ids)))}
