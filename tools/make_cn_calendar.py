"""Regenerates server/domain/data/cn_calendar.json from the `chinesecalendar` package.

The app ships the JSON, not the package: the package stops at the last published year
(1.11.0 raises NotImplementedError for 2027), while an admin can load a new year as data.

    .venv/bin/pip install chinesecalendar  # dev only, not a runtime dependency
    .venv/bin/python tools/make_cn_calendar.py

Every holiday date the package lists (weekend days inside a holiday period included) and
every make-up working day is written, one item per line so that diffs stay readable.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import chinese_calendar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.domain.cases.workcalendar import DATA, check_year  # noqa: E402 - needs ROOT on the path

YEARS = range(2018, 2027)


def items_for(year: int) -> list[dict[str, str]]:
    days = [(d, "holiday", name) for d, name in chinese_calendar.holidays.items()]
    days += [(d, "workday", name) for d, name in chinese_calendar.workdays.items()]
    return [{"date": d.isoformat(), "kind": kind, "name": name}
            for d, kind, name in sorted(days) if d.year == year]


def render(years: dict[str, list[dict[str, str]]]) -> str:
    source = (f"chinesecalendar {chinese_calendar.__version__} "
              "(https://pypi.org/project/chinesecalendar/), transcribing the State Council "
              "General Office notices on public holiday arrangements "
              "(国务院办公厅关于部分节假日安排的通知)")
    lines = ["{", f'  "source": {json.dumps(source, ensure_ascii=False)},',
             f'  "generated": "{dt.date.today().isoformat()}",', '  "years": {']
    for i, (year, items) in enumerate(years.items()):
        lines.append(f'    "{year}": [')
        lines += [f"      {json.dumps(item, ensure_ascii=False)}"
                  + ("," if j < len(items) - 1 else "") for j, item in enumerate(items)]
        lines.append("    ]" + ("," if i < len(years) - 1 else ""))
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    years = {str(y): items_for(y) for y in YEARS}
    for y, items in years.items():
        check_year(int(y), items)  # the same rules as an admin's upload
    text = render(years)
    json.loads(text)  # the hand-laid-out JSON must still parse
    DATA.write_text(text, encoding="utf-8")
    print(f"wrote {DATA.relative_to(ROOT)}: "
          f"{sum(map(len, years.values()))} days for {min(YEARS)}-{max(YEARS)}")


if __name__ == "__main__":
    main()
