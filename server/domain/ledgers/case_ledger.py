"""The case ledger (信访件台账, seed 003's 四色管理台账): one row per case received in the
period in the user's scope, its deadline colour (or, closed, 按期办结 / 超期办结) as the
fill of its 办理进度 cell, and a legend saying what each key means under the deadline
rules in force.

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
    SCOPE_LINE,
    Period,
    by_responsible_unit,
    generated_line,
    local_tz,
    stream,
    units_named,
)
from server.extensions import db
from server.models import Case, Revisit, Unit, User
from server.reports.xlsx import Fill, Legend, Sheet

# The colour column's heading: the colour is the one at the time the ledger is generated,
# not at closing nor at the end of the period (English: "Progress (at the time generated)").
PROGRESS = "办理进度（截至生成时间）"
# (heading, width in characters)
COLUMNS = (("序号", 6), ("受理编号", 16), ("受理时间", 16), ("来源渠道", 10),
           ("问题类型", 12), ("投诉事项", 28), ("地址", 22), ("责任单位", 12),
           ("包案领导", 12), ("办理时限", 16), ("状态", 8), (PROGRESS, 10),
           ("办结时间", 16), ("属实情况", 8), ("办理结果", 30), ("回访满意度", 8))
RECEIVED, DUE, COLOUR, CLOSED = 2, 9, 11, 12

# The four colours of the board (vocab.COLOUR_ORDER) and "overdue", which is not a colour
# of any rule but past them all: filled so that they read apart when printed too. A closed
# case shows how it was closed: on time (words only) or late (overdue's fill).
FILLS = {"green": Fill("绿", "#00B050", "#FFFFFF"), "blue": Fill("蓝", "#0070C0", "#FFFFFF"),
         "yellow": Fill("黄", "#FFFF00"), "red": Fill("红", "#FF0000", "#FFFFFF"),
         "overdue": Fill("逾期", "#7030A0", "#FFFFFF"),
         "closed_on_time": Fill("按期办结", None),
         "closed_late": Fill("超期办结", "#7030A0", "#FFFFFF")}
MEANINGS = {
    "green": "正常办理：未办结，在办理时限内，尚未到预警节点。",
    "blue": "提示：未办结，办理时限临近（第一级预警），抓紧办理。",
    "yellow": "预警：未办结，办理时限将至，须催办。",
    "red": "紧急：未办结，已进入办理时限的最后阶段，须在时限内办结。",
    "overdue": "逾期：已超过办理时限（含批准的延期）仍未办结。",
    "closed_on_time": "按期办结：已办结，审核通过（办结）时未超过当时的办理时限。不着色。",
    "closed_late": "超期办结：已办结，审核通过（办结）时已超过当时的办理时限。与逾期同色。",
}


@dataclass(frozen=True)
class Filters:
    period: Period
    unit_id: str | None = None
    channel: str | None = None
    category: str | None = None


def colour_of(now: datetime) -> sa.ColumnElement[str]:
    """SQL: an open case's colour now (from the board's cache while it holds); a closed
    case's 按期办结 / 超期办结 from `closed_on_time` (the closing approval's verdict, kept
    by the lifecycle). Unknown (no deadline when closed, or closed before the verdict was
    recorded): no key, and the cell stays blank rather than guess."""
    return sa.case((scope.is_open(), deadline_rules.colour_now(now)),
                   (Case.closed_on_time.is_(True), "closed_on_time"),
                   (Case.closed_on_time.is_(False), "closed_late"), else_=sa.null())


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
         .order_by(Case.received_at, Case.id))
    return _filtered(q, user, f)


def _filtered(q: sa.Select, user: User, f: Filters) -> sa.Select:
    """The ledger's cases: received in the period, by responsible unit within the user's
    scope (not scope.visible_clause, which adds the cases a unit co-handles and so would
    count them in two streets' ledgers), the channel and category asked for."""
    q = q.where(Case.received_at >= f.period.start, Case.received_at < f.period.end)
    q = by_responsible_unit(q, user, f.unit_id)
    if f.channel:
        q = q.where(Case.channel == f.channel)
    if f.category:
        q = q.where(Case.category == f.category)
    return q


def count(user: User, f: Filters) -> int:
    """The ledger's rows, counted before any is written (the joins of `query` add or drop
    none: one unit, at most one leader and one latest revisit a case); an index scan of
    ix_cases_stats, not the rows' query."""
    return db.session.scalar(_filtered(sa.select(sa.func.count()).select_from(Case), user, f))


def rows(user: User, f: Filters, now: datetime) -> Iterator[list[Any]]:
    """The ledger's rows as plain values (local times, labels, the colour key), streamed."""
    tz = local_tz()
    words = {group: {k: v["zh"] for k, v in values.items()}
             for group, values in labels.table().items()}
    channels, categories, statuses = words["channels"], words["categories"], words["statuses"]
    verdicts, satisfaction = words["verdicts"], words["satisfaction"]
    # Closed with the generator (exports close it when a write fails half-way): a
    # server-side cursor is not left open.
    with stream(query(user, f, now)) as result:
        for seq, r in enumerate(result, start=1):
            (case_id, ref, received, channel, category, subject, address, unit, leader, due,
             status, colour, closed, verdict, outcome, satisfied) = r
            yield [seq, ref or case_id[:8], received.astimezone(tz),
                   channels.get(channel, channel), categories.get(category, category),
                   subject, address, unit, leader, due.astimezone(tz) if due else None,
                   statuses.get(status, status), colour,
                   closed.astimezone(tz) if closed else None,
                   verdicts.get(verdict, verdict) if verdict else None, outcome,
                   satisfaction.get(satisfied, satisfied) if satisfied else None]


def legend() -> Legend:
    """What the 办理进度 column shows, and when each colour begins under every deadline
    rule in force."""
    notes = ["办理进度反映生成时间的状态：未办结的案件按其办理时限着色；已办结的案件显示按期办结"
             "或超期办结（以审核通过时所适用的办理时限判定，含批准的延期）。",
             "留空：未设期限规则的未办结案件；办结时没有办理时限、或在系统记录是否按期之前办结的"
             "案件。",
             "已办结案件的办理时限在办结时清除，本台账的“办理时限”列对其留空。",
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
    return ["　".join([*parts, generated_line(now), SCOPE_LINE])]


def headings() -> Sequence[str]:
    return [h for h, _ in COLUMNS]


def sheet(user: User, f: Filters, now: datetime) -> Sheet:
    return Sheet(name="信访件台账", title=title(user, f), headings=headings(),
                 widths=[w for _, w in COLUMNS], rows=rows(user, f, now),
                 date_columns={RECEIVED, DUE, CLOSED}, wrap_columns={5, 6, 14},
                 subtitle=subtitle(f, now),
                 fill_column=COLOUR, fills=FILLS, legend=legend())
