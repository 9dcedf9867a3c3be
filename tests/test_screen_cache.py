"""What the screens keep between requests (app/screen_cache.py) is never stale and never another
user's: the menu follows a permission change at once, the filter bar and search menu show a new
repair worker or a renamed estate after the save, in this process at once and in another process
through the stamp or the time limit, and users of different estates get their own choices."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text as sql

from tests.conftest import PASSWORD, login
from tests.test_repair_support import World, build_world

LEDGER = "/repairorderview/list/"


@pytest.fixture()
def world(make, session) -> World:
    return build_world(make, session)


def page_of(client, user, url: str = LEDGER) -> str:
    client.get("/logout/")
    assert login(client, user.username, PASSWORD).status_code == 302
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def navbar(page: str) -> str:
    return page.split('<ul class="nav navbar-nav">', 1)[1].split("navbar-right", 1)[0]


def bar(page: str, key: str) -> str:
    """The options of one select of the ledger's filter bar."""
    return re.search(rf'id="bar-{key}".*?</select>', page, re.S).group(0)


def search_field(page: str, column: str) -> str:
    """The search menu's input for a column (as the page hands it to FAB's script)."""
    script = page.split("new AdminFilters", 1)[1]
    found = [m for m in re.findall(rf'"{column}": "(.*?)(?<!\\)"', script) if "\\u003c" in m]  # the input's HTML
    return found[0].encode().decode("unicode_escape")


def test_menu_follows_a_permission_change_at_once(app, client, world):
    sm = app.appbuilder.sm
    role = sm.find_role("接待员")
    menu = sm.find_permission_view_menu("menu_access", "RepairLedger")
    assert "维修(服务)汇总表" in navbar(page_of(client, world.clerk))
    sm.del_permission_role(role, menu)
    try:
        assert "维修(服务)汇总表" not in navbar(client.get(LEDGER).get_data(as_text=True))
    finally:
        sm.add_permission_role(role, menu)
    assert "维修(服务)汇总表" in navbar(client.get(LEDGER).get_data(as_text=True))


def test_each_role_and_language_gets_its_own_menu(client, world):
    admin_menu = navbar(page_of(client, world.admin))
    clerk_menu = navbar(page_of(client, world.clerk))
    assert "系统设置" in admin_menu and "系统设置" not in clerk_menu
    assert "系统设置" in navbar(page_of(client, world.admin))
    client.get("/lang/en")
    english = navbar(client.get(LEDGER).get_data(as_text=True))
    assert "维修管理" not in english and "Repair" in english
    client.get("/lang/zh")
    assert "维修管理" in navbar(client.get(LEDGER).get_data(as_text=True))


def test_new_worker_and_renamed_estate_show_after_the_save(client, world, session, make):
    page = page_of(client, world.clerk)
    assert "锦绣花园" in bar(page, "estate") and "新来的师傅" not in bar(page, "assignee")
    world.estate.name = "锦绣花园二期"
    newcomer = make.user("维修人员", estates=[world.estate], username="newcomer", department=world.section)
    newcomer.staff.name = "新来的师傅"
    session.commit()
    page = client.get(LEDGER).get_data(as_text=True)
    assert "锦绣花园二期" in bar(page, "estate") and "新来的师傅" in bar(page, "assignee")
    assert "新来的师傅" in search_field(page, "assignee")


