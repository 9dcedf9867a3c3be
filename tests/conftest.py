"""Fixtures: one app per test session, a clean database per test, real users with real roles."""

from __future__ import annotations

import functools
import os
import re
import tempfile

import pytest
from sqlalchemy import text

from app import create_app
from app.extensions import db as _db

SECURITY_TABLES = {"ab_permission", "ab_view_menu", "ab_permission_view", "ab_role", "ab_permission_view_role",
                   "security_stamp"}
PASSWORD = "Passw0rd123"


def _database_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url and os.environ.get("WUYE_TEST_DB") == "pg":
        return url
    handle, path = tempfile.mkstemp(prefix="wuye-test-", suffix=".db")
    os.close(handle)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def app():
    url = _database_url()
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "AUTH_RATE_LIMITED": False,
            "SECRET_KEY": "test-secret-key-of-at-least-32-bytes",
            "SERVER_NAME": None,
        }
    )
    with app.app_context():
        if url.startswith("postgresql"):
            _db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            _db.session.commit()
        from app.roles import sync_roles

        _db.create_all()
        sync_roles(app.appbuilder)
        _db.session.commit()
    yield app
    if url.startswith("sqlite:///"):
        os.unlink(url.removeprefix("sqlite:///"))


@functools.cache
def _cleaning():
    """The tables a test may write (children first), the statement that finds the written ones on
    PostgreSQL and their id columns: the same for every test."""
    tables = [t for t in reversed(_db.metadata.sorted_tables) if t.name not in SECURITY_TABLES]
    probe = text(" UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM \"{t.name}\")" for t in tables))
    serial = [f"{t.name}.{c.name}" for t in tables for c in t.primary_key.columns if c is t.autoincrement_column]
    return tables, probe, serial


def _clean(session):
    tables, probe, serial = _cleaning()
    if session.get_bind().dialect.name == "postgresql":
        # TRUNCATE costs file work per table whether it holds rows or not (1.6 s for all of them, more
        # when the disk is busy): delete the rows of the tables a test wrote to, with the foreign-key
        # triggers off for this transaction (department.head ↔ staff point at each other), then restart
        # every cleaned table's id sequence (tests count on id 1)
        written = [name for (name,) in session.execute(probe)]
        if written:
            session.execute(text("SET LOCAL session_replication_role = replica"))
            for name in written:
                session.execute(text(f'DELETE FROM "{name}"'))
        session.execute(
            text(
                "SELECT setval(seq, 1, false) FROM (SELECT pg_get_serial_sequence(split_part(col, '.', 1), "
                "split_part(col, '.', 2)) AS seq FROM unnest(CAST(:cols AS text[])) AS col) AS s WHERE seq IS NOT NULL"
            ),
            {"cols": serial},
        )
    else:
        # department.head ↔ staff reference each other: check the keys once everything is gone
        session.execute(text("PRAGMA defer_foreign_keys=ON"))
        for table in tables:
            session.execute(table.delete())
    # staff and estates went by plain SQL: raise the security stamp as the application's writes do, or
    # the next test's user (the same id) would be answered the last one's estates (app/security_stamp.py)
    session.execute(text("UPDATE security_stamp SET version = version + 1"))
    session.commit()


@pytest.fixture()
def db(app):
    with app.app_context():
        _clean(_db.session)
        yield _db
        _db.session.rollback()
        _db.session.remove()


@pytest.fixture()
def session(db):
    return db.session


@pytest.fixture()
def client(app, db):
    with app.test_client() as client:
        yield client


@pytest.fixture()
def csrf(app):
    """Turn CSRF protection on for one test (the real path)."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


# ---------------------------------------------------------------- data helpers
class Factory:
    def __init__(self, app, session):
        self.app = app
        self.session = session
        self._n = 0

    def n(self) -> int:
        self._n += 1
        return self._n

    def estate(self, name=None, kind="residential", households=100):
        from models.master import Estate

        estate = Estate(name=name or f"测试小区{self.n()}", kind=kind, households=households)
        self.session.add(estate)
        self.session.commit()
        return estate

    def building(self, estate, name=None):
        from models.master import Building

        building = Building(estate_id=estate.id, name=name or f"{self.n()}号楼")
        self.session.add(building)
        self.session.commit()
        return building

    def unit(self, building, room=None):
        from models.master import Unit

        unit = Unit(building_id=building.id, building=building, estate_id=building.estate_id, room=room or f"{100 + self.n()}")
        self.session.add(unit)
        self.session.commit()
        return unit

    def owner(self, unit=None, estate=None, name="张三", phone="13812345678"):
        from models.master import Owner

        if unit is None:
            unit = self.unit(self.building(estate or self.estate()))
        owner = Owner(unit_id=unit.id, unit=unit, estate_id=unit.estate_id, name=name, phone=phone, kind="owner")
        self.session.add(owner)
        self.session.commit()
        return owner

    def department(self, name=None, kind="section", estate=None):
        from models.master import Department

        dept = Department(name=name or f"水电处{self.n()}", kind=kind, estate_id=estate.id if estate else None)
        self.session.add(dept)
        self.session.commit()
        return dept

    def user(self, roles, estates=(), username=None, department=None, password=PASSWORD):
        """A login with real roles and a staff record naming its estates."""
        from models.master import Staff

        sm = self.app.appbuilder.sm
        roles = [roles] if isinstance(roles, str) else list(roles)
        role_objs = [sm.find_role(r) for r in roles]
        assert all(role_objs), roles
        username = username or f"u{self.n()}"
        user = sm.add_user(username, "测试", username, f"{username}@example.com", role_objs, password)
        assert user, username
        staff = Staff(name=f"员工{username}", user_id=user.id, department_id=department.id if department else None)
        staff.estates = list(estates)
        self.session.add(staff)
        self.session.commit()
        user.staff = staff
        return user


@pytest.fixture()
def make(app, session):
    return Factory(app, session)


def login(client, username, password=PASSWORD, csrf_on=False):
    """Post the real login form (reading the CSRF token from the page when CSRF is on)."""
    data = {"username": username, "password": password}
    if csrf_on:
        page = client.get("/login/").get_data(as_text=True)
        data["csrf_token"] = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/login/", data=data, follow_redirects=False)


def api_token(client, username, password=PASSWORD) -> dict:
    resp = client.post("/api/v1/security/login", json={"username": username, "password": password, "provider": "db", "refresh": True})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {"Authorization": f"Bearer {resp.json['access_token']}"}
