"""Closure files (办结材料, and the public 办结公示) and archives, made from sealed cases.

A file is made once per set of seals, kind and audience from the stored thumbnails (never
by decoding originals again) and kept in the object store with its hash: a second
download of the same sealed cases is the same bytes. Making a public file publishes its
seals, which lets their photos' short codes answer the public verify page."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit, tampering
from server.domain.closure import sealing, verification
from server.domain.core import labels, named_objects, runtime
from server.domain.core.errors import Conflict, Invalid, NotFound
from server.domain.core.privacy import mask_phone
from server.domain.core.uow import transaction
from server.domain.fieldwork.evidence import thumb_key
from server.extensions import db
from server.models import (
    Case,
    CaseEvent,
    ClosureFile,
    Evidence,
    Measurement,
    Revisit,
    Seal,
    Unit,
    User,
)
from server.models.base import utcnow
from server.reports import archive as zip_archive
from server.reports import closure_file as render
from server.reports.closure_layout import PER_PAGE  # photos per page: 1 (the annex) or 2
from server.reports.closure_pdf import render_pdf
from server.reports.packet import CaseSection, ClosurePacket, PhotoEntry

KINDS = ("docx", "pdf")
MAX_BATCH = 50
# Both renderers hold a file's photos in memory while they make it (about 0.3 MB each):
# a batch with more photos than this is refused rather than risk the worker.
MAX_PHOTOS = 200
CONTENT_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
PERIODS = {"day": "昼间", "night": "夜间"}
TITLES = {False: "环境信访案件办结材料", True: "环境信访案件办结公示"}
# 2: the cover with its sign-off block, the appendix, spread labels; 3: leaders'
# instructions and the feedback to the complainant on the cover
# 4: a public file prints no revisit photo (verification.shown_in_public)
LAYOUT_VERSION = 4
# A job's progress: (done, total, stage); stages name what is being done now.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class SealedCase:
    """A case as its seal recorded it: what closure files print. The row may have moved on
    (a reopen, or an edit made before sealed cases were read-only); the seal has not."""

    id: str
    subject: str
    address: str
    category: str
    channel: str
    unit: str
    received_at: datetime
    closed_at: datetime
    verdict: str | None
    result: str | None
    external_ref: str | None
    complainant: str | None  # masked, and only while the row still holds what was sealed


@dataclass(frozen=True)
class StoredFile:
    name: str
    content_type: str
    sha256: str
    size: int
    object_key: str

    def chunks(self) -> Iterator[bytes]:
        return runtime.storage().iter_chunks(self.object_key)


# ---- which cases --------------------------------------------------------------------------
def visible_cases(user: User, case_ids: Iterable[str]) -> dict[str, Case]:
    """Who may have these cases in a file: the office, each case in its scope (else 404
    naming the id). Also re-checked before a job's result is shown or handed out."""
    require_role(user, OFFICE_ROLES, "closure.forbidden",
                 "Closure files are made by the office.")
    ids = list(dict.fromkeys(case_ids))
    if not ids:
        raise Invalid("closure.no_cases", "Name at least one case.",
                      errors={"case": ["Required."]})
    if len(ids) > MAX_BATCH:
        raise Invalid("closure.too_many_cases", f"At most {MAX_BATCH} cases in one file.",
                      errors={"case": [f"At most {MAX_BATCH}."]})
    visible = {c.id: c for c in db.session.scalars(
        scope.cases_query(user).where(Case.id.in_(ids)))}
    for case_id in ids:
        if case_id not in visible:
            raise NotFound("case.not_found", f"No such case: {case_id}.",
                           extra={"case_id": case_id})
    return visible


