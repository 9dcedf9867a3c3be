"""Foundation: init and migrations, roles, jobs infrastructure, tasks, roster import, Chinese UI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from tests.conftest import api_token, login


# ---------------------------------------------------------------- init, migrations, roles
@pytest.fixture()
def fresh_app(tmp_path):
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/fresh.db", "TESTING": True, "SECRET_KEY": "x"})
    yield app
    with app.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_init_applies_migrations_creates_roles_and_admin_and_is_safe_to_rerun(fresh_app):
    runner = fresh_app.test_cli_runner()
    first = runner.invoke(args=["init", "--admin-password", "Admin12345"])
    assert first.exit_code == 0, first.output
    assert "已创建管理员" in first.output
    with fresh_app.app_context():
        from app.extensions import db
        from app.roles import ROLES

        sm = fresh_app.appbuilder.sm
        for role in ROLES:
            assert sm.find_role(role) is not None, role
        before = db.session.scalar(select(func.count()).select_from(sm.permissionview_model.__table__))
        roles_before = {r.name: len(r.permissions) for r in sm.get_all_roles()}
    second = runner.invoke(args=["init"])
    assert second.exit_code == 0, second.output
    assert "已存在,未改动" in second.output
    with fresh_app.app_context():
        from app.extensions import db

        sm = fresh_app.appbuilder.sm
        assert db.session.scalar(select(func.count()).select_from(sm.permissionview_model.__table__)) == before
        assert {r.name: len(r.permissions) for r in sm.get_all_roles()} == roles_before
    with fresh_app.test_client() as client:
        assert login(client, "admin", "Admin12345", csrf_on=True).status_code == 302
        assert client.get("/estateview/list/").status_code == 200


def test_migrations_match_the_models(fresh_app):
    """A model changed without `make migration` would leave the production schema behind."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    with fresh_app.app_context():
        from app.extensions import db

        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": False})
            diff = compare_metadata(context, db.metadata)
    assert diff == [], diff


def test_a_clerk_role_grants_only_what_is_declared(app, make, client):
    make.user("维修人员", username="worker")
    login(client, "worker")
    assert client.get("/ownerview/list/").status_code == 200  # 维修人员 reads owners
    assert client.get("/ownerview/add").status_code in (302, 403)
    assert client.get("/estateview/add").status_code in (302, 403)


# ---------------------------------------------------------------- jobs
def test_job_run_leaves_a_record_and_a_failure_rolls_back(app, session):
    from jobs import JOBS, job, run_job
    from models.master import Estate
    from models.system import JobRun

    @job("test_ok", "测试")
    def ok(sess, now):
        sess.add(Estate(name="任务建的小区", kind="residential", households=1))
        return {"created": 1}

    @job("test_fail", "测试失败")
    def fail(sess, now):
        sess.add(Estate(name="不应保存", kind="residential", households=1))
        sess.flush()
        raise RuntimeError("故意失败")

    try:
        at = datetime(2026, 12, 15, 0, 0, tzinfo=UTC)
        result = run_job(session, "test_ok", at)
        assert result["outcome"] == "ok" and result["created"] == 1
        result = run_job(session, "test_fail", at)
        assert result["outcome"] == "failed" and "故意失败" in result["error"]
        names = session.scalars(select(Estate.name)).all()
        assert "任务建的小区" in names and "不应保存" not in names
        runs = session.scalars(select(JobRun).order_by(JobRun.id)).all()
        assert [(r.name, r.outcome) for r in runs] == [("test_ok", "ok"), ("test_fail", "failed")]
        assert runs[0].as_of == at and runs[0].finished_at is not None
        assert "故意失败" in runs[1].error
    finally:
        JOBS.pop("test_ok", None)
        JOBS.pop("test_fail", None)


def test_cli_jobs_list_and_once(app, session):
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0 and "overdue_scan" in listed.output
    once = runner.invoke(args=["jobs", "once", "overdue_scan", "--at", "2026-12-01T09:00:00+08:00"])
    assert once.exit_code == 0, once.output
    summary = json.loads(once.output.strip().splitlines()[-1])
    assert summary["job"] == "overdue_scan" and summary["outcome"] == "ok"
    assert summary["at"].startswith("2026-12-01T01:00:00")
    bad = runner.invoke(args=["jobs", "once", "no_such_job"])
    assert bad.exit_code != 0 and "没有名为" in bad.output
    bad_time = runner.invoke(args=["jobs", "once", "overdue_scan", "--at", "明天"])
    assert bad_time.exit_code != 0 and "时间格式不正确" in bad_time.output


