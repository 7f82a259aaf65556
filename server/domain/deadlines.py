"""Case deadlines and their colours, kept as versioned data (data/deadline_rules.json).

Pure functions: no database, no Flask. The first rule whose "channels" holds the case's
channel (and whose optional "key" equals the case's key flag) applies.

Counting: day N of a case is N whole 24-hour periods elapsed since received_at, so day 0
is its first 24 hours. A milestone "days": N falls at received_at + N x 24 h ("hours": H
at received_at + H h); due_at is received_at + due_days x 24 h and the case is overdue from
due_at on. A colour {"from_day": N} holds from received_at + N x 24 h until the next one.
Calendar days, working days and holidays are deliberately not modelled: elapsed time is
the same on every server and in every time zone.

Whether a case has a deadline at all (a closed case has none) is the caller's decision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("data") / "deadline_rules.json"
COLOURS = ("green", "blue", "yellow", "red")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Milestone:
    name: str
    at: datetime


@dataclass(frozen=True)
class Deadline:
    rule: str
    due_at: datetime
    colour: str
    next_milestone: Milestone | None
    overdue: bool


@cache
def deadline_rules() -> dict[str, Any]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    check_rules(data)
    return data


def check_rules(data: dict[str, Any]) -> None:
    """Refuse rules data that could give a wrong deadline, naming what is wrong."""
    if not isinstance(data.get("version"), str) or not data["version"]:
        raise ValueError("deadline rules: a version is required")
    codes: set[str] = set()
    for rule in data.get("rules") or []:
        code = rule.get("code")
        if not code or code in codes:
            raise ValueError(f"deadline rules: missing or repeated code {code!r}")
        codes.add(code)
        if not rule.get("channels"):
            raise ValueError(f"deadline rule {code}: no channels")
        due_days = rule.get("due_days")
        if not isinstance(due_days, int | float) or due_days <= 0:
            raise ValueError(f"deadline rule {code}: due_days must be positive")
        for milestone in rule.get("milestones") or []:
            if not milestone.get("name") or len({"days", "hours"} & set(milestone)) != 1:
                raise ValueError(f"deadline rule {code}: a milestone needs a name and "
                                 "exactly one of days or hours")
        colours = rule.get("colours") or []
        starts = [c.get("from_day") for c in colours]
        if not colours or starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f"deadline rule {code}: colours must start at day 0 and rise")
        if any(c.get("colour") not in COLOURS for c in colours):
            raise ValueError(f"deadline rule {code}: colours are {', '.join(COLOURS)}")
    if not codes:
        raise ValueError("deadline rules: no rules")


def rule_for(channel: str, key: bool = False,
             rules: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The rule that applies to a case of this channel and key flag, or None."""
    for rule in (rules or deadline_rules())["rules"]:
        if channel in rule["channels"] and rule.get("key", key) == key:
            return rule
    return None


def elapsed_days(received_at: datetime, now: datetime) -> int:
    """Whole 24-hour periods since received_at (negative if received_at is ahead of now)."""
    return (now - received_at) // DAY


def _offset(spec: dict[str, Any]) -> timedelta:
    return timedelta(days=spec["days"]) if "days" in spec else timedelta(hours=spec["hours"])


def deadline_for(channel: str, received_at: datetime, now: datetime, key: bool = False, *,
                 rules: dict[str, Any] | None = None) -> Deadline | None:
    """The deadline of an open case at `now`; None when no rule covers the channel.

    Both times must be aware; the answer's times are in received_at's zone.
    """
    if received_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("deadline_for needs aware datetimes")
    rule = rule_for(channel, key, rules)
    if rule is None:
        return None
    due_at = received_at + timedelta(days=rule["due_days"])
    day = elapsed_days(received_at, now)
    colour = rule["colours"][0]["colour"]
    for step in rule["colours"]:
        if day >= step["from_day"]:
            colour = step["colour"]
    upcoming = sorted((received_at + _offset(m), m["name"]) for m in rule["milestones"])
    next_milestone = next((Milestone(name, at) for at, name in upcoming if at > now), None)
    return Deadline(rule=rule["code"], due_at=due_at, colour=colour,
                    next_milestone=next_milestone, overdue=now >= due_at)
