"""Group-robot notifications: delivered to a local receiver, retried with back-off, every attempt logged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from jobs import run_job
from models.notify import NotifyDelivery, NotifyMessage, Webhook
from models.task import ensure_task
from tests.conftest import login

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class Receiver:
    """A group robot on 127.0.0.1: records what it is sent; answers as told."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "ok"  # ok | http500 | errcode
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length).decode("utf-8"))
                receiver.requests.append({"path": self.path, "body": body, "type": self.headers.get("Content-Type")})
                if receiver.mode == "http500":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                answer = {"errcode": 0, "errmsg": "ok"} if receiver.mode == "ok" else {"errcode": 45009, "errmsg": "api freq out of limit"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/cgi-bin/webhook/send?key=test-key"):
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def robot(session, estate, url, kind="wecom", events="emergency_order,task_overdue,payment_overdue", secret=None, at=T0):
    hook = Webhook(name="值班群", estate_id=estate.id, kind=kind, url=url, events=events, enabled=True, secret=secret, created_on=at)
    session.add(hook)
    session.commit()
    return hook


def late_task(session, estate, kind="not_returned", at=T0 + timedelta(minutes=1), object_id=7):
    task, _ = ensure_task(
        session, kind, "repair_order", object_id, f"维修单 WX-202611-000{object_id} 超过 3 天未回单",
        estate_id=estate.id, role_name="总值班员", due_at=at, now=at,
    )
    session.commit()
    return task


def test_overdue_task_reaches_wecom_after_a_failing_receiver_recovers(session, make, receiver):
    estate = make.estate("锦绣花园")
    robot(session, estate, receiver.url())
    late_task(session, estate)

    receiver.mode = "http500"
    first = run_job(session, "notify_dispatch", T0 + timedelta(minutes=2))
    assert first["outcome"] == "ok" and first["queued_task_overdue"] == 1 and first["failed"] == 1
    message = session.scalar(select(NotifyMessage))
    assert message.attempts == 1 and message.state == "pending" and message.delivered_at is None
    assert message.last_error == "HTTP 500"
    assert message.next_attempt_at == T0 + timedelta(minutes=3)  # back-off: 1 minute after the 1st failure

    # not due yet: nothing is sent, nothing queued twice
    again = run_job(session, "notify_dispatch", T0 + timedelta(minutes=2, seconds=30))
    assert again["sent"] == 0 and again["failed"] == 0 and "queued_task_overdue" not in again
    assert len(receiver.requests) == 1

    second = run_job(session, "notify_dispatch", T0 + timedelta(minutes=3))
    assert second["failed"] == 1
    session.refresh(message)
    assert message.attempts == 2 and message.next_attempt_at == T0 + timedelta(minutes=5)  # then 2 minutes

    receiver.mode = "ok"
    third = run_job(session, "notify_dispatch", T0 + timedelta(minutes=5))
    assert third["sent"] == 1
    session.refresh(message)
    assert message.state == "delivered" and message.delivered_at == T0 + timedelta(minutes=5) and message.last_error is None

    body = receiver.requests[-1]["body"]
    assert body["msgtype"] == "markdown"
    assert "锦绣花园" in body["markdown"]["content"] and "维修单超期未回单" in body["markdown"]["content"]
    assert "WX-202611-0007" in body["markdown"]["content"]
    assert receiver.requests[-1]["path"] == "/cgi-bin/webhook/send?key=test-key"
    assert receiver.requests[-1]["type"].startswith("application/json")

    log = session.scalars(select(NotifyDelivery).order_by(NotifyDelivery.id)).all()
    assert [(d.attempt, d.ok, d.status_code) for d in log] == [(1, False, 500), (2, False, 500), (3, True, 200)]

    run_job(session, "notify_dispatch", T0 + timedelta(hours=1))
    assert len(receiver.requests) == 3  # delivered once, never again


def test_dingtalk_robot_gets_signed_markdown_and_an_errcode_counts_as_failure(session, make, receiver):
    estate = make.estate("国贸中心大厦")
    secret = "SECtest0123456789"
    robot(session, estate, receiver.url("/robot/send?access_token=abc"), kind="dingtalk", secret=secret, events="payment_overdue")
    late_task(session, estate, kind="payment_overdue", object_id=31)
    late_task(session, estate, kind="not_returned", object_id=32)  # not subscribed by this robot

    receiver.mode = "errcode"
    summary = run_job(session, "notify_dispatch", T0 + timedelta(minutes=2))
    assert summary["failed"] == 1 and summary.get("queued_task_overdue") is None
    message = session.scalar(select(NotifyMessage))
    assert message.event == "payment_overdue" and message.last_error.startswith("errcode 45009")

    receiver.mode = "ok"
    assert run_job(session, "notify_dispatch", T0 + timedelta(minutes=3))["sent"] == 1
    request = receiver.requests[-1]
    body = request["body"]
    assert body["msgtype"] == "markdown" and "逾期未付款" in body["markdown"]["title"]
    assert "国贸中心大厦" in body["markdown"]["text"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["path"]).query)
    assert query["access_token"] == ["abc"]
    timestamp = query["timestamp"][0]
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]


