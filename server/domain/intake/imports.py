"""A platform's sheet: read, mapped to the case's fields, previewed (nothing written but
the preview itself), then confirmed: every good row becomes a case in one transaction,
or none does.

The preview keeps the sheet's cells, not the file: each look at it (GET, remap, confirm)
evaluates the cells again against the source's column map and value tables as they are
now, so a category the office maps in the preview is valid on the next look, and a case a
platform pushed since the preview is a duplicate at confirmation. Every look is flat:
one IN query per chunk of references, the value tables looked up once per distinct value.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit
from server.domain.cases import cases
from server.domain.core import privacy, problem_text, runtime, vocab
from server.domain.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
)
from server.domain.core.text import BIDI_CONTROLS
from server.domain.core.uow import command
from server.domain.intake import sources
from server.domain.repeats import detect, links
from server.domain.repeats.addresses import address_keys
from server.extensions import db
from server.models import Case, ImportBatch, IntakeSource, Unit, User
from server.models.base import utcnow

# The case fields a sheet's column can fill: (field, 中文, English, required). "address or
# subject" is required as a pair (subject defaults to the start of the description).
FIELDS: tuple[tuple[str, str, str, bool], ...] = (
    ("external_ref", "工单编号", "Platform reference", True),
    ("received_at", "来电时间", "Received at", True),
    ("subject", "诉求标题", "Subject", False),
    ("description", "诉求内容", "Description", False),
    ("address", "诉求地址", "Address", False),
    ("complainant_name", "来电人", "Complainant", False),
    ("complainant_phone", "联系电话", "Complainant's phone", False),
    ("category", "诉求类别", "Category", True),
    ("unit", "承办单位", "Responsible unit", False),
)
FIELD_NAMES = tuple(f[0] for f in FIELDS)
# The headers platforms use for each field, recognised without any mapping.
DEFAULT_HEADERS: dict[str, tuple[str, ...]] = {
    "external_ref": ("工单编号", "工单号", "编号"),
    "received_at": ("来电时间", "受理时间", "登记时间"),
    "description": ("诉求内容", "反映内容", "问题描述"),
    "address": ("诉求地址", "事发地址", "地址"),
    "complainant_name": ("来电人", "姓名", "诉求人"),
    "complainant_phone": ("联系电话", "来电号码", "电话"),
    "category": ("诉求类别", "问题类别", "类别"),
    "unit": ("承办单位", "责任单位"),
    "subject": ("被投诉对象", "标题", "诉求标题"),
}
# The longest text each field may hold (the case's columns).
MAX_LEN = {"external_ref": 120, "subject": 300, "address": 500, "description": 20000,
           "complainant_name": 120, "category": 120, "unit": 120}
ECHO = 60  # chars of a raw value a row's message repeats
SUBJECT_FROM_DESCRIPTION = 40  # chars of the description an unmapped subject takes
PREVIEW_DESCRIPTION = 200  # chars of the description a preview row shows
CHUNK = 1000  # references per duplicate query
PREVIEW_TTL = timedelta(hours=24)  # a preview older than this is not confirmed
STATUSES = ("new", "duplicate", "invalid")


class SheetRefused(DomainError):
    """The reader refused the whole file: its status (415, 413, 422) and code."""

    def __init__(self, status: int, code: str, detail: str, params: dict) -> None:
        super().__init__(code, detail, params=params)
        self.status_hint = status


def _require_office(user: User) -> None:
    require_role(user, OFFICE_ROLES, "import.forbidden",
                 "Only office staff may import cases.")


def _norm(header: object) -> str:
    return "".join(unicodedata.normalize("NFKC", str(header or "")).split())


# ---- cells kept as JSON ----------------------------------------------------------------
def _encode(value: object) -> object:
    from server.domain.intake import cells

    if isinstance(value, float) and not math.isfinite(value):
        # Not JSON (PostgreSQL's json refuses it): kept as a cell no field can use.
        return {"bad": cells.BAD_NUMBER}
    if isinstance(value, str) and len(value) > cells.CELL_LIMIT:
        return {"bad": cells.TOO_LONG}
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, time):
        return {"t": value.isoformat()}
    if isinstance(value, timedelta):
        return {"td": value.total_seconds()}
    return str(value)


def _decode(value: object) -> object:
    from server.domain.intake import cells

    if isinstance(value, dict):
        if "bad" in value:
            return cells.Unreadable(value["bad"])
        if "dt" in value:
            return datetime.fromisoformat(value["dt"])
        if "d" in value:
            return date.fromisoformat(value["d"])
        if "t" in value:
            return time.fromisoformat(value["t"])
        if "td" in value:
            return timedelta(seconds=value["td"])
    return value


# ---- sources: what the office maps --------------------------------------------------------
def list_sources(user: User) -> list[IntakeSource]:
    _require_office(user)
    return list(db.session.scalars(sa.select(IntakeSource).order_by(IntakeSource.code)))


def known_headers(source: IntakeSource) -> set[str]:
    found = {h for names in DEFAULT_HEADERS.values() for h in names}
    return found | {h for h in (source.column_map or {}).values() if h}


def applied_map(source: IntakeSource, headers: Sequence[str]) -> dict[str, int]:
    """{field: column index}: the source's saved mapping first, then the headers platforms
    use (first column that matches wins; a column serves one field)."""
    index = {}
    for i, header in enumerate(headers):
        index.setdefault(_norm(header), i)
    out: dict[str, int] = {}
    taken: set[int] = set()
    for field_name, header in (source.column_map or {}).items():
        i = index.get(_norm(header))
        if field_name in FIELD_NAMES and i is not None and i not in taken:
            out[field_name], _ = i, taken.add(i)
    for field_name, names in DEFAULT_HEADERS.items():
        if field_name in out or field_name in (source.column_map or {}):
            continue
        for name in names:
            i = index.get(_norm(name))
            if i is not None and i not in taken:
                out[field_name], _ = i, taken.add(i)
                break
    return out


def _missing_columns(mapped: dict[str, int]) -> list[str]:
    missing = [f for f, _, _, required in FIELDS if required and f not in mapped]
    if not {"address", "subject", "description"} & set(mapped):
        missing.append("address")
    return missing


@command
def save_mapping(user: User, code: str, changes: dict[str, Any]) -> IntakeSource:
    """The source's column map and value tables as the office sets them (each given part
    replaces the stored one); the next sheet from it maps itself. Audited."""
    _require_office(user)
    source = sources.get_source(code)
    # Where a platform's pushed and imported cases land is one table for the whole
    # district: a street's office setting it would route other units' cases to itself
    # (and drop the entries it cannot see). Only one who sees every unit sets it.
    routing = "default_unit_id" in changes or "unit" in (changes.get("value_maps") or {})
    if routing and not scope.sees_everything(user):
        raise Forbidden("intake.routing_district_only",
                        "Where a platform's cases go (its unit table and default unit) is "
                        "set for the whole district, by office staff of the district.")
    errors: dict[str, list[str]] = {}
    if "column_map" in changes:
        bad = sorted(set(changes["column_map"]) - set(FIELD_NAMES))
        if bad:
            errors["column_map"] = [f"Not a field a column can fill: {', '.join(bad)}."]
    value_maps = dict(source.value_maps or {})
    visible = scope.visible_unit_ids(user)
    for kind, table in (changes.get("value_maps") or {}).items():
        if kind not in sources.VALUE_KINDS:
            errors.setdefault("value_maps", []).append(f"Not a value table: {kind}.")
            continue
        allowed = vocab.CATEGORIES if kind == "category" else visible
        wrong = sorted(raw for raw, ours in table.items() if ours not in allowed)
        if wrong:
            errors.setdefault("value_maps", []).append(
                f"Not one of ours ({kind}): {', '.join(wrong[:10])}.")
        value_maps[kind] = dict(table)
    default_unit = changes.get("default_unit_id", source.default_unit_id)
    if "default_unit_id" in changes and default_unit is not None and default_unit not in visible:
        errors["default_unit_id"] = ["Not one of your units."]
    if errors:
        raise Invalid("intake.bad_mapping", "The mapping names fields or values we do "
                      "not have.", errors=errors)
    before = {"column_map": source.column_map, "value_maps": source.value_maps,
              "default_unit_id": source.default_unit_id}
    if "column_map" in changes:
        source.column_map = dict(changes["column_map"])
    if "value_maps" in changes:
        source.value_maps = value_maps
    source.default_unit_id = default_unit
    db.session.flush()
    audit.append("intake.mapping_changed", "intake_source", source.id, actor_id=user.id,
                 data={"source": source.code, "before": before,
                       "after": {"column_map": source.column_map,
                                 "value_maps": source.value_maps,
                                 "default_unit_id": source.default_unit_id}})
    return source


# ---- evaluation ------------------------------------------------------------------------------
@dataclass
class Row:
    row: int
    status: str = "new"
    errors: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the case's fields, ready for add_case
    duplicate_of: str | None = None
    repeat: Any = None
    raw: dict[str, str] = field(default_factory=dict)  # category and unit as the sheet says

    def fail(self, field_name: str, code: str, **params: Any) -> None:
        if isinstance(params.get("value"), str) and len(params["value"]) > ECHO:
            params["value"] = params["value"][:ECHO] + "…"
        said = problem_text.messages(code, 422, params)
        self.errors.append({"field": field_name, "code": code,
                            "message_zh": said["zh"], "message_en": said["en"]})


@dataclass
class Evaluation:
    mapped: dict[str, int]
    rows: list[Row]
    unknown: dict[str, Counter[str]]

    def counts(self) -> dict[str, int]:
        counted = Counter(r.status for r in self.rows)
        return {**{s: counted.get(s, 0) for s in STATUSES},
                "repeat": sum(1 for r in self.rows if r.repeat is not None)}


def _text(row: Row, field_name: str, value: object) -> str:
    from server.domain.intake import cells

    try:
        return cells.text(value, max_len=MAX_LEN.get(field_name))
    except cells.CellError as exc:
        row.fail(field_name, exc.code, max=MAX_LEN.get(field_name))
        return ""


def _parse(row: Row, cells_of: dict[str, object], tz: str, drift_s: int) -> None:
    from server.domain.intake import cells

    data = row.data
    for field_name in ("external_ref", "subject", "description", "address",
                       "complainant_name"):
        data[field_name] = _text(row, field_name, cells_of.get(field_name))
    # As a push folds it: the same reference from either path is the same case.
    data["external_ref"] = sources.clean_reference(data["external_ref"])
    row.raw["category"] = _text(row, "category", cells_of.get("category"))
    row.raw["unit"] = _text(row, "unit", cells_of.get("unit"))
    raw_when = cells_of.get("received_at")
    if raw_when is None or (isinstance(raw_when, str) and not raw_when.strip()):
        row.fail("received_at", "import.missing_value")
    else:
        try:
            data["received_at"] = cells.when(raw_when, tz=tz, drift_s=drift_s)
        except cells.CellError as exc:
            row.fail("received_at", exc.code)
    try:
        data["complainant_phone"] = cells.phone(cells_of.get("complainant_phone"))
    except cells.CellError as exc:
        row.fail("complainant_phone", exc.code)
        data["complainant_phone"] = None
    data["complainant_name"] = data["complainant_name"] or None
    if not data["external_ref"] and not any(e["field"] == "external_ref" for e in row.errors):
        row.fail("external_ref", "import.missing_value")
    if not data["subject"]:
        data["subject"] = data["description"][:SUBJECT_FROM_DESCRIPTION]
    if not data["address"] and not data["subject"]:
        row.fail("address", "import.missing_value")
    if not data["subject"]:  # an address alone: the case is about that place
        data["subject"] = data["address"][:SUBJECT_FROM_DESCRIPTION]
    if not row.raw["category"] and not any(e["field"] == "category" for e in row.errors):
        row.fail("category", "import.missing_value")


def evaluate(user: User, source: IntakeSource, batch: ImportBatch, *,
             hints: bool = True) -> Evaluation:
    """Each row's status, reasons and case fields under the source's maps as they are now.
    Reads only: the preview and the confirmation both start here."""
    mapped = applied_map(source, batch.headers)
    tz = runtime.setting("LOCAL_TIMEZONE")
    drift_s = int(runtime.setting("CLOCK_DRIFT_S"))
    units_by_name = {name: id_ for name, id_ in db.session.execute(sa.select(Unit.name, Unit.id))}
    visible = scope.visible_unit_ids(user)
    categories: dict[str, str | None] = {}
    units: dict[str, str | None] = {}
    unknown: dict[str, Counter[str]] = {"category": Counter(), "unit": Counter()}
    rows: list[Row] = []
    first_at: dict[str, int] = {}
    for number, raw_cells in batch.rows:
        row = Row(number)
        rows.append(row)
        by_field = {f: _decode(raw_cells[i]) if i < len(raw_cells) else None
                    for f, i in mapped.items()}
        _parse(row, by_field, tz, drift_s)
        raw_category, raw_unit = row.raw["category"], row.raw["unit"]
        if raw_category:
            if raw_category not in categories:
                categories[raw_category] = sources.map_value(source, "category", raw_category)
            row.data["category"] = categories[raw_category]
            if row.data["category"] is None:
                unknown["category"][raw_category] += 1
                row.fail("category", "import.unknown_category", value=raw_category)
        unit_id = None
        if raw_unit:
            if raw_unit not in units:
                units[raw_unit] = sources.map_value(source, "unit", raw_unit, units_by_name)
            unit_id = units[raw_unit]
            if unit_id is None:
                unknown["unit"][raw_unit] += 1
        unit_id = unit_id or source.default_unit_id
        if unit_id is None:
            if raw_unit:
                row.fail("unit", "import.unknown_unit", value=raw_unit)
            elif not any(e["field"] == "unit" for e in row.errors):
                row.fail("unit", "import.missing_value")
        elif unit_id not in visible:
            row.fail("unit", "import.unit_out_of_scope")
        row.data["unit_id"] = unit_id
        ref = row.data["external_ref"]
        if ref:
            if ref in first_at:
                row.fail("external_ref", "import.duplicate_in_file", first=first_at[ref])
            else:
                first_at[ref] = number
        row.data["channel"] = source.channel
        row.data["intake_source"] = source.code
    _mark_duplicates(user, source, rows)
    for row in rows:
        if row.status != "duplicate":
            row.status = "invalid" if row.errors else "new"
    _hint_repeats(user, rows, hints)
    return Evaluation(mapped, rows, unknown)


def _mark_duplicates(user: User, source: IntakeSource, rows: list[Row]) -> None:
    """Rows whose reference the source already brought: one IN query per chunk. The
    existing case's id only to those who may see it (elsewhere: a duplicate, no more)."""
    by_ref: dict[str, list[Row]] = {}
    for row in rows:
        if row.data.get("external_ref"):
            by_ref.setdefault(row.data["external_ref"], []).append(row)
    refs = list(by_ref)
    found: dict[str, str] = {}
    for start in range(0, len(refs), CHUNK):
        chunk = refs[start:start + CHUNK]
        found.update(db.session.execute(
            sa.select(Case.external_ref, Case.id)
            .where(Case.intake_source == source.code, Case.external_ref.in_(chunk))).all())
    seen: set[str] = set()
    ids = list(found.values())
    for start in range(0, len(ids), CHUNK):
        seen |= scope.visible_case_ids(user, ids[start:start + CHUNK])
    for ref, case_id in found.items():
        for row in by_ref[ref]:
            row.status = "duplicate"
            row.duplicate_of = case_id if case_id in seen else None


