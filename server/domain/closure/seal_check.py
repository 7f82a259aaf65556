"""Checking a sealed case (`fieldcase verify-case`, the review page's warning): every
difference from what was sealed, each named, never only the first; a row that cannot be
read (a malformed JSON column) is named as such rather than crashing the check."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.audit import rows, timeline
from server.domain.closure.sealing import (
    ROW_PARTS,
    Personal,
    personal_key_id,
    row_parts,
    seals_of,
)
from server.domain.core import runtime
from server.domain.core.errors import NotFound
from server.extensions import db
from server.models import (
    Case,
    CaseEvent,
    Evidence,
    Measurement,
    Respondent,
    Revisit,
    Seal,
    Visit,
)
from server.storage import StorageError

# A finding list stays readable: past this many differences in one part, a count.
MAX_PER_PART = 50


@dataclass(frozen=True)
class Finding:
    what: str     # where it differs: "timeline", "seal 1 manifest", "evidence <id> bytes"...
    detail: str


def verify(case_id: str, *, with_bytes: bool = True) -> list[Finding]:
    """Everything that differs from what was sealed: rows that cannot be read, the case's
    timeline chain (every altered event), each seal's manifest against its hash and the
    timeline, every row listed against the row now and (with_bytes: everything in the
    object store) the stored copy of each manifest and every sealed evidence item's
    stored bytes against its SHA-256."""
    head = db.session.execute(sa.select(Case.id, Case.status).where(Case.id == case_id)
                              ).first()
    if head is None:
        raise NotFound("case.not_found", "No such case.")
    seals = seals_of(case_id)
    if not seals:
        raise NotFound("closure.not_sealed", "This case has never been sealed.")
    found = list(malformed_rows(case_id))
    try:
        case: Case | None = db.session.get(Case, case_id)
    except ValueError:  # its own row does not parse: named by malformed_rows
        case = None
    found += [Finding(f"timeline event {seq}", why)
              for _case, seq, why in timeline.chain_problems(case_id=case_id)]
    events = _sealed_events(case_id)
    for s in seals:
        current = s is seals[-1] and head.status == "closed"
        found += _differences(case, s, events.get(s.event_seq), current, with_bytes)
    return found


def altered(case_id: str) -> list[dict[str, str]]:
    """For the review page's warning: where a sealed value no longer matches (rows,
    manifests, chain; the bytes are checked whenever they are served or archived). Where,
    not the values: a finding's detail may hold a format 1 seal's plain personal hash."""
    return [{"what": f.what, "field": f.detail.split(":", 1)[0] if ":" in f.detail else ""}
            for f in verify(case_id, with_bytes=False)]


# ---- rows that cannot be read ------------------------------------------------------------
def _json_columns(model: Any) -> list[Any]:
    return [c for c in model.__table__.columns if isinstance(c.type, sa.JSON)]


def malformed_rows(case_id: str) -> Iterator[Finding]:
    """Every row of the case with a JSON column that does not parse, by table, id and
    column (read as text, so nothing is parsed on fetch)."""
    visits = sa.select(Visit.id).where(Visit.case_id == case_id)
    revisits = sa.select(Revisit.id).where(Revisit.case_id == case_id)
    where = {Case: Case.id == case_id, CaseEvent: CaseEvent.case_id == case_id,
             Evidence: Evidence.case_id == case_id, Visit: Visit.case_id == case_id,
             Measurement: Measurement.visit_id.in_(visits),
             Revisit: Revisit.case_id == case_id,
             Respondent: Respondent.revisit_id.in_(revisits)}
    for model, condition in where.items():
        columns = _json_columns(model)
        name = "seq" if model is CaseEvent else "id"
        key = getattr(model, name)
        query = sa.select(key, *(rows.json_text(c) for c in columns)).where(condition)
        for row in db.session.execute(query.order_by(key)):
            for column in columns:
                _value, bad = rows.parse(getattr(row, column.key))
                if bad:
                    yield Finding(f"{model.__tablename__} {name} {row[0]}",
                                  f"column {column.key}: {bad}")


def _sealed_events(case_id: str) -> dict[int, dict[str, Any]]:
    """The `sealed` events' data by seq ({} for one that cannot be read: named above)."""
    query = sa.select(CaseEvent.seq, rows.json_text(CaseEvent.data)).where(
        CaseEvent.case_id == case_id, CaseEvent.kind == "sealed")
    out = {}
    for seq, raw in db.session.execute(query):
        data, _bad = rows.parse(raw)
        out[seq] = data if isinstance(data, dict) else {}
    return out


