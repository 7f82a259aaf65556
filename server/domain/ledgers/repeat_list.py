"""The repeat-complaint list (反复投诉环境问题清单, seed 002) as a sheet: the repeats
context's own list, read with its scope rule (another unit's linked cases are a count
only), in Chinese headings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.domain.core import labels, runtime
from server.domain.ledgers.ledger_period import generated_line, local_tz, units_named
from server.domain.repeats import views
from server.models import User
from server.reports.xlsx import Sheet

COLUMNS = (("序号", 6), ("问题地点", 34), ("问题类型", 13), ("投诉次数", 9),
           ("本单位件数", 10), ("其他单位件数", 11), ("首次投诉时间", 17),
           ("最近投诉时间", 17), ("列入清单时间", 17), ("包案领导", 10), ("是否解决", 9))
WHEN = {6, 7, 8}


def _rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    tz = local_tz()

    def local(at: datetime | None) -> datetime | None:
        return at.astimezone(tz) if at else None

    return [[seq, s["title"], labels.label("categories", s["category"]) or None, s["count"],
             s["visible_cases"], s["other_units"], local(s["first_at"]), local(s["last_at"]),
             local(s["listed_at"]), (s["leader"] or {}).get("name") or None,
             "已解决" if s["resolved"] else "未解决"]
            for seq, s in enumerate(items, start=1)]


def sheet(user: User, now: datetime) -> Sheet:
    items = views.list_subjects(user, listed=True)
    notes = ["注：“其他单位件数”为不在本单位查看范围内的关联投诉，仅计数量。"]
    if len(items) >= views.LIST_MAX:
        notes.append(f"仅列出最近投诉的 {views.LIST_MAX} 项。")
    at = runtime.setting("REPEAT_LIST_AT")
    return Sheet(name="反复投诉清单", title=f"{units_named(user, None)} 反复投诉环境问题清单",
                 headings=[h for h, _ in COLUMNS], widths=[w for _, w in COLUMNS],
                 rows=_rows(items), date_columns=WHEN, notes=notes,
                 subtitle=[f"列入标准：同一问题投诉 {at} 次及以上　{generated_line(now)}"])
