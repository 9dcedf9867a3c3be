"""Chinese by default, English on request: complete catalogues, and one language on the screen."""

from __future__ import annotations

import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

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
def test_the_template_holds_every_message_the_source_has(tmp_path):
    """A message added to the code without `make extract` is missing from both catalogues: English
    screens would show it in Chinese, and the catalogue tests below would not know it exists."""
    import subprocess
    import sys

    pot = tmp_path / "messages.pot"
    subprocess.run(["make", "-s", "pot", f"POT={pot}", f"BIN={Path(sys.executable).parent}"],
                   cwd=TRANSLATIONS.parent, check=True, capture_output=True)
    source = {m.id for m in _catalog(pot) if m.id}
    template = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    assert source - template == set(), "run `make extract` and translate the new messages"


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


# Workbook headers are written as `Col("时间", ...)`, extracted with `-k Col` and translated when written.
EXTRACTED_BY_KEYWORD = {"gettext(str(col.header))"}


def test_every_translated_text_is_a_literal_that_extraction_finds():
    """`_(f"...")`, `_(text)` or `f"{_('...')}"` cannot be extracted (Python 3.11): the catalogue never has
    the text and English shows Chinese."""
    import ast

    def translating(node) -> bool:
        names = ("_", "_l", "gettext", "lazy_gettext", "ngettext", "lazy_ngettext")
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names and bool(node.args)

    root = TRANSLATIONS.parent
    extracted = {m.id for m in _catalog(TRANSLATIONS / "messages.pot") if m.id}
    calls = []
    for folder in ("app", "models", "views", "jobs"):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            in_fstrings = {id(n) for f in ast.walk(tree) if isinstance(f, ast.JoinedStr) for n in ast.walk(f) if translating(n)}
            for node in ast.walk(tree):
                if not translating(node):
                    continue
                literal = isinstance(node.args[0], ast.Constant)
                if ast.unparse(node) in EXTRACTED_BY_KEYWORD:
                    continue
                if not literal or (id(node) in in_fstrings and node.args[0].value not in extracted):
                    calls.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)[:60]}")
    assert calls == []


def test_scripts_take_their_texts_from_the_page():
    """The browser scripts write no Chinese of their own: the page gives them its texts in the user's language."""
    for script in sorted((TRANSLATIONS.parent / "app" / "static" / "wuye").glob("*.js")):
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", script.read_text(encoding="utf-8"), flags=re.S)
        assert IDEOGRAPHS.search(code) is None, script.name


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
    assert "Repairs" in menu and "Follow-up" in menu and "List Users" in menu
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


# ---------------------------------------------------------------- every screen a role reaches, in one language
# The crawl starts at the home page and follows the links of every page it reaches (menus, lists, add and
# edit forms, show pages, reports, print pages, transition forms), one page per URL shape (ids replaced),
# never a link that changes or downloads something. Data is told apart from screen text by the database:
# a piece of text between separators that is a stored value (or a piece of one) is data; everything else
# on the screen is the interface and must be in the chosen language. Text marked with another `lang` is
# meant to be in that language (the language's own name, the etiquette phrases said to owners in Chinese,
# the Chinese column names a roster file must have).
FOLLOW_NOT = re.compile(r"logout|/lang/|export|xlsx|download|/delete|/action|/api/|/swagger|/static/|^#|^javascript:|^mailto:")
SEPARATORS = re.compile(r"[\s·,,、/:()()::;;\[\]|「」“”\"<>→~=—.!?-]+")
IDEOGRAPHS = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]")  # with Chinese punctuation and full-width forms
WORD = re.compile(r"[A-Za-z]{2,}")
# English that belongs on a Chinese screen: product and file names, abbreviations, the "Bye-bye" of the
# reception desk's phrase book (what the staff say).
ENGLISH_ALLOWED = {"ID", "Excel", "xlsx", "PDF", "Webhook", "SEC", "API", "URL", "JSON", "Bye", "bye"}
BILINGUAL = {"语言 / Language"}  # the language switch's tooltip, readable whatever the language
MAX_PAGES = 400
# FAB opens these through action links (which the crawl never follows): reset a user's or one's own password.
FORMS_BEHIND_ACTIONS = ["/resetpassword/form?pk=1", "/resetmypassword/form"]


