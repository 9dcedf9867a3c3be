"""业主(住户)意见征询表: campaigns, scores 1–5, the report with the weakest areas first, xlsx."""

from __future__ import annotations

from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from models.base import ValidationError
from models.survey import SurveyCampaign, SurveyResponse, SurveyScore, survey_report
from models.workflow import Actor
from tests.conftest import api_token, login


@pytest.fixture()
def two_estates(make):
    a, b = make.estate("锦绣花园"), make.estate("国贸中心")
    make.user("物业管理员", estates=[a], username="officer")
    make.user("公司经理", username="boss")
    return a, b


def campaign(session, estate, period="2026", areas=None):
    body = {"estate_id": estate.id, "period": period}
    if areas is not None:
        body["areas"] = areas
    survey = SurveyCampaign.register(session, Actor.system_actor(), None, body)
    session.commit()
    return survey


def answer(session, survey, scores, comments=None, owner=None):
    response = SurveyResponse.register(
        session, Actor.system_actor(), None,
        {"survey_id": survey.id, "scores": scores, "comments": comments, **({"owner_id": owner.id} if owner else {})},
    )
    session.commit()
    return response


def test_report_gives_averages_per_area_and_estate_weakest_first(session, two_estates):
    a, b = two_estates
    sa, sb = campaign(session, a), campaign(session, b, areas="客服接待、维修、保洁")
    answer(session, sa, {"客服接待": 5, "维修": 2, "保安": 4, "保洁": 3, "绿化": 5, "收费": 4}, "维修上门不及时")
    answer(session, sa, {"客服接待": 4, "维修": 3, "保安": 4, "保洁": 4, "绿化": 5, "收费": 4})
    answer(session, sa, {"客服接待": 5, "维修": 2, "保安": 5, "保洁": "", "绿化": 4, "收费": 5})  # 保洁 left blank
    answer(session, sb, {"客服接待": 3, "维修": 4, "保洁": 2})
    answer(session, sb, {"客服接待": 4, "维修": 4, "保洁": 2}, "保洁不到位")

    report = survey_report(session, period="2026", scope="all")
    first = report.areas[0]
    assert (first.estate, first.area, first.average, first.scores, first.low) == ("国贸中心", "保洁", Decimal("2.00"), 2, 2)
    averages = [a.average for a in report.areas]
    assert averages == sorted(averages)
    row = next(x for x in report.areas if x.estate == "锦绣花园" and x.area == "维修")
    assert row.average == Decimal("2.33") and row.scores == 3 and row.low == 2
    clean = next(x for x in report.areas if x.estate == "锦绣花园" and x.area == "保洁")
    assert clean.scores == 2 and clean.average == Decimal("3.50")  # the blank is not a zero
    estates = {e.estate: e for e in report.estates}
    assert estates["锦绣花园"].responses == 3 and estates["锦绣花园"].weakest == "维修"
    assert estates["国贸中心"].average == Decimal("3.17") and estates["国贸中心"].weakest == "保洁"
    assert [e.estate for e in report.estates] == ["国贸中心", "锦绣花园"]  # weaker estate first
    assert ("锦绣花园", "", "维修上门不及时") in report.comments

    only_a = survey_report(session, survey_ids=[sa.id], scope="all")
    assert {x.estate for x in only_a.areas} == {"锦绣花园"}
    assert survey_report(session, period="2025", scope="all").areas == []


@pytest.mark.parametrize(
    "scores, text",
    [
        ({"维修": 6}, "「维修」的评分必须是 1–5 的整数"),
        ({"维修": 0}, "「维修」的评分必须是 1–5 的整数"),
        ({"维修": 4.5}, "「维修」的评分必须是 1–5 的整数"),
        ({"维修": "好"}, "「维修」的评分必须是 1–5 的整数"),
        ({"维修": True}, "「维修」的评分必须是 1–5 的整数"),
        ({"电梯": 4}, "没有服务项目「电梯」"),
        ({}, "请至少为一个服务项目评分"),
        ({"维修": ""}, "请至少为一个服务项目评分"),
        ("5", "请至少为一个服务项目评分"),
    ],
)
def test_score_outside_one_to_five_is_refused_and_nothing_saved(client, session, two_estates, scores, text):
    survey = campaign(session, two_estates[0])
    h = api_token(client, "officer")
    r = client.post("/api/v1/survey_response/", json={"survey_id": survey.id, "scores": scores}, headers=h)
    assert r.status_code == 422, r.json
    assert text in r.json["message"]["scores"][0]
    assert session.scalar(select(func.count(SurveyResponse.id))) == 0
    assert session.scalar(select(func.count(SurveyScore.id))) == 0


