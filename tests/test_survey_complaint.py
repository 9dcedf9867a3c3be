"""意见征询表答卷 → 投诉 (SPEC §6 channel 意见征询表): the rule without HTTP, the response screen, REST."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.base import PermissionDenied, ValidationError
from models.complaint import Complaint, complaint_flow
from models.survey import SurveyCampaign, SurveyResponse, register_complaint_from_response, survey_response_flow
from models.workflow import Actor, TransitionRefused
from tests.conftest import api_token, login


@pytest.fixture()
def answered(make, session):
    """A 2026 survey of 锦绣花园 with 王芳's response (保洁 scored 1, comments), a clerk and a colleague of another estate."""
    estate, other = make.estate("锦绣花园"), make.estate("国贸中心")
    building = make.building(estate)
    owner = make.owner(unit=make.unit(building, "101"), name="王芳", phone="13912345678")
    clerk = make.user("接待员", estates=[estate], username="jd")
    make.user("接待员", estates=[other], username="jd2")
    make.user("管理处主任", estates=[estate], username="zr")
    survey = SurveyCampaign.register(session, Actor.system_actor(), None, {"estate_id": estate.id, "period": "2026"})
    session.commit()
    response = SurveyResponse.register(
        session, Actor.system_actor(), None,
        {"survey_id": survey.id, "owner_id": owner.id, "scores": {"客服接待": 4, "维修": 3, "保洁": 1, "收费": 4},
         "comments": "楼道垃圾两天没人清理,反映过也没人管"},
    )
    session.commit()
    return {"estate": estate, "owner": owner, "survey": survey, "response": response, "clerk": Actor(user=clerk)}


def test_a_response_becomes_a_complaint_linked_both_ways(session, answered):
    response = answered["response"]
    complaint = register_complaint_from_response(session, response, answered["clerk"])
    session.commit()
    assert (complaint.channel, complaint.channel_label, complaint.category) == ("survey", "意见征询表", "cleaning")
    assert (complaint.estate_id, complaint.unit_id, complaint.owner_id) == (answered["estate"].id, response.unit_id, answered["owner"].id)
    assert complaint.content == "楼道垃圾两天没人清理,反映过也没人管"
    assert complaint.complainant == "王芳" and complaint.phone == "13912345678" and complaint.status == "received"
    assert (complaint.source_type, complaint.source_id) == ("survey_response", response.id)
    assert complaint.number.startswith("TS-")
    assert (response.complaint_id, response.status, response.status_label) == (complaint.id, "complaint", "已转投诉")
    (event,) = survey_response_flow.events(session, response.id)
    assert (event.transition, event.from_status, event.to_status) == ("register_complaint", "recorded", "complaint")
    assert complaint.number in event.note and event.user_id == answered["clerk"].user_id
    assert [e.transition for e in complaint_flow.events(session, complaint.id)] == ["register"]


def test_a_second_complaint_from_the_same_response_is_refused(session, answered):
    response = answered["response"]
    first = register_complaint_from_response(session, response, answered["clerk"])
    session.commit()
    with pytest.raises(TransitionRefused) as err:
        register_complaint_from_response(session, response, answered["clerk"])
    assert err.value.status == 409 and "已转投诉" in err.value.message
    session.rollback()
    assert session.scalars(select(Complaint)).all() == [first]
    # a response that became a complaint is kept
    with pytest.raises(ValidationError):
        response.check_delete(session)


def test_the_clerk_may_reword_and_choose_the_category_and_empty_comments_need_content(session, answered):
    response = answered["response"]
    response.comments = None
    session.commit()
    with pytest.raises(ValidationError) as err:
        register_complaint_from_response(session, response, answered["clerk"])
    assert err.value.field == "content" and "投诉内容" in err.value.message
    session.rollback()
    with pytest.raises(ValidationError) as err:
        register_complaint_from_response(session, response, answered["clerk"], content="电梯", category="lift")
    assert err.value.field == "category"
    session.rollback()
    assert session.scalars(select(Complaint)).all() == [] and response.status == "recorded"
    complaint = register_complaint_from_response(session, response, answered["clerk"], content="3号电梯经常停运", category="elevator")
    assert (complaint.content, complaint.category) == ("3号电梯经常停运", "elevator")


