"""When a complaint was received: the one rule for the office's case form, a platform's
push and a platform's sheet. Not in the future beyond the clocks' allowed disagreement
(CLOCK_DRIFT_S), not before 2000 (no platform or office holds older complaints)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

FUTURE = "future"
TOO_OLD = "too_old"


def problem_kind(moment: datetime, now: datetime, *, drift_s: int) -> str | None:
    """FUTURE, TOO_OLD or None for an aware `moment`."""
    if moment > now + timedelta(seconds=drift_s):
        return FUTURE
    if moment < EARLIEST:
        return TOO_OLD
    return None


def problem(moment: datetime, now: datetime, *, drift_s: int) -> str | None:
    """Why `moment` cannot be a case's received time (English), or None."""
    kind = problem_kind(moment, now, drift_s=drift_s)
    if kind == FUTURE:
        return f"Must not be in the future (more than {drift_s} seconds ahead)."
    if kind == TOO_OLD:
        return f"Must not be before {EARLIEST.year}."
    return None
