"""Hostile input finds no 500: schemathesis against the authenticated OpenAPI spec, hypothesis on
form posts and transition bodies, literal search with quotes, % and _, upload limits and malformed
spreadsheets."""

from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import api_token, login
from tests.generic import model_views, rest_apis

HOSTILE = ["'", '"', "%", "_", "\\", "' OR '1'='1", "1; DROP TABLE owner; --", "%_%", "<script>x</script>", "　", "𠀀"]
FAST = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


# ---------------------------------------------------------------- search boxes
def test_search_takes_quotes_percent_underscore_and_sql_literally(app, make, client):
    estate = make.estate("甲小区")
    unit = make.unit(make.building(estate), room="101")
    names = ["百分之50%先生", "下划线_王", "O'Brien", "'; DROP TABLE owner; --", "普通业户"]
    for i, name in enumerate(names):
        make.owner(unit=unit, name=name, phone=f"1381234567{i}")
    make.user("接待员", estates=[estate], username="c1")
    h = api_token(client, "c1")

    def api_search(text):
        q = "(filters:!((col:name,opr:ct,value:'" + text.replace("!", "!!").replace("'", "!'") + "')))"
        r = client.get("/api/v1/owner/", query_string={"q": q}, headers=h)
        assert r.status_code == 200, r.get_data(as_text=True)
        return sorted(row["name"] for row in r.json["result"])

    assert api_search("%") == ["百分之50%先生"]
    assert api_search("_") == ["下划线_王"]
    assert api_search("'") == sorted(["O'Brien", "'; DROP TABLE owner; --"])
    assert api_search("DROP TABLE") == ["'; DROP TABLE owner; --"]
    assert api_search("' OR '1'='1") == []
    login(client, "c1")
    for text in HOSTILE + names:
        r = client.get("/ownerview/list/", query_string={"_flt_0_name": text})  # the quick search box
        assert r.status_code == 200, text
    page = client.get("/ownerview/list/", query_string={"_flt_0_name": "_"}).get_data(as_text=True)
    assert "下划线_王" in page and "普通业户" not in page
    assert api_search("") == sorted(names)  # the table is still there


# ---------------------------------------------------------------- uploads
def test_oversized_and_malformed_uploads_are_refused_with_a_message(app, make, client):
    make.user("系统管理员", username="boss")
    login(client, "boss")
    big = io.BytesIO(b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1024))
    r = client.post("/roster/", data={"file": (big, "big.xlsx")}, content_type="multipart/form-data")
    assert r.status_code == 413 and "上传的文件过大" in r.get_data(as_text=True)
    for payload, filename in ((b"not a spreadsheet", "roster.xlsx"), (b"PK\x03\x04broken zip", "roster.xlsx"), (b"a,b\n", "roster.csv")):
        r = client.post("/roster/", data={"file": (io.BytesIO(payload), filename)}, content_type="multipart/form-data")
        assert r.status_code == 200, filename
        text = r.get_data(as_text=True)
        assert "xlsx" in text and ("导入失败" in text or "只接受" in text), text[:300]


def test_unstorable_characters_are_refused_not_crashed(app, make, client):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    for body in ({"name": "a\x00b", "kind": "residential", "households": 1}, {"name": "\ud800", "kind": "residential", "households": 1}):
        r = client.post("/api/v1/estate/", json=body, headers=h)
        assert r.status_code == 400 and "无法保存的字符" in r.json["message"]
    r = client.get("/api/v1/estate/?q=(filters:!((col:name,opr:ct,value:'a%00')))", headers=h)
    assert r.status_code in (200, 400)


# ---------------------------------------------------------------- forms (hypothesis)
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60), st.integers(min_value=-(2**70), max_value=2**70).map(str))


def _form_fields(view, kind):
    form = (view.add_form if kind == "add" else view.edit_form)()
    return [f.name for f in form if f.name not in ("csrf_token", "row_version")]


MISSING = "所选的记录不存在(可能已被删除),请重新选择"