def test_who_may_turn_a_response_into_a_complaint(session, make, answered):
    for role in ("管理处主任", "物业管理员", "财务内勤"):
        user = make.user(role, estates=[answered["estate"]], username=f"u-{role}")
        actor = Actor(user=user)
        if role == "物业管理员":
            assert register_complaint_from_response(session, answered["response"], actor) is not None
            session.rollback()
        else:
            with pytest.raises(PermissionDenied):
                register_complaint_from_response(session, answered["response"], actor)
            session.rollback()


# ---------------------------------------------------------------- REST
def test_rest_register_complaint_answers_the_response_and_refuses_twice(client, session, answered):
    h = api_token(client, "jd")
    rid = answered["response"].id
    r = client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={}, headers=h)
    assert r.status_code == 200, r.json
    result = r.json["result"]
    assert result["status"] == "complaint" and result["complaint_id"]
    complaint = client.get(f"/api/v1/complaint/{result['complaint_id']}", headers=h).json["result"]
    assert (complaint["channel"], complaint["source_type"], complaint["source_id"]) == ("survey", "survey_response", rid)
    assert complaint["owner_id"] == answered["owner"].id and complaint["category"] == "cleaning"
    r = client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={}, headers=h)
    assert r.status_code == 409 and "已转投诉" in str(r.json["message"])
    listed = client.get("/api/v1/survey_response/?q=(filters:!((col:status,opr:eq,value:complaint)))", headers=h).json
    assert listed["count"] == 1 and listed["result"][0]["complaint_id"] == result["complaint_id"]
    events = client.get(f"/api/v1/survey_response/{rid}/events", headers=h).json["result"]
    assert [(e["transition"], e["transition_label"]) for e in events] == [("register_complaint", "转投诉")]


def test_rest_bad_bodies_name_the_field_and_other_estates_and_roles_are_refused(client, session, answered):
    rid = answered["response"].id
    h = api_token(client, "jd")
    r = client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={"category": "nonsense"}, headers=h)
    assert r.status_code == 422 and "category" in r.json["message"]
    r = client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={"colour": "red"}, headers=h)
    assert r.status_code == 400
    assert client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={}, headers=api_token(client, "jd2")).status_code == 404
    assert client.post(f"/api/v1/survey_response/{rid}/register_complaint", json={}, headers=api_token(client, "zr")).status_code == 403
    session.refresh(answered["response"])
    assert answered["response"].complaint_id is None and session.scalars(select(Complaint)).all() == []


# ---------------------------------------------------------------- screens
def test_screen_turns_the_response_into_a_complaint_and_both_pages_link(client, session, answered):
    rid = answered["response"].id
    assert login(client, "jd").status_code == 302
    page = client.get(f"/surveyresponseview/show/{rid}").get_data(as_text=True)
    assert "转投诉" in page and "已录入" in page
    form = client.get(f"/surveyresponseview/do/register_complaint/{rid}").get_data(as_text=True)
    assert "楼道垃圾两天没人清理" in form and '<option selected value="cleaning">' in form  # the lowest score: 保洁
    done = client.post(f"/surveyresponseview/do/register_complaint/{rid}",
                       data={"content": "楼道垃圾两天没人清理", "category": "cleaning", "row_version": answered["response"].version})
    assert done.status_code == 302 and f"/surveyresponseview/show/{rid}" in done.location
    complaint = session.scalars(select(Complaint)).one()
    page = client.get(f"/surveyresponseview/show/{rid}").get_data(as_text=True)
    assert "已转投诉" in page and f"/complaintview/show/{complaint.id}" in page and complaint.number in page
    assert f"/surveyresponseview/do/register_complaint/{rid}" not in page and "action/register_complaint" not in page
    shown = client.get(f"/complaintview/show/{complaint.id}").get_data(as_text=True)
    assert "意见征询表" in shown and f"/surveyresponseview/show/{rid}" in shown
    session.refresh(answered["response"])
    again = client.post(f"/surveyresponseview/do/register_complaint/{rid}",
                        data={"content": "再登记", "category": "cleaning", "row_version": answered["response"].version})
    assert again.status_code == 200 and "当前状态为「已转投诉」" in again.get_data(as_text=True)
    assert session.query(Complaint).count() == 1


def test_screen_action_is_not_offered_without_the_right(client, session, answered):
    rid = answered["response"].id
    assert login(client, "zr").status_code == 302
    page = client.get(f"/surveyresponseview/show/{rid}").get_data(as_text=True)
    assert "王芳" in page and "register_complaint" not in page
    client.post(f"/surveyresponseview/do/register_complaint/{rid}", data={"content": "x", "category": "cleaning"})
    assert session.query(Complaint).count() == 0