def test_a_dead_robot_gives_up_after_ten_attempts_and_can_be_retried(session, make):
    from models.notify import MAX_ATTEMPTS, dispatch, retry_now

    estate = make.estate()
    robot(session, estate, "http://127.0.0.1:9/nothing-listens-here")
    late_task(session, estate)
    when = T0 + timedelta(minutes=2)
    run_job(session, "notify_dispatch", when)
    message = session.scalar(select(NotifyMessage))
    for _ in range(MAX_ATTEMPTS - 1):
        when = message.next_attempt_at
        dispatch(session, when)
        session.refresh(message)
    assert message.state == "failed" and message.attempts == MAX_ATTEMPTS and message.next_attempt_at is None
    assert message.last_error.startswith("URLError")
    waits = [d.at for d in session.scalars(select(NotifyDelivery).order_by(NotifyDelivery.id))]
    gaps = [(b - a) for a, b in zip(waits, waits[1:], strict=False)]
    assert gaps[:4] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]
    assert max(gaps) <= timedelta(hours=6)

    retry_now(message, when)
    session.commit()
    assert message.state == "pending" and message.next_attempt_at == when


def test_nothing_from_before_the_robot_or_from_other_estates_or_when_disabled(session, make, receiver):
    estate, other = make.estate(), make.estate()
    hook = robot(session, estate, receiver.url(), at=T0)
    late_task(session, estate, at=T0 - timedelta(hours=2), object_id=1)  # before the robot existed
    late_task(session, other, at=T0 + timedelta(minutes=1), object_id=2)  # another estate
    assert run_job(session, "notify_dispatch", T0 + timedelta(minutes=2))["sent"] == 0

    hook.enabled = False
    session.commit()
    late_task(session, estate, at=T0 + timedelta(minutes=3), object_id=3)
    run_job(session, "notify_dispatch", T0 + timedelta(minutes=4))
    assert receiver.requests == [] and session.scalar(select(func.count(NotifyMessage.id))) == 0