class _Screen(HTMLParser):
    """Visible text, the text of attributes a user reads, and the links of a page."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        for name in ("title", "placeholder", "data-placeholder", "alt", "aria-label"):
            if attrs.get(name):
                self.texts.append(attrs[name])
        if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def _other_language_removed(html: str, locale: str) -> str:
    return re.sub(rf'<(\w+)\b[^>]*\slang="(?!{locale}(?:-[^"]*)?")[^"]*"[^>]*>.*?</\1>', "", html, flags=re.S)


def _stored_pieces(session, app) -> set[str]:
    """Every text stored in the database and its pieces between separators (what a screen shows as data)."""
    from sqlalchemy import String, Text, select

    from app.extensions import db

    values = {app.config.get("COMPANY_NAME", "")}
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text)):
                values.update(v for v in session.scalars(select(column).distinct()) if isinstance(v, str))
    sm = app.appbuilder.sm
    values.update(f"{u.last_name}{u.first_name}" for u in session.scalars(select(sm.user_model)))  # a name as written in Chinese
    pieces = set()
    for value in values:
        value = " ".join(value.split())
        pieces.add(value)
        pieces.update(p for p in SEPARATORS.split(value) if p)
    return pieces


def _wrong_language(text: str, locale: str, data: set[str]) -> bool:
    if text in data or text in BILINGUAL:
        return False
    for piece in SEPARATORS.split(text):
        if not piece or piece in data:
            continue
        if locale == "en" and IDEOGRAPHS.search(piece):
            return True
        if locale == "zh" and WORD.search(piece) and not _english_allowed(piece):
            return True
    return False


def _english_allowed(piece: str) -> bool:
    return (
        bool(re.search(r"\d|@|^https?:|^[a-z0-9]+(_[a-z0-9]+)+$", piece))  # codes, numbers, addresses, setting keys
        or all(word in ENGLISH_ALLOWED for word in WORD.findall(piece))
    )


def _crawl(client, locale: str, data: set[str]) -> tuple[dict[str, str], list[str], int]:
    """{text in the wrong language: first page showing it}, pages that failed, pages read."""
    wrong: dict[str, str] = {}
    failed: list[str] = []
    seen_shapes: set[str] = set()
    queue = ["/", *FORMS_BEHIND_ACTIONS]
    pages = 0
    while queue and pages < MAX_PAGES:
        url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc or FOLLOW_NOT.search(url):
            continue
        shape = re.sub(r"\d+", "N", parts.path)
        if shape in seen_shapes:
            continue
        seen_shapes.add(shape)
        response = client.get(url)
        pages += 1
        if response.status_code >= 500:
            failed.append(f"{response.status_code} {url}")
        if response.status_code != 200 or not (response.content_type or "").startswith("text/html"):
            continue
        screen = _Screen()
        screen.feed(_other_language_removed(response.get_data(as_text=True), locale))
        for text in screen.texts:
            if text not in wrong and _wrong_language(text, locale, data):
                wrong[text] = url
        queue.extend(urljoin(url, link) for link in screen.links)
    return wrong, failed, pages


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [s for item in value for s in _strings(item)] if isinstance(value, list) else []


@pytest.mark.parametrize("locale", LOCALES)
def test_login_page_is_in_the_chosen_language(app, compiled, client, locale):
    client.get(f"/lang/{locale}")
    screen = _Screen()
    screen.feed(_other_language_removed(client.get("/login/").get_data(as_text=True), locale))
    assert [t for t in screen.texts if _wrong_language(t, locale, set())] == []


@pytest.fixture(scope="module")
def demo_site(app, compiled):
    """The demo data (`flask demo`) and an administrator; the crawl reads, it never writes."""
    from app.demo import make_demo
    from app.extensions import db
    from tests.conftest import _clean

    with app.app_context():
        _clean(db.session)
        logins = make_demo(db.session)
        sm = app.appbuilder.sm
        sm.add_user("boss", "Boss", "Admin", "boss@example.com", [sm.find_role("系统管理员")], "Passw0rd123")
        db.session.commit()
        data = _stored_pieces(db.session, app)
        yield {"admin": ("boss", "Passw0rd123"), "clerk": logins["接待员"]}, data
        db.session.remove()


@pytest.mark.parametrize(
    ("who", "locale"),
    [("admin", "en"), ("clerk", "en"), ("admin", "zh"), ("clerk", "zh")],
)
def test_every_screen_a_role_reaches_is_in_the_chosen_language(app, demo_site, who, locale):
    logins, data = demo_site
    username, password = logins[who]
    with app.test_client() as client:
        assert login(client, username, password).status_code == 302
        client.get(f"/lang/{locale}")
        wrong, failed, pages = _crawl(client, locale, data)
        charts = client.get("/dashboard/data")  # the dashboard's tiles and charts, drawn in the browser (codes and links in English)
        if charts.status_code == 200 and locale == "en":
            wrong.update({text: "/dashboard/data" for text in _strings(charts.get_json()) if _wrong_language(text, locale, data)})
    assert pages > (60 if who == "admin" else 40)
    assert failed == []
    assert wrong == {}, "\n".join(f"{page}: {text}" for text, page in sorted(wrong.items(), key=lambda kv: kv[1]))
