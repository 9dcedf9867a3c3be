"""The menu bar of an administrator (every area) stays one line on a 1366-wide office screen, in Chinese
and in English."""

from __future__ import annotations

import pytest

from tests.browser.conftest import SHOTS, ui_login
from tests.conftest import PASSWORD

# a maximised 1366-px window less a classic 17-px scrollbar (Playwright's Chromium hides scrollbars)
VIEWPORT = {"width": 1366 - 17, "height": 768}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_administrators_menu_bar_is_one_line_at_1366(page, make, locale):
    make.user("系统管理员", username="boss")
    page.set_viewport_size(VIEWPORT)
    ui_login(page, "boss", PASSWORD)
    page.goto(page.base_url + f"/lang/{locale}")
    page.goto(page.base_url + "/")
    entries = page.locator(".navbar-collapse > ul > li")
    assert entries.count() >= 11  # 8 areas, my tasks, language, user: none hidden
    tops = {round(box["y"]) for box in (entries.nth(i).bounding_box() for i in range(entries.count()))}
    height = page.locator(".navbar").first.bounding_box()["height"]
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"navbar_{locale}.png"))
    assert len(tops) == 1 and height < 60, (tops, height)
