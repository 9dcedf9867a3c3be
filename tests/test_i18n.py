"""Chinese by default, English on request: complete catalogues, and one language on the screen."""

from __future__ import annotations

import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.conftest import login

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LOCALES = ("zh", "en")
CHINESE = re.compile(r"[\u3400-\u9fff]")
# Named placeholders everywhere; in python-format strings also %s, %d and %%.
NAMED = re.compile(r"%\(\w+\)[sdif]")
ANY_FORMAT = re.compile(r"%(?:\(\w+\))?[sdif%]")
FAB_WORDS = {"Security", "List Users", "List Roles", "Cancel", "OK", "Search", "Add", "Edit", "Delete", "Record Count"}


def _po(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _catalog(path: Path):
    with path.open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def compiled(app):
    """The .mo files the app loads, compiled here when missing or older than their .po (as `make translations`)."""
    for locale in LOCALES:
        po = _po(locale)
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        handle, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
        with os.fdopen(handle, "wb") as f:
            write_mo(f, _catalog(po), use_fuzzy=True)
        os.replace(tmp, mo)
    # Flask-Babel keeps loaded catalogues for the life of the app: forget any loaded before compiling.
    app.extensions["babel"].instance.domain_instance.cache.clear()


class _Text(HTMLParser):
    """Visible text nodes of a page (no scripts or styles)."""

    def __init__(self):
        super().__init__()
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.nodes.append(" ".join(data.split()))


def _texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.nodes


def _menu_bar(html: str) -> str:
    """The menu of the navigation bar (left part: the areas and their screens)."""
    match = re.search(r'<ul class="nav navbar-nav">(.*?)<ul class="nav navbar-nav navbar-right">', html, re.S)
    assert match, "no menu bar on the page"
    return match.group(1)


def _confirm_dialog(html: str) -> list[str]:
    match = re.search(r'<div class="modal fade" id="modal-confirm".*?</div>\s*</div>\s*</div>\s*</div>', html, re.S)
    assert match, "no confirmation dialog on the page"
    return _texts(match.group(0))


def _placeholders(message, text: str) -> list[str]:
    pattern = ANY_FORMAT if "python-format" in message.flags else NAMED
    return sorted(pattern.findall(text))


# ---------------------------------------------------------------- catalogues
def test_every_extracted_message_is_in_both_catalogues_without_fuzzy_guesses():
    template = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert len(template) > 100
    for locale in LOCALES:
        catalog = _catalog(_po(locale))
        ids = {m.id for m in catalog if m.id}
        assert template - ids == set(), f"{locale}: run `make extract`"
        assert [m.id for m in catalog if m.id and m.fuzzy] == [], locale


def test_every_message_has_an_english_translation_without_chinese():
    catalog = _catalog(_po("en"))
    missing = [m.id for m in catalog if m.id and not m.string]
    assert missing == [], f"{len(missing)} messages without English, e.g. {missing[:5]}"
    chinese = [(m.id, m.string) for m in catalog if m.id and CHINESE.search(m.string)]
    assert chinese == []


def test_fab_english_messages_have_chinese_and_chinese_messages_show_their_source():
    for message in _catalog(_po("zh")):
        if not message.id:
            continue
        if CHINESE.search(message.id):
            assert not message.string, message.id
        elif re.search(r"[A-Za-z]{2,}", message.id):
            assert CHINESE.search(message.string), f"FAB string without Chinese: {message.id!r}"


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_the_placeholders_of_their_message(locale):
    wrong = [
        (m.id, m.string)
        for m in _catalog(_po(locale))
        if m.id and m.string and _placeholders(m, m.id) != _placeholders(m, m.string)
    ]
    assert wrong == []


# ---------------------------------------------------------------- what a user sees
def test_estate_list_is_chinese_by_default(app, compiled, make, client):
    make.user("系统管理员", username="boss")
    login(client, "boss")
    page = client.get("/estateview/list/").get_data(as_text=True)
    menu = _texts(_menu_bar(page))
    assert "基础资料" in menu and "系统设置" in menu and "小区/大厦" in menu
    texts = _texts(page)
    assert [t for t in texts if t in FAB_WORDS or t.rstrip(":") in FAB_WORDS] == []
    dialog = _confirm_dialog(page)
    assert "取消" in dialog and "确定" in dialog and "Cancel" not in dialog and "OK" not in dialog


def test_estate_list_is_english_after_choosing_english(app, compiled, make, client):
    make.estate("Green Court")
    make.user("系统管理员", username="boss")
    login(client, "boss")
    assert client.get("/lang/en").status_code == 302
    page = client.get("/estateview/list/").get_data(as_text=True)
    menu = _texts(_menu_bar(page))
    assert "Master data" in menu and "System" in menu and "Estate/building" in menu
    assert "Repairs" in menu and "Revisits & complaints" in menu and "List Users" in menu
    assert [t for t in menu if CHINESE.search(t)] == []
    texts = _texts(page)
    assert "My tasks" in texts
    assert {"Name", "Type", "Households", "Green Court", "Residential estate"} <= set(texts)
    dialog = _confirm_dialog(page)
    assert "Cancel" in dialog and "OK" in dialog and not any(CHINESE.search(t) for t in dialog)
    # Nothing else Chinese: only the product name, the way back to 中文 and the user's own name.
    app_name = app.config["APP_NAME"]
    assert [t for t in texts if CHINESE.search(t) and t not in (app_name, "中文") and "boss" not in t] == []
    # and back
    client.get("/lang/zh")
    assert "基础资料" in _texts(_menu_bar(client.get("/estateview/list/").get_data(as_text=True)))
