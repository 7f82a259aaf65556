"""A sample's revisits as a table the office takes out (XLSX): one row per respondent,
each questionnaire question a column, in Chinese. The query is here; the file is written
by server/reports/xlsx.py from plain rows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.audit import audit
from server.domain.core import labels, runtime
from server.domain.core.privacy import mask_name, mask_phone
from server.domain.core.uow import command
from server.domain.revisits import questionnaires, sampling
from server.extensions import db
from server.models import Case, Revisit, RevisitSample, SampleCase, Unit, User
from server.reports.xlsx import Sheet, write_xlsx

_OUTCOME = {"reached": "已回访", "unreachable": "无法联系", "open": "调查中"}
_KIND = {"complainant": "投诉人", "resident": "居民", "business": "商户/企业"}
# The columns before the questions: (heading, width in characters).
FIXED = (("案件编号", 38), ("外部编号", 16), ("案件名称", 30), ("承办单位", 16),
         ("回访方式", 10), ("回访时间", 17), ("回访结果", 10), ("总体满意度", 10),
         ("回访人", 10), ("受访人类别", 10), ("受访人", 10), ("联系方式", 14),
         ("受访人满意度", 12))


def _columns(revisits: list[Revisit]) -> list[tuple[tuple[str, str], dict[str, Any]]]:
    """Every question asked in these revisits, once: keyed by (code, key), in the order
    first met; its heading from the newest version that asked it."""
    seen: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for v in revisits:
        q = v.questionnaire
        for question in (q.questions if q else []):
            ident = (q.code, question["key"])
            if ident not in seen or seen[ident][0] < q.version:
                seen[ident] = (q.version, question)
    return [(ident, question) for ident, (_, question) in seen.items()]


def _headings(columns: list[tuple[tuple[str, str], dict[str, Any]]]) -> list[str]:
    """The zh question texts; two templates asking the same text are told apart by code."""
    texts = [q["label"]["zh"] for _, q in columns]
    return [f"{t}（{code}）" if texts.count(t) > 1 else t
            for t, ((code, _), _) in zip(texts, columns, strict=True)]


def sample_sheet(user: User, sample_id: str) -> tuple[RevisitSample, Sheet]:
    """The sample's revisits since its draw, as rows, of the cases the user still sees (one
    transferred away since is another unit's); visible to whoever sees the sample."""
    sample = sampling.get(user, sample_id)  # the sample view's roles and unit scope
    rows = db.session.execute(
        sa.select(Revisit, Case, Unit.name)
        .join(SampleCase, sa.and_(SampleCase.case_id == Revisit.case_id,
                                  SampleCase.sample_id == sample.id))
        .join(Case, Case.id == Revisit.case_id).join(Unit, Unit.id == Case.unit_id)
        .where(Revisit.received_at >= sample.created_at, scope.visible_clause(user))
        .order_by(Unit.name, Case.received_at, Case.id, Revisit.at, Revisit.id)).all()
    revisits = [r for r, _, _ in rows]
    columns = _columns(revisits)
    index = {ident: i for i, (ident, _) in enumerate(columns)}
    staff = dict(db.session.execute(sa.select(User.id, User.display_name).where(
        User.id.in_({r.created_by for r in revisits}))).all()) if revisits else {}
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    body: list[list[Any]] = []
    for revisit, case, unit_name in rows:
        head = [case.id, case.external_ref or "", case.subject, unit_name,
                labels.label("revisit_methods", revisit.method), _local(revisit.at, tz),
                _OUTCOME.get(revisit.outcome, revisit.outcome),
                labels.label("satisfaction", revisit.satisfaction),
                staff.get(revisit.created_by, "")]
        by_key = {q["key"]: q for q in revisit.questionnaire.questions} \
            if revisit.questionnaire else {}
        code = revisit.questionnaire.code if revisit.questionnaire else ""
        # A revisit nobody answered is still a row: the office counts the unreachable.
        for person in revisit.respondents or [None]:
            answers: list[Any] = [None] * len(columns)
            if person is not None:
                for key, value in (person.answers or {}).items():
                    if key in by_key and (code, key) in index:
                        answers[index[(code, key)]] = questionnaires.answer_text(
                            by_key[key], value)
            body.append(head + ([_KIND.get(person.kind, person.kind), mask_name(person.name),
                                 mask_phone(person.contact),
                                 labels.label("satisfaction", person.satisfaction)]
                                if person else ["", "", "", ""]) + answers)
    units = db.session.scalars(sa.select(Unit.name).where(Unit.id.in_(sample.unit_scope))
                               .order_by(Unit.name)).all()
    # Its first day to its last, as the samples view shows it ("to" is the first moment after).
    last = _local(sample.period_to - timedelta(microseconds=1), tz)
    period = f"{_local(sample.period_from, tz):%Y-%m-%d} 至 {last:%Y-%m-%d}"
    title = (f"回访结果 · {'、'.join(units) or '全部单位'} · 抽样 {period}"
             f"（比例 {sample.share:.0%}，种子 {sample.seed}）")
    headings = [h for h, _ in FIXED] + _headings(columns)
    widths = [w for _, w in FIXED] + [min(40, max(10, len(h) * 2)) for h in headings[len(FIXED):]]
    return sample, Sheet(name="回访结果", title=title, headings=headings, widths=widths,
                         rows=body, date_columns={5})


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.astimezone(tz)


@command
def write_sample(user: User, sample_id: str, out: IO[bytes]) -> RevisitSample:
    """Write the sample's XLSX to `out`; the taking-out is recorded (it holds answers)."""
    sample, sheet = sample_sheet(user, sample_id)
    rows = write_xlsx(sheet, out)
    audit.append("sample.exported", "revisit_sample", sample.id, actor_id=user.id,
                 data={"rows": rows, "format": "xlsx"})
    return sample