def sealed_cases(user: User, case_ids: Iterable[str]) -> list[tuple[Case, Seal]]:
    """The cases asked for, in the order given, each with its latest seal. A case the user
    may not see is the same 404 as one that does not exist, naming only the id given."""
    ids = list(dict.fromkeys(case_ids))
    visible = visible_cases(user, ids)
    for case_id in ids:
        if visible[case_id].status != "closed":
            raise Conflict("closure.not_closed", "Closure files are made for closed cases "
                           "only.", extra={"case_id": case_id,
                                           "case_status": visible[case_id].status})
    seals = sealing.latest_of(ids)
    for case_id in ids:
        if case_id not in seals:
            raise Conflict("closure.not_sealed", "This case was closed before seals were "
                           "kept; reopen it and approve it again to seal it.",
                           extra={"case_id": case_id})
    return [(visible[i], seals[i]) for i in ids]


# ---- the closure file -------------------------------------------------------------------
def closure_file(user: User, case_ids: Iterable[str], kind: str, public: bool,
                 per_page: int = 1, progress: Progress | None = None) -> StoredFile:
    if kind not in KINDS:
        raise Invalid("closure.bad_kind", f"One of {', '.join(KINDS)}.")
    if per_page not in PER_PAGE:
        raise Invalid("closure.bad_per_page", "Photos per page: 1 or 2.",
                      errors={"per_page": ["One of 1, 2."]})
    return _stored_file(user, sealed_cases(user, case_ids), kind, public, per_page,
                        progress)


def _stored_file(user: User, chosen: list[tuple[Case, Seal]], kind: str, public: bool,
                 per_page: int = 1, progress: Progress | None = None) -> StoredFile:
    """The file of these sealed cases, made now unless it was made before."""
    seal_ids = [s.id for _c, s in chosen]
    # LAYOUT_VERSION: a file made with an older layout is made again, not served.
    key = hashlib.sha256(f"{kind}|{int(public)}|{','.join(seal_ids)}|{LAYOUT_VERSION}"
                         f"|{per_page}".encode()).hexdigest()
    name = _file_name(chosen, kind, public)
    made = db.session.scalar(sa.select(ClosureFile).filter_by(key=key))
    if made is None:
        check_photos(chosen)
        made = _make(user, chosen, kind, public, key, per_page, progress)
    return StoredFile(name, CONTENT_TYPES[kind], made.sha256, made.size, made.object_key)


def check_photos(chosen: list[tuple[Case, Seal]]) -> None:
    """A file holds at most MAX_PHOTOS photos (checked again when a job is asked for, so a
    batch too large is refused at once rather than failing in the worker)."""
    photos = sum(len(_photo_items(s)) for _c, s in chosen)
    if photos > MAX_PHOTOS:
        raise Invalid("closure.too_many_photos", f"These cases hold {photos} photos; a "
                      f"closure file takes at most {MAX_PHOTOS}: split the batch.",
                      errors={"case": [f"At most {MAX_PHOTOS} photos in all."]},
                      params={"photos": photos, "max": MAX_PHOTOS})


def _make(user: User, chosen: list[tuple[Case, Seal]], kind: str, public: bool, key: str,
          per_page: int = 1, progress: Progress | None = None) -> ClosureFile:
    """Render, store, then record, in that order: a store failure leaves no row behind,
    and two reviewers making the same file at once end up with one row (the second
    reads the first's)."""
    packet = build_packet(chosen, public, verification.public_base(), per_page,  # never the Host
                          progress)
    if progress:
        progress(0, 1, "rendering")
    body = render.render_docx(packet) if kind == "docx" else render_pdf(packet)
    sha256 = hashlib.sha256(body).hexdigest()
    object_key = f"closure-files/{sha256}.{kind}"
    runtime.storage().put_bytes(object_key, body, content_type=CONTENT_TYPES[kind])
    now = utcnow()
    try:
        with transaction():
            row = ClosureFile(key=key, kind=kind, public=public,
                              case_ids=[c.id for c, _s in chosen],
                              seal_ids=[s.id for _c, s in chosen], object_key=object_key,
                              sha256=sha256, size=len(body), created_at=now,
                              created_by=user.id)
            db.session.add(row)
            if public:
                db.session.execute(sa.update(Seal).where(
                    Seal.id.in_(row.seal_ids), Seal.published_at.is_(None))
                    .values(published_at=now))
            db.session.flush()
            audit.append("closure_file.made", "closure_file", row.id, actor_id=user.id,
                         data={"kind": kind, "public": public, "sha256": sha256,
                               "case_ids": row.case_ids, "seal_ids": row.seal_ids,
                               "per_page": per_page})
    except IntegrityError:
        made = db.session.scalar(sa.select(ClosureFile).filter_by(key=key))
        if made is None:
            raise
        return made
    return row


