"""The seal of a closed case: a manifest of every evidence item (its SHA-256, size, capture
fix, receipt time), the visits and readings, the revisits and the closure decision, kept
byte for byte in the database and the object store, its own hash on the case's timeline
chain. `seal_check.verify` recomputes it all from the stored bytes and rows.

The manifest holds no personal data in clear: the complainant and each respondent enter
as a keyed hash of what was recorded, enough to see a change, nothing to read or guess."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from server.domain.audit import audit, timeline
from server.domain.cases import hooks
from server.domain.core import named_objects, runtime
from server.extensions import db
from server.models import Case, Evidence, Revisit, Seal, User, Visit
from server.models.base import utcnow
from server.storage import StorageError

# 2: the decision no longer repeats its event's seq and hash, which the chain itself links
# (the approval's event is the one before `sealed`), so the manifest is written before the
# approval's first row; personal data is hashed with a key (Personal). Seals of format 1
# verify as before.
FORMAT = "fieldcase-seal/2"
FORMAT_1 = "fieldcase-seal/1"
# The parts recomputed from rows, in the order `verify` compares them.
ROW_PARTS = ("case", "evidence", "visits", "revisits")


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
                      ).encode()


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def _personal_key() -> bytes:
    return bytes.fromhex(runtime.setting("PERSONAL_DATA_KEY"))


def personal_key_id() -> str:
    """Names the key without revealing it (a manifest says which key its hashes need)."""
    return hashlib.sha256(b"fieldcase personal-data key id:" + _personal_key()).hexdigest()[:16]


@dataclass(frozen=True)
class Personal:
    """How a manifest holds personal data (names, contacts, notes): never in clear, and
    since format 2 as HMAC-SHA256 under PERSONAL_DATA_KEY, a key kept outside the
    database. A plain hash of a name and an 11-digit phone number is confirmed by whoever
    reads the manifest (an inspector of the unit may) by hashing a guess; a keyed one
    only by the server. Format 1 seals hold plain SHA-256 and are checked as such."""
    keyed: bool = True

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> Personal:
        return cls(keyed=manifest.get("format") != FORMAT_1)

    def field(self, name: str) -> str:
        return f"{name}_hmac" if self.keyed else f"{name}_sha256"

    def digest(self, value: Any) -> str:
        if not self.keyed:
            return _digest(value)
        return hmac.new(_personal_key(), canonical(value), hashlib.sha256).hexdigest()


# ---- what a seal lists ------------------------------------------------------------------
def row_parts(case: Case, until: datetime, personal: Personal | None = None
              ) -> dict[str, Any]:
    """The case and everything recorded on it up to `until` (the sealing moment), as the
    manifest lists it (personal data as `personal` says). Three queries, however many
    items."""
    personal = personal or Personal()
    evidence = db.session.scalars(
        sa.select(Evidence).where(Evidence.case_id == case.id, Evidence.state == "stored",
                                  Evidence.stored_at <= until).order_by(Evidence.id))
    visits = db.session.scalars(
        sa.select(Visit).options(selectinload(Visit.measurements))
        .where(Visit.case_id == case.id, Visit.received_at <= until).order_by(Visit.id))
    revisits = db.session.scalars(
        sa.select(Revisit).options(selectinload(Revisit.respondents))
        .where(Revisit.case_id == case.id, Revisit.received_at <= until).order_by(Revisit.id))
    return {
        "case": {
            "id": case.id, "channel": case.channel, "category": case.category,
            "subject": case.subject, "address": case.address, "lat": case.lat,
            "lon": case.lon, "received_at": _iso(case.received_at), "unit_id": case.unit_id,
            "verdict": case.verdict, "result": case.result, "external_ref": case.external_ref,
            personal.field("complainant"): _complainant(case, personal),
        },
        "evidence": [_evidence(ev) for ev in evidence],
        "visits": [_visit(v) for v in visits],
        "revisits": [_revisit(r, personal) for r in revisits],
    }


def _complainant(case: Case, personal: Personal) -> str:
    return personal.digest([case.complainant_name, case.complainant_phone])


def complainant_unchanged(manifest: dict[str, Any], case: Case) -> bool:
    """Whether the case's complainant is still who the manifest sealed."""
    personal = Personal.of(manifest)
    return manifest["case"].get(personal.field("complainant")) == _complainant(case, personal)


