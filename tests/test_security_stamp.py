"""Permissions and estates kept between requests (app/security_stamp.py) are never stale: a change made
through the application — in this process or any other — shows at the next request; a change made
with plain SQL behind the application's back shows once the time limit has passed. And a request of a
logged-in user reads only its user and its rows."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, delete, event, select, text
from sqlalchemy.orm import Session

from models.master import Owner, Staff, staff_estate
from models.security import SecurityStamp
from tests.conftest import api_token

OWNERS = "/api/v1/owner/?q=(keys:!(list_columns),columns:!(name))"


def stamp(session) -> int:
    session.expire_all()
    return session.scalar(select(SecurityStamp.version).where(SecurityStamp.id == 1))


@pytest.fixture()
def two_estates(make, session):
    """Estates A and B with an owner each; a clerk working for A."""
    a, b = make.estate("甲小区"), make.estate("乙小区")
    make.owner(estate=a, name="甲业主", phone="13800000001")
    make.owner(estate=b, name="乙业主", phone="13800000002")
    clerk = make.user("接待员", estates=[a], username="clerk")
    session.commit()
    return a, b, clerk


def names(client, headers) -> set[str]:
    response = client.get(OWNERS, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {row["name"] for row in response.json["result"]}


# ---------------------------------------------------------------- the number
def test_a_change_of_permissions_changes_the_number_as_it_commits(app, session):
    role = app.appbuilder.sm.find_role("接待员")
    before = stamp(session)
    held = list(role.permissions[:2])
    role.permissions.remove(held[0])
    session.flush()
    # not while the transaction works (PostgreSQL would hold the row's lock until the commit)
    assert session.scalar(select(SecurityStamp.version)) == before
    role.permissions.remove(held[1])
    session.commit()
    changed = stamp(session)
    assert changed != before
    role.permissions.extend(held)  # left unflushed: the commit's own flush counts too
    session.commit()
    assert stamp(session) not in (before, changed)


def test_a_change_inside_a_savepoint_changes_the_number(session, two_estates):
    a, b, clerk = two_estates
    before = stamp(session)
    staff = session.scalar(select(Staff).where(Staff.user_id == clerk.id))
    with session.begin_nested():
        staff.estates.append(b)
    session.commit()
    assert stamp(session) != before


def test_a_savepoint_rolled_back_keeps_the_enclosing_change(session, two_estates):
    a, b, clerk = two_estates
    before = stamp(session)
    staff = session.scalar(select(Staff).where(Staff.user_id == clerk.id))
    staff.estates.append(b)
    session.flush()
    savepoint = session.begin_nested()
    session.scalar(select(Owner).where(Owner.estate_id == a.id)).name = "丙业主"
    session.flush()
    savepoint.rollback()
    session.commit()
    assert stamp(session) != before


def test_a_rolled_back_change_leaves_the_number(app, session, two_estates):
    a, b, clerk = two_estates
    before = stamp(session)
    staff = session.scalar(select(Staff).where(Staff.user_id == clerk.id))
    staff.estates.append(b)
    session.flush()
    session.rollback()
    assert stamp(session) == before


def test_a_statement_on_a_watched_table_changes_the_number(session, two_estates):
    before = stamp(session)
    session.execute(delete(staff_estate).where(staff_estate.c.estate_id == two_estates[1].id))
    session.commit()
    assert stamp(session) != before


def test_logins_and_ordinary_records_leave_the_number(client, session, make, two_estates):
    before = stamp(session)
    api_token(client, "clerk")  # FAB writes the login count and time to the user
    make.owner(estate=two_estates[0], name="新业主", phone="13800000003")
    session.commit()
    assert stamp(session) == before


# ---------------------------------------------------------------- what a request sees
def test_a_permission_taken_away_is_refused_at_the_next_request(app, client, two_estates):
    sm = app.appbuilder.sm
    headers = api_token(client, "clerk")
    assert names(client, headers) == {"甲业主"}
    role = sm.find_role("接待员")
    pv = sm.find_permission_view_menu("can_get", "OwnerApi") or sm.find_permission_view_menu("can_read", "Owner")
    assert pv in role.permissions
    sm.del_permission_role(role, pv)
    try:
        assert client.get(OWNERS, headers=headers).status_code == 403
    finally:
        sm.add_permission_role(role, pv)
    assert names(client, headers) == {"甲业主"}


def test_new_estates_of_a_staff_member_show_at_the_next_request(client, session, two_estates):
    a, b, clerk = two_estates
    headers = api_token(client, "clerk")
    assert names(client, headers) == {"甲业主"}
    staff = session.scalar(select(Staff).where(Staff.user_id == clerk.id))
    staff.estates = [b]
    session.commit()
    assert names(client, headers) == {"乙业主"}


def test_a_change_made_by_another_process_shows_at_the_next_request(app, client, session, two_estates):
    """Another worker (its own engine and session, nothing shared with this process but the database)."""
    a, b, clerk = two_estates
    headers = api_token(client, "clerk")
    assert names(client, headers) == {"甲业主"}
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with Session(other) as elsewhere:
            staff = elsewhere.scalar(select(Staff).where(Staff.user_id == clerk.id))
            staff.estates.append(elsewhere.get(type(b), b.id))
            elsewhere.commit()
    finally:
        other.dispose()
    assert names(client, headers) == {"甲业主", "乙业主"}


def test_plain_sql_behind_the_application_shows_after_the_time_limit(app, client, session, two_estates, monkeypatch):
    import app.security_stamp as security_stamp

    a, b, clerk = two_estates
    headers = api_token(client, "clerk")
    assert names(client, headers) == {"甲业主"}
    staff_id = session.scalar(select(Staff.id).where(Staff.user_id == clerk.id))
    session.execute(text("INSERT INTO staff_estate (staff_id, estate_id) VALUES (:s, :e)"), {"s": staff_id, "e": b.id})
    session.commit()
    assert names(client, headers) == {"甲业主"}  # kept: nothing told the application
    now = security_stamp.clock()
    seconds = app.config.get("SECURITY_CACHE_SECONDS", 60)
    monkeypatch.setattr(security_stamp, "clock", lambda: now + seconds + 1)
    assert names(client, headers) == {"甲业主", "乙业主"}


def test_a_token_request_reads_its_user_and_its_rows_only(app, client, two_estates):
    from app.extensions import db

    headers = api_token(client, "clerk")
    names(client, headers)
    statements = []
    listener = lambda *args, **kwargs: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert names(client, headers) == {"甲业主"}
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 2, statements
    assert "security_stamp" in statements[0] and "owner" in statements[1]


def test_a_request_without_the_number_reads_everything(app, client, session, two_estates):
    """The row gone (a database restored from elsewhere): nothing is kept, every answer is read."""
    a, b, clerk = two_estates
    headers = api_token(client, "clerk")
    session.execute(text("DELETE FROM security_stamp"))
    session.commit()
    try:
        assert names(client, headers) == {"甲业主"}
        staff_id = session.scalar(select(Staff.id).where(Staff.user_id == clerk.id))
        session.execute(text("INSERT INTO staff_estate (staff_id, estate_id) VALUES (:s, :e)"), {"s": staff_id, "e": b.id})
        session.commit()
        assert names(client, headers) == {"甲业主", "乙业主"}
        assert session.scalar(select(Owner.name).where(Owner.estate_id == b.id)) == "乙业主"
    finally:
        session.execute(text("INSERT INTO security_stamp (id, version) VALUES (1, 2)"))
        session.commit()