def _file_name(chosen: list[tuple[Case, Seal]], kind: str, public: bool) -> str:
    what = "办结公示" if public else "办结材料"
    if len(chosen) == 1:
        case, s = chosen[0]
        return f"{what}-{_case_label(_ref(s), case.id)}-封存{s.number}.{kind}"
    return f"{what}-{len(chosen)}件.{kind}"


def _photo_items(seal: Seal, public: bool = False) -> list[dict[str, Any]]:
    """The photos a seal lists (recordings are not printed); for a public file, those the
    public may see (verification.shown_in_public: no revisit's photos)."""
    return [e for e in json.loads(seal.manifest)["evidence"]
            if (e["content_type"] or "").startswith("image/")
            and (not public or verification.shown_in_public(
                e.get("revisit_id"), e.get("respondent_id"), e["content_type"]))]


def _case_label(external_ref: str | None, case_id: str, *, full_id: bool = False) -> str:
    """A file or folder name: the platform's number where there is one, as a safe slug
    (it is free text: slashes, colons, device names), and the id's start, which makes it
    unique (`full_id` when two starts meet in one batch)."""
    slug = zip_archive.safe_name(external_ref or "")
    return f"{slug}_{case_id if full_id else case_id[:8]}" if slug else case_id


def _ref(s: Seal) -> str | None:
    return json.loads(s.manifest)["case"].get("external_ref")


def _sealed_views(chosen: list[tuple[Case, Seal]], public: bool) -> dict[str, SealedCase]:
    """Each case as its seal lists it (one query for the units' names)."""
    manifests = {s.id: json.loads(s.manifest) for _c, s in chosen}
    sealed = {sid: manifest["case"] for sid, manifest in manifests.items()}
    units = dict(db.session.execute(sa.select(Unit.id, Unit.name).where(
        Unit.id.in_({m["unit_id"] for m in sealed.values()}))).all())
    views = {}
    for case, s in chosen:
        m = sealed[s.id]
        # The manifest holds the complainant only as a hash: print the row's when it is
        # still what was sealed, else nothing rather than something else.
        same = sealing.complainant_unchanged(manifests[s.id], case)
        views[case.id] = SealedCase(
            id=case.id, subject=m["subject"], address=m["address"], category=m["category"],
            channel=m["channel"], unit=units.get(m["unit_id"], ""),
            received_at=datetime.fromisoformat(m["received_at"]), closed_at=s.sealed_at,
            verdict=m.get("verdict"), result=m.get("result"), external_ref=m.get("external_ref"),
            complainant=_complainant(case) if same and not public else None)
    return views


