"""One transaction per command: a domain command validates, decides and commits once.

Helpers called inside a command never commit. `command` wraps a function so that its
changes, timeline events and audit entries land together or not at all; a command called
from inside another joins the outer one instead of committing early.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from server.extensions import db

P = ParamSpec("P")
R = TypeVar("R")
_DEPTH = "fieldcase.uow_depth"


@contextmanager
def transaction(*, keep_loaded: bool = False) -> Iterator[None]:
    """Commit on success, roll back on any error; nested blocks join the outermost.
    `keep_loaded`: the objects keep their attributes past the commit instead of being read
    again on next use (a statement each), for a command whose caller presents exactly what
    it wrote; only for rows whose every value is set in Python (no server defaults)."""
    session = db.session
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield
        if depth == 0:
            _commit(session(), keep_loaded)
    except BaseException:
        if depth == 0:
            session.rollback()
        raise
    finally:
        session.info[_DEPTH] = depth
        if depth == 0:
            forget_caches()


@contextmanager
def step(*, keep_loaded: bool = False) -> Iterator[None]:
    """One step of a command that storage calls cut into several transactions (evidence
    completion: promote, verify, store). A step always ends in its own commit or rollback,
    so what a step decided is durable before the next storage call. `keep_loaded` as for
    `transaction`."""
    session = db.session
    try:
        yield
        _commit(session(), keep_loaded)
    except BaseException:
        session.rollback()
        raise
    finally:
        forget_caches()


def _commit(session: Session, keep_loaded: bool) -> None:
    if not keep_loaded:
        session.commit()
        return
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def command(fn: Callable[P, R] | None = None, *, keep_loaded: bool = False
            ) -> Any:
    """`@command`, or `@command(keep_loaded=True)` (see `transaction`)."""
    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with transaction(keep_loaded=keep_loaded):
                return fn(*args, **kwargs)

        return run

    return wrap if fn is None else wrap(fn)


def forget_caches() -> None:
    """Per-session memos (the user's unit scope) do not outlive a transaction."""
    db.session.info.pop("fieldcase.scope", None)
