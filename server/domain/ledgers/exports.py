"""Taking a ledger out: checks first (role, period, unit, campaign), then the rows written
to a temporary file (XLSX in constant memory, or CSV; on disk once past 1 MB), and the
taking-out audited in the same command. Written whole before a byte is sent, so a failure half-way
is a clean error, never a truncated download; and a failure after the file is written (the
audit entry, the commit) closes, so deletes, it before the error goes on."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from server.domain.audit import audit
from server.domain.core.errors import Invalid
from server.domain.core.uow import transaction
from server.domain.ledgers import annexes, case_ledger, repeat_list, revisit_ledger
from server.domain.ledgers.ledger_period import (
    Period,
    local_tz,
    period,
    require_reader,
    unit_filter,
)
from server.domain.remediation import campaigns, plans
from server.models import User
from server.models.base import utcnow
from server.reports.csv_table import write_csv
from server.reports.xlsx import Sheet, TooManyRows, room, write_xlsx

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
# A ledger is written to a temporary file: in memory up to this size (the few kB of a
# small office's week), on disk past it (a year of a district, 15 MB), so memory stays flat.
SPOOL_BYTES = 1 << 20


@dataclass
class Export:
    file: IO[bytes]  # at its start; closing it deletes it
    size: int
    name: str  # the Chinese file name
    ascii_name: str  # its fallback for old clients
    mimetype: str
    rows: int


@contextmanager
def _taken_out() -> Iterator[list[IO[bytes]]]:
    """One command (as `uow.command`: the checks, the file and its audit entry commit
    together or not at all) whose files, listed in the list it yields, are closed (so
    deleted) when anything fails once they are written, the commit included: only an
    Export that is returned hands its file on."""
    files: list[IO[bytes]] = []
    try:
        with transaction():
            yield files
    except BaseException:
        for file in files:
            file.close()
        raise


def _too_many(rows: int | None, most: int) -> Invalid:
    counted = f"{rows} rows" if rows is not None else "more rows"
    return Invalid("report.too_many_rows",
                   f"This ledger has {counted} than a worksheet holds ({most}); choose a "
                   "shorter period or one unit.",
                   params={"rows": rows if rows is not None else most + 1, "max": most})


def _fits(sheet: Sheet, fmt: str, rows: int) -> None:
    """Refuse (422) before writing a workbook whose rows Excel could not hold: XlsxWriter
    would drop those past 1,048,576 silently. A CSV has no such limit."""
    if fmt != "csv" and rows > room(sheet):
        raise _too_many(rows, room(sheet))


def _written(files: list[IO[bytes]], sheet: Sheet, fmt: str,
             labels: dict[int, dict[str, str]] | None = None) -> tuple[IO[bytes], int, int]:
    """The file written (at its start, and listed in `files`), its size and its rows. A
    sheet that proves longer than counted (rows added meanwhile) is refused the same."""
    # Handed to the response, which closes (and so deletes) it once sent.
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    files.append(out)
    try:
        if fmt == "csv":
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            rows = write_csv(sheet.headings, sheet.rows, text, labels=labels)
            text.flush()
            text.detach()
        else:
            try:
                rows = write_xlsx(sheet, out)
            except TooManyRows as error:
                raise _too_many(None, error.room) from None
        size = out.seek(0, io.SEEK_END)
        out.seek(0)
    except BaseException:
        out.close()  # closing twice (here, then _taken_out) is harmless
        # Rows streamed from a server-side cursor: closed now, not when collected.
        close = getattr(sheet.rows, "close", None)
        if callable(close):
            close()
        raise
    return out, size, rows


# Set by a job making a ledger: the export's audit entry is kept here, not appended.
_DEFERRED: ContextVar[list[AuditRecord] | None] = ContextVar("fieldcase.export_audit",
                                                             default=None)


@dataclass(frozen=True)
class AuditRecord:
    """An export's audit entry, as `audit.append` takes it."""
    action: str
    entity_type: str
    entity_id: str
    actor_id: str
    data: dict[str, Any]

    def append(self) -> None:
        audit.append(self.action, self.entity_type, self.entity_id, actor_id=self.actor_id,
                     data=self.data)


@contextmanager
def audit_deferred() -> Iterator[list[AuditRecord]]:
    """The exports made inside keep their audit entry in the yielded list instead of
    appending it: a job appends it with its stored result, so an attempt that fails after
    the file was made (the store away, a worker killed) and is run again records one
    export, not one an attempt."""
    kept: list[AuditRecord] = []
    token = _DEFERRED.set(kept)
    try:
        yield kept
    finally:
        _DEFERRED.reset(token)


def _audited(user: User, what: str, entity_id: str, fmt: str, rows: int,
             data: dict[str, Any]) -> None:
    record = AuditRecord("report.exported", "report", entity_id, user.id,
                         {"report": what, "format": fmt, "rows": rows, **data})
    kept = _DEFERRED.get()
    if kept is not None:
        kept.append(record)
    else:
        record.append()


