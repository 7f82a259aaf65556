"""Case deadlines: a rule (versioned data) + the working-day calendar + the case's clock
events + a moment. Pure functions: no database, no Flask.

Counting, by the rule's `counting`:
- `calendar_days`: day 1 is the first 24 hours from the clock's start; day N begins at
  start + (N-1) x 24 h; a case due in D days is due at start + D x 24 h (the end of day D).
  With `rest_day_rollover` the due date is read as the Civil Code reads a period: it ends
  at 24:00 of its last day (the date D days after the start), and a last day that is a
  rest day moves to the next working day (art. 201, 203); colours and milestones stay.
  A working-day count, or this rest-day check, reaching a year whose calendar is not
  loaded counts that year's weekends only and marks the schedule `provisional`.
- `working_days` (China's official calendar, holidays and make-up days as data): day N is
  the N-th working day after the day the clock started (local time), from its midnight; a
  case due in D working days is due at the midnight that ends the D-th working day.
- `hours`: milestones and colours in hours from the start; due D hours after it.
Milestones may also be given in `hours` under any counting (dispatch within 1 hour).

The clock starts when the case is received; a transfer restarts it when the rule says so
(`restart_on_transfer`), a reopen always does. A dissatisfied revisit that sends the case
back for review starts a review clock: due `review_days` later, every milestone passed.
An extension of X days moves everything still ahead of it (due date, later colours, later
milestones) X days on (working days under a working-day rule). A rectification plan set
on a reopened case (a look-back's rebound, `plan_set`) makes the end of its 完成时限 the
due date, the colours and milestones keeping their distance to it. Deadlines are therefore a
function of the events: any figure can be recomputed for a past moment.

Seed 004's wall chart: yellow on day 5, blue on day 6, red on day 7, closed by the end of
day 7; past that the case is overdue, which boards show apart from red.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.domain.cases.workcalendar import CalendarYearMissing, WorkCalendar
from server.domain.core.vocab import COLOUR_ORDER

COLOURS = COLOUR_ORDER  # least to most urgent
COUNTINGS = ("calendar_days", "working_days", "hours")
# The longest a rule counts (a year; in hours, a year's hours) and the most milestones it
# names: beyond them a rule is a typing slip, and counting it would run past the calendar's
# years and cost seconds a case when saving it or taking a case in.
MAX_DUE = {"calendar_days": 366, "working_days": 366, "hours": 366 * 24}
MAX_MILESTONES = 20
# Events that move the clock; the others leave the deadline alone.
CLOCK_EVENTS = ("received", "dispatched", "transferred", "extended", "reopened", "approved",
                "revisit_dissatisfied", "plan_set")
# A dissatisfied revisit sends a handled case back for review: the review is due this many
# days (of the rule's counting) later, unless the rule gives its own `review_days`.
DEFAULT_REVIEW_DAYS = 2
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class RuleError(ValueError):
    """A rule that could give a wrong deadline: `errors` says where."""

    def __init__(self, message: str, errors: dict[str, list[str]],
                 code: str = "deadline_rule.contradictory") -> None:
        super().__init__(message)
        self.errors = errors
        self.code = code


@dataclass(frozen=True)
class Milestone:
    name: str
    at: datetime


@dataclass(frozen=True)
class ClockEvent:
    kind: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """What is stored on the case: everything needed to tell its deadline at any moment."""

    rule: str
    rule_version: int
    due_at: datetime
    milestones: tuple[Milestone, ...]  # ascending, the overdue escalation last
    colour0: str
    steps: tuple[tuple[datetime, str], ...]  # later colours from their instants, ascending
    extended_days: int
    # Counted with weekends only for a year whose calendar is not loaded: recomputed when
    # it is (workdays.load_year), and shown as such until then.
    provisional: bool = False


@dataclass(frozen=True)
class Deadline:
    rule: str
    rule_version: int
    due_at: datetime
    colour: str
    next_milestone: Milestone | None
    overdue: bool
    extended_days: int
    provisional: bool = False


# ---- rules -----------------------------------------------------------------------------
def check_rule(rule: dict[str, Any]) -> None:
    """Refuse a rule whose parts contradict each other, naming each problem."""
    errors: dict[str, list[str]] = {}
    order_errors: list[str] = []

    def bad(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not isinstance(rule.get("code"), str) or not rule["code"].strip():
        bad("code", "A code is required.")
    if not rule.get("channels"):
        bad("channels", "At least one channel.")
    counting = rule.get("counting")
    if counting not in COUNTINGS:
        bad("counting", f"One of {', '.join(COUNTINGS)}.")
    due = rule.get("due")
    longest = MAX_DUE.get(counting, MAX_DUE["calendar_days"])
    if not isinstance(due, int) or isinstance(due, bool) or due < 1:
        bad("due", "A whole number of days (or hours) of at least 1.")
        due = None
    elif due > longest:
        bad("due", f"At most {longest} (a year).")
        due = None
    unit = "from_hour" if counting == "hours" else "from_day"
    colours = rule.get("colours") or []
    starts = [c.get(unit) for c in colours]
    if not colours:
        bad("colours", "At least one colour.")
    elif any(not isinstance(s, int) or isinstance(s, bool) for s in starts):
        bad("colours", f"Each colour needs a whole `{unit}`.")
    else:
        first = 0 if counting == "hours" else 1
        if starts[0] != first:
            bad("colours", f"The first colour must start at {unit} {first}.")
        if starts != sorted(set(starts)):
            bad("colours", "Colours must start on rising days, one colour a day.")
        if due is not None and starts[-1] > (due if counting != "hours" else due - 1):
            bad("colours", "A colour starts after the case is already due.")
    names = [c.get("colour") for c in colours]
    if any(n not in COLOURS for n in names):
        bad("colours", f"Colours are {', '.join(COLOURS)}.")
    elif len(set(names)) != len(names):
        bad("colours", "Each colour once: a case cannot turn back to an earlier colour.")
    elif names != sorted(names, key=COLOURS.index):
        order_errors.append(f"Colours go from least to most urgent: {' < '.join(COLOURS)}.")
    review = rule.get("review_days")
    if review is not None and (not isinstance(review, int) or isinstance(review, bool)
                               or review < 1):
        bad("review_days", "A whole number of days (or hours) of at least 1.")
    elif review is not None and review > longest:
        bad("review_days", f"At most {longest} (a year).")
    seen: set[str] = set()
    milestones = rule.get("milestones") or []
    if len(milestones) > MAX_MILESTONES:
        bad("milestones", f"At most {MAX_MILESTONES} milestones.")
        milestones = []
    for i, m in enumerate(milestones):
        key = f"milestones.{i}"
        if not m.get("name") or m["name"] in seen or m["name"] == "overdue":
            bad(key, "A unique name (not 'overdue') is required.")
        seen.add(m.get("name"))
        kinds = {"day", "hours"} & set(m)
        if len(kinds) != 1:
            bad(key, "Exactly one of day or hours.")
            continue
        if "day" in m and counting == "hours":
            bad(key, "An hours rule counts milestones in hours.")
        value = m.get("day", m.get("hours"))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            bad(key, "A whole, non-negative number.")
        elif due is not None and ("day" in m or counting == "hours") and value > due:
            bad(key, "This milestone falls after the case is due.")
        elif "hours" in m and counting != "hours" and value > (due or longest) * 24:
            # An hours milestone in a rule of days: past its days' hours it is after the
            # due date (and a huge one overflowed the clock).
            bad(key, "This milestone falls after the case is due.")
    rollover = rule.get("rest_day_rollover")
    if rollover is not None and not isinstance(rollover, bool):
        bad("rest_day_rollover", "true or false.")
    elif rollover and counting != "calendar_days":
        bad("rest_day_rollover", "Only a rule counting calendar days can move its due date "
            "off a rest day (a working-day count never ends on one).")
    ext = rule.get("max_extension")
    if ext is not None and (not isinstance(ext, int) or isinstance(ext, bool) or ext < 0):
        bad("max_extension", "A whole number of days, or null for no limit.")
    elif ext is not None and ext > MAX_DUE["calendar_days"]:
        bad("max_extension", f"At most {MAX_DUE['calendar_days']} (a year).")
    if errors:
        raise RuleError("This deadline rule contradicts itself.", errors)
    if order_errors:  # its own code: the app says which order, in the user's language
        raise RuleError("The colours are out of order: every rule goes "
                        f"{' < '.join(COLOURS)}, so a colour means one thing on the board.",
                        {"colours": order_errors}, code="deadline_rule.colour_order")


def needs_calendar(rule: dict[str, Any]) -> bool:
    """Whether counting this rule asks the working-day calendar."""
    return rule["counting"] == "working_days" or (rule["counting"] == "calendar_days"
                                                  and bool(rule.get("rest_day_rollover")))


def matches(rule: dict[str, Any], channel: str, key: bool) -> bool:
    return channel in rule["channels"] and rule.get("key") in (None, key)


# ---- the clock ---------------------------------------------------------------------------
@dataclass
class _Point:
    label: str       # "due", "colour:<name>", "milestone:<name>"
    anchor: str      # "day", "end", "hours"
    n: int
    shift: int = 0   # days added by extensions


class _Clock:
    def __init__(self, rule: dict[str, Any], start: datetime, calendar: WorkCalendar | None,
                 tz: ZoneInfo) -> None:
        self.rule, self.start, self.calendar, self.tz = rule, start, calendar, tz
        self.counting = rule["counting"]

    def _local_midnight(self, d: date) -> datetime:
        return datetime.combine(d, time(0), self.tz)

    def _working_day(self, n: int) -> date:
        if self.calendar is None:
            raise ValueError("a working-day rule needs the calendar")
        return self.calendar.add_working_days(self.start.astimezone(self.tz).date(), n)

    def at(self, p: _Point) -> datetime:
        if p.anchor == "hours":
            return self.start + p.n * HOUR + p.shift * DAY
        n = p.n + p.shift
        if self.counting == "working_days":
            day = self._working_day(n)
            return self._local_midnight(day + DAY if p.anchor == "end" else day)
        if self.counting == "hours":  # colours and due of an hours rule
            return self.start + n * HOUR
        return self.start + (n if p.anchor == "end" else n - 1) * DAY

    def civil_end(self, due: datetime) -> datetime:
        """The Civil Code's reading of a period: its last day is the date D days after the
        start (art. 201: the start day does not count); it ends at 24:00 of that day, and
        a last day that is a rest day gives way to the next working day (art. 203). Always
        the end of a day, so a later `due` never ends earlier."""
        if self.calendar is None:
            raise ValueError("moving a due date off a rest day needs the calendar")
        day = due.astimezone(self.tz).date()
        while not self.calendar.is_working_day(day):
            day += DAY
        return self._local_midnight(day + DAY)


def _points(rule: dict[str, Any], done: set[str]) -> list[_Point]:
    hours_rule = rule["counting"] == "hours"
    points = [_Point("due", "end", rule["due"])]
    for step in rule["colours"][1:]:
        points.append(_Point(f"colour:{step['colour']}", "end" if hours_rule else "day",
                             step["from_hour" if hours_rule else "from_day"]))
    for m in rule.get("milestones") or []:
        if m["name"] in done:
            continue
        points.append(_Point(f"milestone:{m['name']}", "day" if "day" in m else "hours",
                             m.get("day", m.get("hours"))))
    return points


def schedule(rule: dict[str, Any], rule_version: int, events: Iterable[ClockEvent], *,
             calendar: WorkCalendar | None, tz: ZoneInfo) -> Schedule:
    """The case's schedule after these events (in time order, the first `received`,
    whose data carries `received_at`). Intake never waits for a calendar: a year not
    loaded is counted from its weekends, and the schedule says it is provisional."""
    events = list(events)
    try:
        return _schedule(rule, rule_version, events, calendar=calendar, tz=tz)
    except CalendarYearMissing:
        assert calendar is not None
        return replace(_schedule(rule, rule_version, events, calendar=calendar.guessing(),
                                 tz=tz), provisional=True)


def _schedule(rule: dict[str, Any], rule_version: int, events: list[ClockEvent], *,
              calendar: WorkCalendar | None, tz: ZoneInfo) -> Schedule:
    events = sorted(events, key=lambda e: e.at)
    start: datetime | None = None
    done: set[str] = set()
    extensions: list[tuple[datetime, int]] = []
    review = False
    plan: tuple[datetime, datetime] | None = None  # (set at, end of its 完成时限)
    for ev in events:
        if ev.kind == "received":
            start = _when(ev.data.get("received_at")) or ev.at
            if not ev.data.get("corrected"):  # a corrected receipt time keeps the rest
                done, extensions, plan = set(), [], None
        elif ev.kind == "reopened" or (ev.kind == "transferred"
                                       and rule.get("restart_on_transfer")):
            start, done, extensions, review = ev.at, set(), [], False
            plan = None if ev.kind == "reopened" else plan
            done |= _done_by(rule, "dispatched")  # a restarted case is already in hand
        elif ev.kind == "revisit_dissatisfied" and ev.data.get("review"):
            start, extensions, review, plan = ev.at, [], True, None
            done = {m["name"] for m in rule.get("milestones") or []}
        elif ev.kind == "plan_set" and ev.data.get("due_on"):
            plan = (ev.at, plan_end(ev.data["due_on"], tz))
        elif ev.kind in ("dispatched", "transferred"):
            done |= _done_by(rule, "dispatched")
        elif ev.kind == "extended":
            extensions.append((ev.at, int(ev.data["days"])))
    if start is None:
        raise ValueError("a case's events start with `received`")
    if review:
        rule = {**rule, "due": review_days(rule)}
    clock = _Clock(rule, start, calendar, tz)
    points = _points(rule, done)
    for when, days in extensions:
        for p in points:
            if clock.at(p) > when:
                p.shift += days
    due_at = clock.at(points[0])
    if rule.get("rest_day_rollover") and rule["counting"] == "calendar_days":
        due_at = clock.civil_end(due_at)
    # A rectification plan's 完成时限 is the case's due date (the end of that local day,
    # later extensions added): the colours and milestones keep their distance to it.
    moved = timedelta(0)
    if plan is not None:
        later = sum(days for when, days in extensions if when >= plan[0])
        moved = plan[1] + later * DAY - due_at
        due_at = plan[1] + later * DAY
    milestones = sorted(
        [Milestone(p.label.split(":", 1)[1], clock.at(p) + moved) for p in points
         if p.label.startswith("milestone:")] + [Milestone("overdue", due_at)],
        key=lambda m: m.at)
    steps = tuple(sorted((clock.at(p) + moved, p.label.split(":", 1)[1]) for p in points
                         if p.label.startswith("colour:")))
    return Schedule(rule=rule["code"], rule_version=rule_version, due_at=due_at,
                    milestones=tuple(milestones), colour0=rule["colours"][0]["colour"],
                    steps=steps, extended_days=sum(d for _, d in extensions))


def plan_end(due_on: date | str, tz: ZoneInfo) -> datetime:
    """The end (24:00, local time) of a plan's 完成时限, the day it is due by."""
    day = date.fromisoformat(due_on) if isinstance(due_on, str) else due_on
    return datetime.combine(day + DAY, time(0), tz)


