"""The question a report asks: which cases (received in a period of local dates, narrowed
by unit, channel, category) and as of when. Checked here, once, for every report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.domain.core import runtime
from server.domain.core.errors import Invalid
from server.domain.ledgers import ledger_period

ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Period:
    first: date          # local dates, both included
    last: date
    start: datetime      # UTC: the first day's local midnight
    end: datetime        # UTC: the local midnight after the last day (excluded)
    at: datetime         # UTC: the moment the figures are as of (included)
    tz: ZoneInfo

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def local_tz() -> ZoneInfo:
    return ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tz).astimezone(UTC)


def parse_at(raw: str | None, tz: ZoneInfo, now: datetime) -> datetime:
    """`at`: none is now; a date is the end of that local day; a datetime is that moment
    (one without an offset is local time)."""
    if raw is None or not raw.strip():
        return now
    text = raw.strip()
    try:
        if len(text) == 10:
            return midnight(date.fromisoformat(text) + timedelta(days=1), tz) - ONE_US
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("report.bad_date", f"Not a date or a date and time: {text!r}.",
                      errors={"at": ["A date (YYYY-MM-DD) or an ISO date and time."]},
                      params={"value": text}) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(UTC)


def period(first: date | None, last: date | None, at: str | None, *,
           now: datetime) -> Period:
    """The period, checked as every report's is (ledger_period.period: 422
    `report.bad_period`, `report.period_too_long`), and the moment. No dates: this month
    so far."""
    tz = local_tz()
    today = now.astimezone(tz).date()
    last = last or (today if first is None or first <= today else first)
    first = first or last.replace(day=1)
    checked = ledger_period.period(first, last)  # every report's rule: order, REPORT_MAX_DAYS
    start = checked.start
    moment = parse_at(at, tz, now)
    if moment < start:
        raise Invalid("report.at_before_period",
                      "The figures cannot be as of a moment before the period begins.",
                      errors={"at": ["Not before `from`."]})
    return Period(first=first, last=last, start=start,
                  end=checked.end, at=moment, tz=tz)