def _span(first: date, last: date) -> str:
    return f"{first:%Y%m%d}-{last:%Y%m%d}"


def case_ledger_filters(user: User, first: date, last: date, *, unit_id: str | None = None,
                        channel: str | None = None, category: str | None = None
                        ) -> case_ledger.Filters:
    """Who may have the case ledger, of what period and unit: checked before anything is
    written (and when a job making it is asked for)."""
    require_reader(user)
    f = case_ledger.Filters(period(first, last), unit_id, channel, category)
    unit_filter(user, unit_id)  # another unit's id: 404 before anything is written
    return f


def case_ledger_file(user: User, first: date, last: date, fmt: str = "xlsx", *,
                     unit_id: str | None = None, channel: str | None = None,
                     category: str | None = None) -> Export:
    """The case ledger (台账) of the cases received from `first` to `last`."""
    with _taken_out() as files:
        f = case_ledger_filters(user, first, last, unit_id=unit_id, channel=channel,
                                category=category)
        now = utcnow()
        sheet = case_ledger.sheet(user, f, now)
        _fits(sheet, fmt, case_ledger.count(user, f))
        words = {case_ledger.COLOUR: {k: v.label for k, v in case_ledger.FILLS.items()}}
        out, size, rows = _written(files, sheet, fmt, words)
        _audited(user, "case_ledger", "case_ledger", fmt, rows, {
            "from": first.isoformat(), "to": last.isoformat(), "unit_id": unit_id,
            "channel": channel, "category": category})
        span = _span(first, last)
        return Export(out, size, f"信访件台账-{span}.{fmt}", f"case-ledger-{span}.{fmt}",
                      CSV if fmt == "csv" else XLSX, rows)


def revisit_ledger_period(user: User, first: date, last: date, *,
                          unit_id: str | None = None) -> Period:
    """Who may have the revisit ledger, of what period and unit: checked before anything
    is written (and when a job making it is asked for)."""
    require_reader(user)
    p = period(first, last)
    unit_filter(user, unit_id)
    return p


def revisit_ledger_file(user: User, first: date, last: date, *,
                        unit_id: str | None = None) -> Export:
    """The revisit ledger (回访台账) of the revisits made from `first` to `last`."""
    with _taken_out() as files:
        p = revisit_ledger_period(user, first, last, unit_id=unit_id)
        sheet = revisit_ledger.sheet(user, p, unit_id, utcnow())
        _fits(sheet, "xlsx", revisit_ledger.count(user, p, unit_id))
        out, size, rows = _written(files, sheet, "xlsx")
        _audited(user, "revisit_ledger", "revisit_ledger", "xlsx", rows, {
            "from": first.isoformat(), "to": last.isoformat(), "unit_id": unit_id})
        span = _span(first, last)
        return Export(out, size, f"回访台账-{span}.xlsx", f"revisit-ledger-{span}.xlsx", XLSX,
                      rows)


def repeat_list_file(user: User) -> Export:
    """The repeat-complaint list (反复投诉环境问题清单) as it stands."""
    with _taken_out() as files:
        require_reader(user)
        now = utcnow()
        out, size, rows = _written(files, repeat_list.sheet(user, now), "xlsx")
        _audited(user, "repeat_list", "repeat_list", "xlsx", rows, {})
        day = f"{now.astimezone(local_tz()):%Y%m%d}"
        return Export(out, size, f"反复投诉环境问题清单-{day}.xlsx", f"repeat-list-{day}.xlsx",
                      XLSX, rows)


def progress_file(user: User, campaign_id: str, week: date | None = None) -> Export:
    """Annex 2 (进展一览表) of a campaign for a week: the campaign's own figures."""
    with _taken_out() as files:
        require_reader(user)
        packet = campaigns.progress(user, campaign_id, week)  # 404 for a campaign not seen
        out, size, rows = _written(files, annexes.progress_sheet(packet, utcnow()), "xlsx")
        _audited(user, "campaign_progress", campaign_id, "xlsx", rows,
                 {"week": packet["week"]["from"]})
        monday = str(packet["week"]["from"]).replace("-", "")
        return Export(out, size, f"回头看进展一览表-{monday}.xlsx",
                      f"campaign-progress-{monday}.xlsx", XLSX, rows)


def problems_file(user: User, campaign_id: str) -> Export:
    """Annex 1 (问题清单) of a campaign: its rectification plans the user sees."""
    with _taken_out() as files:
        require_reader(user)
        packet = plans.problem_list(user, campaign_id)
        now = utcnow()
        out, size, rows = _written(files, annexes.problems_sheet(packet, now), "xlsx")
        _audited(user, "campaign_problems", campaign_id, "xlsx", rows, {})
        day = f"{now.astimezone(local_tz()):%Y%m%d}"
        return Export(out, size, f"回头看问题清单-{day}.xlsx", f"campaign-problems-{day}.xlsx",
                      XLSX, rows)
