"""A per-worker cap on requests waiting on the object store. A hung store holds each such
request for its timeouts; without a cap, enough of them occupy every thread of a worker
and requests that never touch storage (GET /api/me) queue behind them. Past the cap the
answer is 503 with Retry-After at once, and the phone's outbox tries again later."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from flask import current_app

from server.domain.core.errors import DomainError
from server.observability import metrics

_slots: dict[int, threading.BoundedSemaphore] = {}  # per app (tests build several)
_guard = threading.Lock()


class StorageBusy(DomainError):
    status_hint = 503


def _semaphore() -> threading.BoundedSemaphore:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with _guard:
        if id(app) not in _slots:
            _slots[id(app)] = threading.BoundedSemaphore(app.config["STORAGE_CONCURRENCY"])
        return _slots[id(app)]


@contextlib.contextmanager
def slot_if_free() -> Iterator[bool]:
    """One of the worker's storage slots if one is free now (True), else False at once:
    for work that has somewhere else to go (the upload's completion: the complete call)."""
    slots = _semaphore()
    taken = slots.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            slots.release()


def needs_storage(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        slots = _semaphore()
        if not slots.acquire(timeout=0.5):
            metrics.count_storage_error("busy")
            raise StorageBusy("storage.busy",
                              "The photo store is slow to answer; nothing was lost. Keep the "
                              "item and try again in a minute.",
                              extra={"retry_after_s": 30})
        try:
            return view(*args, **kwargs)
        finally:
            slots.release()

    return guarded
