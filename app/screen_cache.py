"""In-process caches of what every screen draws again and again: the menu, the search menu's fields
and the filter bar's choices (people, sections, estates). Never whole pages: the grid, flash
messages, CSRF tokens, the user's name and task count are rendered for each request.

When a cached value is stale:
- The menu is keyed by what decides it: the permissions of the user's roles as read for this
  request (`WuyeSecurityManager.access_key`), the locale and the script root. A role or permission
  change shows at the next request, in every worker.
- Lookups are keyed by the user's estates and the locale, and are dropped
  (a) when this process commits (or rolls back) a transaction that wrote any row,
  (b) when another process of the machine did so on the same database (a stamp file per database in
      instance/screen-cache/, touched on such a commit and checked once per request), and
  (c) in any case after `SCREEN_CACHE_SECONDS` (default 10): a write made with plain SQL, by a
      process on another machine or by a tool outside the application.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import OrderedDict

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

logger = logging.getLogger(__name__)

STAMP_NAME = "{}.stamp"
MAX_ENTRIES = 512
_CHANGED = "wuye.screen_cache.changed"

# The generation of this process: bumped by every commit that wrote something.
_generation = [0]
_stamp_paths: set[str] = set()


def generation() -> int:
    return _generation[0]


def invalidate() -> None:
    """Drop every cached lookup of this process, and tell the other processes on this machine."""
    _generation[0] += 1
    for path in list(_stamp_paths):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "a"):
                os.utime(path, None)
        except OSError as exc:  # a read-only instance folder: the time limit still applies
            logger.debug("screen cache stamp %s not touched: %s", path, exc)


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context):  # noqa: ARG001
    session.info[_CHANGED] = True


READ_ONLY_TEXT = ("SELECT", "SHOW", "PRAGMA", "EXPLAIN", "SET")


@event.listens_for(Session, "do_orm_execute")
def _bulk_write(state):
    statement = state.statement
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_CHANGED] = True
    elif isinstance(statement, TextClause):  # plain SQL: a write unless it plainly reads
        words = statement.text.lstrip().split(None, 1)
        if not words or words[0].upper() not in READ_ONLY_TEXT:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if session.info.pop(_CHANGED, False):
        invalidate()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    # a cached value may have been built from rows this transaction wrote and now undid; the flag
    # stays for the commit of an outer transaction after a savepoint's rollback
    if session.info.get(_CHANGED):
        invalidate()


class ScreenCache:
    """One application's caches: `menu` (no time limit, keyed by permissions) and `lookups`."""

    def __init__(self, app):
        self.seconds = float(app.config.get("SCREEN_CACHE_SECONDS", 10))
        # one stamp per database: the processes serving it share it, others do not disturb it
        database = hashlib.sha1(str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).encode()).hexdigest()[:12]
        self.stamp = os.path.join(app.instance_path, "screen-cache", STAMP_NAME.format(database))
        _stamp_paths.add(self.stamp)
        self.menu: OrderedDict = OrderedDict()
        self.lookups: OrderedDict = OrderedDict()
        self._seen = (generation(), self._stamp_mtime())

    def _stamp_mtime(self) -> int:
        try:
            return os.stat(self.stamp).st_mtime_ns
        except OSError:
            return 0

    def _check(self) -> None:
        """Once per request: drop the lookups if this or another process wrote since."""
        if has_request_context():
            if request.environ.get("wuye.screen_cache.checked"):
                if self._seen[0] == generation():
                    return
            request.environ["wuye.screen_cache.checked"] = True
        seen = (generation(), self._stamp_mtime())
        if seen != self._seen:
            self.lookups.clear()
            self._seen = seen

    def lookup(self, key, build):
        """A value shared by requests for up to `seconds` (see the module's docstring)."""
        if self.seconds <= 0:
            return build()
        self._check()
        now = time.monotonic()
        hit = self.lookups.get(key)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        started_generation = generation()
        value = build()
        if generation() == started_generation:  # not built across a commit of this process
            _put(self.lookups, key, (now, value))
        return value

    def menu_html(self, key, build):
        hit = self.menu.get(key)
        if hit is None:
            hit = build()
            _put(self.menu, key, hit)
        return hit


def _put(store: OrderedDict, key, value) -> None:
    store[key] = value
    if len(store) > MAX_ENTRIES:
        store.popitem(last=False)


def screen_cache() -> ScreenCache:
    app = current_app._get_current_object()
    cache = app.extensions.get("wuye.screen_cache")
    if cache is None:
        cache = app.extensions["wuye.screen_cache"] = ScreenCache(app)
    return cache


def locale_key() -> str:
    from flask_babel import get_locale

    return str(get_locale() or "")


def scope_key():
    """The user's estates (None: every estate) as a cache key."""
    from app.scope import allowed_estate_ids

    ids = allowed_estate_ids()
    return None if ids is None else frozenset(ids)


def cached_lookup(name: str, build):
    """`build()` shared by requests of users with the same estates and locale."""
    if not has_request_context():
        return build()
    return screen_cache().lookup((name, locale_key(), scope_key()), build)


def cached_menu():
    """The menu bar's items for the user's permissions (rendered once per permission set and locale)."""
    from markupsafe import Markup

    def render():
        return Markup(current_app.jinja_env.get_template("wuye/navbar_menu.html").render(
            appbuilder=current_app.appbuilder, menu=current_app.appbuilder.menu))

    access = current_app.appbuilder.sm.access_key()
    if access is None:
        return render()
    key = (access, locale_key(), request.script_root)
    return screen_cache().menu_html(key, render)


def init_app(app) -> None:
    app.extensions["wuye.screen_cache"] = ScreenCache(app)
    app.jinja_env.globals["cached_menu"] = cached_menu
