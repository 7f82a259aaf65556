"""A demo district for `make run`: two street units, a user of each role, a dozen cases."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.api.fieldwork.schemas import EvidenceDeclareSchema, VisitCreateSchema
from server.api.revisits.schemas import RevisitCreateSchema
from server.demo_photo import site_photo
from server.domain.accounts import auth
from server.domain.cases import cases, leaders, lifecycle
from server.domain.closure import checklist
from server.domain.core import runtime
from server.domain.fieldwork import completion, evidence, visits
from server.domain.remediation import remediation_plans
from server.domain.revisits import questionnaires, revisits
from server.extensions import db
from server.models import Case, IntakeSource, Unit, User
from server.models.base import utcnow

DEMO_PASSWORD = "fieldcase-demo"
DISTRICT = "示范区生态环境分局"
STREETS = ("东湖街道", "西城街道")

# username, role, units, display name
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("inspector", "inspector", (STREETS[0],), "王建国 (inspector)"),
    ("inspector2", "inspector", (STREETS[1],), "李明 (inspector)"),
    ("revisit", "revisit", (DISTRICT,), "赵敏 (revisit team)"),
    ("reviewer", "reviewer", (DISTRICT,), "陈静 (reviewer)"),
    ("admin", "admin", (DISTRICT,), "刘洋 (admin)"),
    ("leader", "leader", (DISTRICT,), "王局长 (leader)"),
)
# Cases the demo leader holds (包案): the key KTV case, with an instruction of theirs, and
# a street's construction site.
LEADER_CASES = (2, 9)
BAR_PLAN = {"approach": "约谈经营者限定营业时段和音量，安装限声器；"
                        "街道与派出所夜间联合巡查，每周不少于两次。",
            "responsible_text": "东湖街道城管科、东湖派出所"}
INSTRUCTION = "请东湖街道会同文化执法部门三日内现场核查，依法处理并及时答复投诉人。"

# street index, channel, category, subject, address, (lat, lon), description, hours ago,
# complainant, key
CASES = (
    (0, "hotline_12345", "noise_social", "夜色酒吧深夜噪声扰民",
     "东湖路88号夜色酒吧", (24.3265, 109.4152),
     "居民反映酒吧每晚22点后音响声音过大，持续至凌晨1点，影响休息。", 5,
     ("张先生", "13812341234"), False),
    (0, "hotline_12345", "noise_social", "金嗓子KTV午夜噪声",
     "东湖路102号金嗓子KTV", (24.3270, 109.4160),
     "KTV包房隔音差，午夜后仍有大声演唱，楼上住户无法入睡。", 30,
     ("李女士", "13900005678"), True),
    (0, "online", "cooking_fumes", "川香饭店油烟直排",
     "东湖路15号川香饭店", (24.3241, 109.4120),
     "饭店油烟未经净化直接排放，油烟飘进居民家中。", 52, ("王女士", "13711112222"), False),
    (0, "hotline_12369", "noise_construction", "地铁站工地夜间施工噪声",
     "东湖大道与滨江路交叉口工地", (24.3302, 109.4201),
     "工地夜间22点后仍使用破碎机施工，无夜间施工许可公示。", 20,
     ("陈先生", "13655556666"), False),
    (0, "inspection_batch", "noise_social", "广场舞音响扰民（督察交办第3批）",
     "东湖公园南广场", (24.3228, 109.4177),
     "每晚广场舞音响音量大，周边居民多次投诉。", 70, ("刘先生", "13533334444"), True),
    (0, "phone", "odour", "垃圾中转站异味",
     "东湖路200号垃圾中转站", (24.3311, 109.4099),
     "中转站夏季异味明显，居民要求加强除臭。", 100, None, False),
    (1, "hotline_12345", "noise_social", "星光酒吧露天音响噪声",
     "西城路36号星光酒吧", (24.3190, 109.3988),
     "酒吧在门外摆放音响招揽顾客，晚间噪声扰民。", 8, ("周女士", "18677778888"), False),
    (1, "online", "cooking_fumes", "烧烤摊油烟扰民",
     "西城路夜市45号烧烤摊", (24.3185, 109.3975),
     "夜市烧烤摊无油烟净化设施，烟气熏入临街住户。", 26, ("吴先生", "15912345678"), False),
    (1, "hotline_12345", "noise_construction", "住宅项目夜间混凝土浇筑",
     "西城路与工业路交叉口住宅工地", (24.3150, 109.3950),
     "工地凌晨仍在浇筑混凝土，泵车噪声大。", 40, ("郑女士", "13022223333"), False),
    (1, "letter", "noise_commercial", "超市门口促销喇叭噪声",
     "西城路120号惠民超市", (24.3201, 109.4010),
     "超市门口喇叭全天循环播放促销广告。", 75, ("孙先生", "13344445555"), False),
    (1, "media_monitoring", "odour", "印刷厂有机废气异味",
     "工业路8号彩印厂", (24.3120, 109.3920),
     "网络舆情反映印刷厂异味明显，疑似未开启废气处理设施。", 120, None, False),
    (1, "hotline_12345", "cooking_fumes", "餐饮综合体油烟净化器未运行",
     "西城路66号美食广场", (24.3195, 109.3999),
     "美食广场多家商户油烟净化器未正常运行，排口正对住宅。", 12,
     ("黄女士", "18899990000"), False),
)
# Earlier complaints about case 1's bar, as other callers put it (hours ago, subject,
# address, complainant): with it, the bar is complained about three times and goes on the
# repeat-complaint list (seed 002); the addresses differ in form, not in place.
EARLIER_ABOUT_BAR = (
    (150, "酒吧音响太吵，半夜睡不着", "东湖路八十八号", ("赵女士", "13612340001")),
    (78, "楼下酒吧又在放大音乐", "东湖路88号附近", ("张先生", "13812341234")),
)

# Cases already handled: case number, closed? Each was visited (with a meter reading for
# noise) and photographed on site before it was submitted; the closed ones also had their
# phone revisit and were approved by the reviewer, which sealed them. Case 10 waits for
# its revisit, so the revisit team has a call to make and the reviewer's checklist shows
# only that rule unmet.
HANDLED = ((5, True), (6, True), (10, False), (11, True))
HANDLING = {"verdict": "true", "result": "已现场核查并责令整改，复查时已整改到位。"}
# A full noise record (GB 22337-2008: meter, calibration, position, weather, background),
# valid for enforcement, as an inspection batch's noise case needs.
NOISE_RECORD = {
    "kind": "noise", "source": "meter", "position": "boundary_outdoor",
    "meter": {"model": "AWA5688", "serial": "A-001", "class": "1"},
    "calibrator": {"model": "AWA6021A", "serial": "C-17"},
    "calibration_before_db": 93.8, "calibration_after_db": 93.9,
    "weather": {"precipitation": False, "wind_ms": 1.6}, "duration_s": 1200,
}
# Per noise category: zone class, Leq, Lmax, noise type, background.
NOISE_READINGS = {
    "noise_social": ("1", 58.6, 66.0, "frequent", 49.5),
    "noise_commercial": ("2", 63.2, 71.4, "steady", 52.0),
    "noise_construction": ("2", 72.5, 84.0, "frequent", 55.0),
}


def seed_demo(*, only_if_empty: bool) -> bool:
    if only_if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Unit)):
        return False
    auth.create_unit(DISTRICT)
    for street in STREETS:
        auth.create_unit(street, parent_name=DISTRICT)
    for username, role, units, name in DEMO_USERS:
        auth.create_user(username, DEMO_PASSWORD, role, list(units), name)
    units = {u.name: u for u in db.session.scalars(sa.select(Unit))}
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    office = users["reviewer"]
    now = utcnow()
    # The platforms' sheets and pushes go to the district office until it maps their units.
    for source in db.session.scalars(sa.select(IntakeSource)):
        source.default_unit_id = units[DISTRICT].id
    bar = CASES[0]
    for n, (hours, subject, address, who) in enumerate(EARLIER_ABOUT_BAR, start=1):
        cases.create_case(office, dict(
            channel=bar[1], category=bar[2], subject=subject, address=address, lat=None,
            lon=None, description=subject, received_at=now - timedelta(hours=hours),
            unit_id=units[STREETS[bar[0]]].id, external_ref=f"DEMO-{now:%Y}-R{n:03d}",
            complainant_name=who[0], complainant_phone=who[1]))
    made = []
    for n, (street, channel, category, subject, address, (lat, lon), description, hours,
            who, key) in enumerate(CASES, start=1):
        made.append(cases.create_case(office, dict(
            channel=channel, category=category, subject=subject, address=address, lat=lat,
            lon=lon, description=description, received_at=now - timedelta(hours=hours),
            unit_id=units[STREETS[street]].id, key=key,
            external_ref=f"DEMO-{now:%Y}-{n:04d}",
            complainant_name=who[0] if who else None,
            complainant_phone=who[1] if who else None,
            leader_id=users["leader"].id if n in LEADER_CASES else None,
        )))
    leaders.add_instruction(users["leader"], made[1].id, INSTRUCTION)
    # The bar complained about three times is a hard case (seed 000): its remediation plan
    # (整治方案), without which the checklist holds its closure.
    remediation_plans.put_plan(office, made[0].id, BAR_PLAN | {
        "responsible_ids": [users["inspector"].id],
        "deadline": remediation_plans.local_today(now) + timedelta(days=20)})
    field = {units[STREETS[i]].id: users[name]
             for i, name in enumerate(("inspector", "inspector2"))}
    for n, close in HANDLED:
        case = made[n - 1]
        inspector = field[case.unit_id]
        case = lifecycle.act(office, case.id, "dispatch", case.version,
                             {"unit_id": case.unit_id, "assignee_ids": [inspector.id]})
        case = lifecycle.act(inspector, case.id, "start", case.version, {})
        _visit_with_photo(inspector, case, seed=n)
        case = lifecycle.act(inspector, case.id, "submit", case.version, HANDLING)
        if close:
            _acknowledge_flags(office, case)
            _phone_revisit(users["revisit"], case)
            # Told the result (答复), as the checklist asks of hotline, letter and visit cases.
            leaders.record_feedback(users["revisit"], case.id, "phone", utcnow(),
                                    "已电话告知投诉人处理结果。")
            case = lifecycle.act(office, case.id, "approve", case.version,
                                 {"note": "材料齐全，同意办结。"})
    return True


def _iso(at: datetime) -> str:
    return at.isoformat()


def _near(case: Case, north_m: float, east_m: float) -> tuple[float, float]:
    """A point this many metres from the case (the inspector's phone, the photo's fix)."""
    return (round(case.lat + north_m / 111_320, 6),
            round(case.lon + east_m / (111_320 * 0.911), 6))  # cos(24.3 deg) ~ 0.911


def _visit_time(received: datetime, now: datetime, tz: ZoneInfo) -> datetime:
    """When the inspector went: two hours after receipt, or the next morning at nine when
    that falls in the small hours, as long as it is well before now (the photo must be
    taken between receipt and submission, which is now)."""
    soon = received + min(timedelta(hours=2), (now - received) / 4)
    local = soon.astimezone(tz)
    if 7 <= local.hour < 22:
        return soon
    morning = local.replace(hour=9, minute=local.minute, second=0, microsecond=0)
    if morning <= local:
        morning += timedelta(days=1)
    return morning if morning < now - timedelta(hours=1) else soon


def _visit_with_photo(inspector: User, case: Case, *, seed: int) -> None:
    """The inspector's site check, some hours after receipt: a meter reading for a noise
    case, and one photo filed through the evidence pipeline (declare, bytes to the upload
    target's staging key, complete), taken during the visit, at the place, unflagged."""
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    started = _visit_time(case.received_at, utcnow(), tz)
    night = not 6 <= started.astimezone(tz).hour < 22  # GB 22337: night is 22:00-06:00
    lat, lon = _near(case, 18, -12)
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()), "kind": "night_check" if night else "site_check",
        "started_at": _iso(started),
        "ended_at": _iso(started + timedelta(minutes=40)),
        "location": {"lat": lat, "lon": lon, "accuracy_m": 8, "fixed_at": _iso(started),
                     "source": "gps"},
        "participants": ["community"],
        "findings": f"现场核查{case.address}：{case.subject}，情况属实，已当场责令整改。",
        "measurements": [],
    }
    if case.category in NOISE_READINGS:
        zone, leq, lmax, kind, background = NOISE_READINGS[case.category]
        body["measurements"].append({**NOISE_RECORD, "period": "night" if night else "day",
                                     "zone_class": zone, "value_dba": leq,
                                     "lmax_dba": lmax, "noise_type": kind,
                                     "background_dba": background})
    visit, _ = visits.record_visit(inspector, case.id, VisitCreateSchema().load(body))

    taken = started + timedelta(minutes=10)
    local = taken.astimezone(tz)
    photo = site_photo(subject=case.subject, label=case.external_ref or case.id,
                       place=case.address, taken_local=local, lat=lat, lon=lon, seed=seed)
    declared = EvidenceDeclareSchema().load({
        "client_id": str(uuid.uuid4()), "case_id": case.id, "visit_id": visit.id,
        "sha256": hashlib.sha256(photo).hexdigest(), "size": len(photo),
        "content_type": "image/jpeg", "captured_at": _iso(taken),
        "geo": {"lat": lat, "lon": lon, "accuracy_m": 8, "fixed_at": _iso(taken),
                "source": "gps"},
        "place": case.address, "caption": f"现场检查：{case.subject}",
        "device_time": _iso(utcnow()),
    })
    ev, _ = evidence.declare(inspector, declared)
    runtime.storage().put_bytes(ev.staging_key, photo, content_type="image/jpeg")
    completion.complete(inspector, ev.id)


