"""Browser tests: the app served on a free local port, driven by Playwright in Debian's Chromium.

Without /usr/bin/chromium (or without the playwright package) they skip, unless REQUIRE_BROWSER=1,
where they fail. A failing test leaves a screenshot in tests/browser/screenshots/.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


def _browser_missing() -> str | None:
    if not os.path.exists(CHROMIUM):
        return "Chromium (/usr/bin/chromium) is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    missing = _browser_missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(app):
    """The same app (and database) as the test client, served by a real HTTP server with CSRF on."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pass
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture()
def page(browser, live_server, db, request):
    """A fresh browser page; every request to a host other than the app is blocked and counted."""
    db.session.remove()  # the server thread opens its own sessions
    live_server_app_csrf(request)
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    blocked: list[str] = []

    def guard(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.base_url = live_server
    page.blocked_requests = blocked
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def live_server_app_csrf(request):
    app = request.getfixturevalue("app")
    app.config["WTF_CSRF_ENABLED"] = True
    request.addfinalizer(lambda: app.config.__setitem__("WTF_CSRF_ENABLED", False))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)


def ui_login(page, username: str, password: str) -> None:
    page.goto(page.base_url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state()
