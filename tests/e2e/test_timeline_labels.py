"""The timeline in words, in Chinese and in English: an event of every kind the server
knows (timeline.KINDS), with the data the server writes for it, shows labels and names,
never a raw key (`received_at`, `from_unit`), a raw value (`reached`, `true`) or a wrong
label (受理日期从 for a change of status, 检查类型 for who was asked)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.audit import timeline
from server.extensions import db
from server.models import Case, User
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import BAR, login

AT = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
ID = "6f1c2d3e-4b5a-4c6d-8e7f-901234567890"
SHA = "331ca0b0f4897d2b32edaeb296e62787af9814e9a22560299ddce650a170cf15"

# What the server writes for each kind (see each timeline.append), with typed texts in
# Chinese as an office types them. A kind added to timeline.KINDS needs its data here.
SAMPLES: dict[str, dict[str, Any]] = {
    "received": {"received_at": AT, "channel": "hotline_12345", "category": "noise_social",
                 "unit_id": ID, "rule": "1+3+5+7", "rule_version": 1},
    "updated": {"fields": ["received_at", "subject", "complainant_phone", "key"]},
    "complainant_revealed": {"reason": "电话回访，了解处理结果"},
    "leader_instruction": {"leader_id": ID, "leader_name": "王局长", "text": "请三日内办结",
                           "given_at": AT, "recorded_by": ID},
    "complainant_informed": {"method": "sms", "told_at": AT, "note": "已短信告知处理结果",
                             "recorded_by": ID},
    "dispatched": {"action": "dispatch", "from": "received", "unit_id": ID, "unit": "东湖街道",
                   "assignees": [{"id": ID, "name": "王建国"}]},
    "started": {"action": "start", "from": "dispatched", "note": "今晚夜查"},
    "submitted": {"action": "submit", "from": "in_progress", "verdict": "true",
                  "result": "已责令整改", "device_time": AT, "done_at": AT,
                  "received_at": AT + timedelta(hours=8), "on_time": True,
                  "device_time_clamped": "before_contact"},
    "approved": {"action": "approve", "from": "submitted", "note": "材料齐全，同意办结。"},
    "returned": {"action": "return", "from": "submitted", "reasons": ["缺少复测照片", "结论不清"]},
    "reopened": {"action": "reopen", "from": "closed", "reason": "投诉人反映仍有噪声"},
    "transferred": {"action": "transfer", "from": "dispatched",
                    "from_unit": {"id": ID, "name": "东湖街道"}, "unit_id": ID,
                    "unit": "西城街道", "reason": "属西城街道辖区",
                    "leader_released": {"id": ID, "name": "李主任"}},
    "extended": {"action": "extend", "from": "in_progress", "days": 3, "reason": "需协调业主"},
    "co_handling": {"action": "co_handle", "from": "in_progress", "unit_id": ID,
                    "unit": "西城街道", "part": "核查油烟"},
    "supervised": {"action": "supervise", "from": "in_progress", "note": "请加快办理"},
    "reminded": {"milestone": "reminder", "due_at": AT + timedelta(days=1), "late": True},
    "escalated": {"milestone": "overdue", "due_at": AT + timedelta(days=7)},
    "visit_recorded": {"visit_id": ID, "kind": "night_check", "started_at": AT,
                       "measurements": 1},
    "evidence_stored": {"evidence_id": ID, "sha256": SHA, "size": 81580, "place": "东湖公园南广场",
                        "captured_at": AT, "flags": ["no_gps", "far_from_case"]},
    "revisit_recorded": {"revisit_id": ID, "method": "phone", "outcome": "reached",
                         "satisfaction": "satisfied", "respondents": 1, "attempts": 2},
    "revisit_respondent": {"revisit_id": ID, "respondent_id": ID, "kind": "complainant",
                           "satisfaction": "dissatisfied", "overall": "dissatisfied",
                           "respondents": 2},
    "revisit_dissatisfied": {"revisit_id": ID, "method": "door", "satisfaction": "dissatisfied",
                             "dissatisfied": [{"respondent_id": ID, "kind": "resident",
                                               "answers": {"satisfaction": "dissatisfied"}}],
                             "notes": "居民反映夜间仍有噪声", "from": "closed", "review": True},
    "revisit_decision": {"revisit_id": ID, "reason": "已二次核查，噪声达标，维持办结"},
    "flag_acknowledged": {"evidence_id": ID, "code": "no_gps", "note": "室内拍摄，无GPS"},
    "sealed": {"seal_id": ID, "number": 1, "sha256": SHA, "evidence": 3},
    "repeat_linked": {"subject_id": ID, "count": 3, "listed": True,
                      "matched_by": ["address", "phone"]},
    "repeat_link_confirmed": {"subject_id": ID, "count": 3, "was": "auto"},
    "repeat_link_undone": {"subject_id": ID, "count": 2, "was": "confirmed"},
    "recheck_recorded": {"campaign_id": ID, "campaign": "2026年信访件回头看", "task_id": ID,
                         "visit_id": ID, "rebound": True, "new_problem": "新增油烟扰民",
                         "findings": "夜间仍有音响声", "check_unit": "西城街道",
                         "device_time": AT, "done_at": AT, "received_at": AT + timedelta(hours=2)},
    "plan_set": {"plan_id": ID, "task_id": ID, "due_on": "2026-12-20", "acceptance_unit_id": ID,
                 "acceptance_unit": "区生态环境局", "measures": "加装隔音设施"},
    "plan_accepted": {"plan_id": ID, "note": "整改到位，同意验收"},
    "hard_case_flagged": {"reason": "涉及多个部门，群众反映强烈", "previous": "久拖未决"},
    "hard_case_unflagged": {"reason": "已协调解决", "previous": "涉及多个部门，群众反映强烈"},
    "remediation_plan_set": {"version": 2, "approach": "约谈经营者，限期安装隔音设施",
                             "responsible": [{"id": ID, "name": "王建国"}],
                             "responsible_text": "区城管执法局", "deadline": "2027-01-31",
                             "status": "done", "closing_note": "已整改到位"},
    "leader_group_set": {"lead": {"id": ID, "name": "王局长"},
                         "members": [{"id": ID, "name": "李主任"}, {"id": ID, "name": "王建国"}],
                         "previous_lead": {"id": ID, "name": "赵主任"}},
}

# What each kind must say (a label with its value's name), in both languages.
EXPECTED = {
    "zh": {"received": ["受理时间:", "来源渠道: 12345热线", "期限规则: 1+3+5+7 第1版"],
           "submitted": ["原状态: 办理中", "核查结论: 属实", "手机办理时间", "按时"],
           "revisit_decision": ["理由: 已二次核查"],
           "transferred": ["原责任单位: 东湖街道", "责任单位: 西城街道",
                           "不再包案（非新单位领导）: 李主任"],
           "revisit_recorded": ["回访方式: 电话回访", "回访结果: 已回访"],
           "revisit_respondent": ["受访者类型: 投诉人", "总体满意度: 不满意"],
           "visit_recorded": ["检查类型: 夜查", "开始时间:"],
           "evidence_stored": ["摄影时间:", "提示: 照片无GPS、距案件地址较远"],
           "updated": ["修改内容: 受理时间、被投诉对象、投诉人电话"],
           "escalated": ["节点: 办结期限"], "reminded": ["节点: 催办", "迟发"],
           "revisit_dissatisfied": ["不满意的受访者: 居民", "退回复核: 是"],
           "leader_instruction": ["批示领导: 王局长", "批示内容: 请三日内办结", "批示时间:"],
           "complainant_informed": ["答复方式: 短信答复", "答复时间:"],
           "repeat_linked": ["累计投诉: 3", "列入重复投诉清单: 是",
                             "关联依据: 地址相同、同一来电号码"],
           "repeat_link_undone": ["原关联状态: 已确认"],
           "recheck_recorded": ["回头看: 2026年信访件回头看", "问题反弹: 是",
                                "新发现问题: 新增油烟扰民", "核查单位: 西城街道"],
           "plan_set": ["完成时限: 2026-12-20", "验收单位: 区生态环境局"],
           "hard_case_flagged": ["理由: 涉及多个部门", "原理由: 久拖未决"],
           "remediation_plan_set": ["版本: 2", "解决办法: 约谈经营者", "责任人员: 王建国",
                                    "完成时限: 2027-01-31", "状态: 已完成", "落实情况: 已整改到位"],
           "leader_group_set": ["组长（包案领导）: 王局长", "成员: 李主任、王建国",
                                "原组长: 赵主任"]},
    "en": {"received": ["Received:", "Channel:", "Deadline rule: 1+3+5+7 version 1"],
           "submitted": ["Status before: In progress", "Verdict: Substantiated"],
           "evidence_stored": ["Flags: No GPS in photo, Far from the case"],
           "transferred": ["Unit before: 东湖街道",
                           "No longer in charge (not over the new unit): 李主任"],
           "revisit_recorded": ["Outcome: Reached"],
           "revisit_respondent": ["Who: Complainant"],
           "visit_recorded": ["Kind: Night check"],
           "escalated": ["Milestone:"],
           "complainant_informed": ["How: By SMS", "Told at:"],
           "repeat_linked": ["Linked by: same address, same caller's number"],
           "recheck_recorded": ["Rebound: Yes", "Checking unit: 西城街道"],
           "remediation_plan_set": ["Approach:", "Status: Done", "Deadline: 2027-01-31"],
           "leader_group_set": ["Lead (leader in charge): 王局长", "Members: 李主任, 王建国"]},
}
RAW = re.compile(r"\b[a-z]+_[a-z_]+\b|\bevent\.|\b(true|false|null|undefined|NaN)\b")
# In Chinese, no English word but names (SHA-256, GPS, KB): a key or a value untranslated.
ENGLISH = re.compile(r"\b(?!(?:SHA|GPS|KB)\b)[A-Za-z]{2,}\b")


@pytest.fixture()
def desk(browser: Any, live: LiveServer) -> Iterator[Any]:
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900},
                                  locale="zh-CN", timezone_id="Asia/Shanghai",
                                  base_url=live.url)
    context.set_default_timeout(30000)
    yield context
    context.close()


def test_every_kind_has_sample_data() -> None:
    assert set(SAMPLES) == set(timeline.KINDS), (
        "Kinds without sample data here (add what the server writes for them, and their "
        f"words in pwa/js/i18n.js): {sorted(set(timeline.KINDS) - set(SAMPLES))}")


def _case_with_every_kind(live: LiveServer) -> str:
    with live.app.app_context():
        case = db.session.scalar(sa.select(Case).filter_by(subject=BAR))
        actor = db.session.scalar(sa.select(User.id).filter_by(username="reviewer"))
        for kind in timeline.KINDS:
            timeline.append(case, kind, actor_id=actor, data=SAMPLES.get(kind, {}))
        db.session.commit()
        case_id = case.id
        db.session.remove()
    return case_id


def _events(page: Any, case_id: str) -> dict[str, tuple[str, str]]:
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}'] #timeline")
    shown: dict[str, tuple[str, str]] = {}
    for row in page.locator("#timeline li.event").all():
        # The last event of each kind is the sample (the demo's own come first).
        # What it says: its data, then the phone's time and the clock's marks beside it.
        why = row.evaluate("(r) => [...r.querySelectorAll('.why, .phone-time, .chip')]"
                           ".map((e) => e.innerText.trim()).filter(Boolean).join(' · ')")
        shown[row.get_attribute("data-kind")] = (row.locator("b").inner_text(), why)
    return shown


def test_the_timeline_shows_every_kind_in_words(desk, live) -> None:  # type: ignore[no-untyped-def]
    case_id = _case_with_every_kind(live)
    page = desk.new_page()
    login(page, "reviewer")
    for lang in ("zh", "en"):
        page.evaluate(f"localStorage.setItem('fieldcase.lang', '{lang}')")
        page.goto("/#/cases")
        page.reload()
        shown = _events(page, case_id)
        page.locator("#timeline").screenshot(path=f"/tmp/e2e_timeline_{lang}.png")
        assert set(timeline.KINDS) <= set(shown), set(timeline.KINDS) - set(shown)
        for kind in timeline.KINDS:
            name, why = shown[kind]
            where = f"{lang} {kind}: {name} | {why}"
            assert name.strip() and not RAW.search(name) and name != "记录", where
            assert why.strip(), where
            assert not RAW.search(why), where
            if lang == "zh":
                assert not ENGLISH.search(name + " " + why), where
                assert "受理日期从" not in why, where
            else:
                labels = [part.split(":")[0] for part in why.split(" · ")]
                assert not any(re.search(r"[\u4e00-\u9fff]", label) for label in labels), where
            for fragment in EXPECTED[lang].get(kind, []):
                assert fragment in why, f"{where} lacks {fragment!r}"
        assert "检查类型" not in shown["revisit_respondent"][1]