def _acknowledge_flags(reviewer: User, case: Case) -> None:
    """The demo's photos carry no flags; should a setting (FAR_FROM_CASE_M, CLOCK_DRIFT_S)
    give them one, the reviewer acknowledges it, as the checklist asks."""
    for ev in evidence.list_for_case(reviewer, case.id):
        for flag in ev.flags or []:
            checklist.acknowledge_flag(reviewer, ev.id, flag["code"],
                                       "演示数据：照片为现场检查时拍摄，已核对。")


def _phone_revisit(revisit_user: User, case: Case) -> None:
    """The revisit team's call after submission: the complainant (or, with none on file,
    a resident next door) answers the default phone questionnaire, satisfied."""
    template = questionnaires.get("phone-revisit")
    at = _iso(utcnow())
    respondent: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "answers": {"resolved": True, "contacted": True, "satisfaction": "satisfied",
                    "comments": "整改后没有再出现问题。"}}
    if case.complainant_phone:
        respondent |= {"kind": "complainant", "name": case.complainant_name,
                       "contact": case.complainant_phone}
    else:
        respondent |= {"kind": "resident"}
    body = RevisitCreateSchema().load({
        "client_id": str(uuid.uuid4()), "method": "phone", "at": at,
        "questionnaire": {"code": template.code, "version": template.version},
        "respondents": [respondent], "attempts": [{"at": at, "outcome": "answered"}],
        "notes": "电话回访，对办理结果表示满意。", "device_time": at,
    })
    revisits.record(revisit_user, case.id, body)
