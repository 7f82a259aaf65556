"""The closure checklist (验收销号): what a case needs before it may be closed, computed
from what is recorded, each rule met or not with the reason and what satisfies it. The
rules, and which cases each applies to, are data (data/closure_rules.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, lifecycle
from server.domain.closure import revisit_review
from server.domain.core import labels, runtime
from server.domain.core.errors import Conflict, Invalid
from server.domain.core.geo import distance_m
from server.domain.core.uow import command
from server.domain.core.vocab import FIELD_CHECK_KINDS
from server.domain.fieldwork.evidence import get_evidence
from server.domain.fieldwork.integrity import photo_location
from server.extensions import db
from server.models import Case, Evidence, Measurement, User, Visit
from server.models.base import utcnow

DATA = Path(__file__).parents[1] / "data" / "closure_rules.json"


# Rules whose facts a higher context keeps (a look-back's rectification plans, a hard
# case's remediation plan): it registers the rule's check here, as the lifecycle's hooks
# are registered, so closure never imports upward. A check answers `result(...)`, or None
# when the rule does not apply to this case (a case with no plan).
Check = Callable[[dict[str, Any], Case], "dict[str, Any] | None"]
REGISTERED: dict[str, Check] = {}


def register_check(code: str) -> Callable[[Check], Check]:
    def add(check: Check) -> Check:
        REGISTERED[code] = check
        return check
    return add


@cache
def closure_rules() -> dict[str, Any]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def rules_for(case: Case) -> list[dict[str, Any]]:
    return [r for r in closure_rules()["rules"]
            if case.category in r.get("categories", [case.category])
            and case.channel in r.get("channels", [case.channel])]


def result(rule: dict[str, Any], met: bool, zh: str, en: str,
            refs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A rule's answer; `why` in both languages, as its title (the office reads Chinese)."""
    return {"code": rule["code"], "title": rule["title"], "met": met,
            "why": {"zh": zh, "en": en}, "refs": refs or []}


def checklist(user: User, case_id: str) -> dict[str, Any]:
    return evaluate(scope.get_case(user, case_id))


def evaluate(case: Case) -> dict[str, Any]:
    """Each rule that applies to the case, met or not, with why and what satisfies it."""
    events = timeline.events(case.id, kinds=("submitted", "flag_acknowledged", "reopened",
                                             "complainant_informed"))  # one read
    submitted = [e.at for e in events if e.kind == "submitted"]
    until = submitted[-1] if submitted else utcnow()
    acks = {(e.data.get("evidence_id"), e.data.get("code"))
            for e in events if e.kind == "flag_acknowledged"}
    evidence = list(db.session.scalars(sa.select(Evidence).filter_by(
        case_id=case.id, state="stored").order_by(Evidence.captured_at)))
    checks = {"handling_result": lambda r: _handling(r, case),
              "site_photo": lambda r: _site_photo(r, case, evidence, until),
              "flags_explained": lambda r: _flags(r, evidence, acks),
              "noise_reading": lambda r: _noise(r, case),
              "revisit": lambda r: _revisit(r, case),
              "feedback_given": lambda r: _feedback(r, events)}
    checks.update({code: (lambda r, c=c: c(r, case)) for code, c in REGISTERED.items()})
    answers = (checks[r["code"]](r) for r in rules_for(case))
    results = [a for a in answers if a is not None]
    return {"ready": all(r["met"] for r in results), "rules": results,
            "rules_version": closure_rules()["version"]}


def _handling(rule: dict[str, Any], case: Case) -> dict[str, Any]:
    missing = [name for name in ("verdict", "result") if not getattr(case, name)]
    if missing:
        names = {"verdict": "核查结论", "result": "办理结果"}
        return result(rule, False, f"尚未填写：{'、'.join(names[m] for m in missing)}。",
                       f"Not recorded yet: {', '.join(missing)}.")
    return result(rule, True, f"核查结论：{labels.label('verdicts', case.verdict)}；"
                   "办理结果已填写。", f"Verdict {case.verdict}; result recorded.")


def _site_photo(rule: dict[str, Any], case: Case, evidence: list[Evidence],
                until: datetime) -> dict[str, Any]:
    if case.lat is None:
        return result(rule, False, "案件没有位置，无法比对照片位置。",
                       "The case has no location to compare photos with.")
    limit = rule.get("max_distance_m", 500)
    checks = set(db.session.scalars(sa.select(Visit.id).where(
        Visit.case_id == case.id, Visit.kind.in_(FIELD_CHECK_KINDS))))
    good, seen = [], 0
    for ev in evidence:
        if ev.visit_id not in checks or not (ev.content_type or "").startswith("image/"):
            continue
        seen += 1
        gps = (ev.exif or {}).get("gps")
        located = photo_location((ev.geo_lat, ev.geo_lon) if ev.geo_lat is not None else None,
                                 (gps["lat"], gps["lon"]) if gps else None)
        if located is None or not case.received_at <= ev.captured_at <= until:
            continue
        distance = distance_m(located[0], (case.lat, case.lon))
        if distance <= limit:
            good.append({"evidence_id": ev.id, "distance_m": round(distance),
                         "captured_at": ev.captured_at.isoformat()})
    if good:
        return result(rule, True, f"{len(good)} 张照片在 {limit} 米内，拍摄于受理与提交之间。",
                       f"{len(good)} photo(s) within {limit} m, taken between "
                       "receipt and submission.", good)
    return result(rule, False, f"{seen} 张现场检查照片中，没有一张既在 {limit} 米内又拍摄于"
                   "受理与提交之间。",
                   f"None of the {seen} visit photo(s) is both within {limit} m "
                   "of the case and taken between receipt and submission.")