# ---------------------------------------------------------------- tasks
def test_tasks_are_created_once_per_object_and_done_only_by_their_owner(app, session, make, client):
    from models.task import Task, ensure_task

    estate = make.estate()
    mine = make.user("接待员", estates=[estate], username="clerk")
    make.user("接待员", estates=[estate], username="other")
    task, created = ensure_task(session, "message", "call_record", 1, "回电给 3 号楼业主", estate_id=estate.id, assignee_id=mine.staff.id)
    again, created_again = ensure_task(session, "message", "call_record", 1, "回电给 3 号楼业主", estate_id=estate.id, assignee_id=mine.staff.id)
    session.commit()
    assert created and not created_again and again.id == task.id
    assert session.scalar(select(func.count(Task.id))) == 1

    other = api_token(client, "other")
    r = client.post(f"/api/v1/task/{task.id}/done", json={}, headers=other)
    assert r.status_code == 403 and "不是分派给您的" in r.json["message"]

    h = api_token(client, "clerk")
    listed = client.get("/api/v1/task/?q=(filters:!((col:status,opr:eq,value:open)))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["object_id"] == 1
    r = client.post(f"/api/v1/task/{task.id}/done", json={"note": "已回电"}, headers=h)
    assert r.status_code == 200, r.json
    assert r.json["result"]["status"] == "done" and r.json["result"]["done_at"]
    r = client.post(f"/api/v1/task/{task.id}/done", json={}, headers=h)
    assert r.status_code == 409 and "已完成" in r.json["message"]
    events = client.get(f"/api/v1/task/{task.id}/events", headers=h).json["result"]
    assert [e["transition"] for e in events] == ["done"] and events[0]["user"] == "clerk"
    # a new task for the same object may be opened once the first is done
    _, created_after = ensure_task(session, "message", "call_record", 1, "再次回电", estate_id=estate.id, assignee_id=mine.staff.id)
    assert created_after


def test_my_tasks_page_and_navbar_count(app, session, make, client):
    from models.task import ensure_task

    estate = make.estate()
    clerk = make.user("接待员", estates=[estate], username="clerk")
    ensure_task(session, "message", "call_record", 7, "请回电王先生", estate_id=estate.id, assignee_id=clerk.staff.id)
    ensure_task(session, "walkin_handover", "visit_record", 8, "处理 2 号楼来访", estate_id=estate.id, role_name="接待员")
    ensure_task(session, "message", "call_record", 9, "别人的留言", estate_id=estate.id, role_name="财务内勤")
    session.commit()
    login(client, "clerk")
    page = client.get("/mytaskview/list/").get_data(as_text=True)
    assert "请回电王先生" in page and "处理 2 号楼来访" in page and "别人的留言" not in page
    home = client.get("/").get_data(as_text=True)
    assert 'id="navbar-tasks"' in home and '<span class="badge"' in home and ">2</span>" in home
    assert "转告留言" in home  # the home page counts by kind in Chinese


def test_my_tasks_search_menu_offers_the_users_estates(app, session, make, client):
    """我的待办 narrows its rows to the user's tasks; its estate dropdown still lists the user's estates
    (the narrowing used to be applied to the estate query too, joined to the tasks without a condition:
    no estate at all for a user without tasks)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    estate = make.estate(name="听涛苑")
    make.estate(name="别家小区")
    make.user("接待员", estates=[estate], username="clerk")
    login(client, "clerk")
    for url in ("/mytaskview/list/",):
        with warnings.catch_warnings():
            warnings.simplefilter("error", SAWarning)
            page = client.get(url).get_data(as_text=True)
        # the search menu's fields travel as JSON in the page
        offered = json.dumps(f'<option value="{estate.id}">听涛苑</option>').replace("<", "\\u003c").replace(">", "\\u003e")[1:-1]
        assert offered in page, url
        assert json.dumps("别家小区")[1:-1] not in page and "别家小区" not in page, url
        # the empty choice reads as one, not FAB's internal value
        assert "\\u003e__None\\u003c" not in page and json.dumps("— 不选 —")[1:-1] in page, url


# ---------------------------------------------------------------- roster import
def _roster(rows, header=("小区/大厦", "类型", "楼栋", "房号", "建筑面积", "业户姓名", "电话", "业主/租户")) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_roster_import_is_all_or_nothing_with_an_error_per_bad_row(app, session):
    from models.master import Owner, Unit
    from models.roster import RosterError, import_roster

    data = _roster(
        [
            ("碧水湾", "住宅小区", "1栋", "101", 89, "张伟", "13812345678", "业主"),
            ("碧水湾", "住宅小区", "1栋", "102", -5, "李娜", "12345", "业主"),
            ("碧水湾", "别墅", "1栋", "", None, None, None, None),
        ]
    )
    with pytest.raises(RosterError) as err:
        import_roster(session, data)
    messages = err.value.errors
    assert "第 3 行「建筑面积」:不能为负数" in messages
    assert any(m.startswith("第 3 行「电话」:电话号码格式不正确") for m in messages)
    assert "第 4 行「房号」:不能为空" in messages
    assert "第 4 行「类型」:只能是住宅小区或商业大厦" in messages
    assert session.scalar(select(func.count(Unit.id))) == 0

    good = _roster(
        [
            ("碧水湾", "住宅小区", "1栋", "101", 89, "张伟", "13812345678", "业主"),
            ("碧水湾", "住宅小区", "1栋", "102", 96, "李娜", "021-62345678", "租户"),
            ("国际中心", "商业大厦", "A座", "1201", 300, None, None, None),
        ]
    )
    counts = import_roster(session, good)
    assert counts == {"小区/大厦": 2, "楼栋": 2, "房屋": 3, "业户": 2}
    tenant = session.scalar(select(Owner).where(Owner.name == "李娜"))
    assert tenant.kind == "tenant" and tenant.unit.room == "102" and tenant.estate.name == "碧水湾"


def test_roster_import_refuses_files_that_are_not_xlsx(app, session):
    from models.roster import RosterError, import_roster

    for data in (b"", b"not a zip file", b"PK\x03\x04garbage"):
        with pytest.raises(RosterError) as err:
            import_roster(session, data)
        assert err.value.errors and ("无法读取" in err.value.errors[0] or "空" in err.value.errors[0])
    with pytest.raises(RosterError) as err:
        import_roster(session, _roster([("a", "b")], header=("名称", "地址")))
    assert "缺少表头" in err.value.errors[0]


def test_roster_import_screen_shows_row_errors(app, session, make, client):
    make.user("系统管理员", username="boss")
    login(client, "boss")
    data = _roster([("碧水湾", "住宅小区", "1栋", "101", 89, "张伟", "1381234", "业主")])
    r = client.post("/roster/", data={"file": (io.BytesIO(data), "roster.xlsx")}, content_type="multipart/form-data")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 and "导入失败,未保存任何数据" in text and "第 2 行「电话」" in text


# ---------------------------------------------------------------- Chinese by default
def test_pages_are_chinese_by_default_and_english_selectable(app, make, client):
    make.user("系统管理员", username="boss")
    assert "请在下面输入您的用户名和密码" in client.get("/login/").get_data(as_text=True)
    login(client, "boss")
    page = client.get("/estateview/list/").get_data(as_text=True)
    assert "基础资料" in page and "小区/大厦" in page and "系统设置" in page
    assert ">Security<" not in page and "List Users" not in page
    client.get("/lang/en")
    page = client.get("/estateview/list/").get_data(as_text=True)
    assert "Logout" in page or "Profile" in page


def test_deleting_an_estate_with_buildings_through_the_screen_explains_why(app, make, client):
    estate = make.estate("甲小区")
    make.building(estate)
    make.user("系统管理员", username="boss")
    login(client, "boss")
    r = client.post(f"/estateview/delete/{estate.id}", follow_redirects=True)
    assert r.status_code == 200
    assert "还有 1 栋楼,不能删除" in r.get_data(as_text=True)
