"""Form messages of FAB's fields and validators next to the field, in the screen's language: a related
record deleted meanwhile (or a hostile id), a duplicate name."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login
from tests.test_i18n import CHINESE, compiled  # noqa: F401  (the fixture: catalogues compiled)

GONE = "999999"
MESSAGES = {
    "zh": {"choice": "所选项不存在或不可选,请重新选择", "unique": "该值已存在,不能重复"},
    "en": {"choice": "The selected item does not exist or cannot be chosen; please choose again.",
           "unique": "This value already exists."},
}


def _field_errors(html: str, field: str) -> list[str]:
    """The error texts FAB shows in the form group of one field."""
    match = re.search(rf'id="{field}"[^>]*>.*?(?=<tr|</table>)', html, re.S)
    assert match, f"no field {field} on the form"
    alert = re.search(r'<div class="alert alert-danger">(.*?)</div>', match.group(0), re.S)
    return [] if alert is None else [" ".join(alert.group(1).split())]


@pytest.fixture()
def admin(make, client, compiled):  # noqa: F811
    make.user("系统管理员", username="boss")
    login(client, "boss")
    return client


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_add_form_with_a_vanished_related_record_says_so_in_the_screens_language(app, admin, session, locale):
    from models.master import Department

    admin.get(f"/lang/{locale}")
    resp = admin.post("/departmentview/add", data={"name": "水电处", "kind": "section", "estate": GONE})
    assert resp.status_code == 200  # the form again, not a redirect to the list
    html = resp.get_data(as_text=True)
    errors = _field_errors(html, "estate")
    assert errors == [MESSAGES[locale]["choice"]]
    assert "Not a valid choice" not in html
    assert session.query(Department).count() == 0


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_required_related_record_that_vanished_is_asked_for_again_in_the_screens_language(
    app, admin, session, locale
):
    from models.master import Building

    admin.get(f"/lang/{locale}")
    html = admin.post("/buildingview/add", data={"estate": GONE, "name": "9号楼", "floors": "6"}).get_data(as_text=True)
    # WTForms' "required" replaces the field's other messages
    assert _field_errors(html, "estate") == [{"zh": "该字段是必填字段。", "en": "This field is required."}[locale]]
    assert session.query(Building).count() == 0


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_edit_form_with_a_vanished_related_record_says_so_and_keeps_the_record(app, admin, make, session, locale):
    from models.master import Department

    estate = make.estate("绿苑")
    dept = make.department("水电处", estate=estate)
    admin.get(f"/lang/{locale}")
    resp = admin.post(f"/departmentview/edit/{dept.id}", data={"name": "改了的名字", "kind": "section", "estate": GONE})
    assert resp.status_code == 200
    assert _field_errors(resp.get_data(as_text=True), "estate") == [MESSAGES[locale]["choice"]]
    session.expire_all()
    dept = session.get(Department, dept.id)
    assert (dept.name, dept.estate_id) == ("水电处", estate.id)


def test_duplicate_name_is_refused_in_each_requests_language(app, admin, make, session):
    """FAB keeps the Unique validator's first message: the next user, in the other language, reads their own."""
    from models.master import Estate

    make.estate("绿苑")
    data = {"name": "绿苑", "kind": "residential", "households": "10"}
    for locale in ("zh", "en", "zh"):
        admin.get(f"/lang/{locale}")
        html = admin.post("/estateview/add", data=data).get_data(as_text=True)
        assert _field_errors(html, "name") == [MESSAGES[locale]["unique"]], locale
    assert session.query(Estate).count() == 1


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_a_forms_own_messages_are_in_the_requests_language(app, compiled, locale):  # noqa: F811
    """What the form holds (not only what FAB's template re-translates): custom templates print it as is."""
    from flask import session
    from flask_appbuilder.fields import QuerySelectField, QuerySelectMultipleField
    from flask_wtf import FlaskForm

    class Form(FlaskForm):
        one = QuerySelectField(query_func=list, get_pk_func=id, allow_blank=True)
        many = QuerySelectMultipleField(query_func=list, get_pk_func=id)

    with app.test_request_context(method="POST", data={"one": GONE, "many": [GONE]}):
        session["locale"] = locale
        app.preprocess_request()
        form = Form()
        form.many.data  # noqa: B018  (FAB notes an unknown id when the data is first read)
        assert not form.validate()
        assert form.errors == {"one": [MESSAGES[locale]["choice"]], "many": [MESSAGES[locale]["choice"]]}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_staff_estates_with_a_vanished_estate_are_refused_and_nothing_changes(app, admin, make, session, locale):
    """A multiple select with one real and one unknown id: refused with the message, not saved without it."""
    from models.master import Staff

    kept, other = make.estate("绿苑"), make.estate("翠苑")
    clerk = make.user("接待员", estates=[kept], username="c9")
    session.commit()
    staff = session.query(Staff).filter_by(user_id=clerk.id).one()
    admin.get(f"/lang/{locale}")
    resp = admin.post(f"/staffview/edit/{staff.id}", data={
        "name": "改了的名字", "department": "", "position": "", "phone": "", "user": str(clerk.id),
        "estates": [str(other.id), GONE], "active": "y",
    })
    assert resp.status_code == 200
    assert _field_errors(resp.get_data(as_text=True), "estates") == [MESSAGES[locale]["choice"]]
    session.expire_all()
    staff = session.get(Staff, staff.id)
    assert staff.name != "改了的名字" and [e.id for e in staff.estates] == [kept.id]


def test_user_roles_with_a_vanished_role_are_refused(app, admin, make, session):
    """The same on FAB's own user screen: a role id that does not exist is not dropped silently."""
    sm = app.appbuilder.sm
    user = make.user("接待员", username="c10")
    session.commit()
    role = sm.find_role("维修人员")
    resp = admin.post(f"/users/edit/{user.id}", data={
        "first_name": "测试", "last_name": "甲", "username": "c10", "email": "c10@example.com", "active": "y",
        "roles": [str(role.id), GONE],
    })
    assert resp.status_code == 200
    assert MESSAGES["zh"]["choice"] in resp.get_data(as_text=True)
    session.expire_all()
    assert [r.name for r in sm.get_user_by_id(user.id).roles] == ["接待员"]


def test_logins_are_named_family_name_first(app, admin, make, session):
    """FAB writes a login as "春梅 叶"; the screens write 叶春梅: the navbar, the staff screens' login
    choices (with the account, two people may share a name) and the staff list's account column."""
    from models.base import person_name
    from models.master import Staff

    sm = app.appbuilder.sm
    user = make.user("接待员", username="jdy9")
    user.first_name, user.last_name = "春梅", "叶"
    session.commit()
    assert person_name(user) == "叶春梅"
    staff = session.query(Staff).filter_by(user_id=user.id).one()
    edit = admin.get(f"/staffview/edit/{staff.id}").get_data(as_text=True)
    assert ">叶春梅(jdy9)</option>" in edit and "春梅 叶" not in edit
    listing = admin.get("/staffview/list/").get_data(as_text=True)
    assert ">jdy9<" in listing and "春梅 叶" not in listing
    admin.get("/logout/")
    login(admin, "jdy9")
    assert "叶春梅" in admin.get("/staffview/list/").get_data(as_text=True).split("navbar-right", 1)[1][:2000]
    assert sm.find_user(username="jdy9").get_full_name() == "春梅 叶"  # FAB's own order, not shown