def test_references_to_records_that_do_not_exist_are_refused_naming_the_field(app, make, client, session):
    """A key or a list of related records naming an id no row has: 422 with the field's name, nothing
    changed (the database alone would refuse without saying which field)."""
    from models.master import Building, Staff

    kept, other = make.estate("绿苑"), make.estate("翠苑")
    section = make.department("水电处", estate=kept)
    make.user("系统管理员", username="boss")
    clerk = make.user("接待员", estates=[kept], username="c9", department=section)
    session.commit()
    staff_id = session.query(Staff.id).filter_by(user_id=clerk.id).scalar()
    h = api_token(client, "boss")
    for body, field in (({"estates": [other.id, 999999]}, "estates"), ({"department_id": 999999}, "department_id"),
                        ({"user_id": 999999}, "user_id")):
        r = client.put(f"/api/v1/staff/{staff_id}", json=body, headers=h)
        assert (r.status_code, r.json["message"]) == (422, {field: [MISSING]}), body
    r = client.post("/api/v1/building/", json={"estate_id": 999999, "name": "9号楼"}, headers=h)
    assert (r.status_code, r.json["message"]) == (422, {"estate_id": [MISSING]})
    session.expire_all()
    staff = session.get(Staff, staff_id)
    assert [e.id for e in staff.estates] == [kept.id] and staff.department_id == section.id
    assert session.query(Building).count() == 0
    # what exists is taken
    r = client.put(f"/api/v1/staff/{staff_id}", json={"estates": [other.id]}, headers=h)
    assert r.status_code == 200 and r.json["result"]["estates"] == [other.id]


def test_screen_forms_never_fail_on_hostile_values(app, make, client):
    make.user("系统管理员", username="boss")
    estate = make.estate("甲小区")
    make.owner(estate=estate)
    login(client, "boss")
    views = [v for v in model_views(app) if "can_write" in v.base_permissions and v.add_columns]

    @FAST
    @given(data=st.data())
    def post_forms(data):
        view = data.draw(st.sampled_from(views))
        fields = _form_fields(view, "add")
        values = {name: data.draw(texts) for name in fields}
        r = client.post(f"{view.route_base}/add", data=values)
        assert r.status_code in (200, 302, 400, 403, 404), (type(view).__name__, values, r.status_code)

    post_forms()


def test_transition_bodies_never_fail(app, make, client, session):
    from models.workflow import WORKFLOWS
    from tests.generic import RowMaker

    user = make.user("系统管理员", username="boss")
    estate = make.estate("甲小区")
    h = api_token(client, "boss")
    targets = []
    maker = RowMaker(session, user.id)
    for api in rest_apis(app):
        workflow = WORKFLOWS.get(getattr(api, "workflow_type", None) or "")
        if workflow is None:
            continue
        row = maker.make(api.datamodel.obj, estate, "测试")
        session.commit()
        targets += [(api.resource_name, row.id, t) for t in workflow.transitions]
    assert targets
    values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), texts, st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
    keys = st.sampled_from(["reason", "note", "department_id", "assignee_id", "amount", "satisfied", "valid", "materials", "work_hours", "version", "x"])

    @FAST
    @given(target=st.sampled_from(targets), body=st.one_of(st.dictionaries(keys, values, max_size=4), st.lists(st.integers(), max_size=2), st.text(max_size=10)))
    def post_transition(target, body):
        resource, pk, transition = target
        r = client.post(f"/api/v1/{resource}/{pk}/{transition}", json=body, headers=h)
        assert r.status_code < 500, (resource, transition, body, r.get_data(as_text=True)[:300])

    post_transition()


# ---------------------------------------------------------------- the whole API (schemathesis)
@pytest.fixture()
def openapi_schema(app, make, client):
    import schemathesis

    make.user("系统管理员", username="boss")
    estate = make.estate("甲小区")
    make.owner(estate=estate)
    headers = api_token(client, "boss")
    spec = client.get("/api/v1/_openapi", headers=headers)
    assert spec.status_code == 200
    schema = schemathesis.openapi.from_dict(spec.json)
    return schema, headers


def test_api_answers_every_generated_request_without_500(app, client, openapi_schema):
    schema, headers = openapi_schema
    failures = []
    operations = [op.ok() for op in schema.get_all_operations() if "/security/" not in op.ok().path]
    assert len(operations) > 20

    for operation in operations:
        strategy = operation.as_strategy()

        @settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        @given(case=strategy)
        def call(case):
            kwargs = case.as_transport_kwargs(base_url="")
            url = kwargs.pop("url")
            method = kwargs.pop("method")
            response = client.open(
                url, method=method, headers={**(kwargs.get("headers") or {}), **headers},
                query_string=kwargs.get("params"), json=kwargs.get("json"), data=kwargs.get("data"),
            )
            if response.status_code >= 500:
                failures.append(f"{method} {url} {kwargs.get('params')} {kwargs.get('json')!r:.200}: {response.status_code}")

        call()
    assert not failures, "\n".join(failures[:30])
