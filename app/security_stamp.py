"""What every request of a logged-in user reads again, kept per process while it cannot have changed:
the permissions of a set of roles and the estates a user works for.

Whether it changed is told by one number, `security_stamp.version`:
- every transaction that writes roles, permissions, views, staff, their estates or estates (through
  the ORM: a flush of such rows, or an insert/update/delete statement on their tables) writes a new,
  random one as it commits, so the change and the new number commit together or not at all;
- the number is read with the user of every request, in the same statement
  (`WuyeSecurityManager.load_user`): a process on any machine sees a change at the next request;
- an entry is used only for the number it was read under, and for at most
  `SECURITY_CACHE_SECONDS` (default 60) — the limit for writes that bypass the application (plain SQL
  in a database console).

A request without the number (the login itself, jobs, the CLI) reads everything from the database.
"""

from __future__ import annotations

import random
import time
from itertools import chain

from flask import current_app, has_request_context, request
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from models.security import SecurityStamp

WATCHED_TABLES = frozenset(
    {"ab_role", "ab_permission", "ab_view_menu", "ab_permission_view", "ab_permission_view_role", "estate", "staff",
     "staff_estate"}
)
_ENVIRON_KEY = "wuye.security_version"
_CHANGED = "wuye.security_stamp.changed"  # session.info: this transaction wrote watched rows
MAX_ENTRIES = 4096
_stamp = SecurityStamp.__table__
_random = random.SystemRandom()
clock = time.monotonic  # the entries' time limit (tests move it)


# the number as a column of the statement that loads the request's user (built once: it never changes)
VERSION_COLUMN = select(_stamp.c.version).where(_stamp.c.id == 1).scalar_subquery().label("security_version")


def remember_version(version) -> None:
    if has_request_context():
        request.environ[_ENVIRON_KEY] = version


def request_version():
    """The number read with this request's user, or None (no request, or the user was read otherwise)."""
    return request.environ.get(_ENVIRON_KEY) if has_request_context() else None


class SecurityCache:
    """Values keyed by role ids or user id, each kept with the number it was read under."""

    def __init__(self):
        self.entries: dict = {}

    def get(self, key, build):
        version = request_version()
        if version is None:
            return build()
        now = clock()
        entry = self.entries.get(key)
        if entry is not None and entry[0] == version and entry[1] > now:
            return entry[2]
        value = build()
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        seconds = float(current_app.config.get("SECURITY_CACHE_SECONDS", 60))
        self.entries[key] = (version, now + seconds, value)
        return value


def cache_of(name: str) -> SecurityCache:
    """The application's cache of one kind ("role_permissions", "user_estates")."""
    caches = current_app.extensions.setdefault("wuye.security_cache", {})
    cache = caches.get(name)
    if cache is None:
        cache = caches[name] = SecurityCache()
    return cache


# ---------------------------------------------------------------- a new number
def new_version() -> int:
    return _random.getrandbits(62) + 2


def _watched(obj) -> bool:
    table = getattr(type(obj), "__table__", None)
    return table is not None and table.name in WATCHED_TABLES


@event.listens_for(Session, "after_flush")
def _after_flush(session, flush_context):  # noqa: ARG001
    # the flushed rows are still listed as new, dirty or deleted here; a change of a collection
    # (a role's permissions, a staff member's estates) lists its owner as dirty
    if not session.info.get(_CHANGED) and any(_watched(o) for o in chain(session.new, session.dirty, session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _statement(state):
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in WATCHED_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "before_commit")
def _before_commit(session):
    """The new number is written last, as the transaction commits: the row is locked for that moment
    only (PostgreSQL), not while the transaction works, and never before another lock it might wait for."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the commit would flush after this hook: it may hold watched rows
    if session.info.get(_CHANGED):
        session.connection().execute(update(_stamp).where(_stamp.c.id == 1).values(version=new_version()))


@event.listens_for(Session, "after_transaction_end")
def _transaction_end(session, transaction):
    # the session's transaction is over (committed with its new number, or rolled back with its
    # changes); a savepoint's end leaves the mark to the enclosing transaction
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