# ---- one seal ----------------------------------------------------------------------------
def _differences(case: Case | None, s: Seal, event: dict[str, Any] | None, current: bool,
                 with_bytes: bool) -> list[Finding]:
    name = f"seal {s.number}"
    body = (s.manifest or "").encode()
    actual = hashlib.sha256(body).hexdigest()
    if actual != s.sha256:
        # The manifest itself was changed: what it lists can no longer be trusted.
        return [Finding(f"{name} manifest", f"its SHA-256 is {actual}, the seal says "
                        f"{s.sha256}")]
    found = []
    if event is None or event.get("sha256") != s.sha256 or event.get("seal_id") != s.id:
        found.append(Finding(f"{name} timeline",
                             "the case's timeline does not carry this seal's hash"))
    if with_bytes:  # the page's check reads no store: a slow store must not hold it
        found += _stored_copy(s, name, body)
    try:
        manifest = json.loads(body)
        personal = Personal.of(manifest)
        key_id = manifest.get("personal", {}).get("key_id")
        sealed_at = datetime.fromisoformat(manifest["seal"]["sealed_at"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return [*found, Finding(f"{name} manifest", f"cannot be read: {exc!r}")]
    if personal.keyed and key_id != personal_key_id():
        found.append(Finding(f"{name} personal data", "hashed under another "
                             f"PERSONAL_DATA_KEY (key {key_id}); set that key to check it"))
    else:
        found += _row_differences(case, name, manifest, sealed_at, personal, current)
    if with_bytes:
        for item in manifest.get("evidence") or []:
            problem = _bytes_problem(item)
            if problem:
                found.append(Finding(f"{name} evidence {item.get('id')}", problem))
    return found


def _stored_copy(s: Seal, name: str, body: bytes) -> list[Finding]:
    try:
        stored = b"".join(runtime.storage().iter_chunks(s.object_key))
    except StorageError as exc:
        return [Finding(f"{name} stored copy", f"cannot be read: {exc}")]
    if stored != body:
        return [Finding(f"{name} stored copy", "differs from the manifest in the database")]
    return []


def _row_differences(case: Case | None, name: str, manifest: dict[str, Any], sealed_at: datetime,
                     personal: Personal, current: bool) -> list[Finding]:
    if case is None:
        return [Finding(f"{name} rows", "not compared: the case's row cannot be read")]
    try:
        now = row_parts(case, sealed_at, personal)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # A malformed row (named by malformed_rows) stops the recomputation, not the check.
        return [Finding(f"{name} rows", f"cannot be recomputed: {exc!r}")]
    found = []
    # A reopened case's details may change by right; its earlier seals vouch for them
    # through the timeline chain (submitted events), the current one against the row.
    for part in ROW_PARTS if current else ROW_PARTS[1:]:
        diffs = list(differences(manifest.get(part), now[part], part))
        for diff in diffs[:MAX_PER_PART]:
            found.append(Finding(f"{name} {part}", diff))
        if len(diffs) > MAX_PER_PART:
            found.append(Finding(f"{name} {part}",
                                 f"and {len(diffs) - MAX_PER_PART} more differences"))
    return found


def differences(sealed: Any, now: Any, path: str) -> Iterator[str]:
    """Every leaf that differs between what was sealed and what is there now."""
    if isinstance(sealed, dict) and isinstance(now, dict):
        for key in sorted(set(sealed) | set(now)):
            yield from differences(sealed.get(key), now.get(key), f"{path}.{key}")
        return
    if isinstance(sealed, list) and isinstance(now, list):
        for i, (a, b) in enumerate(zip(sealed, now, strict=False)):
            yield from differences(a, b, f"{path}[{i}]")
        if len(sealed) != len(now):
            yield f"{path}: {len(sealed)} sealed, {len(now)} now"
        return
    if sealed != now:
        yield f"{path}: sealed {sealed!r}, now {now!r}"


def _bytes_problem(item: dict[str, Any]) -> str | None:
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in runtime.storage().iter_chunks(item["object_key"]):
            digest.update(chunk)
            size += len(chunk)
    except StorageError as exc:
        return f"stored bytes cannot be read: {exc}"
    except (KeyError, TypeError) as exc:
        return f"the manifest's entry cannot be read: {exc!r}"
    if digest.hexdigest() != item.get("sha256") or size != item.get("size"):
        return (f"stored bytes have SHA-256 {digest.hexdigest()} ({size} bytes); sealed "
                f"{item.get('sha256')} ({item.get('size')} bytes)")
    return None
