"""接待台: the quick-entry desk for a clerk on the phone or at the window.

Find the household by phone, room or name as the clerk types (JSON lookup, scoped, limited); see
its open repair orders, complaints and unpaid payment requests; record the call or the visit and
register the repair order or complaint it needs, all from one page. Plain JS from app/static.
"""

from __future__ import annotations

import json

from flask import request, url_for
from flask_appbuilder import BaseView
from flask_appbuilder.baseviews import expose
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.scope import allowed_estate_ids, scoped
from models.base import DomainError, utcnow
from models.master import Department, Estate, Owner, Staff, staff_estate
from models.reception import ReceptionCategory
from models.reception_common import installed_model
from models.reception_desk import desk_record, find_households, household_overview
from views import add_screen
from views.base import current_actor

# 接待 三.5 员工日常用语 and 接待 二.2, shown beside the desk.
PHRASEBOOK = [
    (_l("问候语"), "你好!早晨(早上)好!"),
    (_l("祝贺语"), "节日好!节日快乐!恭喜发财!祝您好运!万事如意!一路顺风!"),
    (_l("欢迎语"), "欢迎!欢迎光临!欢迎指导!"),
    (_l("见面语"), "请进!请坐!请用茶!"),
    (_l("致歉语"), "对不起!请原谅!请谅解!"),
    (_l("祈请语"), "请关照!请指正!请稍候!请稍等!请留步!"),
    (_l("致谢语"), "谢谢!多谢关照!多谢指正!"),
    (_l("辞别语"), "再见!Bye-bye!晚安!"),
]
# What the desk's script writes on the page, in the user's language.
DESK_TEXTS = {
    "expired": _l("登录已过期或无权限,请刷新页面后重新登录"),
    "no_message": _l("—(不转告)"),
    "not_found": _l("没有找到"),
    "lookup_failed": _l("查找失败,请重试"),
    "no_owner": _l("(未选业户,可在左侧查找)"),
    "none": _l("无"),
    "unpaid": _l("未付 %(b)s 元 · %(d)s 前"),
    "save_failed": _l("保存失败"),
    "saved": _l("已保存:"),
    "repair_recorded": _l(";已登记维修单 "),
    "complaint_recorded": _l(";已登记投诉 "),
    "message_sent": _l(";已转告 %(who)s"),
    "not_saved": _l(";本次未保存"),
    "network_error": _l("网络错误,未保存,请重试"),
}
RULES = [
    _l("实行 365 天的业户接待制度,365 天 24 小时的报修接待制度(接待 二.2)。"),
    _l("电话铃响 3 次内接听;先问候“您好”,报“××物业××部门”和本人姓名,做好记录(接待 四)。"),
    _l("来访业户:立即起立,面带微笑招呼;询问姓名、住处,请入座、双手端茶(接待 三)。"),
    _l("能处理的当即落实解决;不能处理的当天交部门负责人,处理结束后填写处理情况(接待 三.4)。"),
    _l("要找的同事不在,做好转告记录并及时告知本人(接待 四.6)。"),
    _l("投诉 24 小时内给予答复(接待 二.3)。"),
]

SHOW_ENDPOINTS = {
    "call_record": "CallRecordView.show",
    "visit_record": "VisitRecordView.show",
    "repair_order": "RepairOrderView.show",
    "complaint": "ComplaintView.show",
    "payment_request": "PaymentRequestView.show",
}


def show_url(object_type: str, pk: int) -> str | None:
    endpoint = SHOW_ENDPOINTS.get(object_type)
    try:
        return url_for(endpoint, pk=pk) if endpoint else None
    except Exception:  # that area's screens are not installed
        return None


def _choices(enum_cls) -> list[dict]:
    return [{"value": v, "label": str(label)} for v, label in enum_cls.choices()]


def desk_options(session) -> dict:
    """What the desk's dropdowns offer, for the user's estates."""
    ids = allowed_estate_ids()
    estates = session.scalars(scoped(select(Estate).order_by(Estate.name), Estate)).all()
    estate_ids = [e.id for e in estates]
    staff_rows = session.execute(
        select(staff_estate.c.estate_id, Staff).join(Staff, Staff.id == staff_estate.c.staff_id)
        .where(staff_estate.c.estate_id.in_(estate_ids or [0]), Staff.active.is_(True)).order_by(Staff.name)
    ).all()
    staff: dict[int, list] = {}
    for estate_id, person in staff_rows:
        label = f"{person.name}({person.department.name})" if person.department else person.name
        staff.setdefault(estate_id, []).append({"value": person.id, "label": label})
    departments = session.scalars(scoped(select(Department).order_by(Department.name), Department)).all()
    options = {
        "estates": [{"value": e.id, "label": e.name} for e in estates],
        "staff": staff,
        "departments": [
            {"value": d.id, "label": _("%(dept)s(负责人:%(head)s)", dept=d.name, head=d.head.name) if d.head else d.name, "estate_id": d.estate_id}
            for d in departments
        ],
        "categories": _choices(ReceptionCategory),
        "company": ids is None,
    }
    if installed_model("models.repair", "RepairOrder") is not None:
        from models.repair import EmergencyReason, RepairCategory, RepairKind, Urgency

        options["repair"] = {
            "categories": _choices(RepairCategory),
            "kinds": _choices(RepairKind),
            "urgency": _choices(Urgency),
            "emergency_reasons": _choices(EmergencyReason),
        }
    else:
        options["repair"] = None
    if installed_model("models.complaint", "Complaint") is not None:
        from models.complaint import ComplaintCategory

        options["complaint"] = {"categories": _choices(ComplaintCategory)}
    else:
        options["complaint"] = None
    return options


