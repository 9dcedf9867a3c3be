"""A company's worth of data: 50 estates, 100,000 households, N repair orders over two years.

`python -m bench generate --orders N [--url URL]` builds the database from nothing (schema from the
models, the handbook roles, logins for every clerk and repair worker), then loads:

- 50 estates (40 住宅小区 of 2,000 households in 20 buildings, 10 商业大厦 in 10 towers), one owner
  per unit, 4 repair sections per estate plus the company departments, ~1,150 staff with logins;
- N orders recorded over the last 24 months (summer peak for 空调/渗漏水, office hours), numbered
  per period; old orders closed, recent ones spread over the open states, some late; each with its
  event log, assignment, materials (a third of the finished ones), revisits, the paid ones billed
  on monthly payment requests (most paid) up to the last billing day;
- complaints (3 % of N) with their revisits;
- the month now open for billing: every household has an owner-signed charge (车辆保管 or 家政保洁,
  plus its paid repairs), so `payment_requests` has 100,000 households to bill.

Everything goes in with bulk inserts (executemany on SQLite, COPY on PostgreSQL), secondary
indexes are built once afterwards and the planner statistics refreshed.
"""

from __future__ import annotations

import calendar
import json
import logging
import math
import random
import time
from bisect import bisect_right
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from bench.bulk import Loader, create_indexes, drop_indexes, reset_sequences

logger = logging.getLogger(__name__)

GENERATOR_VERSION = 5  # 5: the security stamp table
ESTATES = 50
HOUSEHOLDS = 100_000
SPAN_DAYS = 730
CHUNK = 50_000
PASSWORD = "Bench2026pw"
CLERK = "bench_clerk"
ADMIN = "bench_admin"
LOCAL = timedelta(hours=8)  # Asia/Shanghai has no daylight saving: local = UTC + 8 h

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉玲建国林斌宇浩凯文博子轩欣怡婷雪梅志红飞鑫波丹俊峰"
ESTATE_NAMES = (
    "翠湖", "锦绣", "碧水", "阳光", "金色", "绿城", "紫荆", "华庭", "御景", "滨江", "枫林", "兰亭", "东方", "世纪", "海棠",
    "明珠", "龙湾", "星河", "万科", "香榭", "春晓", "云山", "瑞景", "丽都", "天悦", "银杏", "梧桐", "和谐", "新城", "嘉园",
    "盛世", "恒安", "长乐", "青松", "望湖", "桃源", "凤凰", "锦江", "花溪", "玉泉",
)
TOWER_NAMES = ("国贸", "环球", "中信", "金融", "财富", "汇丰", "嘉里", "信达", "招商", "世贸")

CATEGORIES = [
    ("plumbing_electric", 35), ("doors_windows", 12), ("leak", 10), ("civil", 10), ("air_conditioning", 10),
    ("appliance", 8), ("elevator", 5), ("safety", 4), ("other", 6),
]
SECTIONS = [("水电处", ("plumbing_electric", "appliance", "safety")), ("空调处", ("air_conditioning",)),
            ("电梯处", ("elevator",)), ("土建处", ("civil", "doors_windows", "leak", "other"))]
PROBLEMS = {
    "plumbing_electric": ["卫生间水龙头漏水", "厨房下水道堵塞", "客厅插座没电", "热水器不出热水", "马桶水箱不停流水", "灯具不亮需更换"],
    "doors_windows": ["入户门锁芯卡住", "窗户把手松动", "阳台推拉门滑轮损坏", "纱窗破损需更换"],
    "leak": ["天花板渗水", "外墙渗水至卧室", "楼上卫生间漏水到本户", "窗台雨天渗水"],
    "civil": ["地砖空鼓开裂", "墙面瓷砖脱落", "楼道墙皮脱落", "阳台栏杆锈蚀"],
    "air_conditioning": ["空调不制冷", "空调漏水", "空调外机噪音大", "中央空调出风口滴水"],
    "appliance": ["抽油烟机不转", "燃气灶打不着火", "洗衣机排水故障"],
    "elevator": ["电梯按钮失灵", "电梯运行异响", "电梯门关不上", "电梯困人"],
    "safety": ["楼道消防栓玻璃破损", "应急灯不亮", "单元门禁失灵"],
    "other": ["信报箱损坏", "晾衣架需安装", "室内家具安装"],
}
EMERGENCY_REASON = {"elevator": "elevator", "leak": "flood_fire_crime", "plumbing_electric": "water", "safety": "other_danger"}
MATERIALS = [("水龙头", "DN15"), ("PPR 管", "20mm"), ("角阀", "DN15"), ("空气开关", "C16"), ("LED 灯管", "18W"), ("锁芯", "C 级"),
             ("玻璃胶", "300ml"), ("防水涂料", "5kg"), ("冷媒", "R410A"), ("排水管", "PVC 50"), ("插座", "五孔"), ("合页", "4 寸")]
