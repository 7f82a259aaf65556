"""A per-worker cap on ledgers being written. Writing a ledger is CPU work in Python
(XlsxWriter, ~6 µs a cell: a year of a district is a minute) and holds the GIL, so two at
once in a worker slow every other request of that worker, GET /api/me too. Past the cap
the answer is 503 `report.busy` with Retry-After at once: the office tries again shortly,
nothing is queued behind a long export."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from flask import current_app

from server.domain.core.errors import DomainError

RETRY_AFTER_S = 30
_guard = threading.Lock()


class ReportBusy(DomainError):
    status_hint = 503


def semaphore() -> threading.BoundedSemaphore:
    """This app's slots (REPORT_CONCURRENCY), made on first use; tests build several apps."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _guard:
        slots = app.extensions.get("fieldcase.report_slots")
        if slots is None:
            slots = threading.BoundedSemaphore(app.config["REPORT_CONCURRENCY"])
            app.extensions["fieldcase.report_slots"] = slots
        return slots


def needs_report_slot(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        slots = semaphore()
        if not slots.acquire(timeout=0.5):
            raise ReportBusy("report.busy",
                             "Another ledger is being written on this server; try again "
                             "in half a minute.", extra={"retry_after_s": RETRY_AFTER_S})
        try:
            return view(*args, **kwargs)
        finally:
            slots.release()

    return guarded
