"""Authentication: rate limits on both logins (shared through Redis when configured), temporary
lock-out after repeated failures, Chinese password rules, cookie flags, security headers, and the
refusal to start in production with the development secret."""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import timedelta

import pytest
import time_machine

from app import create_app
from models.base import utcnow
from tests.conftest import PASSWORD, login

API_LOGIN = "/api/v1/security/login"


def _api_login(client, username, password):
    return client.post(API_LOGIN, json={"username": username, "password": password, "provider": "db"})


# ---------------------------------------------------------------- lock-out
def test_repeated_failures_lock_the_account_on_the_page_and_the_api(app, make, client):
    make.user("接待员", username="clerk")
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"]):
        assert login(client, "clerk", "wrong-pass1").status_code == 302
    # the right password is refused while locked, with a Chinese explanation on the login page
    login(client, "clerk", PASSWORD)
    page = client.get("/login/").get_data(as_text=True)
    assert "临时锁定" in page
    assert client.get("/estateview/list/").status_code == 302  # not logged in
    r = _api_login(client, "clerk", PASSWORD)
    assert r.status_code == 401 and "临时锁定" in r.json["message"]

    # after the lock-out time the right password works again
    with time_machine.travel(utcnow() + timedelta(minutes=app.config["LOGIN_LOCKOUT_MINUTES"] + 1)):
        assert _api_login(client, "clerk", PASSWORD).status_code == 200


def test_api_failures_count_too_and_unknown_names_lock_the_same_way(app, make, client):
    make.user("接待员", username="clerk2")
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"]):
        assert _api_login(client, "clerk2", "nope12345").status_code == 401
    r = _api_login(client, "clerk2", PASSWORD)
    assert r.status_code == 401 and "临时锁定" in r.json["message"]
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"]):
        _api_login(client, "nobody", "nope12345")
    assert "临时锁定" in _api_login(client, "nobody", "nope12345").json["message"]  # no hint which names exist


def test_success_resets_the_failure_count(app, make, client):
    make.user("接待员", username="clerk3")
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"] - 1):
        _api_login(client, "clerk3", "wrong-pass1")
    assert _api_login(client, "clerk3", PASSWORD).status_code == 200
    for _ in range(app.config["LOGIN_LOCKOUT_FAILURES"] - 1):
        _api_login(client, "clerk3", "wrong-pass1")
    assert _api_login(client, "clerk3", PASSWORD).status_code == 200


# ---------------------------------------------------------------- rate limits
def _limited_app(storage: str, prefix: str):
    handle, path = tempfile.mkstemp(prefix="wuye-rl-", suffix=".db")
    os.close(handle)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "AUTH_RATE_LIMITED": True,
            "AUTH_RATE_LIMIT": "3 per minute",
            "RATELIMIT_STORAGE_URI": storage,
            "RATELIMIT_KEY_PREFIX": prefix,
            "SECRET_KEY": "rate-limit-test-secret-key-of-32-bytes",
        }
    )
    with app.app_context():
        from app.extensions import db

        db.create_all()
    return app, path


def test_both_logins_are_rate_limited_with_a_chinese_answer():
    app, path = _limited_app("memory://", "t")
    try:
        with app.test_client() as client:
            for _ in range(3):
                assert client.post("/login/", data={"username": "x", "password": "y"}).status_code != 429
            r = client.post("/login/", data={"username": "x", "password": "y"})
            assert r.status_code == 429 and "登录尝试过于频繁" in r.get_data(as_text=True)
            for _ in range(3):
                assert _api_login(client, "x", "y").status_code != 429
            r = _api_login(client, "x", "y")
            assert r.status_code == 429 and "登录尝试过于频繁" in r.json["message"]
    finally:
        os.unlink(path)


def _redis_reachable() -> bool:
    try:
        import redis

        return redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=1).ping()
    except Exception:
        return False


def test_rate_limit_is_shared_by_workers_through_redis():
    if not _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    prefix = f"wuye-test-{uuid.uuid4().hex}"
    first, path1 = _limited_app("redis://127.0.0.1:6379/0", prefix)
    second, path2 = _limited_app("redis://127.0.0.1:6379/0", prefix)
    try:
        c1, c2 = first.test_client(), second.test_client()
        for c in (c1, c2, c1):
            r = _api_login(c, "x", "y")
            assert r.status_code == 401, r.get_data(as_text=True)
        assert _api_login(c2, "x", "y").status_code == 429  # the fourth attempt, on the other worker
    finally:
        os.unlink(path1)
        os.unlink(path2)


# ---------------------------------------------------------------- passwords, cookies, headers
def test_password_rules_are_checked_with_chinese_messages(app, make, client):
    make.user("接待员", username="clerk4")
    login(client, "clerk4")
    for weak, message in (("abc", "密码至少 8 位"), ("abcdefgh", "须同时包含字母和数字"), ("12345678", "须同时包含字母和数字")):
        r = client.post("/resetmypassword/form", data={"password": weak, "conf_password": weak})
        assert message in r.get_data(as_text=True), weak
    r = client.post("/resetmypassword/form", data={"password": "Better2026x", "conf_password": "Better2026x"})
    assert r.status_code == 302
    client.get("/logout/")
    assert login(client, "clerk4", "Better2026x").location != "/login/"


def test_session_cookie_is_httponly_and_samesite_lax(app, make, client):
    make.user("接待员", username="clerk5")
    cookie = login(client, "clerk5").headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(app, make, client):
    make.user("接待员", username="clerk6")
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        cookie = login(client, "clerk6").headers.get("Set-Cookie", "")
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert "max-age" in client.get("/login/").headers.get("Strict-Transport-Security", "")
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


@pytest.mark.parametrize("path", ["/login/", "/api/v1/owner/", "/estateview/list/", "/no-such-page"])
def test_security_headers_on_every_answer(app, client, path):
    r = client.get(path)
    assert r.status_code != 500
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "no-store" in r.headers["Cache-Control"]


def test_production_refuses_the_development_secret():
    from config import DEFAULT_SECRET_KEY

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ENV_NAME": "production", "SECRET_KEY": DEFAULT_SECRET_KEY})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ENV_NAME": "production", "SECRET_KEY": ""})


def test_what_the_public_role_may_do_a_token_user_may_too(app, make, client):
    """REST requests with a token are answered by the token's user, the Public role only when the user's
    roles refuse: the same answers as asking the Public role first (one statement fewer per request)."""
    from tests.conftest import api_token

    sm = app.appbuilder.sm
    make.user("维修人员", estates=[make.estate()], username="worker")
    headers = api_token(client, "worker")
    assert client.get("/api/v1/complaint/", headers=headers).status_code == 403
    assert client.get("/api/v1/complaint/").status_code == 401
    public = sm.find_role(sm.auth_role_public)
    pv = sm.find_permission_view_menu("can_read", "Complaint")
    sm.add_permission_role(public, pv)
    try:
        assert client.get("/api/v1/complaint/", headers=headers).status_code == 200
        # the API answers nobody without a valid token, public or not
        assert client.get("/api/v1/complaint/").status_code == 401
        assert client.get("/api/v1/complaint/", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    finally:
        sm.del_permission_role(public, pv)
    assert client.get("/api/v1/complaint/", headers=headers).status_code == 403
