"""A demo district for `make run`: two street units, a user of each role, a dozen cases."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from server.domain import auth, cases, lifecycle
from server.extensions import db
from server.models import Unit, User
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
)

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
# Cases already handled, so the revisit team has calls to make: case number, closed?
HANDLED = ((5, True), (6, True), (10, False), (11, True))
HANDLING = {"verdict": "true", "result": "已现场核查并责令整改，复查时已整改到位。"}


def seed_demo(*, only_if_empty: bool) -> bool:
    if only_if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Unit)):
        return False
    auth.create_unit(DISTRICT)
    for street in STREETS:
        auth.create_unit(street, parent_name=DISTRICT)
    for username, role, units, name in DEMO_USERS:
        auth.create_user(username, DEMO_PASSWORD, role, list(units), name)
    units = {u.name: u for u in db.session.scalars(sa.select(Unit))}
    office = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
    now = utcnow()
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
        )))
    field = {units[STREETS[i]].id: db.session.scalar(sa.select(User).filter_by(username=name))
             for i, name in enumerate(("inspector", "inspector2"))}
    for n, close in HANDLED:
        case = made[n - 1]
        steps = [(office, "dispatch", {"unit_id": case.unit_id}),
                 (field[case.unit_id], "start", {}), (field[case.unit_id], "submit", HANDLING)]
        for user, action, params in steps + ([(office, "approve", {})] if close else []):
            case = lifecycle.act(user, case.id, action, case.version, params)
    return True