def build_packet(chosen: list[tuple[Case, Seal]], public: bool, base: str,
                 per_page: int = 1, progress: Progress | None = None) -> ClosurePacket:
    """The packet the renderers draw, from the seals' manifests and the rows they list
    (a handful of queries for the whole batch) and the stored large thumbnails."""
    manifests = {s.id: json.loads(s.manifest) for _c, s in chosen}
    evidence_ids = [e["id"] for _c, s in chosen for e in _photo_items(s, public)]
    photos = {ev.id: ev for ev in db.session.scalars(
        sa.select(Evidence).where(Evidence.id.in_(evidence_ids)))} if evidence_ids else {}
    revisit_ids = [r["id"] for m in manifests.values() for r in m["revisits"]]
    revisits = {r.id: r for r in db.session.scalars(
        sa.select(Revisit).where(Revisit.id.in_(revisit_ids)))} if revisit_ids else {}
    reading_ids = [x["id"] for m in manifests.values() for v in m["visits"]
                   for x in v["measurements"]]
    readings = {x.id: x for x in db.session.scalars(
        sa.select(Measurement).where(Measurement.id.in_(reading_ids)))} if reading_ids else {}
    approvers = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id.in_({s.sealed_by for _c, s in chosen}))).all())
    # The approval as the seal recorded it (its note is the approver's opinion).
    decisions = {s.id: manifests[s.id].get("decision") or {} for _c, s in chosen}
    store = runtime.storage()
    views = _sealed_views(chosen, public)
    told = _instructions_and_feedback(chosen, public)
    sections = []
    photo_total = sum(len(_photo_items(s, public)) for _c, s in chosen)
    loaded = [0]

    def photo(ev: Evidence, case: SealedCase) -> PhotoEntry:
        if progress:  # one step a photo: loading thumbnails is most of a file's time
            progress(loaded[0], photo_total, "photos")
            loaded[0] += 1
        return _photo(ev, case, base, store)

    for case_row, s in chosen:
        m, case = manifests[s.id], views[case_row.id]
        listed = sorted((photos[e["id"]] for e in m["evidence"] if e["id"] in photos),
                        key=lambda ev: (ev.captured_at, ev.id))
        decision = decisions[s.id]
        sections.append(CaseSection(
            case_id=case.external_ref or case.id, case_uuid=case.id,
            subject=case.subject, address=case.address,
            category=labels.label("categories", case.category),
            channel=labels.label("channels", case.channel), unit=case.unit,
            received_at=case.received_at, closed_at=case.closed_at,
            complainant=case.complainant,
            verdict=labels.label("verdicts", case.verdict), result=case.result or "",
            revisit=_revisit_line([revisits[r["id"]] for r in m["revisits"]
                                   if r["id"] in revisits]),
            readings=[_reading_line(readings[x["id"]]) for v in m["visits"]
                      for x in v["measurements"] if x["id"] in readings],
            seal_number=s.number, seal_sha256=sealing.published_hash(s), sealed_at=s.sealed_at,
            approver=approvers.get(s.sealed_by) or "",
            handlers="、".join(u.display_name for u in sorted(
                case_row.assignees, key=lambda u: (u.display_name, u.id))),
            opinion=decision.get("note") or "",
            approved_at=datetime.fromisoformat(decision["at"]) if decision.get("at") else None,
            instructions=told[case_row.id][0], feedback=told[case_row.id][1],
            photos=[photo(ev, case) for ev in listed]))
    return ClosurePacket(title=TITLES[public], public=public, generated_at=max(
        s.sealed_at for _c, s in chosen), cases=sections, office=_office(chosen),
        photos_per_page=per_page)


def _instructions_and_feedback(chosen: list[tuple[Case, Seal]], public: bool
                               ) -> dict[str, tuple[tuple[str, ...], str]]:
    """Each case's leaders' instructions (oldest first) and the latest feedback to the
    complainant, as recorded on its timeline before its seal (one query)."""
    upto = {c.id: s.event_seq for c, s in chosen}
    events = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id.in_(list(upto)),
        CaseEvent.kind.in_(("leader_instruction", "complainant_informed")))
        .order_by(CaseEvent.case_id, CaseEvent.seq))
    out: dict[str, tuple[list[str], str]] = {c.id: ([], "") for c, _s in chosen}
    for ev in events:
        if ev.seq >= upto[ev.case_id]:
            continue
        lines, feedback = out[ev.case_id]
        d = ev.data
        if ev.kind == "leader_instruction":
            lines.append(f"{d['leader_name']} {render.when(datetime.fromisoformat(d['given_at']))}"
                         f"：{d['text']}")
        else:
            note = "" if public or not d.get("note") else f" {d['note']}"
            feedback = (f"{labels.label('feedback_methods', d['method'])} "
                        f"{render.when(datetime.fromisoformat(d['told_at']))}{note}")
        out[ev.case_id] = (lines, feedback)
    return {k: (tuple(v[0]), v[1]) for k, v in out.items()}


