"""系统设置 → 消息推送: the estates' group robots (企业微信/钉钉) and the outbox with every attempt."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2ManyWidget, Select2Widget
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from app import roles
from app.scope import ScopedInterface
from models.base import utcnow
from models.notify import SUBSCRIBABLE, NotifyEvent, NotifyMessage, RobotKind, Webhook, retry_now, send_test
from views import add_screen
from views.scoped_view import ScopedModelView

# Administrators set robots up (they have every permission); the office head watches deliveries.
roles.extend({"管理处主任": {"Webhook": ("read",), "NotifyMessage": ("read",)}})


class EventsField(SelectMultipleField):
    """The subscribed events, stored comma-separated."""

    def process_data(self, value):
        self.data = [v for v in (value or "").split(",") if v] if isinstance(value, str) else list(value or [])

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or []))


WEBHOOK_LABELS = {
    "name": _l("名称"),
    "estate": _l("小区/大厦"),
    "kind": _l("类型"),
    "kind_label": _l("类型"),
    "url": _l("Webhook 地址"),
    "url_masked": _l("Webhook 地址"),
    "secret": _l("加签密钥(钉钉,可不填)"),
    "enabled": _l("启用"),
    "events": _l("推送事件"),
    "events_label": _l("推送事件"),
    "created_on": _l("创建时间"),
}


class WebhookView(ScopedModelView):
    datamodel = ScopedInterface(Webhook)
    class_permission_name = "Webhook"
    list_title = _l("群机器人")
    add_title = _l("新增群机器人")
    edit_title = _l("修改群机器人")
    show_title = _l("群机器人")
    label_columns = WEBHOOK_LABELS
    list_columns = ["name", "estate", "kind_label", "url_masked", "events_label", "enabled"]
    add_columns = edit_columns = ["name", "estate", "kind", "url", "secret", "events", "enabled"]
    show_columns = ["name", "estate", "kind_label", "url_masked", "events_label", "enabled", "created_on"]
    search_columns = ["name", "estate", "kind", "enabled"]
    base_order = ("id", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": SelectField(_l("类型"), choices=RobotKind.choices(), validators=[DataRequired()], widget=Select2Widget()),
        "url": StringField(
            _l("Webhook 地址"),
            description=_l("在企业微信/钉钉群里「添加群机器人」后复制的地址"),
            validators=[DataRequired(), Length(max=500)],
            widget=BS3TextFieldWidget(),
        ),
        "secret": StringField(
            _l("加签密钥(钉钉,可不填)"),
            description=_l("钉钉机器人安全设置选择「加签」时填写 SEC 开头的密钥"),
            validators=[Optional(), Length(max=200)],
            widget=BS3TextFieldWidget(),
        ),
        "enabled": BooleanField(_l("启用"), default=True, description=_l("停用后不再推送,已排队的消息也不再发送")),
        "events": EventsField(
            _l("推送事件"),
            choices=[(e, NotifyEvent.labels()[e]) for e in SUBSCRIBABLE],  # lazy: the user's language
            default=list(SUBSCRIBABLE),
            validators=[DataRequired()],
            widget=Select2ManyWidget(),
        ),
    }
    method_permission_name = ScopedModelView.method_permission_name | {"action_send_test": "write"}

    @action("send_test", _l("发送测试消息"), None, "fa-paper-plane", multiple=False, single=True)
    def action_send_test(self, item):
        item = item[0] if isinstance(item, list) else item
        session = self.datamodel.session
        send_test(session, item, utcnow())
        session.commit()
        flash(str(_l("测试消息已排队,一分钟内由推送任务发出;结果见「推送记录」。")), "success")
        return redirect(url_for("NotifyMessageView.list", _flt_0_webhook=item.id))


class NotifyMessageView(ScopedModelView):
    datamodel = ScopedInterface(NotifyMessage)
    class_permission_name = "NotifyMessage"
    base_permissions = ["can_read", "can_retry"]  # the outbox is written by the job, never by hand
    list_title = _l("推送记录")
    show_title = _l("推送记录")
    label_columns = {
        "created_at": _l("生成时间"),
        "estate": _l("小区/大厦"),
        "webhook": _l("群机器人"),
        "event": _l("事件"),
        "event_label": _l("事件"),
        "title": _l("标题"),
        "state": _l("状态"),
        "state_label": _l("状态"),
        "attempts": _l("尝试次数"),
        "next_attempt_at": _l("下次尝试"),
        "last_error": _l("最近错误"),
        "delivered_at": _l("送达时间"),
        "payload": _l("消息内容"),
        "deliveries": _l("发送记录"),
    }
    list_columns = ["created_at", "estate", "webhook", "event_label", "title", "state_label", "attempts", "next_attempt_at", "delivered_at", "last_error"]
    show_columns = ["created_at", "estate", "webhook", "event_label", "title", "state_label", "attempts", "next_attempt_at", "delivered_at", "last_error", "payload", "deliveries"]
    search_columns = ["webhook", "estate", "event", "state", "created_at"]
    base_order = ("id", "desc")
    method_permission_name = ScopedModelView.method_permission_name | {"action_retry": "retry"}

    def _init_properties(self):
        super()._init_properties()
        self.formatters_columns["deliveries"] = _deliveries_text

    @action("retry", _l("立即重发"), _l("确定立即重发选中的消息?"), "fa-refresh", multiple=True, single=True)
    def action_retry(self, items):
        items = items if isinstance(items, list) else [items]
        now = utcnow()
        for item in items:
            retry_now(item, now)
        self.datamodel.session.commit()
        flash(str(_l("已安排重发 %(n)s 条,一分钟内发出", n=len(items))), "success")
        return redirect(request.referrer or url_for("NotifyMessageView.list"))


def _deliveries_text(deliveries) -> str:
    from models.base import fmt_dt

    lines = []
    for d in deliveries or []:
        result = str(_l("成功")) if d.ok else (d.error or str(_l("失败")))
        code = f" HTTP {d.status_code}" if d.status_code else ""
        lines.append(f"#{d.attempt} {fmt_dt(d.at)}{code} {result} ({d.duration_ms or 0} ms)")
    return ";".join(lines)


def register(appbuilder) -> None:
    add_screen(appbuilder, WebhookView, "Webhooks", _l("群机器人"), "Security", "fa-comments")
    add_screen(appbuilder, NotifyMessageView, "NotifyMessages", _l("推送记录"), "Security", "fa-paper-plane")

