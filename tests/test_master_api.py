"""Master data through the REST API: create and read back, Chinese errors, estate scoping."""

from tests.conftest import api_token


def test_api_client_creates_and_reads_back_master_data(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    r = client.post("/api/v1/estate/", json={"name": "锦绣花园", "kind": "residential", "households": 320}, headers=h)
    assert r.status_code == 201, r.json
    estate_id = r.json["id"]
    r = client.post("/api/v1/building/", json={"estate_id": estate_id, "name": "1号楼"}, headers=h)
    assert r.status_code == 201, r.json
    building_id = r.json["id"]
    r = client.post("/api/v1/unit/", json={"building_id": building_id, "room": "101"}, headers=h)
    assert r.status_code == 201, r.json
    unit_id = r.json["id"]
    r = client.post("/api/v1/owner/", json={"name": "王芳", "phone": "13912345678", "unit_id": unit_id}, headers=h)
    assert r.status_code == 201, r.json
    owner_id = r.json["id"]

    owner = client.get(f"/api/v1/owner/{owner_id}", headers=h).json
    assert owner["id"] == owner_id
    assert owner["result"]["estate_id"] == estate_id
    assert owner["result"]["unit_id"] == unit_id
    listed = client.get(f"/api/v1/unit/?q=(filters:!((col:building_id,opr:eq,value:{building_id})))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["id"] == unit_id and listed["result"][0]["estate_id"] == estate_id


def test_bad_phone_is_refused_with_the_field_named(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    unit = make.unit(make.building(make.estate()))
    r = client.post("/api/v1/owner/", json={"name": "李四", "phone": "12345", "unit_id": unit.id}, headers=h)
    assert r.status_code == 422
    assert "电话号码格式不正确" in r.json["message"]["phone"][0]
    assert client.get("/api/v1/owner/", headers=h).json["count"] == 0


def test_landline_is_accepted(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    unit = make.unit(make.building(make.estate()))
    r = client.post("/api/v1/owner/", json={"name": "李四", "phone": "021-62345678", "unit_id": unit.id}, headers=h)
    assert r.status_code == 201, r.json


def test_duplicate_room_in_a_building_is_refused(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    building = make.building(make.estate())
    make.unit(building, room="101")
    r = client.post("/api/v1/unit/", json={"building_id": building.id, "room": "101"}, headers=h)
    assert r.status_code == 422
    assert "已有房号 101" in r.json["message"]["room"][0]


def test_estate_with_buildings_cannot_be_deleted(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    estate = make.estate()
    make.building(estate)
    r = client.delete(f"/api/v1/estate/{estate.id}", headers=h)
    assert r.status_code == 422
    assert "还有 1 栋楼" in str(r.json["message"])
    assert client.get(f"/api/v1/estate/{estate.id}", headers=h).status_code == 200


def test_unknown_unit_and_malformed_bodies_never_500(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    for body in [
        {"name": "x", "phone": "13812345678", "unit_id": 999999},
        {"name": "x", "phone": "13812345678", "unit_id": 2**70},
        {"name": None, "phone": 5, "unit_id": "abc"},
        [],
        "text",
    ]:
        r = client.post("/api/v1/owner/", json=body, headers=h)
        assert r.status_code in (400, 422), (body, r.status_code, r.get_data(as_text=True))
    r = client.post("/api/v1/owner/", data="{not json", headers=h | {"Content-Type": "application/json"})
    assert r.status_code == 400


def test_user_of_one_estate_cannot_see_or_change_another(client, make):
    a, b = make.estate("甲小区"), make.estate("乙小区")
    owner_a = make.owner(estate=a, name="甲业户")
    owner_b = make.owner(estate=b, name="乙业户", phone="13900000000")
    make.user("接待员", estates=[a], username="clerk_a")
    h = api_token(client, "clerk_a")

    listed = client.get("/api/v1/owner/", headers=h).json
    assert [o["name"] for o in listed["result"]] == ["甲业户"]
    crafted = client.get(f"/api/v1/owner/?q=(filters:!((col:estate_id,opr:eq,value:{b.id})))", headers=h).json
    assert crafted["count"] == 0
    assert client.get(f"/api/v1/owner/{owner_b.id}", headers=h).status_code == 404
    assert client.put(f"/api/v1/owner/{owner_b.id}", json={"name": "改"}, headers=h).status_code == 404
    assert client.delete(f"/api/v1/owner/{owner_b.id}", headers=h).status_code == 404
    # moving an own owner into a unit of the other estate is refused
    r = client.put(f"/api/v1/owner/{owner_a.id}", json={"unit_id": owner_b.unit_id}, headers=h)
    assert r.status_code == 403
    # creating in the other estate is refused
    r = client.post("/api/v1/owner/", json={"name": "新", "phone": "13812345679", "unit_id": owner_b.unit_id}, headers=h)
    assert r.status_code == 403
    assert client.get(f"/api/v1/estate/{b.id}", headers=h).status_code == 404


def test_anonymous_gets_401_and_missing_permission_403(client, make):
    make.user("维修人员", username="worker")
    assert client.get("/api/v1/owner/").status_code == 401
    h = api_token(client, "worker")
    assert client.post("/api/v1/estate/", json={"name": "x", "kind": "residential", "households": 1}, headers=h).status_code == 403
