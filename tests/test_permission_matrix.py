"""Permission matrix, generated from the role declarations (app.roles) and the registered screens and
REST resources: every role × every endpoint (list, show, add, edit, delete, export, every action and
custom page; every REST method) is allowed exactly when the role is declared to have the permission.
Anonymous visitors are sent to the login page (screens) or get 401 (API).

Requests use an id that does not exist: an allowed request answers 404 (or its own validation
error), a refused one 403 before anything is looked up, so no data is needed per case.
"""

from __future__ import annotations

import pytest
from flask_appbuilder import ModelRestApi
from flask_appbuilder.api import BaseApi

from app.roles import EVERYONE, ROLES, role_permissions
from tests.conftest import api_token, login
from tests.generic import MISSING_ID, routes_of
from views.scoped_view import ScopedModelView

# Endpoints that are not guarded by a role permission (login/logout, language, the home page).
UNGUARDED_VIEWS = {"AuthDBView", "UtilView", "LocaleView", "HomeView", "SecurityApi", "SwaggerView"}
REFUSED_ACTION = "您没有执行此操作的权限"
FAB_REFUSED = ("您没有此操作的权限", "访问被拒绝", "Access is Denied")  # FAB's own security screens


def _granted(app, role_name: str) -> set[tuple[str, str]]:
    sm = app.appbuilder.sm
    existing = {(pv.permission.name, pv.view_menu.name) for pv in app.appbuilder.session.query(sm.permissionview_model)}
    if role_name == sm.auth_role_admin:
        return existing
    return (role_permissions(app.appbuilder, role_name) | set(EVERYONE)) & existing


def _url(route, name_value: str | None = None) -> str:
    args = {}
    for arg in route.rule.arguments:
        if arg in ("name", "transition"):
            args[arg] = name_value or "x"
        elif arg in ("pk", "id") or route.rule._converters.get(arg).__class__.__name__ == "IntegerConverter":
            args[arg] = MISSING_ID
        else:
            args[arg] = "x"
    return route.rule.build(args, append_unknown=False)[1]


def endpoint_cases(app):
    """(description, view, kind, method, url, data, permission or None=unguarded) for every endpoint."""
    cases = []
    for view in app.appbuilder.baseviews:
        if type(view).__name__ in UNGUARDED_VIEWS:
            continue
        is_api = isinstance(view, BaseApi)
        for route in routes_of(app, view):
            func = getattr(view, route.method_name, None)
            method = "GET" if "GET" in route.methods else sorted(route.methods)[0]
            if route.method_name in ("action", "action_post") and not is_api:
                for name in getattr(view, "actions", {}):
                    perm = view.get_action_permission_name(name)
                    if route.method_name == "action":
                        url, data = _url(route, name), {}
                    else:
                        url, data = route.rule.rule, {"action": name, "rowid": str(MISSING_ID)}
                    cases.append((f"{route.endpoint}:{name}", view, "action", "POST", url, data, perm))
                continue
            if func is None or not hasattr(func, "_permission_name"):
                continue
            perm = "can_" + view.get_method_permission(route.method_name)
            if perm not in view.base_permissions:
                perm = "-unreachable-"
            names = [None]
            if "name" in route.rule.arguments or "transition" in route.rule.arguments:
                names = _transition_names(view) or ["x"]
            for name in names:
                url = _url(route, name)
                kind = "api" if is_api else "screen"
                data = {} if method != "GET" else None
                cases.append((f"{route.endpoint}{':' + name if name else ''}", view, kind, method, url, data, perm))
    return cases


def _transition_names(view) -> list[str]:
    from models.workflow import WORKFLOWS

    workflow = WORKFLOWS.get(getattr(view, "workflow_type", None) or "")
    return list(workflow.transitions) if workflow else []


def _request(client, method, url, data, headers=None, is_api=False):
    if is_api:
        body = {} if method in ("POST", "PUT") else None
        return client.open(url, method=method, json=body, headers=headers or {})
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data=data or {})


def _refused(kind, response) -> bool:
    if kind == "api":
        return response.status_code == 403
    if kind == "action":
        flashed = _flashes(response)
        return response.status_code == 302 and (REFUSED_ACTION in flashed or any(m in flashed for m in FAB_REFUSED))
    return response.status_code == 403


def _flashes(response) -> str:
    return getattr(response, "client_flashes", "")


@pytest.fixture()
def flash_client(app, db):
    """A test client that remembers what was flashed by the last request."""
    from flask.testing import FlaskClient

    class Client(FlaskClient):
        def open(self, *args, **kwargs):
            response = super().open(*args, **kwargs)
            with self.session_transaction() as sess:
                flashed = sess.get("_flashes", [])
                response.client_flashes = " ".join(str(m) for _c, m in flashed)
                sess.pop("_flashes", None)
            return response

    app.test_client_class, before = Client, app.test_client_class
    with app.test_client() as client:
        yield client
    app.test_client_class = before


def test_matrix_covers_every_screen_and_resource(app):
    cases = endpoint_cases(app)
    views = {type(c[1]).__name__ for c in cases}
    assert {"EstateView", "OwnerView", "OwnerApi", "TaskApi"} <= views
    api_views = [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi)]
    for api in api_views:
        methods = {c[0].split(".")[1].split(":")[0] for c in cases if c[1] is api}
        assert {"get", "get_list", "info"} <= methods, (type(api).__name__, methods)


@pytest.mark.parametrize("role_name", sorted(ROLES))
def test_role_gets_exactly_its_declared_permissions(app, make, flash_client, role_name):
    estate = make.estate("甲小区")
    user = make.user(role_name, estates=[estate], username="matrix")
    granted = _granted(app, role_name)
    assert login(flash_client, "matrix").status_code == 302
    headers = api_token(flash_client, "matrix")
    mismatches = []
    for desc, view, kind, method, url, data, perm in endpoint_cases(app):
        expected = (perm, view.class_permission_name) in granted
        response = _request(flash_client, method, url, data, headers, is_api=(kind == "api"))
        assert response.status_code != 500, (desc, url, response.get_data(as_text=True)[:300])
        assert not (response.status_code == 302 and "/login" in (response.location or "")), (desc, "logged out?")
        if expected == _refused(kind, response):
            mismatches.append(f"{desc} {method} {url}: declared={'yes' if expected else 'no'} ({perm}) got {response.status_code}")
    assert user is not None
    assert not mismatches, f"{role_name}:\n" + "\n".join(mismatches)


def test_anonymous_visitors_are_sent_to_login_or_get_401(app, client):
    problems = []
    for desc, _view, kind, method, url, data, _perm in endpoint_cases(app):
        response = _request(client, method, url, data, is_api=(kind == "api"))
        if kind == "api":
            ok = response.status_code == 401
        elif kind == "action" and not isinstance(_view, ScopedModelView):
            ok = response.status_code == 302  # FAB's own security screens: refused and sent back
        else:
            ok = response.status_code == 302 and "/login" in (response.location or "")
        if not ok:
            problems.append(f"{desc} {method} {url}: {response.status_code} {response.location}")
    assert not problems, "\n".join(problems)