def test_survey_api_report_filters_and_closing(client, session, make, two_estates):
    a, b = two_estates
    owner = make.owner(estate=a, name="王芳")
    h = api_token(client, "officer")
    r = client.post("/api/v1/survey/", json={"estate_id": a.id, "period": "2026-H2", "areas": ["维修", "保洁", "保安"]}, headers=h)
    assert r.status_code == 201, r.json
    sid = r.json["id"]
    assert r.json["result"]["status"] == "open" and r.json["result"]["areas"] == "维修\n保洁\n保安"
    assert client.post("/api/v1/survey/", json={"estate_id": a.id, "period": "2026-H2"}, headers=h).status_code == 422  # one per period
    assert client.post("/api/v1/survey/", json={"estate_id": a.id, "period": "2026年下半年"}, headers=h).status_code == 422
    assert client.post("/api/v1/survey/", json={"estate_id": b.id, "period": "2026"}, headers=h).status_code == 403

    r = client.post("/api/v1/survey_response/", json={"survey_id": sid, "owner_id": owner.id, "scores": {"维修": 2, "保洁": 4}, "comments": "维修慢"}, headers=h)
    assert r.status_code == 201, r.json
    assert r.json["result"]["estate_id"] == a.id and r.json["result"]["respondent"] == "王芳"
    again = client.post("/api/v1/survey_response/", json={"survey_id": sid, "owner_id": owner.id, "scores": {"维修": 5}}, headers=h)
    assert again.status_code == 422 and "owner_id" in again.json["message"]

    report = client.get(f"/api/v1/survey/{sid}/report", headers=h).json["result"]
    assert report["areas"][0] == {"estate_id": a.id, "estate": "锦绣花园", "area": "维修", "scores": 1, "average": "2.00", "low": 1}
    listed = client.get(f"/api/v1/survey_response/?q=(filters:!((col:survey_id,opr:eq,value:{sid})))", headers=h).json
    assert listed["count"] == 1
    by_period = client.get("/api/v1/survey/?q=(filters:!((col:period,opr:eq,value:'2026-H2')))", headers=h).json
    assert by_period["count"] == 1 and by_period["result"][0]["estate_id"] == a.id
    hb = api_token(client, "boss")
    whole = client.get("/api/v1/survey/report?period=2026", headers=hb).json["result"]
    assert whole["estates"][0]["average"] == "3.00"

    # removing an area that has scores is refused
    r = client.put(f"/api/v1/survey/{sid}", json={"areas": ["保洁", "保安"]}, headers=h)
    assert r.status_code == 422 and "维修" in r.json["message"]["areas"][0]
    assert client.post(f"/api/v1/survey/{sid}/close", json={}, headers=h).status_code == 200
    late = client.post("/api/v1/survey_response/", json={"survey_id": sid, "scores": {"维修": 3}}, headers=h)
    assert late.status_code == 409 and "已结束" in late.json["message"]
    assert client.delete(f"/api/v1/survey/{sid}", headers=h).status_code == 422


def test_survey_rules_without_http(session, two_estates):
    a, _b = two_estates
    survey = campaign(session, a, areas=["维修", "维修", " 绿化 "])
    assert survey.area_list == ["维修", "绿化"] and survey.title == "业主(住户)意见征询表 2026"
    with pytest.raises(ValidationError) as err:
        SurveyResponse.register(session, Actor.system_actor(), None, {"survey_id": survey.id, "scores": {"维修": 9}})
    assert err.value.field == "scores"
    session.rollback()
    with pytest.raises(ValidationError):
        campaign(session, a, period="2026-13")


def test_report_screen_and_xlsx_export(client, session, two_estates, tmp_path):
    a, b = two_estates
    answer(session, campaign(session, a), {"维修": 2, "保洁": 5}, "维修慢")
    answer(session, campaign(session, b), {"维修": 5, "保洁": 1})
    login(client, "officer")
    page = client.get("/surveyview/report/?period=2026").get_data(as_text=True)
    assert "意见征询汇总" in page and "锦绣花园" in page and "国贸中心" not in page  # the officer's estate only
    assert page.index("维修") < page.index("保洁")
    r = client.get("/surveyview/report.xlsx?period=2026")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")

    from models.reception_summary import export_survey_report

    path = tmp_path / "survey.xlsx"
    assert export_survey_report(session, "2026", str(path)) == 4
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=3, max_row=5)]
    assert rows[0][:4] == ["小区/大厦", "服务项目", "评分份数", "平均分"]
    assert rows[1][:2] == ["国贸中心", "保洁"] and rows[1][3] == 1


def test_typing_in_a_returned_form_on_the_screen(client, session, make, two_estates):
    a, _b = two_estates
    survey = campaign(session, a, areas="维修、保洁")
    owner = make.owner(estate=a, name="王芳")
    login(client, "officer")
    page = client.get(f"/surveyview/respond/{survey.id}").get_data(as_text=True)
    assert "录入答卷" in page and "保洁" in page
    r = client.post(f"/surveyview/respond/{survey.id}", data={"owner_id": owner.id, "score_0": "7", "score_1": "4", "next": "show"})
    assert "「维修」的评分必须是 1–5 的整数" in r.get_data(as_text=True)
    assert session.scalar(select(func.count(SurveyResponse.id))) == 0
    r = client.post(f"/surveyview/respond/{survey.id}", data={"owner_id": owner.id, "score_0": "2", "score_1": "4", "comments": "维修慢", "next": "show"})
    assert r.status_code == 302
    show = client.get(f"/surveyview/show/{survey.id}").get_data(as_text=True)
    assert "最薄弱" in show and "2.00" in show and "维修慢" in show
