"""What a job can do. Each kind checks its parameters and the user's access when the job
is created (the same rules as the synchronous downloads, so a case the user cannot see is
404 before anything is queued), then makes its file into a spool when it runs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from server.domain.accounts import scope
from server.domain.closure import closure_files, periods
from server.domain.core.errors import DomainError, Forbidden, Invalid
from server.domain.ledgers import exports
from server.domain.ledgers.ledger_period import require_reader
from server.models import User

# (done, total, stage): reported to the job's row (and its heartbeat) as the work goes on.
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Stored:
    """A file already in the store, checked against its hash: the job's result is that
    object itself, not a copy (a batch closure file is stored once, by its hash)."""

    key: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Made:
    filename: str
    content_type: str
    stored: Stored | None = None  # else the spool holds the bytes
    # Audit entries to append with the stored result (see exports.audit_deferred).
    audits: tuple[exports.AuditRecord, ...] = ()


@dataclass(frozen=True)
class Kind:
    name: str
    # (user, params) -> the params to keep (the cases resolved); raises a DomainError.
    prepare: Callable[[User, dict[str, Any]], dict[str, Any]]
    # (user, kept params, spool, progress) -> the file's name and type; its bytes in the
    # spool, or (Made.stored) the object already stored that the result names.
    run: Callable[[User, dict[str, Any], IO[bytes], Progress], Made]
    # (user, kept params) -> None: may this user still have this job's result (scope and
    # role now, not when it was asked for)? Raises Forbidden/NotFound if not. The same
    # rule prepare applies (one function each); None: prepare itself, on the kept params.
    access: Callable[[User, dict[str, Any]], Any] | None = None


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    KINDS[kind.name] = kind


def get(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise Invalid("job.bad_kind", f"No such kind of job: {name}.",
                      errors={"kind": [f"One of {', '.join(sorted(KINDS))}."]})
    return kind


# ---- the batch's cases, as the synchronous downloads choose them -----------------------
def _batch(user: User, params: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The cases named, or those closed in the period (and unit); then closure's own
    check (office role, each case visible, closed and sealed; at most MAX_BATCH)."""
    if params.get("case"):
        ids = list(params["case"])
    else:
        ids = periods.closed_in(user, _day(params["closed_from"]), _day(params["closed_to"]),
                                params.get("unit"))
    return closure_files.sealed_cases(user, ids)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _checked(stored: closure_files.StoredFile) -> Stored:
    """The stored file, its bytes checked against the hash on record as they stream."""
    digest, size = hashlib.sha256(), 0
    for chunk in stored.chunks():
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != stored.sha256 or size != stored.size:
        raise DomainError("job.result_altered", "The stored closure file no longer matches "
                          "its hash: it was not handed out.")
    return Stored(stored.object_key, stored.sha256, size)


def _cases_access(user: User, params: dict[str, Any]) -> None:
    """The kept cases still in the user's scope (closed or not: a job failed because a case
    was reopened still shows its error)."""
    closure_files.visible_cases(user, params["case"])


def _prepare_closure_file(user: User, params: dict[str, Any]) -> dict[str, Any]:
    fmt = params.get("format")
    if fmt not in closure_files.KINDS:
        raise Invalid("closure.bad_kind", f"One of {', '.join(closure_files.KINDS)}.",
                      errors={"format": ["One of docx, pdf."]})
    chosen = _batch(user, params)
    closure_files.check_photos(chosen)  # refused now, not in the worker
    return {"format": fmt, "case": [c.id for c, _s in chosen],
            "public": bool(params.get("public")), "per_page": int(params.get("per_page") or 1)}


def _run_closure_file(user: User, params: dict[str, Any], spool: IO[bytes],
                      progress: Progress) -> Made:
    stored = closure_files.closure_file(user, params["case"], params["format"],
                                        params["public"], params["per_page"], progress)
    progress(0, 1, "storing")
    return Made(stored.name, stored.content_type, _checked(stored))


def _prepare_archive(user: User, params: dict[str, Any]) -> dict[str, Any]:
    return {"case": [c.id for c, _s in _batch(user, params)]}


def _run_archive(user: User, params: dict[str, Any], spool: IO[bytes],
                 progress: Progress) -> Made:
    name = closure_files.write_archive(user, params["case"], spool, progress)
    return Made(name, "application/zip")


def _prepare_case_ledger(user: User, params: dict[str, Any]) -> dict[str, Any]:
    fmt = params.get("format")
    if fmt not in ("xlsx", "csv"):
        raise Invalid("job.bad_params", "The ledger is xlsx or csv.",
                      errors={"format": ["One of xlsx, csv."]})
    kept = {"format": fmt, "from": str(params["from"]), "to": str(params["to"]),
            **{k: params[k] for k in ("unit_id", "channel", "category") if params.get(k)}}
    exports.case_ledger_filters(user, _day(kept["from"]), _day(kept["to"]),
                                unit_id=kept.get("unit_id"), channel=kept.get("channel"),
                                category=kept.get("category"))
    kept["scope"] = _scope_mark(user)
    return kept


