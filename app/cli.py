"""Command line: init, demo, jobs, export, import-roster, backup and restore."""

from __future__ import annotations

import json
import re
import secrets
import string
import sys
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from app.extensions import db


def generate_password(length: int = 12) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def init_database(admin_password: str | None = None) -> dict:
    """Apply migrations, create/update roles, create `admin`; safe to run again."""
    from flask_migrate import upgrade

    from app.roles import sync_roles

    upgrade()
    appbuilder = current_app.appbuilder
    added = sync_roles(appbuilder)
    sm = appbuilder.sm
    result = {"roles_added_permissions": added, "admin_created": False, "admin_password": None}
    if sm.find_user(username="admin") is None:
        password = admin_password or generate_password()
        role = sm.find_role(sm.auth_role_admin)
        user = sm.add_user("admin", "管理员", "系统", "admin@example.com", role, password)
        if not user:
            raise click.ClickException("创建管理员失败")
        result.update(admin_created=True, admin_password=password)
    elif admin_password:
        sm.reset_password(sm.find_user(username="admin").id, admin_password)
        result["admin_password"] = admin_password
    return result


def register_cli(app: Flask) -> None:
    @app.cli.command("init")
    @click.option("--admin-password", default=None, help="管理员 admin 的密码(不填则生成并打印)")
    @with_appcontext
    def init_cmd(admin_password):
        """建库(迁移)、创建角色与权限、创建管理员 admin;可重复运行。"""
        result = init_database(admin_password)
        click.echo("数据库已是最新版本;角色与权限已同步。")
        if result["admin_created"]:
            click.echo(f"已创建管理员:用户名 admin  密码 {result['admin_password']}")
        elif result["admin_password"]:
            click.echo("管理员 admin 的密码已按 --admin-password 重设。")
        else:
            click.echo("管理员 admin 已存在,未改动。")

    @app.cli.command("demo")
    @click.option("--seed", default=2026, type=int)
    @click.option("--if-empty", is_flag=True, help="库中已有小区/大厦时什么也不做")
    @with_appcontext
    def demo_cmd(seed, if_empty):
        """生成演示数据(两个小区/大厦、约 500 户、每个角色一个登录)。"""
        from sqlalchemy import func, select

        from app.demo import make_demo
        from models.master import Estate

        if if_empty and db.session.scalar(select(func.count(Estate.id))):
            click.echo("已有数据,跳过演示数据。演示账号(若已生成)密码均为 wuye2026。")
            return

        logins = make_demo(db.session, seed=seed)
        click.echo("演示数据已生成。各角色登录:")
        for role, (username, password) in logins.items():
            click.echo(f"  {role:<10} 用户名 {username:<12} 密码 {password}")

    jobs_group = AppGroup("jobs", help="定时任务:list | run | once NAME --at ISO-TIME")

    @jobs_group.command("list")
    def jobs_list():
        from jobs import load_jobs

        for job in load_jobs().values():
            trig = ", ".join(f"{k}={v}" for k, v in job.trigger.items())
            click.echo(f"{job.name:<20} {job.label:<16} {trig}")

    @jobs_group.command("once")
    @click.argument("name")
    @click.option("--at", "at", default=None, help="按此时刻运行(ISO 8601;不带时区按北京时间)")
    def jobs_once(name, at):
        from jobs import load_jobs, run_job

        if name not in load_jobs():
            raise click.ClickException(f"没有名为 {name} 的定时任务;可用:{', '.join(load_jobs())}")
        when = None
        if at:
            try:
                when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError as exc:
                raise click.ClickException(f"--at 时间格式不正确:{at}") from exc
        summary = run_job(db.session, name, when)
        click.echo(json.dumps(summary, ensure_ascii=False))
        if summary.get("outcome") != "ok":
            sys.exit(1)

    @jobs_group.command("run")
    def jobs_run():
        """在前台运行调度器(每个部署只运行一个)。"""
        from jobs.scheduler import build_scheduler

        scheduler = build_scheduler(current_app._get_current_object())
        click.echo("调度器已启动:" + ", ".join(j.id for j in scheduler.get_jobs()))
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass

    app.cli.add_command(jobs_group)

    @app.cli.command("export")
    @click.argument("name")
    @click.option("--period", default=None, help="期间 YYYY-MM(或年度 YYYY)")
    @click.option("--estate-id", default=None, type=int)
    @click.option("-o", "--output", required=True, help="输出文件 .xlsx")
    @with_appcontext
    def export_cmd(name, period, estate_id, output):
        """导出报表,如 flask export monthly_orders --period 2026-11 -o 2026-11.xlsx"""
        from app.exports import load_exports

        exports = load_exports()
        if name not in exports:
            raise click.ClickException(f"没有名为 {name} 的导出;可用:{', '.join(exports) or '无'}")
        spec = exports[name]
        if spec.needs_period and (not period or not re.fullmatch(r"\d{4}(-(0[1-9]|1[0-2]))?", period)):
            raise click.ClickException("--period 必须是 YYYY-MM(或 YYYY)")
        count = spec.func(db.session, period, output, estate_id=estate_id)
        click.echo(f"已导出 {count} 行到 {output}")

    @app.cli.command("import-roster")
    @click.argument("path")
    @with_appcontext
    def import_roster_cmd(path):
        """从 xlsx 花名册导入小区、楼栋、房屋、业户(全部成功才保存)。"""
        from models.roster import RosterError, import_roster

        with open(path, "rb") as fh:
            try:
                counts = import_roster(db.session, fh.read())
            except RosterError as err:
                for e in err.errors:
                    click.echo(e, err=True)
                raise click.ClickException("导入失败,未保存任何数据") from None
        click.echo("导入完成:" + ",".join(f"{k} {v}" for k, v in counts.items()))

    @app.cli.command("backup")
    @click.option("-o", "--output", required=True, help="备份文件路径(SQLite 数据库文件)")
    @with_appcontext
    def backup_cmd(output):
        """在线备份数据库(SQLite;PostgreSQL 请用 pg_dump,见 docs/security.md)。"""
        from app.backup import BackupError, backup_sqlite

        try:
            info = backup_sqlite(db.engine, output)
        except BackupError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"已备份到 {output}({info['tables']} 张表,{info['bytes']} 字节,完整性检查通过)")

    @app.cli.command("restore")
    @click.argument("path")
    @with_appcontext
    def restore_cmd(path):
        """从备份文件恢复数据库(SQLite;恢复前自动把当前数据库另存一份)。"""
        from app.backup import BackupError, restore_sqlite

        try:
            info = restore_sqlite(db.engine, path, current_app.instance_path)
        except BackupError as err:
            raise click.ClickException(str(err)) from None
        click.echo(f"已从 {path} 恢复({info['tables']} 张表)。恢复前的数据库已另存为 {info['safety_copy']}")

