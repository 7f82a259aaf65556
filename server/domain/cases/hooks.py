"""What the case's life asks of the contexts above it, without importing them.

A lower context never imports a higher one (import-linter's layers contract in
pyproject.toml). Where the lifecycle must let a higher context act, it calls a hook here,
and the higher context registers itself when its package is imported: closure registers
the approval gate and the seal. `server.domain.load_contexts()` imports every context;
create_app calls it, so the app, the CLI, gunicorn's workers and the tests all have them.
A hook nobody registered refuses loudly: a case is never approved unchecked or unsealed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """One registered callable, called through the hook."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._target: Callable[..., Any] | None = None

    def register(self, target: Callable[..., Any]) -> Callable[..., Any]:
        self._target = target
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._target is None:
            raise RuntimeError(f"Nothing registered for the {self.name} hook: "
                               "server.domain.load_contexts() was not called.")
        return self._target(*args, **kwargs)


class Listeners:
    """Reactions to an event of the case's life; none registered is fine (nothing reacts)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._targets: list[Callable[..., Any]] = []

    def register(self, target: Callable[..., Any]) -> Callable[..., Any]:
        if target not in self._targets:
            self._targets.append(target)
        return target

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        for target in self._targets:
            target(*args, **kwargs)


# (user, case) -> None, or raises: what approving needs beyond the transition table
# (closure: separation of duties, no evidence still on its way, every checklist rule met).
approval_gate = Hook("approval_gate")

# (case, user, *, now, note) -> record(): prepares the seal of the case being approved
# before the approve command writes anything (the manifest goes to the store first, so a
# hung store never holds the audit log's lock); the command calls record() after its
# `approved` event, and the seal enters the case's chain.
approval_seal = Hook("approval_seal")

# (user, case) -> DomainError | None, read-only: why this user may never approve this case
# (closure: separation of duties). The gate refuses with it and `allowed` leaves approve
# out of the offered actions for the same people: one rule for both.
approval_refusal = Hook("approval_refusal")

# (user, case_id) -> bool: whether the case is the revisit user's to revisit (revisits: a
# case sampled and assigned to them in a live sample; a callback they scheduled alone is
# not). Only then may a revisit user reveal the complainant's number (need to know).
revisit_assignment = Hook("revisit_assignment")

# (case) -> None, inside the creating transaction, after the case is flushed: a new case
# however it came (typed by the office, a sheet's row, a platform's push). Repeats link it
# to earlier complaints about the same subject here.
case_added = Listeners("case_added")

# (case, fields) -> None, inside the editing transaction, after the case is flushed: the
# names of the fields an office edit changed. Repeats re-reads the address key here.
case_updated = Listeners("case_updated")

# (case, from_unit_id) -> None, inside the transition, after the case's unit changed
# (dispatch, transfer): remediation hands the case's pending re-check to its new unit.
case_moved = Listeners("case_moved")

# (user, case) -> bool, read-only: whether the user is in the case's leader group (包案小组,
# remediation: its lead or a member). Only they record the group's visit to the
# complainant (带案下访), whatever their role: fieldwork asks here, never importing upward.
leader_group_member = Hook("leader_group_member")

# (now) -> a SQL condition on cases, read-only: the case is hard (remediation: repeat,
# backlog, difficult), so the case list's `hard` filter asks the one rule.
hard_case_clause = Hook("hard_case_clause")