def _scope_mark(user: User) -> str:
    """Which units the user sees, as a short digest: a ledger is made of the cases of
    the units its owner saw, and is theirs only while they still see exactly those. "*"
    for who sees every unit (the district office), whatever units are added meanwhile."""
    if scope.sees_everything(user):
        return "*"
    units = ",".join(sorted(scope.visible_unit_ids(user)))
    return hashlib.sha256(units.encode()).hexdigest()[:16]


def _same_scope(user: User, kept: dict[str, Any]) -> None:
    # A ledger made before its job kept a scope is refused too: it cannot say whose it was.
    if kept.get("scope") != _scope_mark(user):
        raise Forbidden("job.scope_changed", "Your units changed since this ledger was asked "
                        "for; it may list cases you no longer see. Make it again.")


def _ledger_access(user: User, kept: dict[str, Any]) -> None:
    # Named unit or not, the ledger holds the cases of every unit below it the owner saw
    # when it was asked for: moved to other units since, they no longer have it. Checked
    # first: the filters' own checks (a period since made too long) are no answer to that.
    _same_scope(user, kept)
    exports.case_ledger_filters(user, _day(kept["from"]), _day(kept["to"]),
                                unit_id=kept.get("unit_id"), channel=kept.get("channel"),
                                category=kept.get("category"))


def _run_case_ledger(user: User, params: dict[str, Any], spool: IO[bytes],
                     progress: Progress) -> Made:
    return _spooled(user, params, progress, lambda: exports.case_ledger_file(
        user, _day(params["from"]), _day(params["to"]), params["format"],
        unit_id=params.get("unit_id"), channel=params.get("channel"),
        category=params.get("category")), spool)


def _spooled(user: User, params: dict[str, Any], progress: Progress,
             write: Callable[[], exports.Export], spool: IO[bytes]) -> Made:
    """A ledger written as its owner is now, into the spool. Moved since it was asked for
    (a queue that waited), the file would list other units' cases under the old digest:
    the job fails with the words."""
    _same_scope(user, params)
    progress(0, 1, "writing")
    with exports.audit_deferred() as audits:
        made = write()
    with made.file:
        for chunk in iter(lambda: made.file.read(1 << 20), b""):
            spool.write(chunk)
    return Made(made.name, made.mimetype, audits=tuple(audits))


# ---- the revisit ledger and the repeat-complaint list, as their downloads make them ----
def _prepare_revisit_ledger(user: User, params: dict[str, Any]) -> dict[str, Any]:
    kept = {"from": str(params["from"]), "to": str(params["to"]),
            **({"unit_id": params["unit_id"]} if params.get("unit_id") else {})}
    _revisit_ledger_period(user, kept)
    kept["scope"] = _scope_mark(user)
    return kept


def _revisit_ledger_period(user: User, kept: dict[str, Any]) -> None:
    exports.revisit_ledger_period(user, _day(kept["from"]), _day(kept["to"]),
                                  unit_id=kept.get("unit_id"))


def _revisit_ledger_access(user: User, kept: dict[str, Any]) -> None:
    _same_scope(user, kept)  # first, as for the case ledger
    _revisit_ledger_period(user, kept)


def _run_revisit_ledger(user: User, params: dict[str, Any], spool: IO[bytes],
                        progress: Progress) -> Made:
    return _spooled(user, params, progress, lambda: exports.revisit_ledger_file(
        user, _day(params["from"]), _day(params["to"]), unit_id=params.get("unit_id")), spool)


def _prepare_repeat_list(user: User, params: dict[str, Any]) -> dict[str, Any]:
    require_reader(user)  # as the list's download checks
    return {"scope": _scope_mark(user)}


def _repeat_list_access(user: User, kept: dict[str, Any]) -> None:
    require_reader(user)
    _same_scope(user, kept)


def _run_repeat_list(user: User, params: dict[str, Any], spool: IO[bytes],
                     progress: Progress) -> Made:
    return _spooled(user, params, progress, lambda: exports.repeat_list_file(user), spool)


def check_access(user: User, kind_name: str, kept: dict[str, Any]) -> None:
    """Raise Forbidden/NotFound when the user may no longer have this job's result."""
    kind = get(kind_name)
    (kind.access or kind.prepare)(user, dict(kept))


register(Kind("closure_file", _prepare_closure_file, _run_closure_file, _cases_access))
register(Kind("case_ledger", _prepare_case_ledger, _run_case_ledger, _ledger_access))
register(Kind("archive", _prepare_archive, _run_archive, _cases_access))
register(Kind("revisit_ledger", _prepare_revisit_ledger, _run_revisit_ledger,
              _revisit_ledger_access))
register(Kind("repeat_list", _prepare_repeat_list, _run_repeat_list, _repeat_list_access))
# The ledgers, counted with their synchronous downloads (REPORT_RATE_LIMIT).
LEDGER_KINDS = frozenset({"case_ledger", "revisit_ledger", "repeat_list"})