STAGES = ["registered", "dispatched", "accepted", "in_progress", "awaiting_acceptance", "completed", "returned", "revisited", "closed"]
# Final status by the age of the order (days): old orders are closed, recent ones still moving.
STATUS_BY_AGE = [
    (3, [("registered", 6), ("dispatched", 12), ("accepted", 12), ("in_progress", 22), ("awaiting_acceptance", 10), ("completed", 10),
         ("returned", 12), ("revisited", 3), ("closed", 3), ("cancelled", 5), ("reject_pending", 3), ("rectifying", 2)]),
    (14, [("dispatched", 1), ("accepted", 1), ("in_progress", 6), ("awaiting_acceptance", 3), ("completed", 6), ("returned", 24),
          ("revisited", 20), ("closed", 28), ("cancelled", 5), ("reject_pending", 1), ("rejected", 2), ("rectifying", 3)]),
    (45, [("in_progress", 1), ("completed", 1), ("returned", 5), ("revisited", 8), ("closed", 76), ("cancelled", 5), ("rejected", 2),
          ("rectifying", 2)]),
    (10**6, [("closed", 91), ("revisited", 1), ("cancelled", 5), ("rejected", 3)]),
]


def weighted(rng: random.Random, table):
    total = sum(w for _, w in table)
    cum, acc = [], 0
    for _, w in table:
        acc += w
        cum.append(acc / total)
    values = [v for v, _ in table]

    def pick():
        return values[bisect_right(cum, rng.random())]

    return pick


def period_of_local(local_dt: datetime) -> str:
    """维修单 一.7 on a local (Asia/Shanghai) time: the last 2 days of a month belong to the next."""
    last = calendar.monthrange(local_dt.year, local_dt.month)[1]
    year, month = local_dt.year, local_dt.month
    if local_dt.day > last - 2:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def calendar_period(local_dt: datetime) -> str:
    return f"{local_dt.year:04d}-{local_dt.month:02d}"


