"""When a call counts as tried: the rules a phone revisit's attempts are held to.

"Unreachable" is a result only after real tries: three failed calls spread out (by
default at least two hours apart, and not all in one half-day, local time), or a number
that does not exist. A refusal (拒绝回访) is a result of its own, and a call scheduled back
at a time the complainant named is no result yet. No attempt is dated in the future.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.domain.core.errors import Invalid
from server.domain.core.runtime import setting
from server.models.base import utcnow

MIN_ATTEMPTS = 3
FINAL_OUTCOMES = ("wrong_number",)
NOT_SPREAD = "revisit.attempts_not_spread"


def outcome_of(respondents: list[Any], attempts: list[dict], reason: str | None,
               callback_at: datetime | None = None) -> str:
    if respondents:
        return "reached"
    if callback_at is not None:
        return "callback"  # the complainant named a time: call again then
    if any(a["outcome"] == "refused" for a in attempts):
        return "refused"
    if attempts or reason:
        return "unreachable"
    return "open"  # a survey whose respondents are still to come


def half_day(at: datetime, tz: ZoneInfo) -> tuple[str, str]:
    local = at.astimezone(tz)
    return local.date().isoformat(), "am" if local.hour < 12 else "pm"


def spread(times: list[datetime], gap: timedelta, tz: ZoneInfo) -> tuple[int, int]:
    """(how many of the calls are each at least `gap` after the last one counted, how
    many half-days they fall in): a burst of calls in one minute counts once."""
    counted: list[datetime] = []
    for at in sorted(times):
        if not counted or at - counted[-1] >= gap:
            counted.append(at)
    return len(counted), len({half_day(t, tz) for t in counted})


def refuse_future(data: dict[str, Any]) -> None:
    """A revisit or attempt dated after now (beyond the allowed clock drift) is refused:
    nobody has called in the future."""
    limit = utcnow() + timedelta(seconds=setting("CLOCK_DRIFT_S"))
    errors: dict[str, Any] = {}
    if data["at"] > limit:
        errors["at"] = ["In the future."]
    late = {str(i): ["In the future."] for i, a in enumerate(data.get("attempts") or [])
            if a["at"] > limit}
    if late:
        errors["attempts"] = late
    if errors:
        raise Invalid("revisit.future_attempt", "A revisit or call attempt is dated in the "
                      "future.", errors=errors)


def check(data: dict[str, Any], errors: dict[str, Any]) -> str | None:
    """Errors of a phone revisit that reached nobody, into `errors`; the problem code
    when the only fault is calls too close together (None otherwise)."""
    attempts = data.get("attempts") or []
    if data.get("callback_at") is not None:
        if data["callback_at"] <= data["at"]:
            errors["callback_at"] = ["After the call that scheduled it."]
        return None
    if any(a["outcome"] == "refused" for a in attempts):
        return None  # a refusal is the complainant's answer: no more calls owed
    failed = [a for a in attempts if a["outcome"] != "answered"]
    code = None
    if any(a["outcome"] == "answered" for a in attempts):
        errors.setdefault("respondents", []).append(
            "An answered call records who answered and what they said.")
    elif any(a["outcome"] in FINAL_OUTCOMES for a in failed):
        pass
    elif len(failed) < MIN_ATTEMPTS:
        errors.setdefault("attempts", []).append(
            f"Unreachable needs {MIN_ATTEMPTS} failed attempts (or a wrong number); "
            f"{len(failed)} logged.")
    else:
        gap = timedelta(minutes=setting("REVISIT_ATTEMPT_GAP_MIN"))
        counted, halves = spread([a["at"] for a in failed], gap,
                                 ZoneInfo(setting("LOCAL_TIMEZONE")))
        if counted < MIN_ATTEMPTS or halves < 2:
            errors.setdefault("attempts", []).append(
                f"Unreachable needs {MIN_ATTEMPTS} failed attempts at least "
                f"{setting('REVISIT_ATTEMPT_GAP_MIN')} minutes apart and not all in one "
                f"half-day; {counted} spread over {halves} half-day(s).")
            code = NOT_SPREAD
    if not (data.get("unreachable_reason") or "").strip():
        errors.setdefault("unreachable_reason", []).append(
            "Say why the complainant could not be reached.")
        code = None
    return code