def _office(chosen: list[tuple[Case, Seal]]) -> str:
    """The issuing office at the head of the file: the configured OFFICE_NAME, else the
    unit at the top of the first case's sealed unit's line (the district bureau over a
    street office)."""
    configured = runtime.setting("OFFICE_NAME")
    if configured:
        return str(configured)
    unit = db.session.get(Unit, json.loads(chosen[0][1].manifest)["case"]["unit_id"])
    seen: set[str] = set()
    while unit is not None and unit.parent_id and unit.id not in seen:
        seen.add(unit.id)
        unit = db.session.get(Unit, unit.parent_id)
    return unit.name if unit is not None else ""


def _photo(ev: Evidence, case: SealedCase, base: str, store: Any) -> PhotoEntry:
    image = b"".join(store.iter_chunks(thumb_key(ev.id, "large")))
    return PhotoEntry(
        evidence_id=ev.id, short_code=ev.short_code or "",
        verify_url=verification.verify_url(ev.short_code or "", base),
        heading=f"{ev.place or case.unit}现场检查照片", taken_at=ev.captured_at,
        photographer=ev.photographer or "", place=ev.place or case.address,
        caption=ev.caption or "", sha256=ev.sha256, image=image)


def _complainant(case: Case) -> str | None:
    parts = [p for p in (case.complainant_name, mask_phone(case.complainant_phone)) if p]
    return " ".join(parts) or None


def _revisit_line(revisits: list[Revisit]) -> str:
    """The revisit the closure rests on: the latest with a satisfaction answer, else the
    latest unreachable one with its reason."""
    ordered = sorted(revisits, key=lambda r: r.received_at, reverse=True)
    answered = next((r for r in ordered if r.satisfaction), None)
    if answered is not None:
        return (f"{labels.label('revisit_methods', answered.method)} "
                f"{render.when(answered.at)} "
                f"{labels.label('satisfaction', answered.satisfaction)}")
    unreachable = next((r for r in ordered if r.outcome == "unreachable"), None)
    if unreachable is not None:
        return f"无法联系：{unreachable.unreachable_reason or ''}"
    return "未回访"


def _reading_line(m: Measurement) -> str:
    value = m.corrected_dba if m.corrected_dba is not None else m.value_dba
    line = f"{PERIODS.get(m.period, m.period)} {value:.1f} dB(A)"
    if m.limit_dba is not None:
        line += f"，限值 {m.limit_dba:g}"
    if m.exceeded is not None:
        line += "，超标" if m.exceeded else "，达标"
    return line