def _evidence(ev: Evidence) -> dict[str, Any]:
    return {
        "id": ev.id, "short_code": ev.short_code, "sha256": ev.sha256, "size": ev.size,
        "content_type": ev.content_type, "object_key": ev.object_key,
        "captured_at": _iso(ev.captured_at),
        "geo": {"lat": ev.geo_lat, "lon": ev.geo_lon, "accuracy_m": ev.geo_accuracy_m,
                "fixed_at": _iso(ev.geo_fixed_at), "source": ev.geo_source},
        "received_at": _iso(ev.declared_at), "stored_at": _iso(ev.stored_at),
        "visit_id": ev.visit_id, "revisit_id": ev.revisit_id,
        "respondent_id": ev.respondent_id, "uploaded_by": ev.uploaded_by,
        "photographer": ev.photographer, "place": ev.place, "caption": ev.caption,
        "flags": sorted(f["code"] for f in ev.flags or []),
    }


def _visit(v: Visit) -> dict[str, Any]:
    return {
        "id": v.id, "kind": v.kind, "started_at": _iso(v.started_at),
        "ended_at": _iso(v.ended_at), "lat": v.lat, "lon": v.lon, "accuracy_m": v.accuracy_m,
        "findings": v.findings, "participants": v.participants, "created_by": v.created_by,
        "received_at": _iso(v.received_at),
        "measurements": [{
            "id": m.id, "kind": m.kind, "value_dba": m.value_dba, "period": m.period,
            "zone_class": m.zone_class, "limit_dba": m.limit_dba, "standard": m.standard,
            "exceeded": m.exceeded, "source": m.source, "device": m.device,
            "lmax_dba": m.lmax_dba, "background_dba": m.background_dba,
            "corrected_dba": m.corrected_dba,
            "valid_for_enforcement": m.valid_for_enforcement,
            "record_sha256": _digest(m.record_data) if m.record_data else None,
        } for m in sorted(v.measurements, key=lambda m: (m.position, m.id))],
    }


def _revisit(r: Revisit, personal: Personal) -> dict[str, Any]:
    return {
        "id": r.id, "method": r.method, "at": _iso(r.at), "outcome": r.outcome,
        "satisfaction": r.satisfaction, "unreachable_reason": r.unreachable_reason,
        "attempts": r.attempts, personal.field("notes"): personal.digest(r.notes),
        "questionnaire": {"code": r.questionnaire.code, "version": r.questionnaire.version}
        if r.questionnaire else None,
        "created_by": r.created_by, "received_at": _iso(r.received_at),
        "respondents": [{
            "id": p.id, "kind": p.kind, "satisfaction": p.satisfaction,
            "audio_consent": p.audio_consent,
            personal.field("record"): personal.digest([p.name, p.contact, p.answers]),
        } for p in sorted(r.respondents, key=lambda p: (p.position, p.id))],
    }


# Format 1's plain hashes of personal data: where they sit in a manifest.
_PLAIN_PERSONAL = ("complainant_sha256", "notes_sha256", "record_sha256")


def _format_1(s: Seal) -> bool:
    return f'"format":"{FORMAT_1}"' in s.manifest  # canonical JSON: no spaces