def _flags(rule: dict[str, Any], evidence: list[Evidence],
           acks: set[tuple[str, str]]) -> dict[str, Any]:
    open_flags = [{"evidence_id": ev.id, "code": f["code"]} for ev in evidence
                  for f in ev.flags or [] if (ev.id, f["code"]) not in acks]
    if open_flags:
        return result(rule, False, f"{len(open_flags)} 项完整性提示尚未说明或确认。",
                       f"{len(open_flags)} flag(s) not yet explained or "
                       "acknowledged.", open_flags)
    return result(rule, True, "没有未说明的提示。", "No flag left unexplained.")


def _noise(rule: dict[str, Any], case: Case) -> dict[str, Any]:
    query = (sa.select(Measurement.id, Measurement.visit_id, Measurement.valid_for_enforcement)
             .join(Visit, Visit.id == Measurement.visit_id)
             .where(Visit.case_id == case.id, Visit.kind.in_(FIELD_CHECK_KINDS),
                    Measurement.kind == "noise", Measurement.source == "meter"))
    rows = db.session.execute(query).all()
    wanted = rule.get("valid_for_enforcement", False)
    fitting = [r for r in rows if r.valid_for_enforcement or not wanted]
    refs = [{"measurement_id": r.id, "visit_id": r.visit_id} for r in fitting]
    if fitting:
        return result(rule, True, f"{len(fitting)} 条声级计读数"
                       + ("可作为执法依据。" if wanted else "。"),
                       f"{len(fitting)} meter reading(s)"
                       + (" valid for enforcement." if wanted else "."), refs)
    if wanted and rows:
        return result(rule, False, "没有可作为执法依据的声级计读数。",
                       "No meter reading valid for enforcement.")
    return result(rule, False, "没有声级计读数。", "No meter reading recorded.")


def _feedback(rule: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    """The complainant told the result (答复/反馈) since the case was last reopened: a
    reopened case has a new result to tell."""
    since = max((e.seq for e in events if e.kind == "reopened"), default=0)
    told = [e for e in events if e.kind == "complainant_informed" and e.seq > since]
    if not told:
        return result(rule, False, "尚未记录答复投诉人（方式和时间）。",
                       "Telling the complainant the result (how and when) is not "
                       "recorded yet.")
    last = told[-1].data
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    at = datetime.fromisoformat(last["told_at"]).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return result(rule, True, f"已答复：{labels.label('feedback_methods', last['method'])}，"
                   f"{at}。", f"Told: {labels.label('feedback_methods', last['method'], 'en')}"
                   f", {at}.",
                   [{"seq": e.seq, "method": e.data.get("method"),
                     "told_at": e.data.get("told_at")} for e in told])


def _revisit(rule: dict[str, Any], case: Case) -> dict[str, Any]:
    now = revisit_review.state(case)
    return result(rule, now["met"], now["zh"], now["en"], now["refs"])


@hooks.approval_gate.register
def approval_gate(user: User, case: Case) -> None:
    """What approving needs beyond the transition table (a helper of the approve command):
    a reviewer who handled the case may not approve it (separation of duties), evidence
    still on its way must arrive first, and every checklist rule must be met."""
    refusal = hooks.approval_refusal(user, case)  # closure.duties: the one rule
    if refusal is not None:
        raise refusal
    pending = list(db.session.scalars(sa.select(Evidence.id).where(
        Evidence.case_id == case.id, Evidence.state == "pending").limit(20)))
    if pending:
        raise Conflict("closure.evidence_pending", "Evidence declared for this case has not "
                       "arrived yet; wait for the phone to finish sending it.",
                       extra={"evidence_ids": pending})
    unmet = [{"code": r["code"], "title": r["title"], "why": r["why"]}
             for r in evaluate(case)["rules"] if not r["met"]]
    if unmet:
        raise Invalid("closure.unmet", "Not every closure rule is met: "
                      + "; ".join(r["code"] for r in unmet) + ".", extra={"unmet": unmet})


@command
def acknowledge_flag(user: User, evidence_id: str, code: str, note: str) -> dict[str, Any]:
    """The reviewer explains an integrity flag (on the case's timeline, so the checklist
    and the audit read the same record)."""
    require_role(user, OFFICE_ROLES, "closure.forbidden",
                 "Only the office acknowledges evidence flags.")
    ev = get_evidence(user, evidence_id)
    if code not in {f["code"] for f in ev.flags or []}:
        raise Invalid("closure.no_such_flag", f"This evidence has no flag {code!r}.",
                      errors={"code": ["Not a flag of this evidence."]})
    if not note.strip():
        raise Invalid("closure.note_required", "Say why the flag does not matter.",
                      errors={"note": ["Required."]})
    case = db.session.get(Case, ev.case_id)
    lifecycle.require_open(case, "acknowledgements")  # a sealed case takes nothing more
    data = {"evidence_id": ev.id, "code": code, "note": note.strip()}
    timeline.append(case, "flag_acknowledged", actor_id=user.id, data=data)
    audit.append("evidence.flag_acknowledged", "evidence", ev.id, actor_id=user.id, data=data)
    return data