class ReceptionDeskView(BaseView):
    route_base = "/reception/desk"
    class_permission_name = "ReceptionDesk"
    method_permission_name = {"index": "read", "lookup": "read", "household": "read", "record": "read"}
    default_view = "index"

    @expose("/")
    @has_access
    @permission_name("read")
    def index(self):
        from app.extensions import db

        sm = self.appbuilder.sm
        options = desk_options(db.session)
        options["can"] = {
            "call": sm.has_access("can_write", "CallRecord"),
            "visit": sm.has_access("can_write", "VisitRecord"),
            "repair": options["repair"] is not None and sm.has_access("can_write", "RepairOrder"),
            "complaint": options["complaint"] is not None and sm.has_access("can_write", "Complaint"),
        }
        options["texts"] = {key: str(text) for key, text in DESK_TEXTS.items()}
        options["urls"] = {
            "lookup": url_for("ReceptionDeskView.lookup"),
            "household": url_for("ReceptionDeskView.household", owner_id=0),
            "record": url_for("ReceptionDeskView.record"),
        }
        return self.render_template(
            "wuye/reception_desk.html",
            title=_("接待台"),
            options_json=json.dumps(options, ensure_ascii=False, default=str),
            phrasebook=PHRASEBOOK,
            rules=RULES,
        )

    @expose("/lookup")
    @has_access
    @permission_name("read")
    def lookup(self):
        """Households matching the typed phone, room or name (at most 10), in the user's estates."""
        from app.extensions import db

        text = (request.args.get("q") or "").strip()
        owners = find_households(db.session, text, allowed_estate_ids())
        message = None
        if text and not owners:
            message = _("没有找到电话、房号或姓名包含“%(q)s”的业户", q=text[:40])
        return self.json(
            {
                "results": [
                    {
                        "owner_id": o.id,
                        "name": o.name,
                        "phone": o.phone,
                        "kind_label": o.kind_label,
                        "company": o.company,
                        "unit_id": o.unit_id,
                        "unit": str(o.unit) if o.unit else "",
                        "estate_id": o.estate_id,
                        "estate": o.estate.name if o.estate else "",
                    }
                    for o in owners
                ],
                "message": message,
            }
        )

    @expose("/household/<int:owner_id>")
    @has_access
    @permission_name("read")
    def household(self, owner_id: int):
        """The household's open orders, complaints, unpaid requests and latest contacts."""
        from app.extensions import db

        owner = db.session.scalar(scoped(select(Owner).where(Owner.id == owner_id), Owner))
        if owner is None:
            return self.json({"message": _("业户不存在或不属于您负责的小区")}, 404)
        data = household_overview(db.session, owner)
        for key, object_type in (("repair_orders", "repair_order"), ("complaints", "complaint"), ("payment_requests", "payment_request")):
            for row in data[key]:
                row["url"] = show_url(object_type, row["id"])
        for row in data["recent"]:
            row["url"] = show_url(row["type"], row["id"])
        data["owner"] = {"id": owner.id, "name": owner.name, "phone": owner.phone, "unit": str(owner.unit), "estate": owner.estate.name}
        return self.json(data)

    @expose("/record", methods=["POST"])
    @has_access
    @permission_name("read")
    def record(self):
        """Save the call or visit (and its repair order or complaint) in one transaction."""
        from app.extensions import db

        session = db.session
        body = request.get_json(silent=True)
        if body is None:
            return self.json({"message": _("请求体不是合法的 JSON")}, 400)
        try:
            record, follow_up = desk_record(session, current_actor(), utcnow(), body)
            session.commit()
        except DomainError as err:
            session.rollback()
            return self.json({"message": err.message, "field": err.field}, err.status)
        object_type = record.__tablename__
        result = {
            "message": _("已保存"),
            "record": {"type": object_type, "id": record.id, "label": str(record), "url": show_url(object_type, record.id)},
            "follow_up": None,
        }
        if follow_up is not None:
            kind = follow_up.__tablename__
            result["follow_up"] = {"type": kind, "id": follow_up.id, "label": str(follow_up), "url": show_url(kind, follow_up.id)}
        if getattr(record, "message_task_id", None):
            result["message_sent"] = record.for_staff.name if record.for_staff else ""
        return self.json(result, 201)

    def json(self, data, status: int = 200):
        from flask import Response

        return Response(json.dumps(data, ensure_ascii=False, default=str), status=status, mimetype="application/json")


def register(appbuilder) -> None:
    add_screen(appbuilder, ReceptionDeskView, "ReceptionDesk", _l("接待台"), "Reception", "fa-headphones")