def test_another_process_save_shows_through_the_stamp_or_the_time_limit(app, client, world, db, session):
    from app.screen_cache import screen_cache

    assert "锦绣花园" in bar(page_of(client, world.clerk), "estate")
    cache = app.extensions["wuye.screen_cache"]
    with app.app_context():
        assert screen_cache() is cache
    # another process renames the estate: nothing in this process sees the commit
    with db.engine.begin() as conn:
        conn.execute(sql("UPDATE estate SET name = '锦绣花园东区' WHERE id = :id"), {"id": world.estate.id})
    session.expire_all()  # as a new request's session would read it
    assert "锦绣花园东区" not in bar(client.get(LEDGER).get_data(as_text=True), "estate")  # still cached
    os.makedirs(os.path.dirname(cache.stamp), exist_ok=True)
    with open(cache.stamp, "a"):
        os.utime(cache.stamp, ns=(1, cache._seen[1] + 1))  # what that process's commit does
    assert "锦绣花园东区" in bar(client.get(LEDGER).get_data(as_text=True), "estate")
    # a write no process announces (plain SQL from a tool): the time limit
    with db.engine.begin() as conn:
        conn.execute(sql("UPDATE estate SET name = '锦绣花园西区' WHERE id = :id"), {"id": world.estate.id})
    session.expire_all()  # as a new request's session would read it
    assert "锦绣花园西区" not in bar(client.get(LEDGER).get_data(as_text=True), "estate")
    for key, (at, value) in list(cache.lookups.items()):
        cache.lookups[key] = (at - cache.seconds, value)
    assert "锦绣花园西区" in bar(client.get(LEDGER).get_data(as_text=True), "estate")


def test_users_of_other_estates_get_their_own_choices(client, make, session, world):
    other = World(make, session, kind="commercial")
    other_worker = make.user("维修人员", estates=[other.estate], username="ac_tech", department=other.section)
    other_clerk = make.user("接待员", estates=[other.estate], username="other_clerk", department=other.departments["service"])
    world.worker  # noqa: B018  (a repair worker of the first estate)
    mine = page_of(client, world.clerk)
    theirs = page_of(client, other_clerk)
    assert "锦绣花园" in bar(mine, "estate") and "国贸中心大厦" not in bar(mine, "estate")
    assert "国贸中心大厦" in bar(theirs, "estate") and "锦绣花园" not in bar(theirs, "estate")
    assert other_worker.staff.name in bar(theirs, "assignee") and other_worker.staff.name not in bar(mine, "assignee")
    assert "员工worker" in bar(mine, "assignee") and "员工worker" not in bar(theirs, "assignee")
    assert "国贸中心大厦" not in search_field(mine, "estate")
    # the page's own parts stay the user's: name in the navbar, the rows of their estate only
    assert "clerk" in page_of(client, world.clerk).split("navbar-right", 1)[1][:3000]


def grid(page: str) -> str:
    """The ledger's rows (after the first row's check box)."""
    return page.split('class="action_check"', 1)[1].split("</table>", 1)[0]


def test_the_ledger_rows_show_names_saved_since_the_last_page(client, world, session, db):
    """The grid shows the estate (in the address), section and worker by names kept with the filter
    bar's lookups: a rename shows after the save, and a worker saved by another process (no stamp,
    no time limit yet) is read for the row that names them."""
    from models.base import utcnow
    from tests.test_repair_support import order_in

    order = order_in(session, world, "dispatched")
    rows = grid(page_of(client, world.duty))
    assert order.number in rows and "锦绣花园" in rows
    assert world.section.name in rows and world.worker.staff.name in rows
    world.estate.name = "锦绣花园二期"
    world.section.name = "水电维修一处"
    world.worker.staff.name = "改名的师傅"
    session.commit()
    rows = grid(client.get(LEDGER).get_data(as_text=True))
    assert "锦绣花园二期" in rows and "水电维修一处" in rows and "改名的师傅" in rows
    with db.engine.begin() as conn:
        staff_id = conn.execute(
            sql("INSERT INTO staff (name, active, version, created_on, changed_on) VALUES ('别处新来的师傅', :yes, 1, :at, :at) RETURNING id"),
            {"yes": True, "at": utcnow()},
        ).scalar()
        conn.execute(sql("UPDATE repair_order SET assignee_id = :staff WHERE id = :id"), {"staff": staff_id, "id": order.id})
    session.expire_all()  # as a new request's session would read it
    rows = grid(client.get(LEDGER).get_data(as_text=True))
    assert "别处新来的师傅" in rows and "改名的师傅" not in rows