def published_hash(s: Seal) -> str:
    """The seal's hash as it may be shown beyond the server (archives, closure files, the
    seal's and the verify page). A format 1 seal's plain hash, beside its manifest's copy,
    would give back what it hashed plainly: put a guessed number back, hash the whole,
    compare (10,000 tries). So it is shown keyed (HMAC under PERSONAL_DATA_KEY), marked
    `hmac:`; `fieldcase verify-case` checks the plain one on the server."""
    if not _format_1(s):
        return s.sha256
    return "hmac:" + hmac.new(_personal_key(), s.sha256.encode(), hashlib.sha256).hexdigest()


def shareable_manifest(s: Seal) -> bytes:
    """The seal's manifest as it may leave the server (an archive, the seal's page). A
    format 2 manifest as it is: its personal hashes are keyed. A format 1 one held plain
    SHA-256 of [name, phone], which the masked number printed beside gives back in 10,000
    tries; its copy carries each such hash keyed in turn (HMAC under PERSONAL_DATA_KEY of
    the sealed hash, `<field>_hmac`), so a change still shows to whoever holds the key and
    nothing can be guessed. Its own hash then differs from the seal's: it says so, and
    `fieldcase verify-case` checks the original kept on the server."""
    try:
        manifest = json.loads(s.manifest)
    except ValueError:
        return s.manifest.encode()  # not a manifest: verify-case names it
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_1:
        return s.manifest.encode()
    key = _personal_key()

    def keyed(node: Any, inside_revisits: bool = False) -> Any:
        if isinstance(node, list):
            return [keyed(x, inside_revisits) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for name, value in node.items():
            # A measurement's record_sha256 is the meter's record, nothing personal; a
            # respondent's (under revisits) is their name, contact and answers.
            personal = name in _PLAIN_PERSONAL and (name != "record_sha256" or inside_revisits)
            if personal and isinstance(value, str):
                out[f"{name}_hmac"] = hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
            else:
                out[name] = keyed(value, inside_revisits or name == "revisits")
        return out

    copy = keyed(manifest)
    copy["archive_copy"] = {
        "of_seal": published_hash(s),
        "personal": {"hash": "HMAC-SHA256 of the sealed SHA-256", "key_id": personal_key_id()},
        "note": "封存格式1的个人信息哈希已用密钥重新计算；原件保存在服务器上，用 fieldcase "
                "verify-case 核验。 / Format 1's personal-data hashes keyed for this copy; "
                "the original stays on the server (fieldcase verify-case checks it)."}
    return canonical(copy)


def object_key(case_id: str, number: int, sha256: str) -> str:
    return f"seals/{case_id}/{number}-{sha256}.json"


# ---- sealing (helpers of the approve command: no commit) --------------------------------
@dataclass(frozen=True)
class Prepared:
    """A manifest already in the object store, waiting for its seal row."""
    number: int
    body: bytes
    sha256: str
    object_key: str
    evidence: int


def prepare(case: Case, user: User, *, now: datetime, note: str | None) -> Prepared:
    """Build the manifest and write it to the object store, BEFORE the approval writes
    anything: the store may hang for a minute, and no lock that other writes wait on (the
    audit log's, SQLite's write lock) may be held meanwhile; only this case's row lock is.
    Reads only, so nothing autoflushes. A manifest whose approval then fails is left
    unreferenced (its key names its hash) and `reconcile_manifests` removes it."""
    previous = latest(case.id)
    number = previous.number + 1 if previous else 1
    manifest = {
        "format": FORMAT,
        "seal": {"number": number, "sealed_at": _iso(now), "sealed_by": user.id,
                 "previous_sha256": previous.sha256 if previous else None},
        # The approval's own event is the one just before the `sealed` event that carries
        # this manifest's hash on the case's chain.
        "decision": {"action": "approve", "by": user.id, "at": _iso(now), "note": note},
        "personal": {"hash": "HMAC-SHA256", "key_id": personal_key_id()},
        **row_parts(case, now),
    }
    body = canonical(manifest)
    sha256 = hashlib.sha256(body).hexdigest()
    key = object_key(case.id, number, sha256)
    runtime.storage().put_bytes(key, body, content_type="application/json")
    return Prepared(number, body, sha256, key, len(manifest["evidence"]))


def record(case: Case, user: User, prepared: Prepared, *, now: datetime) -> Seal:
    """The seal row, its timeline event and audit entry, in the caller's transaction."""
    row = Seal(case_id=case.id, number=prepared.number, manifest=prepared.body.decode(),
               sha256=prepared.sha256, object_key=prepared.object_key, sealed_at=now,
               sealed_by=user.id, event_seq=0)
    db.session.add(row)
    db.session.flush()
    event = timeline.append(case, "sealed", actor_id=user.id, at=now,
                            data={"seal_id": row.id, "number": prepared.number,
                                  "sha256": prepared.sha256, "evidence": prepared.evidence})
    row.event_seq = event.seq
    audit.append("case.sealed", "case", case.id, actor_id=user.id,
                 data={"seal_id": row.id, "number": prepared.number,
                       "sha256": prepared.sha256})
    return row


@hooks.approval_seal.register
def _seal_on_approval(case: Case, user: User, *, now: datetime,
                      note: str | None) -> Callable[[], Seal]:
    """The approve command's reaction (cases.hooks): the manifest to the store now, before
    the command writes anything; the seal's row and chain entry when it calls back.
    `record` is looked up when called, as the command called it before."""
    prepared = prepare(case, user, now=now, note=note)
    return lambda: record(case, user, prepared, now=now)


def reconcile_manifests(*, older_than: timedelta, now: datetime | None = None,
                        batch: int = 500) -> dict[str, Any]:
    """Remove manifests in the store that no seal names, once older than `older_than` (an
    approval still on its way has not committed its row yet). The listing is checked
    against the database a page at a time: flat however many seals there are."""
    now = now or utcnow()
    store = runtime.storage()
    counts: dict[str, Any] = {"manifests_removed": 0, "errors": []}

    def settle(page: list[str]) -> None:
        named = set(db.session.scalars(sa.select(Seal.object_key)
                                       .where(Seal.object_key.in_(page))))
        db.session.rollback()  # no transaction held across the deletes
        for key in page:
            if key in named:
                continue
            try:
                store.delete(key)
                counts["manifests_removed"] += 1
            except StorageError as exc:
                counts["errors"].append({"seal_manifest": key, "error": str(exc)})

    page: list[str] = []
    for info in store.list("seals/"):
        if info.last_modified >= now - older_than:
            continue
        page.append(info.key)
        if len(page) >= batch:
            settle(page)
            page = []
    if page:
        settle(page)
    return counts


def latest(case_id: str) -> Seal | None:
    return db.session.scalar(sa.select(Seal).where(Seal.case_id == case_id)
                             .order_by(Seal.number.desc()).limit(1))


def seals_of(case_id: str) -> list[Seal]:
    return list(db.session.scalars(sa.select(Seal).where(Seal.case_id == case_id)
                                   .order_by(Seal.number)))


def latest_of(case_ids: list[str]) -> dict[str, Seal]:
    """The latest seal of each of these cases, in one query."""
    if not case_ids:
        return {}
    top = (sa.select(Seal.case_id, sa.func.max(Seal.number).label("number"))
           .where(Seal.case_id.in_(case_ids)).group_by(Seal.case_id).subquery())
    rows = db.session.scalars(sa.select(Seal).join(
        top, sa.and_(Seal.case_id == top.c.case_id, Seal.number == top.c.number)))
    return {s.case_id: s for s in rows}


def _seal_objects(before: datetime) -> Iterable[str]:
    """Each seal's manifest in the store (a backup checks the store holds them)."""
    return db.session.scalars(sa.select(Seal.object_key).where(Seal.sealed_at < before)
                              .execution_options(yield_per=2000))


named_objects.register("seal", _seal_objects)
