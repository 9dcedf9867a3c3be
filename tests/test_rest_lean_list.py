"""The lean REST list (views/rest_list.py) answers exactly what FAB's own list answers, for every
registered REST resource: the same status and the same JSON (keys, values, formats, `count`, `ids`,
metadata asked through `keys`) for plain lists, every filter operator on every searchable column,
ordering on every order column both ways, paging, `columns`/`select_columns`, and bad arguments —
as an estate-limited clerk and as a company-level user. So the fast path can never drift from FAB's.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import prison
import pytest
from sqlalchemy import event, inspect

from app.extensions import db as _db
from tests.conftest import api_token
from tests.generic import RowMaker, estate_owned_models, rest_apis

ROLE = "精简列表测试角色"


@pytest.fixture()
def rows(app, make, session):
    """Three rows of every estate-owned model in estate A, one in estate B; a clerk of estate A with
    every permission and a company manager."""
    sm = app.appbuilder.sm
    role = sm.find_role(ROLE) or sm.add_role(ROLE)
    admin = sm.find_role(sm.auth_role_admin)
    for pv in admin.permissions:
        if pv not in role.permissions:
            sm.add_permission_role(role, pv)
    a, b = make.estate("甲小区"), make.estate("乙小区")
    clerk = make.user(ROLE, estates=[a], username="lean_clerk")
    make.user("公司经理", username="lean_manager")
    maker = RowMaker(session, clerk.id)
    made: dict = {}
    for model in estate_owned_models():
        if model.__name__ == "Estate":
            made[model] = [a, b]
            continue
        try:
            made[model] = [maker.make(model, a, f"甲{i}%_'") for i in range(3)] + [maker.make(model, b, "乙")]
            session.commit()
        except Exception:  # what the generic maker cannot fill is covered by its own area's tests
            session.rollback()
            maker.parents.clear()
    return made


def _rison_value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def value_of(sample, column):
    return _rison_value(getattr(sample, column, None)) if sample is not None and "." not in column else None


def _queries(api, sample) -> list[dict | str | None]:
    """The `?q=` arguments tried on one resource (dicts are rison-encoded, strings sent as they are)."""
    out: list = [None, {}, {"keys": ["none"]}, {"keys": ["list_columns", "label_columns", "order_columns", "list_title"]},
                 {"page": 0, "page_size": 2}, {"page": 1, "page_size": 2}, {"page": 5, "page_size": 2},
                 {"page_size": -1}, {"page_size": 1000}]
    for column in api.order_columns or []:
        for direction in ("asc", "desc"):
            out.append({"order_column": column, "order_direction": direction, "page_size": 2, "keys": ["none"]})
    listed = list(api.list_columns)
    out += [
        {"columns": listed[:3]},
        {"columns": [*listed[-2:], "no_such_column"], "keys": ["list_columns", "order_columns"]},
        {"select_columns": listed[:2]},
        {"columns": listed[:1], "select_columns": listed[:1]},
        {"order_column": "no_such_column"},
        {"filters": [{"col": "no_such_column", "opr": "eq", "value": 1}]},
        {"filters": [{"col": listed[0], "opr": "no_such_operator", "value": 1}]},
        {"filters": [{"col": listed[0], "opr": "eq"}]},
        "(filters:!((col:id,opr:eq,value:'x'))",  # not rison
        "(page:'x')",  # against the schema
    ]
    odd = ["abc", None, [1, 2], {"a": 1}, [value_of(sample, "id"), 0]]
    for column, filters in api._filters.get_search_filters().items():
        value = value_of(sample, column)
        for i, flt in enumerate(filters):
            for v in (value, odd[i // 2 % len(odd)]) if i % 2 == 0 else (value,):
                out.append({"filters": [{"col": column, "opr": flt.arg_name, "value": v}], "keys": ["none"]})
    if "estate_id" in api.search_columns and sample is not None:
        out.append({"filters": [{"col": "estate_id", "opr": "eq", "value": getattr(sample, "estate_id", 1)},
                                {"col": "id", "opr": "gt", "value": 0}] if "id" in api.search_columns else
                    [{"col": "estate_id", "opr": "eq", "value": getattr(sample, "estate_id", 1)}],
                    "order_column": (api.order_columns or ["id"])[0], "order_direction": "desc", "page": 0, "page_size": 2})
    return out


def _url(base, q) -> str:
    if q is None:
        return f"{base}/"
    return f"{base}/?q={q if isinstance(q, str) else prison.dumps(q)}"


def _comparable(answer, unordered: bool):
    """Without an order (no order_column, no base_order) the database may return the rows in any
    order (PostgreSQL: as the plan finds them): the same rows then, and for a page only how many."""
    status, body = answer
    if not unordered or not isinstance(body, dict) or not isinstance(body.get("result"), list):
        return answer
    body = dict(body)
    if body.get("count", 0) > len(body["result"]):
        body["result"], body["ids"] = len(body["result"]), len(body["ids"])
    else:
        body["result"], body["ids"] = sorted(body["result"], key=repr), sorted(body["ids"])
    return status, body


def _answer(client, api, url, headers, lean: bool):
    api.lean_list = lean
    try:
        response = client.get(url, headers=headers)
    finally:
        api.lean_list = True
    return response.status_code, response.get_json(silent=True)


def test_lean_list_answers_what_fab_answers_for_every_resource(app, client, rows, monkeypatch):
    import views.rest_list as rest_list

    taken: dict[str, int] = {}
    original = rest_list.lean_list_response

    def counting(api, args):
        response = original(api, args)
        if response is not None:
            taken[api.resource_name] = taken.get(api.resource_name, 0) + 1
        return response

    monkeypatch.setattr(rest_list, "lean_list_response", counting)
    headers = {"clerk": api_token(client, "lean_clerk"), "manager": api_token(client, "lean_manager")}
    differences, errors, tried = [], [], 0
    for api in rest_apis(app):
        model = api.datamodel.obj
        sample = (rows.get(model) or [None])[0]
        base = f"/api/v1/{api.resource_name}"
        for who, q in [("clerk", q) for q in _queries(api, sample)] + [("manager", None), ("manager", {"page_size": 3})]:
            url = _url(base, q)
            fab = _answer(client, api, url, headers[who], lean=False)
            lean = _answer(client, api, url, headers[who], lean=True)
            tried += 1
            if 500 in (fab[0], lean[0]):
                errors.append(f"{who} {url}: FAB {fab[0]}, lean {lean[0]}")
            unordered = not api.base_order and not (isinstance(q, dict) and q.get("order_column"))
            fab, lean = _comparable(fab, unordered), _comparable(lean, unordered)
            if fab != lean:
                differences.append(f"{who} {url}\n  FAB:  {fab}\n  lean: {lean}")
    assert not differences, f"{len(differences)} of {tried} answers differ:\n" + "\n".join(differences[:20])
    assert not errors, "bad arguments answered 500:\n" + "\n".join(errors)
    assert tried > 1000
    # the fast path did answer (else this test would compare FAB with itself)
    missing = [api.resource_name for api in rest_apis(app) if not taken.get(api.resource_name)]
    assert "repair_order" not in missing
    assert len(missing) <= len(rest_apis(app)) // 4, f"lean path never taken for {missing}"


def _statements(app, client, api, url, headers, lean):
    count = [0]

    def counter(*_args, **_kwargs):
        count[0] += 1

    with app.app_context():
        engine = _db.engine
    event.listen(engine, "before_cursor_execute", counter)
    try:
        answer = _answer(client, api, url, headers, lean)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return answer, count[0]


def test_ledger_lean_path_same_answer_fewer_statements(app, client, rows):
    api = next(a for a in rest_apis(app) if a.resource_name == "repair_order")
    orders = rows.get(api.datamodel.obj)
    if not orders:
        pytest.skip("repair orders not made generically")
    estate_id = orders[0].estate_id
    q = (f"(filters:!((col:estate_id,opr:eq,value:{estate_id}),(col:status,opr:eq,value:{orders[0].status})),"
         "order_column:recorded_at,order_direction:desc,page:0,page_size:25,keys:!(none))")
    headers = api_token(client, "lean_clerk")
    url = f"/api/v1/repair_order/?q={q}"
    _answer(client, api, url, headers, True)  # warm
    fab, fab_n = _statements(app, client, api, url, headers, False)
    lean, lean_n = _statements(app, client, api, url, headers, True)
    assert fab[0] == 200 and lean == fab
    assert len(lean[1]["result"]) == lean[1]["count"] >= 3
    assert lean_n <= fab_n
    assert inspect(orders[0]).identity[0] in lean[1]["ids"]


def test_in_filter_with_a_single_value_is_refused_in_chinese(app, client, rows):
    headers = api_token(client, "lean_clerk")
    for lean in (True, False):
        api = next(a for a in rest_apis(app) if a.resource_name == "repair_order")
        for opr in ("in", "not_in"):
            status, body = _answer(client, api, f"/api/v1/repair_order/?q=(filters:!((col:estate_id,opr:{opr},value:1)))", headers, lean)
            assert status == 400 and "需要一组值" in body["message"], (lean, opr, status, body)
        status, body = _answer(client, api, "/api/v1/repair_order/?q=(filters:!((col:estate_id,opr:in,value:!(1,2))))", headers, lean)
        assert status == 200, body


@pytest.mark.parametrize("lean", [True, False])
def test_areas_filters_of_one_name_answer_each_for_their_own_resource(app, client, rows, lean):
    """The owners' and the directory's quick search are both `opr:q`; FAB's global table of operators
    used to send one resource's `q` to the other's filter (a 500, or the wrong rows) once the other
    screen had built its filter. Whichever is built last, each resource searches itself."""
    from flask_appbuilder.models.filters import map_args_filter

    from models.services import DirectoryEntry
    from views.master import FilterOwnerQuick
    from views.services import FilterDirectoryQuick

    entries = rows[DirectoryEntry]
    headers = api_token(client, "lean_clerk")
    api = next(a for a in rest_apis(app) if a.resource_name == "directory_entry")
    owners = next(a for a in rest_apis(app) if a.resource_name == "owner")
    for built_last, datamodel in ((FilterOwnerQuick, owners.datamodel), (FilterDirectoryQuick, api.datamodel),
                                  (FilterOwnerQuick, owners.datamodel)):
        built_last("name", datamodel)
        assert "q" not in map_args_filter
        url = _url("/api/v1/directory_entry", {"filters": [{"col": "name", "opr": "q", "value": entries[1].name[:1]}]})
        status, body = _answer(client, api, url, headers, lean=lean)
        assert status == 200, body
        assert {r["id"] for r in body["result"]} == {e.id for e in entries[:3]}
