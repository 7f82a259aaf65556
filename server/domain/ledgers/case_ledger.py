"""The case ledger (信访件台账, seed 003's 四色管理台账): one row per case received in the
period in the user's scope, its deadline colour as the fill of its 办理进度 cell, and a
legend saying what each colour means under the deadline rules in force.

The rows come from one query (units and leaders joined, the latest satisfaction picked by
a window function), read from a server-side cursor in chunks: never every case in memory.
No complainant name or phone is read at all."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from server.domain.accounts import scope
from server.domain.cases import deadline_rules
from server.domain.core import labels
from server.domain.ledgers.ledger_period import (
    Period,
    generated_line,
    local_tz,
    stream,
    unit_filter,
    units_named,
)
from server.models import Case, Revisit, Unit, User
from server.reports.xlsx import Fill, Legend, Sheet

# (heading, width in characters)
COLUMNS = (("序号", 6), ("受理编号", 16), ("受理时间", 16), ("来源渠道", 10),
           ("问题类型", 12), ("投诉事项", 28), ("地址", 22), ("责任单位", 12),
           ("包案领导", 12), ("办理时限", 16), ("状态", 8), ("办理进度", 8),
           ("办结时间", 16), ("属实情况", 8), ("办理结果", 30), ("回访满意度", 8))
RECEIVED, DUE, COLOUR, CLOSED = 2, 9, 11, 12

# The four colours of the board (vocab.COLOUR_ORDER) and "overdue", which is not a colour
# of any rule but past them all: filled so that they read apart when printed too.
FILLS = {"green": Fill("绿", "#00B050", "#FFFFFF"), "blue": Fill("蓝", "#0070C0", "#FFFFFF"),
         "yellow": Fill("黄", "#FFFF00"), "red": Fill("红", "#FF0000", "#FFFFFF"),
         "overdue": Fill("逾期", "#7030A0", "#FFFFFF")}
MEANINGS = {
    "green": "正常办理：在办理时限内，尚未到预警节点。",
    "blue": "提示：办理时限临近（第一级预警），抓紧办理。",
    "yellow": "预警：办理时限将至，须催办。",
    "red": "紧急：已进入办理时限的最后阶段，须在时限内办结。",
    "overdue": "逾期：已超过办理时限（含批准的延期）仍未办结；已办结的为超期办结。",
}


@dataclass(frozen=True)
class Filters:
    period: Period
    unit_id: str | None = None
    channel: str | None = None
    category: str | None = None


def colour_of(now: datetime) -> sa.ColumnElement[str]:
    """SQL: an open case's colour now (from the board's cache while it holds). A closed
    case is crossed off the four-colour ledger (销号): closing clears its clock
    (deadline_rules.refresh), so it has no colour, and none is made up for it."""
    return sa.case((scope.is_open(), deadline_rules.colour_now(now)), else_=sa.null())


def query(user: User, f: Filters, now: datetime) -> sa.Select:
    """One statement for every row: the case, its unit, its leader, its latest
    satisfaction."""
    in_period = (Case.received_at >= f.period.start, Case.received_at < f.period.end)
    latest = (sa.select(Revisit.case_id, Revisit.satisfaction,
                        sa.func.row_number().over(
                            partition_by=Revisit.case_id,
                            order_by=(Revisit.at.desc(), Revisit.id.desc())).label("n"))
              .join(Case, Case.id == Revisit.case_id)
              .where(Revisit.satisfaction.is_not(None), *in_period)
              .subquery("latest"))
    leader = aliased(User)
    q = (sa.select(Case.id, Case.external_ref, Case.received_at, Case.channel, Case.category,
                   Case.subject, Case.address, Unit.name,
                   sa.func.coalesce(sa.func.nullif(leader.display_name, ""), leader.username,
                                    Case.leader),
                   Case.due_at, Case.status, colour_of(now), Case.closed_at, Case.verdict,
                   Case.result, latest.c.satisfaction)
         .join(Unit, Unit.id == Case.unit_id)
         .outerjoin(leader, leader.id == Case.leader_id)
         .outerjoin(latest, sa.and_(latest.c.case_id == Case.id, latest.c.n == 1))
         .where(scope.visible_clause(user), *in_period)
         .order_by(Case.received_at, Case.id))
    units = unit_filter(user, f.unit_id)
    if units is not None:
        q = q.where(Case.unit_id.in_(units))
    if f.channel:
        q = q.where(Case.channel == f.channel)
    if f.category:
        q = q.where(Case.category == f.category)
    return q


def rows(user: User, f: Filters, now: datetime) -> Iterator[list[Any]]:
    """The ledger's rows as plain values (local times, labels, the colour key), streamed."""
    tz = local_tz()
    words = {group: {k: v["zh"] for k, v in values.items()}
             for group, values in labels.table().items()}
    channels, categories, statuses = words["channels"], words["categories"], words["statuses"]
    verdicts, satisfaction = words["verdicts"], words["satisfaction"]
    result = stream(query(user, f, now))
    for seq, r in enumerate(result, start=1):
        (case_id, ref, received, channel, category, subject, address, unit, leader, due,
         status, colour, closed, verdict, outcome, satisfied) = r
        yield [seq, ref or case_id[:8], received.astimezone(tz),
               channels.get(channel, channel), categories.get(category, category), subject,
               address, unit, leader, due.astimezone(tz) if due else None,
               statuses.get(status, status), colour,
               closed.astimezone(tz) if closed else None,
               verdicts.get(verdict, verdict) if verdict else None, outcome,
               satisfaction.get(satisfied, satisfied) if satisfied else None]


def legend() -> Legend:
    """The colours' meaning, and when each begins under every deadline rule in force."""
    notes = ["已办结案件即销号，不再着色；未设期限规则的案件不着色。",
             "各期限规则的颜色节点："]
    for rule in deadline_rules.current_rules():
        body = rule.body
        unit = {"working_days": "个工作日", "hours": "小时"}.get(body["counting"], "天")
        start = "from_hour" if body["counting"] == "hours" else "from_day"
        steps = "，".join(f"{FILLS[c['colour']].label} 第{c[start]}{unit}起"
                         for c in body.get("colours", []))
        name = body.get("title", {}).get("zh") or rule.code
        notes.append(f"· {name}：{steps}；办理时限 {body.get('due')}{unit}。")
    return Legend(heading="图例（办理进度）",
                  items=[(key, MEANINGS[key]) for key in FILLS], notes=notes)


def title(user: User, f: Filters) -> str:
    return f"{units_named(user, f.unit_id)} 信访件台账 {f.period.text}"


def subtitle(f: Filters, now: datetime) -> list[str]:
    parts = [f"受理时间：{f.period.text}"]
    if f.channel:
        parts.append(f"来源渠道：{labels.label('channels', f.channel)}")
    if f.category:
        parts.append(f"问题类型：{labels.label('categories', f.category)}")
    return ["　".join(parts) + "　" + generated_line(now)]


def headings() -> Sequence[str]:
    return [h for h, _ in COLUMNS]


def sheet(user: User, f: Filters, now: datetime) -> Sheet:
    return Sheet(name="信访件台账", title=title(user, f), headings=headings(),
                 widths=[w for _, w in COLUMNS], rows=rows(user, f, now),
                 date_columns={RECEIVED, DUE, CLOSED}, wrap_columns={5, 6, 14},
                 subtitle=subtitle(f, now),
                 fill_column=COLOUR, fills=FILLS, legend=legend())
