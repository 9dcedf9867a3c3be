"""Estate isolation for every estate-owned model: a user of estate A gets nothing of estate B through
lists (with crafted `_flt_` and rison filters on the estate), show/edit/delete pages, actions, prints,
exports, form dropdowns and the REST API.

Rows of every estate-owned model are made generically in both estates; estate B's rows carry a
marker in every text column, and no answer to the estate-A user may contain it. The user holds every
permission (copied from the administrator) but is not company-level, so only scoping stands between
them and estate B.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import inspect

from app.scope import company_roles
from tests.conftest import api_token, login
from tests.generic import RowMaker, estate_owned_models, model_views, rest_apis, routes_of

MARK = "乙密"
ESTATE_COLUMNS = {"estate", "estate_id"}
ROLE = "隔离测试角色"


def _contains_mark(response) -> bool:
    data = response.get_data()
    if response.mimetype and "spreadsheetml" in response.mimetype:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True)
        return any(MARK in str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row if cell)
    return MARK in data.decode("utf-8", "replace")


@pytest.fixture()
def two_estates(app, make, session):
    sm = app.appbuilder.sm
    role = sm.find_role(ROLE) or sm.add_role(ROLE)
    admin = sm.find_role(sm.auth_role_admin)
    for pv in admin.permissions:
        if pv not in role.permissions:
            sm.add_permission_role(role, pv)
    assert ROLE not in company_roles()
    a = make.estate("甲小区")
    b = make.estate(f"{MARK}小区")
    user = make.user(ROLE, estates=[a], username="iso")
    maker = RowMaker(session, user.id)
    rows_a, rows_b, not_made = {}, {}, []
    for model in estate_owned_models():
        if model.__name__ == "Estate":
            rows_a[model], rows_b[model] = a, b
            continue
        try:
            rows_a[model] = maker.make(model, a, "甲可见")
            rows_b[model] = maker.make(model, b, MARK)
            session.commit()
        except Exception as exc:  # a model the generic maker cannot fill: reported below
            session.rollback()
            maker.parents.clear()
            not_made.append(f"{model.__name__}: {type(exc).__name__}: {str(exc)[:200]}")
    assert not not_made, "cannot make rows of:\n" + "\n".join(not_made)
    return a, b, rows_a, rows_b


def _pk_url(route, pk, name=None):
    args = {}
    for arg in route.rule.arguments:
        if arg in ("name", "transition"):
            args[arg] = name or "x"
        else:
            args[arg] = pk
    return route.rule.build(args, append_unknown=False)[1]


def _version(session, obj):
    session.expire_all()
    fresh = session.get(type(obj), inspect(obj).identity[0])
    return None if fresh is None else getattr(fresh, "version", "exists")


def test_estate_a_user_gets_nothing_of_estate_b(app, session, client, two_estates):
    from models.workflow import WORKFLOWS

    _a, b, _rows_a, rows_b = two_estates
    versions = {m: _version(session, o) for m, o in rows_b.items()}
    assert login(client, "iso").status_code == 302
    headers = api_token(client, "iso")
    leaks: list[str] = []

    def check(desc, response, allowed=(200, 302, 403, 404)):
        if response.status_code not in allowed or _contains_mark(response):
            leaks.append(f"{desc}: {response.status_code}{' shows estate B' if _contains_mark(response) else ''}")

    for view in model_views(app):
        name = type(view).__name__
        model = view.datamodel.obj
        base = view.route_base
        check(f"{name} list", client.get(f"{base}/list/"))
        for column in ESTATE_COLUMNS & set(view.search_columns):
            for index, _flt in enumerate(view._filters._all_filters.get(column, [])[:2]):
                # crafted filters asking for estate B's rows (equal / not equal to A's estate)
                check(f"{name} _flt_{index}_{column}", client.get(f"{base}/list/?_flt_{index}_{column}={b.id}"))
        if "add" in [r.method_name for r in routes_of(app, view)]:
            check(f"{name} add form", client.get(f"{base}/add"))
        if "export" in [r.method_name for r in routes_of(app, view)]:
            check(f"{name} export", client.get(f"{base}/export/"))
        row = rows_b.get(model)
        if row is None:
            continue
        pk = inspect(row).identity[0]
        for route in routes_of(app, view):
            if not ({"pk", "id"} & set(route.rule.arguments)):
                continue
            names = [None]
            if route.method_name == "action":
                names = list(view.actions)
            elif "name" in route.rule.arguments:
                workflow = WORKFLOWS.get(getattr(view, "workflow_type", None) or "")
                names = list(workflow.transitions) if workflow else ["x"]
            for action_name in names:
                url = _pk_url(route, pk, action_name)
                method = "GET" if "GET" in route.rule.methods else "POST"
                check(f"{name} {route.method_name} {url}", client.open(url, method=method), allowed=(302, 403, 404))
        for action_name in getattr(view, "actions", {}):
            check(f"{name} action {action_name}", client.post(f"{base}/action_post", data={"action": action_name, "rowid": str(pk)}))

    for api in rest_apis(app):
        name, model = type(api).__name__, api.datamodel.obj
        base = f"/api/v1/{api.resource_name}"
        check(f"{name} list", client.get(f"{base}/", headers=headers))
        check(f"{name} _info", client.get(f"{base}/_info", headers=headers))
        for column in ("estate_id", "estate"):
            if column in api.search_columns:
                q = f"(filters:!((col:{column},opr:eq,value:{b.id})))"
                check(f"{name} filter {column}", client.get(f"{base}/?q={q}", headers=headers))
        row = rows_b.get(model)
        if row is None:
            continue
        pk = inspect(row).identity[0]
        refused = (403, 404, 405)
        check(f"{name} get", client.get(f"{base}/{pk}", headers=headers), refused)
        check(f"{name} put", client.put(f"{base}/{pk}", json={}, headers=headers), refused)
        check(f"{name} delete", client.delete(f"{base}/{pk}", headers=headers), refused)
        check(f"{name} history", client.get(f"{base}/{pk}/history", headers=headers), refused)
        workflow = WORKFLOWS.get(getattr(api, "workflow_type", None) or "")
        if workflow is not None:
            check(f"{name} events", client.get(f"{base}/{pk}/events", headers=headers), refused)
            for transition in workflow.transitions:
                check(f"{name} {transition}", client.post(f"{base}/{pk}/{transition}", json={}, headers=headers), refused)

    changed = [m.__name__ for m, v in versions.items() if _version(session, rows_b[m]) != v]
    assert not changed, f"estate B rows changed by the estate-A user: {changed}"
    assert not leaks, "\n".join(leaks)


def test_every_estate_owned_model_is_covered(two_estates):
    _a, _b, rows_a, rows_b = two_estates
    names = {m.__name__ for m in rows_b}
    assert {"Estate", "Building", "Unit", "Owner", "Task"} <= names
    assert set(rows_a) == set(rows_b)