def review_days(rule: dict[str, Any]) -> int:
    return int(rule.get("review_days") or DEFAULT_REVIEW_DAYS)


def _when(value: datetime | str | None) -> datetime | None:
    """Event data read back from JSON holds times as ISO text."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _done_by(rule: dict[str, Any], event: str) -> set[str]:
    return {m["name"] for m in rule.get("milestones") or [] if m.get("until") == event}


def tell(s: Schedule, now: datetime) -> Deadline:
    """The deadline as it stands at `now`."""
    colour = s.colour0
    for at, name in s.steps:
        if at <= now:
            colour = name
    upcoming = next((m for m in s.milestones if m.at > now), None)
    return Deadline(rule=s.rule, rule_version=s.rule_version, due_at=s.due_at, colour=colour,
                    next_milestone=upcoming, overdue=now >= s.due_at,
                    extended_days=s.extended_days, provisional=s.provisional)


def extended_so_far(events: Iterable[ClockEvent]) -> int:
    """Days granted since the clock last started (a reopen or a restart clears them)."""
    total = 0
    for ev in sorted(events, key=lambda e: e.at):
        if ev.kind in ("received", "reopened") or (ev.kind == "revisit_dissatisfied"
                                                    and ev.data.get("review")):
            total = 0
        elif ev.kind == "extended":
            total += int(ev.data["days"])
    return total