def test_administrator_sets_up_a_robot_with_a_chinese_error_for_a_bad_address(client, session, make):
    estate = make.estate("锦绣花园")
    make.user("系统管理员", username="boss")
    login(client, "boss")
    form = {"name": "维修群", "estate": estate.id, "kind": "wecom", "url": "qyapi.weixin.qq.com/xx", "events": ["task_overdue"], "enabled": "y"}
    page = client.post("/webhookview/add", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Webhook 地址应以 https:// 开头" in page
    form["url"] = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcd-1234"
    client.post("/webhookview/add", data=form, follow_redirects=True)
    hook = session.scalar(select(Webhook))
    assert hook.events == "task_overdue" and hook.estate_id == estate.id
    listing = client.get("/webhookview/list/").get_data(as_text=True)
    assert "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…" in listing and "abcd-1234" not in listing
    assert "事项超期" in listing

    # the test message is queued and shows up in the outbox list
    resp = client.post(f"/webhookview/action/send_test/{hook.id}", follow_redirects=True)
    assert "测试消息已排队" in resp.get_data(as_text=True)
    outbox = client.get("/notifymessageview/list/").get_data(as_text=True)
    assert "测试消息" in outbox and "待发送" in outbox


def test_a_clerk_cannot_see_the_robots(client, make):
    estate = make.estate()
    make.user("接待员", estates=[estate], username="clerk")
    login(client, "clerk")
    assert client.get("/webhookview/list/").status_code in (302, 403)


def test_a_new_emergency_order_reaches_the_duty_room_group_once(session, make, receiver):
    repair = pytest.importorskip("models.repair")
    estate = make.estate("锦绣花园")
    robot(session, estate, receiver.url(), events="emergency_order")
    at = T0 + timedelta(minutes=1)
    for number, urgency in (("WX-202611-0031", "emergency"), ("WX-202611-0032", "normal")):
        session.add(
            repair.RepairOrder(
                number=number, period="2026-11", estate_id=estate.id, category="elevator", urgency=urgency,
                emergency_reason="elevator" if urgency == "emergency" else None, problem="2号楼电梯困人",
                location="2号楼 1 单元电梯", contact_phone="13912345678", recorded_at=at, created_on=at,
            )
        )
    session.commit()
    summary = run_job(session, "notify_dispatch", T0 + timedelta(minutes=2))
    assert summary["queued_emergency_order"] == 1 and summary["sent"] == 1
    text = receiver.requests[0]["body"]["markdown"]["content"]
    assert "新急修单 WX-202611-0031" in text and "电梯失控/困人/故障" in text and "13912345678" in text
    assert "2026-11-20 09:01" in text  # the time a clerk reads: Shanghai, no seconds
    run_job(session, "notify_dispatch", T0 + timedelta(minutes=3))
    assert len(receiver.requests) == 1


def test_the_every_minute_job_keeps_a_week_of_its_run_records(session):
    from models.system import JobRun

    old = JobRun(name="notify_dispatch", as_of=T0 - timedelta(days=8), started_at=T0 - timedelta(days=8), outcome="ok")
    failed = JobRun(name="notify_dispatch", as_of=T0 - timedelta(days=8), started_at=T0 - timedelta(days=8), outcome="failed")
    other = JobRun(name="overdue_scan", as_of=T0 - timedelta(days=8), started_at=T0 - timedelta(days=8), outcome="ok")
    session.add_all([old, failed, other])
    session.commit()
    run_job(session, "notify_dispatch", T0)
    kept = {(r.name, r.outcome) for r in session.scalars(select(JobRun).where(JobRun.as_of < T0 - timedelta(days=7)))}
    assert kept == {("notify_dispatch", "failed"), ("overdue_scan", "ok")}


def test_a_robot_can_be_saved_switched_off(client, session, make):
    estate = make.estate("锦绣花园")
    make.user("系统管理员", username="boss")
    login(client, "boss")
    form = {"name": "备用群", "estate": estate.id, "kind": "dingtalk", "url": "https://oapi.dingtalk.com/robot/send?access_token=x", "events": ["emergency_order"]}
    page = client.post("/webhookview/add", data=form, follow_redirects=True).get_data(as_text=True)
    hook = session.scalar(select(Webhook))
    assert hook is not None, page[:2000]
    assert hook.enabled is False and hook.kind == "dingtalk"
    add_page = client.get("/webhookview/add").get_data(as_text=True)
    assert "添加群机器人" in add_page and "SEC 开头的密钥" in add_page


def test_administrator_sends_a_given_up_message_again_from_the_outbox(client, session, make):
    from models.notify import MAX_ATTEMPTS

    estate = make.estate("锦绣花园")
    hook = robot(session, estate, "http://127.0.0.1:9/x")
    late_task(session, estate)
    run_job(session, "notify_dispatch", T0 + timedelta(minutes=2))
    message = session.scalar(select(NotifyMessage))
    message.state, message.attempts, message.next_attempt_at = "failed", MAX_ATTEMPTS, None
    session.commit()
    make.user("系统管理员", username="boss")
    login(client, "boss")
    listing = client.get("/notifymessageview/list/").get_data(as_text=True)
    assert "已放弃" in listing and "值班群" in listing and "/notifymessageview/add" not in listing
    resp = client.post("/notifymessageview/action_post", data={"action": "retry", "rowid": [message.id]}, follow_redirects=True)
    assert "已安排重发 1 条" in resp.get_data(as_text=True)
    session.expire_all()
    message = session.get(NotifyMessage, message.id)
    assert message.state == "pending" and message.attempts == MAX_ATTEMPTS - 1 and message.webhook_id == hook.id