def shift(period: str, months: int) -> str:
    y, m = int(period[:4]), int(period[5:])
    i = y * 12 + m - 1 + months
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def next_billing_day(now: datetime) -> datetime:
    """The next 15th, 08:00 Asia/Shanghai, after `now` (naive UTC in and out)."""
    local = now + LOCAL
    candidate = datetime(local.year, local.month, 15, 8, 0)
    if candidate <= local:
        y, m = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        candidate = datetime(y, m, 15, 8, 0)
    return candidate - LOCAL


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def phone(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


# ---------------------------------------------------------------- the database
def reset_schema(app) -> None:
    """An empty database with every table of the models and the handbook roles."""
    from app.extensions import db
    from app.roles import sync_roles

    engine = db.engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        db.drop_all()
    db.create_all()
    sync_roles(app.appbuilder)
    db.session.commit()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_meta (key VARCHAR(40) PRIMARY KEY, value TEXT NOT NULL)"))


def read_meta(engine) -> dict | None:
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, value FROM bench_meta")).all()
    except Exception:  # noqa: BLE001 - no such table: not a benchmark database (yet)
        return None
    return {k: json.loads(v) for k, v in rows} or None


def write_meta(engine, meta: dict) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM bench_meta"))
        for key, value in meta.items():
            conn.execute(text("INSERT INTO bench_meta (key, value) VALUES (:k, :v)"), {"k": key, "v": json.dumps(value)})


# ---------------------------------------------------------------- the generator
class Generator:
    def __init__(self, app, orders: int, seed: int = 2026, now: datetime | None = None, households: int = HOUSEHOLDS,
                 estates: int = ESTATES):
        from app.extensions import db

        self.households = households
        self.estates = estates
        self.commercial = estates // 5

        self.app = app
        self.db = db
        self.engine = db.engine
        self.tables = db.metadata.tables
        self.n_orders = orders
        self.rng = random.Random(seed)
        self.now = (now or datetime.utcnow()).replace(second=0, microsecond=0, tzinfo=None)  # noqa: DTZ003
        self.bill_at = next_billing_day(self.now)
        self.open_period = shift(calendar_period(self.bill_at + LOCAL), -1)
        self.timings: dict[str, float] = {}

    def run(self) -> dict:
        started = time.perf_counter()
        reset_schema(self.app)
        big = [self.tables[t] for t in ("repair_order", "event", "repair_material", "repair_assignment", "revisit", "complaint",
                                          "payment_request", "payment_request_line", "payment", "unit", "owner", "service_delivery")]
        dropped = drop_indexes(self.engine, big)
        self.loader = Loader(self.engine)
        self._step("master data", self.master_data)
        self._step("staff and logins", self.staff)
        self._step("orders", self.orders)
        self._step("complaints", self.complaints)
        self._step("payment requests", self.payment_requests)
        self._step("open billing month", self.open_month)
        self.loader.close()
        self._step("indexes", lambda: create_indexes(self.engine, dropped))
        reset_sequences(self.engine, self.tables.values())
        self._step("statistics", self.analyze)
        meta = {
            "generator": GENERATOR_VERSION,
            "orders": self.n_orders,
            "households": self.households,
            "estates": self.estates,
            "now": self.now.isoformat(),
            "bill_at": self.bill_at.isoformat(),
            "open_period": self.open_period,
            "rows": self.loader.counts,
            "seconds": round(time.perf_counter() - started, 1),
            "steps": {k: round(v, 1) for k, v in self.timings.items()},
            "clerk_estate": 1,
        }
        write_meta(self.engine, meta)
        return meta

    def _step(self, name, fn):
        t = time.perf_counter()
        fn()
        if name not in ("indexes", "statistics"):
            self.loader.commit()
        self.timings[name] = time.perf_counter() - t
        logger.info("%s: %.1f s", name, self.timings[name])

    def analyze(self):
        """Planner statistics; on PostgreSQL also the visibility map (what autovacuum does soon after
        a load), without which an index-only scan still reads the table."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE)"))
        else:
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))

    # ------------------------------------------------------------ master data
    def master_data(self):
        rng, T, load = self.rng, self.tables, self.loader.load
        estates, buildings, units, owners = [], [], [], []
        self.estate_kind = {}
        self.units = []  # (unit_id, estate_id, building_name, room)
        per_estate = self.households // self.estates
        bid = uid = 0
        for e in range(1, self.estates + 1):
            commercial = e > self.estates - self.commercial
            kind = "commercial" if commercial else "residential"
            name = f"{TOWER_NAMES[e - self.estates + self.commercial - 1]}大厦" if commercial else f"{ESTATE_NAMES[e - 1]}小区"
            estates.append((e, name, kind, f"{name}路 {e} 号", per_estate, f"021-6{e:03d}1234", f"021-6{e:03d}5678"))
            self.estate_kind[e] = kind
            n_buildings, floors = (max(1, min(10, per_estate // 200)), 20) if commercial else (max(1, min(20, per_estate // 100)), 25)
            per_building = per_estate // n_buildings
            floors = min(floors, per_building)
            for b in range(1, n_buildings + 1):
                bid += 1
                bname = f"{b}座" if commercial else f"{b}号楼"
                buildings.append((bid, e, bname, floors))
                for k in range(per_building):
                    uid += 1
                    floor, door = divmod(k, per_building // floors)
                    room = f"{floor + 1}{door + 1:02d}"
                    units.append((uid, e, bid, room, Decimal(rng.choice((68, 89, 96, 120, 143, 180)))))
                    self.units.append((uid, e, bname, room))
                    company = f"{rng.choice(('华信', '嘉禾', '远航', '中科', '联创'))}{rng.choice(('科技', '贸易', '咨询'))}有限公司" if commercial else None
                    owners.append((uid, e, uid, person_name(rng), phone(rng), "owner" if rng.random() < 0.85 else "tenant", company))
        load(T["estate"], ("id", "name", "kind", "address", "households", "complaint_phone_day", "complaint_phone_night"), estates)
        load(T["building"], ("id", "estate_id", "name", "floors"), buildings)
        load(T["unit"], ("id", "estate_id", "building_id", "room", "area"), units)
        load(T["owner"], ("id", "estate_id", "unit_id", "name", "phone", "kind", "company"), owners)
        self.owner_name = {o[0]: o[3] for o in owners}
        self.owner_phone = {o[0]: o[4] for o in owners}

    # ------------------------------------------------------------ departments, staff, logins
    def staff(self):
        from flask_appbuilder.security.sqla.models import Role
        from werkzeug.security import generate_password_hash

        rng, T, load = self.rng, self.tables, self.loader.load
        session = self.db.session
        roles = {r.name: r.id for r in session.query(Role)}
        pw_hash = generate_password_hash(PASSWORD, method=self.app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"))
        depts, staff, users, user_roles, staff_estates = [], [], [], [], []
        self.section_of = {}  # (estate, category) -> department id
        self.workers = {}  # department id -> [(staff id, user id)]
        self.head_of = {}  # department id -> (staff id, user id)
        self.clerks = {}  # estate -> [user ids]
        self.duty = {}  # estate -> user id
        did = sid = uid = 0
        ur_id = 0

        def person(role: str, dept: int | None, estates: tuple, username: str, position: str) -> tuple[int, int]:
            nonlocal sid, uid, ur_id
            sid += 1
            uid += 1
            ur_id += 1
            name = person_name(rng)
            users.append((uid, name[1:] or name, name[0], username, pw_hash, True, f"{username}@bench.example.com",
                          self.now, self.now, 0, 0))
            user_roles.append((ur_id, uid, roles[role]))
            staff.append((sid, name, phone(rng), uid, dept, position, True))
            for e in estates:
                staff_estates.append((sid, e))
            return sid, uid

        company = {}
        for kind, name in (("service", "业户服务部"), ("duty", "总值班室"), ("engineering", "工程部"), ("supply", "供应处"), ("finance", "财务部")):
            did += 1
            depts.append((did, name, kind, None))
            company[kind] = did
        for e in range(1, self.estates + 1):
            for section, categories in SECTIONS:
                did += 1
                depts.append((did, f"{section}·{e:02d}", "section", e))
                for c in categories:
                    self.section_of[(e, c)] = did
        load(T["department"], ("id", "name", "kind", "estate_id"), depts)
        person("系统管理员", None, (), ADMIN, "系统管理员")
        person("公司经理", None, (), "bench_manager", "公司经理")
        person("工程部经理", company["engineering"], (), "bench_engineering", "工程部经理")
        person("大厦管理部经理", None, (), "bench_towers", "大厦管理部经理")
        person("财务内勤", company["finance"], (), "bench_finance", "财务内勤")
        person("采购员", company["supply"], (), "bench_buyer", "采购员")
        for e in range(1, self.estates + 1):
            self.clerks[e] = [person("接待员", company["service"], (e,), CLERK if e == 1 and i == 0 else f"clerk{e:02d}{i}", "接待员")[1]
                              for i in range(2)]
            self.duty[e] = person("总值班员", company["duty"], (e,), f"duty{e:02d}", "总值班员")[1]
            for _section, categories in SECTIONS:
                dept = self.section_of[(e, categories[0])]
                self.head_of[dept] = person("处主任", dept, (e,), f"head{dept:03d}", "处主任")
                self.workers[dept] = [person("维修人员", dept, (e,), f"w{dept:03d}{i}", "维修工") for i in range(4)]
        load(T["ab_user"], ("id", "first_name", "last_name", "username", "password", "active", "email", "created_on", "changed_on",
                            "login_count", "fail_login_count"), users)
        load(T["ab_user_role"], ("id", "user_id", "role_id"), user_roles)
        load(T["staff"], ("id", "name", "phone", "user_id", "department_id", "position", "active"), staff)
        load(T["staff_estate"], ("staff_id", "estate_id"), staff_estates)
        self.loader.commit()
        with self.engine.begin() as conn:
            for dept, (head, _user) in self.head_of.items():
                conn.execute(text("UPDATE department SET head_id = :h WHERE id = :d"), {"h": head, "d": dept})

    # ------------------------------------------------------------ orders
    def _times(self) -> list[datetime]:
        """Recording times over the span: a summer peak, office hours, sorted."""
        rng = self.rng
        start = self.now - timedelta(days=SPAN_DAYS)
        out = []
        while len(out) < self.n_orders:
            day = rng.random() * SPAN_DAYS
            moment = start + timedelta(days=day)
            local = moment + LOCAL
            season = 1 + 0.22 * math.cos(2 * math.pi * (local.timetuple().tm_yday - 200) / 365)
            growth = 0.85 + 0.3 * day / SPAN_DAYS
            if rng.random() * 1.5 > season * growth:
                continue
            hour = rng.choice((8, 9, 9, 10, 10, 10, 11, 11, 13, 14, 14, 15, 15, 16, 16, 17, 18, 19, 20, 21, 22, 7, 2))
            local = local.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0)
            moment = local - LOCAL
            if moment < self.now:
                out.append(moment)
        out.sort()
        return out

    def orders(self):
        rng, T, load = self.rng, self.tables, self.loader.load
        times = self._times()
        pick_cat = weighted(rng, CATEGORIES)
        pick_source = weighted(rng, [("hotline", 55), ("window", 25), ("visit", 8), ("patrol", 8), ("complaint", 4)])
        pickers = [(limit, weighted(rng, table)) for limit, table in STATUS_BY_AGE]
        seq: dict[str, int] = {}
        self.billable = []  # paid, owner-signed orders: (id, unit, owner, estate, period, total, signed_at, number, problem, detail)
        self.orders_by_period: dict[str, int] = {}
        order_cols = (
            "id", "number", "period", "status", "source", "kind", "category", "urgency", "emergency_reason", "paid", "estate_id",
            "unit_id", "owner_id", "contact_name", "contact_phone", "location", "problem", "recorded_at", "recorded_by_id",
            "backdated", "department_id", "assignee_id", "dispatched_at", "dispatched_by_id", "picked_up_at", "picked_up_by_id",
            "transfer_count", "pickup_due_at", "return_due_at", "material_due_at", "paused_seconds", "material_reported_late",
            "quoted_amount", "owner_consent", "consent_at", "started_at", "completed_at", "work_hours", "cause", "service_fee",
            "material_total", "total", "owner_signed_by", "owner_signed_at", "satisfied", "returned_at", "returned_by_id",
            "revisited_at", "rectify_count", "rectify_notice", "rectify_noticed_at", "closed_at", "reject_reason",
            "reject_from_status", "reject_requested_at", "reject_decided_at", "reject_decided_by_id", "cancel_reason",
            "cancelled_at", "urge_count", "last_urged_at", "created_on", "changed_on", "created_by_fk", "changed_by_fk", "version",
        )
        event_cols = ("object_type", "object_id", "transition", "from_status", "to_status", "note", "user_id", "at")
        material_cols = ("repair_order_id", "round", "name", "provider", "spec", "quantity", "unit_price", "amount")
        assign_cols = ("repair_order_id", "staff_id", "department_id", "started_at", "ended_at", "end_reason")
        revisit_cols = ("estate_id", "object_type", "object_id", "repair_order_id", "round", "kind", "status", "not_before", "due_at",
                        "subject", "contact_name", "contact_phone", "done_at", "method", "satisfaction", "problem", "visited_by_id",
                        "recorded_by_id", "created_on", "changed_on", "version")
        for start in range(0, len(times), CHUNK):
            rows, events, materials, assigns, revisits = [], [], [], [], []
            for i in range(start, min(start + CHUNK, len(times))):
                self._order(i + 1, times[i], rng, pick_cat, pick_source, pickers, seq, rows, events, materials, assigns, revisits)
            load(T["repair_order"], order_cols, rows)
            load(T["event"], event_cols, events)
            load(T["repair_material"], material_cols, materials)
            load(T["repair_assignment"], assign_cols, assigns)
            load(T["revisit"], revisit_cols, revisits)
            self.loader.commit()
        load(T["doc_counter"], ("key", "last"), [("WX-" + p.replace("-", ""), n) for p, n in sorted(seq.items())])
        self.orders_by_period = dict(seq)

    def _order(self, oid, rec, rng, pick_cat, pick_source, pickers, seq, rows, events, materials, assigns, revisits):
        now = self.now
        age = (now - rec).total_seconds() / 86400
        status = next(p for limit, p in pickers if age < limit)()
        unit_id, estate, building, room = self.units[rng.randrange(len(self.units))]
        public = rng.random() < 0.08
        category = pick_cat()
        emergency = rng.random() < 0.05 and category in EMERGENCY_REASON
        kind = "service" if rng.random() < 0.1 else "repair"
        paid = (not public) and rng.random() < 0.3
        period = period_of_local(rec + LOCAL)
        seq[period] = seq.get(period, 0) + 1
        number = f"WX-{period.replace('-', '')}-{seq[period]:04d}"
        problem = rng.choice(PROBLEMS[category])
        dept = self.section_of[(estate, category)]
        worker, worker_user = rng.choice(self.workers[dept])
        head, head_user = self.head_of[dept]
        clerk = rng.choice(self.clerks[estate])
        duty = self.duty[estate]
        owner_id = None if public else unit_id
        row = dict.fromkeys(("dispatched_at", "picked_up_at", "started_at", "completed_at", "returned_at", "revisited_at",
                             "closed_at", "owner_signed_at", "pickup_due_at", "return_due_at", "material_due_at"))
        ev = [("register", None, "registered", clerk, rec)]

        def clamp(prev: datetime, moment: datetime) -> datetime:
            return moment if moment < now else prev + (now - prev) * rng.uniform(0.2, 0.9)

        def stage_times(upto: int):
            t = rec
            if upto >= 1:
                t = clamp(t, t + timedelta(minutes=rng.uniform(2, 10) if emergency else rng.uniform(5, 120)))
                row["dispatched_at"] = t
                row["pickup_due_at"] = t + timedelta(hours=2)
                row["return_due_at"] = t + timedelta(days=3)
                ev.append(("dispatch", "registered", "dispatched", duty, t))
            if upto >= 2:
                late = rng.random() < 0.06
                t = clamp(t, t + timedelta(minutes=rng.uniform(130, 400) if late else rng.uniform(5, 110)))
                row["picked_up_at"] = t
                row["material_due_at"] = t + timedelta(days=3)
                ev.append(("accept", "dispatched", "accepted", head_user, t))
            if upto >= 3:
                t = clamp(t, t + timedelta(hours=rng.uniform(0.3, 30)))
                row["started_at"] = t
                ev.append(("start", "accepted", "in_progress", worker_user, t))
            if upto >= 4:
                t = clamp(t, t + timedelta(hours=rng.uniform(0.5, 6) if rng.random() < 0.93 else rng.uniform(30, 120)))
                row["completed_at"] = t
                ev.append(("complete", "in_progress", "awaiting_acceptance", worker_user, t))
            if upto >= 5:
                t = clamp(t, t + timedelta(minutes=rng.uniform(1, 30)))
                row["owner_signed_at"] = t
                ev.append(("sign_off", "awaiting_acceptance", "completed", worker_user, t))
            if upto >= 6:
                t = clamp(t, t + timedelta(days=rng.uniform(0.1, 2.2) if rng.random() < 0.94 else rng.uniform(2.5, 6)))
                row["returned_at"] = t
                ev.append(("return", "completed", "returned", duty, t))
            if upto >= 7:
                t = clamp(t, t + timedelta(days=rng.uniform(0.3, 6)))
                row["revisited_at"] = t
                ev.append(("revisit_done", "returned", "revisited", clerk, t))
            if upto >= 8:
                t = clamp(t, t + timedelta(days=rng.uniform(0, 3)))
                row["closed_at"] = t
                ev.append(("close", "revisited", "closed", clerk, t))
            return t

        reject = cancel = None
        if status in STAGES:
            last = stage_times(STAGES.index(status))
        elif status == "rectifying":
            last = stage_times(7)
            last = clamp(last, last + timedelta(hours=rng.uniform(1, 10)))
            ev.append(("rectify", "revisited", "rectifying", clerk, last))
        elif status in ("reject_pending", "rejected"):
            upto = rng.choice((1, 2))
            last = stage_times(upto)
            last = clamp(last, last + timedelta(hours=rng.uniform(0.5, 8)))
            reject = (STAGES[upto], last)
            ev.append(("reject", STAGES[upto], "reject_pending", head_user, last))
            if status == "rejected":
                last = clamp(last, last + timedelta(hours=rng.uniform(2, 30)))
                ev.append(("approve_reject", "reject_pending", "rejected", None, last))
        else:  # cancelled
            upto = rng.choice((0, 0, 1))
            last = stage_times(upto)
            last = clamp(last, last + timedelta(hours=rng.uniform(0.2, 20)))
            cancel = last
            ev.append(("cancel", STAGES[upto], "cancelled", clerk, last))
        urge = 0
        if rng.random() < 0.04 and row["dispatched_at"] is not None:
            urge = 1
            ev.append(("urge", ev[1][2], ev[1][2], clerk, row["dispatched_at"] + (min(last, now) - row["dispatched_at"]) / 2))

        service_fee = Decimal(rng.choice((20, 30, 50, 80, 120, 200))) if paid and row["completed_at"] else Decimal("0.00")
        material_total = Decimal("0.00")
        if row["completed_at"] is not None and rng.random() < 0.35:
            for _ in range(rng.choice((1, 1, 2, 3))):
                name, spec = rng.choice(MATERIALS)
                qty = Decimal(rng.choice((1, 1, 2, 3)))
                price = Decimal(rng.choice((8, 15, 25, 38, 60, 120)))
                provider = "company" if rng.random() < 0.7 else "owner"
                amount = qty * price
                if provider == "company":
                    material_total += amount
                materials.append((oid, 1, name, provider, spec, qty, price, amount))
        total = service_fee + material_total
        dispatched = row["dispatched_at"] is not None
        assigned = row["picked_up_at"] is not None or (dispatched and emergency)
        if assigned:
            ended = None
            reason = None
            if status in ("rejected", "cancelled"):
                ended, reason = last, status
            assigns.append((oid, worker, dept, row["picked_up_at"] or row["dispatched_at"], ended, reason))
        if row["completed_at"] is not None and status not in ("awaiting_acceptance",):
            done = status in ("revisited", "closed", "rectifying")
            comp = row["completed_at"]
            due = comp + timedelta(days=1 if emergency else 3 if category == "leak" else 2 if category == "safety" else 7)
            satisfaction = rng.choice(("satisfied",) * 17 + ("basically_satisfied",) * 2 + ("dissatisfied",)) if done else None
            done_at = row["revisited_at"] if done else None
            subject = f"{number} {problem}"[:200]
            revisits.append((estate, "repair_order", oid, oid, 1, "R1", "done" if done else "pending", comp, due, subject,
                             self.owner_name.get(owner_id), self.owner_phone.get(owner_id), done_at, "phone" if done else None,
                             satisfaction, "维修后仍有问题" if status == "rectifying" else None, None, clerk if done else None,
                             comp, done_at or comp, 1))
            if emergency:
                r2_done = done and done_at is not None and done_at > comp + timedelta(days=2)
                revisits.append((estate, "repair_order", oid, oid, 2, "R2", "done" if r2_done else "pending", comp + timedelta(days=2),
                                 comp + timedelta(days=3), subject, self.owner_name.get(owner_id), self.owner_phone.get(owner_id),
                                 done_at if r2_done else None, "visit" if r2_done else None, "satisfied" if r2_done else None,
                                 None, None, clerk if r2_done else None, comp, done_at or comp, 1))
        signed = row["owner_signed_at"]
        if paid and signed is not None and total > 0 and status not in ("cancelled", "rejected", "reject_pending"):
            self.billable.append((oid, unit_id, owner_id, estate, period, total, signed, number, problem))
        for transition, frm, to, user, at in ev:
            events.append(("repair_order", oid, transition, frm, to, None, user, at))
        changed = max(at for *_x, at in ev)
        rows.append((
            oid, number, period, status, pick_source(), kind, category, "emergency" if emergency else "normal",
            EMERGENCY_REASON[category] if emergency else None, paid, estate, None if public else unit_id, owner_id,
            None, self.owner_phone.get(owner_id) or phone(rng), f"{building} 楼道" if public else None, problem, rec, clerk,
            False, dept if dispatched else None, worker if assigned else None, row["dispatched_at"], duty if dispatched else None,
            row["picked_up_at"], head_user if row["picked_up_at"] else None, 0, row["pickup_due_at"], row["return_due_at"],
            row["material_due_at"], 0, False, service_fee if paid and row["started_at"] else None, bool(paid and row["started_at"]),
            row["started_at"] if paid else None, row["started_at"], row["completed_at"],
            Decimal(rng.choice((1, 1.5, 2, 3, 4))) if row["completed_at"] else None, "自然老化" if row["completed_at"] else None,
            service_fee, material_total, total, self.owner_name.get(owner_id, "物业") if signed else None, signed,
            (rng.random() < 0.97) if signed else None, row["returned_at"], duty if row["returned_at"] else None, row["revisited_at"],
            1 if status == "rectifying" else 0, "请于 12 小时内整改" if status == "rectifying" else None,
            last if status == "rectifying" else None, row["closed_at"], "非本处维修范围" if reject else None,
            reject[0] if reject else None, reject[1] if reject else None, last if status == "rejected" else None,
            None, "业主自行解决" if cancel else None, cancel, urge, None, rec, changed, None, None, len(ev),
        ))

    # ------------------------------------------------------------ complaints
    def complaints(self):
        rng, T, load = self.rng, self.tables, self.loader.load
        n = max(1, self.n_orders * 3 // 100)
        start = self.now - timedelta(days=SPAN_DAYS)
        times = sorted(start + timedelta(seconds=rng.random() * SPAN_DAYS * 86400) for _ in range(n))
        seq: dict[str, int] = {}
        rows, events, revisits = [], [], []
        cats = ["repair", "service", "attitude", "security", "cleaning", "environment", "fee", "parking", "noise"]
        for cid, received in enumerate(times, 1):
            unit_id, estate, _b, _r = self.units[rng.randrange(len(self.units))]
            month = calendar_period(received + LOCAL).replace("-", "")
            seq[month] = seq.get(month, 0) + 1
            age = (self.now - received).days
            status = "closed" if age > 20 else rng.choice(("received", "processing", "replied", "revisited", "closed"))
            replied = received + timedelta(hours=rng.uniform(1, 30)) if status != "received" else None
            replied = replied if replied is None or replied < self.now else None
            closed = replied + timedelta(days=rng.uniform(1, 5)) if status == "closed" and replied else None
            closed = closed if closed is None or closed < self.now else None
            status = "closed" if closed else ("replied" if replied and status == "closed" else status)
            status = "received" if replied is None and status != "received" else status
            clerk = self.clerks[estate][0]
            rows.append((cid, f"TS-{month}-{seq[month]:04d}", received, rng.choice(("phone", "visit", "letter", "owner_visit")),
                         rng.choice(cats), estate, unit_id, unit_id, self.owner_name[unit_id], self.owner_phone[unit_id],
                         "对物业服务不满意,要求尽快处理", status, received + timedelta(hours=24), "已安排处理并答复业主" if replied else None,
                         replied, clerk if replied else None, (rng.random() < 0.4) if closed else None,
                         "satisfied" if closed else None, closed, received, closed or replied or received, 1))
            events.append(("complaint", cid, "register", None, "received", None, clerk, received))
            if replied:
                events.append(("complaint", cid, "reply", "received", "replied", None, clerk, replied))
            if closed:
                events.append(("complaint", cid, "close", "revisited", "closed", None, clerk, closed))
                revisits.append((estate, "complaint", cid, None, cid, 1, "R1", "done", replied, replied + timedelta(days=3),
                                 f"TS-{month}-{seq[month]:04d}", self.owner_name[unit_id], self.owner_phone[unit_id], closed,
                                 "phone", "satisfied", None, clerk, replied, closed, 1))
        load(T["complaint"], ("id", "number", "received_at", "channel", "category", "estate_id", "unit_id", "owner_id", "complainant",
                              "phone", "content", "status", "reply_due_at", "reply", "replied_at", "replied_by_id", "valid",
                              "satisfaction", "closed_at", "created_on", "changed_on", "version"), rows)
        load(T["event"], ("object_type", "object_id", "transition", "from_status", "to_status", "note", "user_id", "at"), events)
        load(T["revisit"], ("estate_id", "object_type", "object_id", "repair_order_id", "complaint_id", "round", "kind", "status",
                            "not_before", "due_at", "subject", "contact_name", "contact_phone", "done_at", "method", "satisfaction",
                            "problem", "recorded_by_id", "created_on", "changed_on", "version"), revisits)

    # ------------------------------------------------------------ billing history
    def payment_requests(self):
        """Requests for every billed month (up to the last billing day), most of them paid."""
        rng, T, load = self.rng, self.tables, self.loader.load
        last_billed = shift(self.open_period, -1)
        groups: dict[tuple[int, str], list] = {}
        for charge in self.billable:
            # billed on the first billing day after both its period and the owner's signature
            billed = max(charge[4], calendar_period(charge[6] + LOCAL))
            if billed <= last_billed:
                groups.setdefault((charge[1], billed), []).append(charge)
        requests, lines, payments = [], [], []
        seq: dict[str, int] = {}
        rid = 0
        for (unit_id, period), charges in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            rid += 1
            seq[period] = seq.get(period, 0) + 1
            y, m = int(period[:4]), int(period[5:])
            y2, m2 = (y + 1, 1) if m == 12 else (y, m + 1)
            issued_on = date(y2, m2, 15)
            due_on = date(y2, m2, 20)
            total = sum((c[5] for c in charges), Decimal("0.00"))
            settled = rng.random()
            status, paid = ("paid", total) if settled < 0.93 else ("partly_paid", (total / 2).quantize(Decimal("0.01"))) if settled < 0.96 else ("overdue", Decimal("0.00"))
            issued_at = datetime(y2, m2, 15, 0, 0)
            requests.append((rid, f"FK-{period.replace('-', '')}-{seq[period]:04d}", charges[0][3], unit_id, charges[0][2], period,
                             issued_on, due_on, issued_at, total, paid, status, issued_at, issued_at, 1))
            for c in charges:
                lines.append((rid, c[3], "repair_order", c[0], c[4], (c[6] + LOCAL).date(), f"有偿维修 {c[7]} {c[8]}"[:200], None, c[5]))
            if paid > 0:
                paid_at = issued_at + timedelta(days=rng.uniform(0.5, 5))
                payments.append((rid, charges[0][3], paid, rng.choice(("cash", "transfer", "wechat", "alipay")), f"SJ{rid:08d}",
                                 paid_at, "registered", paid_at, paid_at, 1))
        load(T["payment_request"], ("id", "number", "estate_id", "unit_id", "owner_id", "period", "issued_on", "due_on", "issued_at",
                                    "total", "paid_amount", "status", "created_on", "changed_on", "version"), requests)
        load(T["payment_request_line"], ("payment_request_id", "estate_id", "source_type", "source_id", "period", "occurred_on",
                                         "description", "detail", "amount"), lines)
        load(T["payment"], ("payment_request_id", "estate_id", "amount", "method", "receipt_no", "paid_at", "status", "created_on",
                            "changed_on", "version"), payments)

    # ------------------------------------------------------------ the month open for billing
    def open_month(self):
        """Every household has an owner-signed 便民服务 charge in the month the next billing day bills."""
        rng, T, load = self.rng, self.tables, self.loader.load
        year = int(self.open_period[:4])
        items = [(1, "车辆保管", "paid", "traffic", "月", Decimal("150.00"), Decimal("120.00"), True),
                 (2, "家政保洁", "paid", "housekeeping", "次", Decimal("80.00"), Decimal("60.00"), False)]
        load(T["service_item"], ("id", "name", "kind", "category", "unit", "price", "cost", "long_term"), items)
        lists, lines = [], []
        for e in range(1, self.estates + 1):
            lists.append((e, year, "announced", e, date(year, 1, 20)))
            for item in items:
                lines.append(((e - 1) * len(items) + item[0], e, item[0], item[4], item[5], item[6], e))
        load(T["price_list"], ("id", "year", "status", "estate_id", "announced_on"), lists)
        load(T["price_list_line"], ("id", "price_list_id", "service_item_id", "unit", "price", "cost", "estate_id"), lines)
        y, m = int(self.open_period[:4]), int(self.open_period[5:])
        first = datetime(y, m, 1) - LOCAL
        span = max((min(self.now, datetime(y + (m == 12), m % 12 + 1, 1) - LOCAL) - first).total_seconds(), 3600)
        deliveries = []
        for unit_id, estate, _b, _r in self.units:
            item = items[0] if rng.random() < 0.6 else items[1]
            at = first + timedelta(seconds=rng.random() * span * 0.9)
            line_id = (estate - 1) * len(items) + item[0]
            deliveries.append((item[0], line_id, unit_id, unit_id, estate, at, self.open_period, Decimal("1"), item[5], item[5], "bill",
                               self.owner_name[unit_id], at, at, at, 1))
        load(T["service_delivery"], ("service_item_id", "price_list_line_id", "owner_id", "unit_id", "estate_id", "delivered_at",
                                     "period", "quantity", "unit_price", "fee", "settlement", "owner_signed_by", "owner_signed_at",
                                     "created_on", "changed_on", "version"), deliveries)


def _fast_sqlite(dbapi_connection, connection_record):  # noqa: ARG001
    """While generating only: SQLite does not wait for the disk on each of FAB's many commits."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def generate(url: str, orders: int, seed: int = 2026, now: datetime | None = None, households: int = HOUSEHOLDS,
             estates: int = ESTATES) -> dict:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from bench.appctx import bench_app

    if url.startswith("sqlite:///"):
        import os

        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
    event.listen(Engine, "connect", _fast_sqlite)
    try:
        app = bench_app(url)
        with app.app_context():
            meta = Generator(app, orders, seed, now, households, estates).run()
            app.extensions["sqlalchemy"].session.remove()
            app.extensions["sqlalchemy"].engine.dispose()
            return meta
    finally:
        event.remove(Engine, "connect", _fast_sqlite)