def _hint_repeats(user: User, rows: list[Row], hints: bool) -> None:
    """Each new row's likely repeat (repeats.detect, batched for the whole sheet): the
    subject it would join, whether listed, how many linked complaints; of other units'
    cases only a count. The rows' address keys are kept for the confirmation."""
    fresh = [r for r in rows if r.status == "new"]
    if not fresh:
        return
    keys = address_keys([r.data["address"] for r in fresh])
    for row, key in zip(fresh, keys, strict=True):
        row.data["address_key"] = key
    if not hints:  # the confirmation: the cases are linked as they are added
        return
    drafts = [detect.Draft(category=r.data["category"], address=r.data["address"],
                           lat=None, lon=None,
                           phone_digest=privacy.phone_digest(r.data["complainant_phone"]),
                           received_at=r.data["received_at"], unit_id=r.data["unit_id"])
              for r in fresh]
    for row, hint in zip(fresh, detect.hints(user, drafts), strict=True):
        row.repeat = hint


# ---- preview -------------------------------------------------------------------------------
def _present_row(row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"row": row.row, "status": row.status}
    if row.errors:
        out["errors"] = row.errors
    data = row.data
    out["case"] = {
        "external_ref": data.get("external_ref") or None,
        "received_at": data.get("received_at"),
        "subject": data.get("subject") or None,
        "address": data.get("address") or None,
        "description": (data.get("description") or "")[:PREVIEW_DESCRIPTION] or None,
        "complainant_name": privacy.mask_name(data.get("complainant_name")),
        "complainant_phone": privacy.mask_phone(data.get("complainant_phone")),
        "category": data.get("category"),
        "category_raw": row.raw.get("category") or None,
        "unit_id": data.get("unit_id"),
        "unit_raw": row.raw.get("unit") or None,
        "channel": data.get("channel"),
    }
    if row.status == "duplicate":
        out["duplicate_of"] = row.duplicate_of
    if row.repeat is not None:
        out["repeat"] = row.repeat
    return out