# ---- the archive ------------------------------------------------------------------------
def write_archive(user: User, case_ids: Iterable[str], out: IO[bytes],
                  progress: Progress | None = None) -> str:
    """A ZIP of the cases' originals, seal manifests and closure files (DOCX and PDF),
    with a README on checking the hashes. Returns its file name."""
    chosen = sealed_cases(user, case_ids)
    files = [_stored_file(user, chosen, kind, False) for kind in KINDS]
    store = runtime.storage()
    entries: list[zip_archive.ArchiveEntry] = []
    lines = []
    views = _sealed_views(chosen, False)
    short = Counter(_case_label(_ref(s), c.id) for c, s in chosen)
    for case_row, s in chosen:
        case = views[case_row.id]
        folder = _case_label(case.external_ref, case.id)
        if short[folder] > 1:  # two ids' starts alike in one batch: the whole id
            folder = _case_label(case.external_ref, case.id, full_id=True)
        manifest = sealing.shareable_manifest(s)  # an old seal's copy keyed too
        entries.append(zip_archive.ArchiveEntry(
            f"{folder}/seal-{s.number}.json", lambda body=manifest: [body],
            hashlib.sha256(manifest).hexdigest()))
        for item in json.loads(s.manifest)["evidence"]:
            entries.append(zip_archive.ArchiveEntry(
                f"{folder}/originals/{item['id']}{_suffix(item['content_type'])}",
                lambda key=item["object_key"]: store.iter_chunks(key), item["sha256"]))
        lines.append(f"{folder}: {case.subject}；封存 {s.number}，SHA-256 "
                     f"{sealing.published_hash(s)}")
    for f in files:
        entries.append(zip_archive.ArchiveEntry(f.name, f.chunks, f.sha256))
    if progress:
        entries = _counted(entries, progress)
    try:
        zip_archive.write_archive(out, entries, zip_archive.archive_readme(
            "环境信访案件归档包 / Case archive", lines))
    except zip_archive.AlteredEntry as altered:  # stored bytes changed since recorded
        raise tampering.refuse(f"archive entry {altered.name}", "case", chosen[0][0].id,
                               actor_id=user.id, expected=altered.recorded,
                               actual=altered.actual) from altered
    return _file_name(chosen, "zip", False).replace("办结材料", "归档包")


def _counted(entries: list[zip_archive.ArchiveEntry], progress: Progress
             ) -> list[zip_archive.ArchiveEntry]:
    """The entries, each reporting progress as the archive starts to read it."""
    total = len(entries)

    def reading(i: int, chunks: Callable[[], Iterable[bytes]]) -> Callable[[], Iterable[bytes]]:
        def read() -> Iterable[bytes]:
            progress(i, total, "archive")
            return chunks()
        return read

    return [zip_archive.ArchiveEntry(e.name, reading(i, e.chunks), e.sha256)
            for i, e in enumerate(entries)]


def _suffix(content_type: str | None) -> str:
    return {"image/jpeg": ".jpg", "image/png": ".png", "image/heic": ".heic",
            "image/webp": ".webp", "audio/mp4": ".m4a", "audio/webm": ".webm",
            "audio/ogg": ".ogg", "audio/mpeg": ".mp3"}.get(content_type or "", ".bin")


def _readable(manifest: bytes) -> dict[str, Any] | None:
    """A manifest altered so that it no longer parses (or is no longer an object) has
    nothing to show: null, and the seal check (`altered`) names the seal, not a 500."""
    try:
        parsed = json.loads(manifest)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def seal_view(user: User, case_id: str) -> dict[str, Any]:
    case = scope.get_case(user, case_id)
    seals = sealing.seals_of(case.id)
    if not seals:
        raise NotFound("closure.not_sealed", "This case has not been sealed.")
    last = seals[-1]
    names = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id == last.sealed_by)).all())
    current = None if case.status != "closed" else {
        "id": last.id, "number": last.number, "sha256": sealing.published_hash(last),
        "sealed_at": last.sealed_at, "published_at": last.published_at,
        "sealed_by": {"id": last.sealed_by, "name": names.get(last.sealed_by, "")},
        "manifest": _readable(sealing.shareable_manifest(last))}
    return {"current": current, "seals": [
        {"id": s.id, "number": s.number, "sha256": sealing.published_hash(s),
         "sealed_at": s.sealed_at}
        for s in seals]}



def _closure_file_objects(before: datetime) -> Iterable[str]:
    """Each closure file made (a backup checks the store holds them)."""
    return db.session.scalars(sa.select(ClosureFile.object_key)
                              .where(ClosureFile.created_at < before)
                              .execution_options(yield_per=2000))


named_objects.register("closure file", _closure_file_objects)
