"""Backup and restore of the SQLite database with SQLite's online backup API (consistent while the
app keeps serving). PostgreSQL is backed up with pg_dump / pg_restore (docs/security.md)."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime


class BackupError(Exception):
    """A backup or restore that cannot be done, with the Chinese reason."""


def _sqlite_path(engine) -> str:
    url = engine.url
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "当前数据库是 PostgreSQL:请用 pg_dump 备份、pg_restore 恢复,"
            "例如 pg_dump --format=custom --file wuye.dump \"$DATABASE_URL\"(详见 docs/security.md)。"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("内存数据库无法备份")
    return url.database


def _check(path: str) -> int:
    """Integrity check of a database file; returns its table count."""
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = con.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} 不是有效的 SQLite 数据库文件:{exc}") from None
    if result != "ok":
        raise BackupError(f"{path} 完整性检查未通过:{result}")
    missing = {"ab_user", "estate"} - tables
    if missing:
        raise BackupError(f"{path} 不是本系统的备份(缺少表 {', '.join(sorted(missing))})")
    return len(tables)


def _copy(source: str, target: str) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def backup_sqlite(engine, output: str) -> dict:
    source = _sqlite_path(engine)
    if os.path.abspath(output) == os.path.abspath(source):
        raise BackupError("备份文件不能是数据库文件本身")
    if os.path.isdir(output):
        raise BackupError(f"{output} 是一个目录,请给出文件名")
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    partial = output + ".partial"
    if os.path.exists(partial):
        os.unlink(partial)
    _copy(source, partial)
    tables = _check(partial)
    os.replace(partial, output)
    return {"tables": tables, "bytes": os.path.getsize(output)}


def restore_sqlite(engine, path: str, instance_path: str) -> dict:
    target = _sqlite_path(engine)
    if not os.path.isfile(path):
        raise BackupError(f"找不到备份文件 {path}")
    tables = _check(path)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safety_dir = os.path.join(instance_path, "backups")
    os.makedirs(safety_dir, exist_ok=True)
    safety = os.path.join(safety_dir, f"before-restore-{stamp}.db")
    if os.path.exists(target):
        _copy(target, safety)
    engine.dispose()  # no pooled connection keeps reading the old pages
    _copy(path, target)
    engine.dispose()
    return {"tables": tables, "safety_copy": safety}
