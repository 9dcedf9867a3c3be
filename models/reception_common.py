"""Shared input handling of the reception records: body parsing with Chinese errors naming the
field, local-day arithmetic, estate/unit/owner agreement and staff checks, and `create` (the one
write path of a new record: scope, rules, then its `on_created`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from flask_babel import lazy_gettext as _l

from models.base import (
    TZ,
    ValidationError,
    as_utc,
    local,
    parse_bool,
    parse_dt,
    parse_int,
    parse_text,
    require_text,
)
from models.master import Estate, Owner, Staff, Unit, check_phone
from models.workflow import Actor

# Early clocks and back-dated paper records are fine; a time well in the future is a typo.
FUTURE_SLACK = timedelta(minutes=10)
MANAGER_ROLES = {"物业经理", "管理处主任"}


# ---------------------------------------------------------------- shared helpers
def local_day_start(moment: datetime) -> datetime:
    """00:00 Asia/Shanghai of the day `moment` falls on, as aware UTC."""
    return datetime.combine(local(moment).date(), time.min, TZ).astimezone(UTC)


def next_local_midnight(moment: datetime) -> datetime:
    """The end of the local day `moment` falls on (when 'the same day' is over)."""
    return datetime.combine(local(moment).date() + timedelta(days=1), time.min, TZ).astimezone(UTC)


def period_of(moment: datetime | None) -> str | None:
    """The month a record belongs to, `2026-11`, in Asia/Shanghai."""
    return local(moment).strftime("%Y-%m") if moment is not None else None


def not_in_future(field: str, value: datetime | None, now: datetime) -> None:
    if value is not None and as_utc(value) > now + FUTURE_SLACK:
        raise ValidationError(field, _l("时间不能晚于现在"))


def is_company_user(user) -> bool:
    from app.scope import company_roles

    return user is not None and bool({r.name for r in user.roles} & company_roles())


def staff_serves(staff: Staff, estate_id: int | None) -> bool:
    """Whether a staff member works for the estate: one of theirs, or they work company-wide
    (a company-level role, or no estate in particular on their staff record)."""
    if estate_id is None or not staff.estate_ids or estate_id in staff.estate_ids:
        return True
    return is_company_user(staff.user)


def active_staff(session, field: str, staff_id, estate_id: int | None, required: bool = False) -> Staff | None:
    """The staff member behind an id from a form or a body, working for the estate."""
    staff_id = parse_int(field, staff_id, required=required)
    if staff_id is None:
        return None
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise ValidationError(field, _l("员工不存在"))
    if not staff.active:
        raise ValidationError(field, _l("%(name)s 已不在职", name=staff.name))
    if not staff_serves(staff, estate_id):
        raise ValidationError(field, _l("%(name)s 不负责该小区/大厦", name=staff.name))
    return staff


def sync_foreign_keys(obj) -> None:
    """Screens set relationships (`unit`), the rules read id columns (`unit_id`): bring them in line."""
    from sqlalchemy import inspect
    from sqlalchemy.orm.attributes import set_committed_value

    state = inspect(obj)
    for rel in state.mapper.relationships:
        if rel.direction.name != "MANYTOONE" or rel.viewonly:
            continue
        added = state.attrs[rel.key].history.added
        if not added:
            continue
        target = added[0]
        if target is None and not state.persistent:
            # a new record with the dropdown left empty: forget the empty choice, so that an id the
            # rules fill in (the unit of the chosen owner, the clerk as visitor) survives the flush
            set_committed_value(obj, rel.key, None)
            continue
        for local_col, remote_col in rel.local_remote_pairs:
            setattr(obj, local_col.key, getattr(target, remote_col.key) if target is not None else None)


def check_place(session, obj) -> None:
    """Estate, unit and owner of a record agree; missing ones are filled from the more specific."""
    if obj.owner_id is not None:
        owner = session.get(Owner, obj.owner_id)
        if owner is None:
            raise ValidationError("owner_id", _l("业户不存在"))
        if obj.unit_id is None:
            obj.unit_id = owner.unit_id
        elif owner.unit_id != obj.unit_id:
            raise ValidationError("owner_id", _l("该业户不住在所选房屋"))
    if obj.unit_id is not None:
        unit = session.get(Unit, obj.unit_id)
        if unit is None:
            raise ValidationError("unit_id", _l("房屋不存在"))
        if obj.estate_id is None:
            obj.estate_id = unit.estate_id
        elif unit.estate_id != obj.estate_id:
            raise ValidationError("unit_id", _l("该房屋不属于所选小区/大厦"))
    if obj.estate_id is None:
        raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
    if session.get(Estate, obj.estate_id) is None:
        raise ValidationError("estate_id", _l("小区/大厦不存在"))


def read_body(obj, body, parsers: dict, required: tuple[str, ...] = (), partial: bool = False) -> set[str]:
    """Set attributes from an API body through per-field parsers; unknown fields are refused.

    Returns the names that were given."""
    if not isinstance(body, dict):
        raise ValidationError("body", _l("请求体必须是 JSON 对象"))
    for key in body:
        if key not in parsers:
            raise ValidationError(str(key)[:40], _l("不能提交此字段"))
    for name in required:
        if not partial and name not in body:
            raise ValidationError(name, _l("请填写此项"))
    for name, parse in parsers.items():
        if name in body:
            setattr(obj, name, parse(name, body[name]))
    return set(body)


def amend_body(obj, body, refused=None) -> None:
    """Correct a registered record from an API body: only its `API_EDITABLE` fields, parsed as when it
    was registered; any other of its fields is refused."""
    if isinstance(body, dict):
        for key in body:
            if key in obj.API_FIELDS and key not in obj.API_EDITABLE:
                raise ValidationError(key, refused or _l("登记后不能修改此项"))
    read_body(obj, body, {k: obj.API_FIELDS[k] for k in obj.API_EDITABLE}, partial=True)


def opt_text(max_len: int):
    """A body parser `(field, value)` for optional text of at most `max_len` characters."""
    return lambda field, value: parse_text(field, value, max_len)


def req_text(max_len: int, message=None):
    return lambda field, value: require_text(field, value, max_len, message)


def opt_int(field, value):
    return parse_int(field, value, required=False)


def opt_dt(field, value):
    return parse_dt(field, value)


def req_bool(field, value):
    return parse_bool(field, value, required=True)


def opt_phone(field, value):
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(field, _l("电话号码必须是文字"))
    return check_phone(field, value, required=False)


def choice_of(enum_cls):
    def parse(field, value):
        if value is None or value == "":
            raise ValidationError(field, _l("请选择"))
        codes = [m.value for m in enum_cls]
        if value not in codes:
            raise ValidationError(
                field,
                _l("取值不正确,可选:%(codes)s", codes=", ".join(f"{c}({enum_cls.label_of(c)})" for c in codes)),
            )
        return value

    return parse


def staff_display(staff: Staff | None) -> str:
    return staff.name if staff is not None else ""



def create(session, obj, actor: Actor, now: datetime):
    """Write a new record through the same checks as every screen (estate scope, rules, tasks)."""
    from app.scope import prepare_write

    with session.no_autoflush:
        prepare_write(obj, session)
    session.add(obj)
    session.flush()
    if hasattr(obj, "on_created"):
        obj.on_created(session, actor, now)
        session.flush()
    return obj




def escape_like(text: str) -> str:
    """LIKE wildcards in the text taken literally (escape character `\\`)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(text: str) -> str:
    """`%text%` for a LIKE that finds the text anywhere."""
    return "%" + escape_like(text) + "%"



def installed_model(module: str, name: str):
    """A model of another handbook area when that area is part of this installation (its module is
    loaded with the app's models), else None: the reception screens work without it."""
    import sys

    loaded = sys.modules.get(module)
    return getattr(loaded, name, None) if loaded is not None else None
