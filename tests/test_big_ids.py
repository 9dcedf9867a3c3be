"""Ids beyond what an INTEGER column holds (32 bits on PostgreSQL) are bad input, never a 500."""

from tests.conftest import api_token


def test_out_of_range_ids_answer_404_or_422(client, make):
    make.user("系统管理员", username="boss")
    h = api_token(client, "boss")
    big = 20164192806084548
    assert client.get(f"/api/v1/department/{big}", headers=h).status_code == 404
    assert client.put(f"/api/v1/department/{big}", json={"name": "x"}, headers=h).status_code == 404
    assert client.delete(f"/api/v1/department/{big}", headers=h).status_code == 404
    r = client.post("/api/v1/building/", json={"estate_id": 2**31, "name": "1号楼"}, headers=h)
    assert r.status_code in (400, 422) and "estate_id" in str(r.json["message"])
