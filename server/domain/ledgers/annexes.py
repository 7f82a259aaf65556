"""Seed 001's two annexes of a look-back campaign (回头看) as the district asks for them:
annex 1, the problem list (问题清单), and annex 2, the weekly progress table (进展一览表).
The figures are the remediation context's (campaigns.progress, plans.problem_list); here
they are laid out in the annexes' headings."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from server.domain.ledgers.ledger_period import generated_line, local_tz
from server.reports.xlsx import Sheet

PROGRESS_COLUMNS = (("序号", 6), ("核查单位", 20), ("信访总数", 10), ("本周核查数", 10),
                    ("累计核查数", 10), ("完成率", 9), ("新发现问题数", 11),
                    ("累计新发现问题数", 13), ("备注", 24))
PROBLEM_COLUMNS = (("序号", 6), ("问题类型", 12), ("原交办具体问题", 34), ("新发现问题", 24),
                   ("整改措施", 34), ("目标任务（标准）", 24), ("整改实施主体", 16),
                   ("验收（监管）单位", 16), ("完成时限", 12))
_YEAR = re.compile(r"^\s*\d{4}\s*年")


def campaign_heading(title: str, year: int, what: str) -> str:
    """'2024年里山街道…“回头看”专项行动' + what, from the campaign's title however it was
    typed: the year put in front if missing, the campaign's name completed."""
    text = title.strip()
    if not _YEAR.match(text):
        text = f"{year}年{text}"
    if text.endswith("专项行动"):
        return text + what
    if "回头看" in text:
        return f"{text}专项行动{what}"
    return f"{text}“回头看”专项行动{what}"


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(local_tz()).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _name(value: Any) -> str | None:
    """A unit as the packet gives it: a name, or {id, name}."""
    if isinstance(value, dict):
        return value.get("name")
    return value or None


def _rate(rate: Any) -> float | None:
    """The completion rate as a share (shown 0.0%), from its numerator and denominator."""
    if not isinstance(rate, dict):
        return rate
    denominator = rate.get("denominator") or 0
    return rate.get("numerator", 0) / denominator if denominator else None


def _progress_row(seq: int | None, unit: str, r: dict[str, Any]) -> list[Any]:
    return [seq, unit, r.get("total"), r.get("week_done"), r.get("done"),
            _rate(r.get("rate")), r.get("week_new"), r.get("new_total"), r.get("note")]


def progress_sheet(packet: dict[str, Any], now: datetime) -> Sheet:
    """Annex 2 (进展一览表): a row per checking unit, then the totals."""
    week = packet["week"]
    first, last = _day(week["from"]), _day(week["to"])
    assert first is not None and last is not None
    body = [_progress_row(seq, r.get("unit") or "", r)
            for seq, r in enumerate(packet["rows"], start=1)]
    if packet.get("totals"):
        body.append(_progress_row(None, "合计", packet["totals"]))
    return Sheet(
        name="进展一览表",
        title=campaign_heading(packet["campaign"]["title"], first.year, "进展一览表"),
        headings=[h for h, _ in PROGRESS_COLUMNS], widths=[w for _, w in PROGRESS_COLUMNS],
        rows=body, percent_columns={5}, wrap_columns={1, 8}, landscape=False,
        subtitle=[f"统计周：{first:%Y-%m-%d} 至 {last:%Y-%m-%d}　{generated_line(now)}"],
        notes=["完成率 = 累计核查数 ÷ 信访总数；新发现问题数含核查发现问题反弹的信访件。"])


def problems_sheet(packet: dict[str, Any], now: datetime) -> Sheet:
    """Annex 1 (问题清单): a row per rectification plan, with the 填报单位/填报时间 line
    and the signature line of the form."""
    campaign = packet["campaign"]
    local_now = now.astimezone(local_tz())
    body = [[r.get("seq") or seq, r.get("problem_type"), r.get("original_problem"),
             r.get("new_problem"), r.get("measures"), r.get("target"), r.get("implementer"),
             _name(r.get("acceptance_unit")), _day(r.get("due_on"))]
            for seq, r in enumerate(packet["rows"], start=1)]
    organiser = _name(campaign.get("organiser_unit")) or ""
    filed = f"{local_now.year}年{local_now.month}月{local_now.day}日"
    return Sheet(
        name="问题清单",
        title=campaign_heading(campaign["title"], local_now.year, "问题清单"),
        headings=[h for h, _ in PROBLEM_COLUMNS], widths=[w for _, w in PROBLEM_COLUMNS],
        rows=body, day_columns={8}, wrap_columns={1, 2, 3, 4, 5, 6, 7},
        subtitle=[f"填报单位：{organiser}　　　　填报时间：{filed}"],
        notes=["报送单位主要负责同志签字："])