def _receipt_rows(user: User, batch: ImportBatch) -> list[dict[str, Any]]:
    """A confirmed batch's rows: the cases its rows became (row number and case id are all
    it keeps), each now a duplicate of its case, named by reference and subject as the
    cases hold them, to those who may see them."""
    receipts = [r for r in batch.rows or [] if isinstance(r, dict)]
    ids = [r["case_id"] for r in receipts]
    named: dict[str, tuple[str | None, str]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = sorted(scope.visible_case_ids(user, ids[start:start + CHUNK]))
        named.update((id_, (ref, subject)) for id_, ref, subject in db.session.execute(
            sa.select(Case.id, Case.external_ref, Case.subject).where(Case.id.in_(chunk))))
    out = []
    for receipt in receipts:
        if receipt["case_id"] not in named:
            continue
        ref, subject = named[receipt["case_id"]]
        case = dict.fromkeys(("external_ref", "received_at", "subject", "address",
                              "description", "complainant_name", "complainant_phone",
                              "category", "category_raw", "unit_id", "unit_raw", "channel"))
        case.update(external_ref=ref, subject=subject)
        out.append({"row": receipt["row"], "status": "duplicate", "case": case,
                    "duplicate_of": receipt["case_id"]})
    return out


def present(batch: ImportBatch, found: Evaluation,
            rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": batch.id, "source": batch.source, "filename": batch.filename,
        "status": batch.status, "created_at": batch.created_at,
        "header_row": batch.header_row, "headers": batch.headers,
        "column_map": {f: batch.headers[i] for f, i in found.mapped.items()},
        # A confirmed batch keeps no rows (complainants' names and phones): its counts
        # are those it was confirmed with.
        "counts": batch.counts if batch.status == "confirmed" and batch.counts
        else found.counts(),
        "unknown": {kind: [{"value": v, "count": n} for v, n in counted.most_common()]
                    for kind, counted in found.unknown.items()},
        "rows": rows if rows is not None else [_present_row(r) for r in found.rows],
        "result": batch.result,
    }


@command
def preview(user: User, code: str, data: bytes, filename: str) -> dict[str, Any]:
    """Read the sheet, map it and store the preview (no case is written). A file the
    reader refuses, a sheet over the row limit or without the columns a case needs is
    refused whole, and nothing is stored."""
    from server.media import spreadsheets

    _require_office(user)
    filename = _clean_filename(filename)
    source = sources.get_source(code)
    limit = int(runtime.setting("IMPORT_MAX_ROWS"))
    try:
        max_bytes = int(runtime.setting("IMPORT_MAX_BYTES"))
    except KeyError:
        max_bytes = spreadsheets.DEFAULT_MAX_BYTES
    try:
        sheet = spreadsheets.read_sheet(data, filename, known_headers=known_headers(source),
                                        max_rows=limit, max_bytes=max_bytes)
    except spreadsheets.SheetRefused as exc:
        # Its own code and words (415 not a sheet, 413 too large or import.too_many_rows,
        # 422 macros, external links, no header): nothing is stored.
        raise SheetRefused(exc.status, exc.code, exc.message, exc.params) from exc
    if len(sheet.rows) > limit:
        raise TooLarge("import.too_many_rows", f"A sheet may have at most {limit} rows.",
                       params={"limit": limit, "found": len(sheet.rows)})
    mapped = applied_map(source, sheet.headers)
    missing = _missing_columns(mapped)
    if missing:
        raise Invalid("import.wrong_header", "The sheet lacks columns a case needs: map "
                      "them to the sheet's headers, or check it is the platform's export.",
                      extra={"columns": [str(h) for h in sheet.headers], "missing": missing})
    batch = ImportBatch(source=source.code, filename=filename,
                        sha256=hashlib.sha256(data).hexdigest(), created_by=user.id,
                        status="previewed", header_row=sheet.header_row,
                        headers=[str(h) for h in sheet.headers],
                        rows=[[n, [_encode(c) for c in cells_]] for n, cells_ in sheet.rows])
    found = evaluate(user, source, batch)
    batch.counts = found.counts()
    db.session.add(batch)
    db.session.flush()
    audit.append("import.previewed", "import_batch", batch.id, actor_id=user.id,
                 data={"source": source.code, "filename": batch.filename,
                       "sha256": batch.sha256, "counts": batch.counts})
    return present(batch, found)


# Control and text-direction characters: a file name goes to the audit log and the screen.
_UNSAFE_NAME = re.compile("[\x00-\x1f\x7f\ufffe\uffff" + "".join(sorted(BIDI_CONTROLS)) + "]")


def _clean_filename(filename: str | None) -> str:
    """The upload's name without control or bidi characters ("gpj.exe" shown "exe.jpg")."""
    return _UNSAFE_NAME.sub("", filename or "").strip()[:255]


def _get_batch(user: User, batch_id: str, *, for_update: bool = False) -> ImportBatch:
    _require_office(user)
    query = sa.select(ImportBatch).where(ImportBatch.id == batch_id)
    if for_update:
        # Read afresh: a concurrent confirmation may have settled it since it was loaded.
        query = query.with_for_update().execution_options(populate_existing=True)
    batch = db.session.scalar(query)
    # Another office's batch is theirs: its rows may name units this user cannot see.
    if batch is None or (batch.created_by != user.id and not scope.sees_everything(user)):
        raise NotFound("import.not_found", "There is no such import.")
    return batch


def _expired(batch: ImportBatch, now: datetime) -> bool:
    return batch.status == "previewed" and batch.created_at.astimezone(UTC) + PREVIEW_TTL < now


def _answered(batch: ImportBatch) -> dict[str, Any] | None:
    """A confirmed batch's first answer; None while it may still be confirmed; 409 when
    it is too old to be."""
    if batch.status == "confirmed" and batch.result is not None:
        return batch.result
    if batch.status == "expired" or _expired(batch, utcnow()):
        raise Conflict("import.expired", "This preview is too old: upload the sheet again.")
    return None


@command
def look(user: User, batch_id: str) -> dict[str, Any]:
    """The stored preview evaluated again against the source's maps as they are now."""
    batch = _get_batch(user, batch_id)
    if _expired(batch, utcnow()):
        batch.status = "expired"
    source = sources.get_source(batch.source)
    # A batch confirmed before it dropped its cells still has them: evaluated as before.
    if batch.status == "confirmed" and not any(isinstance(r, list) for r in batch.rows or []):
        # Its cells are gone: the cases answer for its rows.
        found = Evaluation(applied_map(source, batch.headers), [],
                           {"category": Counter(), "unit": Counter()})
        return present(batch, found, _receipt_rows(user, batch))
    found = evaluate(user, source, batch)
    if batch.status == "previewed":
        batch.counts = found.counts()
    return present(batch, found)


@command
def confirm(user: User, batch_id: str) -> dict[str, Any]:
    """Every row that is new now becomes a case, all in this one transaction (any
    failure: none). Duplicates (a push may have brought one since the preview) and rows
    still invalid are skipped and counted. A confirmed batch answers as it did.

    The sheet is evaluated before the batch's lock is taken, which on SQLite is the one
    writer lock (BEGIN IMMEDIATE): every phone's write would otherwise wait on the reading
    of up to 50,000 rows. Under the lock, what may have changed meanwhile is read again:
    the batch (a concurrent confirmation) and the references (a push or another sheet)."""
    batch = _get_batch(user, batch_id)
    if (answer := _answered(batch)) is not None:
        return answer
    source = sources.get_source(batch.source)
    found = evaluate(user, source, batch, hints=False)
    batch = _get_batch(user, batch_id, for_update=True)
    if (answer := _answered(batch)) is not None:  # a concurrent confirmation's
        return answer
    _mark_duplicates(user, source, [row for row in found.rows if row.status == "new"])
    audit_data = {"import": batch.id, "source": source.code}
    # Linked to the complaints they repeat at the end, in one batch (repeats' listener
    # keys each case as it is added; the keys come computed from the evaluation).
    fresh = [row for row in found.rows if row.status == "new"]
    with links.deferred():
        made = cases.add_cases([row.data for row in fresh], created_by=user.id,
                               audit_data=audit_data)
    case_ids = [case.id for case in made]
    # The repeat count as last previewed (the confirmation links, it does not hint).
    counts = {**found.counts(), "repeat": (batch.counts or {}).get("repeat", 0)}
    result = {"id": batch.id, "created": len(case_ids),
              "skipped_duplicates": counts["duplicate"], "invalid": counts["invalid"],
              "case_ids": case_ids}
    batch.status, batch.result, batch.confirmed_at = "confirmed", result, utcnow()
    batch.counts = counts
    # The cases hold what the rows said now: the batch keeps no copy of complainants'
    # names and phones, only which row became which case (headers, counts and the result
    # stay, so it still answers).
    batch.rows = [{"row": row.row, "case_id": case.id}
                  for row, case in zip(fresh, made, strict=True)]
    audit.append("import.confirmed", "import_batch", batch.id, actor_id=user.id,
                 data={"source": source.code, "filename": batch.filename,
                       "sha256": batch.sha256, "created": len(case_ids),
                       "skipped_duplicates": counts["duplicate"],
                       "invalid": counts["invalid"]})
    return result
