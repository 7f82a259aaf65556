"""The revisit ledger (回访台账): every revisit made in the period of a case in the user's
scope, one row each. Of personal data, less than the sample export shows: the staff member
who called, never the respondent's name or number, nor residents' answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
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
from server.reports.xlsx import Sheet

COLUMNS = (("序号", 6), ("受理编号", 18), ("投诉事项", 34), ("责任单位", 14),
           ("回访时间", 17), ("回访方式", 11), ("回访人", 10), ("回访结果", 10),
           ("满意度", 10), ("不能回访原因", 30))
AT = 4
OUTCOMES = {"reached": "已回访", "unreachable": "无法联系", "refused": "拒绝回访",
            "callback": "约定回拨", "open": "调查中"}


def query(user: User, period: Period, unit_id: str | None) -> sa.Select:
    q = (sa.select(Case.id, Case.external_ref, Case.subject, Unit.name, Revisit.at,
                   Revisit.method, sa.func.coalesce(sa.func.nullif(User.display_name, ""),
                                                    User.username),
                   Revisit.outcome, Revisit.satisfaction, Revisit.unreachable_reason)
         .join(Case, Case.id == Revisit.case_id).join(Unit, Unit.id == Case.unit_id)
         .join(User, User.id == Revisit.created_by)
         .where(scope.visible_clause(user), Revisit.at >= period.start,
                Revisit.at < period.end)
         .order_by(Revisit.at, Revisit.id))
    units = unit_filter(user, unit_id)
    return q if units is None else q.where(Case.unit_id.in_(units))


def rows(user: User, period: Period, unit_id: str | None) -> Iterator[list[Any]]:
    tz = local_tz()
    result = stream(query(user, period, unit_id))
    for seq, (case_id, ref, subject, unit, at, method, staff, outcome, satisfied,
              reason) in enumerate(result, start=1):
        yield [seq, ref or case_id[:8], subject, unit, at.astimezone(tz),
               labels.label("revisit_methods", method), staff,
               OUTCOMES.get(outcome, outcome),
               labels.label("satisfaction", satisfied) if satisfied else None, reason]


def sheet(user: User, period: Period, unit_id: str | None, now: datetime) -> Sheet:
    return Sheet(name="回访台账", title=f"{units_named(user, unit_id)} 回访台账 {period.text}",
                 headings=[h for h, _ in COLUMNS], widths=[w for _, w in COLUMNS],
                 rows=rows(user, period, unit_id), date_columns={AT},
                 subtitle=[f"回访时间：{period.text}　{generated_line(now)}"])
