"""Shared column types, mixins and domain errors used by every handbook area."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask_appbuilder.models.sqla import Model  # noqa: F401  (re-exported)
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, TypeDecorator
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

TZ = ZoneInfo("Asia/Shanghai")
# Ids and other Integer columns are INTEGER: 32 bits on PostgreSQL. A larger number is bad input.
MAX_ID = 2**31 - 1
CENT = Decimal("0.01")


# ---------------------------------------------------------------- time and money
def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Aware UTC datetime; a naive value is read as Asia/Shanghai wall time."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    return value.astimezone(UTC)


def local(value: datetime | None) -> datetime | None:
    """The same instant in Asia/Shanghai."""
    return as_utc(value).astimezone(TZ) if value is not None else None


def local_date(value: datetime) -> date:
    return local(value).date()


def fmt_dt(value: datetime | date | None) -> str:
    """How a clerk reads a time: 2026-11-29 14:05 (Asia/Shanghai), no seconds."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local(value).strftime("%Y-%m-%d %H:%M")
    return value.strftime("%Y-%m-%d")


def person_name(user) -> str:
    """A login as Chinese offices write a name: family name first, no space (叶春梅, not FAB's
    "春梅 叶"); the user name when the login has no name."""
    if user is None:
        return ""
    return f"{user.last_name or ''}{user.first_name or ''}".strip() or (user.username or "")


def money(value) -> Decimal:
    """A Decimal with two places; floats are refused so money is never binary-rounded."""
    if isinstance(value, float):
        value = repr(value)
    try:
        result = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise ValidationError("amount", _l("金额格式不正确")) from exc
    if not result.is_finite():
        raise ValidationError("amount", _l("金额格式不正确"))
    return result


def fmt_money(value) -> str:
    return "" if value is None else f"{Decimal(value):,.2f}"


def amount_in_words(value) -> str:
    """An amount in RMB capitals as written on forms (合计大写): 123.45 → 壹佰贰拾叁元肆角伍分."""
    import cn2an

    amount = money(value if value is not None else 0)
    if _english():
        return _english_amount(amount)
    if amount < 0:
        return "负" + amount_in_words(-amount)
    return cn2an.an2cn(f"{amount:.2f}", "rmb")


def _english() -> bool:
    from flask_babel import get_locale

    try:
        locale = get_locale()
    except (RuntimeError, KeyError):  # outside the app, or an app without Babel: the default language
        return False
    return locale is not None and locale.language == "en"


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _english_number(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        return _ONES[n // 100] + " hundred" + (" " + _english_number(n % 100) if n % 100 else "")
    for size, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            return _english_number(n // size) + " " + word + (" " + _english_number(n % size) if n % size else "")
    raise AssertionError(n)


def _english_amount(amount: Decimal) -> str:
    """The English form of 合计大写: 42.50 → Forty-two yuan and fifty fen; 116 → One hundred sixteen yuan only."""
    sign, amount = ("minus ", -amount) if amount < 0 else ("", amount)
    yuan, fen = int(amount), int((amount * 100) % 100)
    text = f"{sign}{_english_number(yuan)} yuan" + (f" and {_english_number(fen)} fen" if fen else " only")
    return text[0].upper() + text[1:]


class UTCDateTime(TypeDecorator):
    """Stored as naive UTC, read back as aware UTC; naive input is Asia/Shanghai time."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return as_utc(value).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)

    @property
    def python_type(self):
        return datetime


Money = Numeric(12, 2, asdecimal=True)


# ---------------------------------------------------------------- enums
_LABELS: dict[type, dict] = {}
_TEXTS: dict[tuple, dict[str, str]] = {}


def _language():
    """The user's language (None outside a request): what a lazy label's text depends on."""
    from flask_babel import get_locale

    try:
        locale = get_locale()
    except RuntimeError:  # an application without Babel
        return None
    return None if locale is None else str(locale)


class LabeledEnum(enum.StrEnum):
    """A stored code whose Chinese label is its translation (`labels` maps code → lazy text)."""

    @classmethod
    def labels(cls) -> dict[str, object]:
        return {}

    @property
    def label(self) -> str:
        return str(self.labels().get(self.value, self.value))

    @classmethod
    def choices(cls) -> list[tuple[str, object]]:
        """(code, label) pairs; the labels stay lazy so a form defined at import shows the user's language."""
        return [(m.value, cls.labels().get(m.value, m.value)) for m in cls]

    @classmethod
    def label_of(cls, code: str | None) -> str:
        if code is None:
            return ""
        # the label's text in the user's language, translated once per enum, language and code
        # (a sheet of 50,000 rows asks 150,000 times, a REST list of 25 orders 25 times)
        texts = _TEXTS.get((cls, _language()))
        if texts is None:
            texts = _TEXTS[(cls, _language())] = {}
        text = texts.get(code)
        if text is None:
            labels = _LABELS.get(cls)
            if labels is None:
                labels = _LABELS[cls] = cls.labels()
            text = texts[code] = str(labels.get(code, code))
        return text

    def __str__(self) -> str:
        return self.value


def code_column(enum_cls: type[LabeledEnum], **kw) -> Mapped[str]:
    """A String column holding enum codes (names equal values, so forms, filters and REST agree)."""
    length = max(len(m.value) for m in enum_cls) + 8
    info = dict(kw.pop("info", None) or {}, enum=enum_cls)
    return mapped_column(String(length), info=info, **kw)


# ---------------------------------------------------------------- errors
class DomainError(Exception):
    """A refused operation with a Chinese message; `status` is what the API answers."""

    status = 409

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field

    def payload(self):
        if self.field:
            return {self.field: [self.message]}
        return self.message


class ValidationError(DomainError):
    status = 422

    def __init__(self, field: str, message):
        super().__init__(message, field)

    def __str__(self) -> str:
        return f"{self.message}"


class PermissionDenied(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """Someone else changed the record since it was read (optimistic locking): HTTP 409."""

    status = 409


STALE_MESSAGE = _l("该记录已被其他人修改(您看到的是旧版本),未保存。请刷新后查看最新内容再修改。")


def stale_conflict() -> Conflict:
    return Conflict(STALE_MESSAGE)


def check_version(item, submitted) -> None:
    """Refuse a write based on an older version of the row than the one stored now."""
    if submitted is None or submitted == "" or not hasattr(item, "version"):
        return
    try:
        submitted = int(submitted)
    except (TypeError, ValueError):
        raise ValidationError("version", _l("版本号必须是整数")) from None
    if submitted != item.version:
        raise stale_conflict()


# ---------------------------------------------------------------- audit
def current_user_id() -> int | None:
    """The logged-in user's id, or None for jobs and the CLI."""
    from app.scope import request_user

    user = request_user()
    return user.id if user is not None else None


class AuditMixinNullable:
    """Who created and last changed a row, and when; jobs and the CLI leave the user empty.

    `version` is the optimistic lock: every UPDATE/DELETE checks the version it read and bumps it,
    so a write based on a stale read raises `StaleDataError` (turned into `Conflict`, HTTP 409) instead
    of silently overwriting. Every change is also written to the field history (`models.history`).
    """

    history_enabled = True

    created_on: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    changed_on: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False
    )

    @declared_attr
    def created_by_fk(cls) -> Mapped[int | None]:
        return mapped_column(Integer, ForeignKey("ab_user.id"), default=current_user_id, nullable=True)

    @declared_attr
    def changed_by_fk(cls) -> Mapped[int | None]:
        return mapped_column(
            Integer,
            ForeignKey("ab_user.id"),
            default=current_user_id,
            onupdate=current_user_id,
            nullable=True,
        )

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}

    @declared_attr
    def created_by(cls):
        return relationship("User", foreign_keys=[cls.created_by_fk], viewonly=True)

    @declared_attr
    def changed_by(cls):
        return relationship("User", foreign_keys=[cls.changed_by_fk], viewonly=True)


class EstateOwned:
    """Rows that belong to one estate. The scoping interface filters on `estate_scope_column`.

    `estate_shared` models may hold company-wide rows (estate empty) that every user reads.
    Models whose estate follows a parent override `derive_estate`.
    """

    estate_shared = False

    @declared_attr
    def estate_id(cls) -> Mapped[int | None]:
        return mapped_column(
            Integer, ForeignKey("estate.id"), index=True, nullable=cls.estate_shared
        )

    @declared_attr
    def estate(cls):
        return relationship("Estate", foreign_keys=[cls.estate_id], lazy="joined")

    @classmethod
    def estate_scope_column(cls):
        return cls.estate_id

    def derive_estate(self, session) -> None:
        """Set `estate_id` from the parent row where the model has one."""

    def validate(self, session) -> None:
        """Check the row's rules before it is written; raise ValidationError."""


# ---------------------------------------------------------------- parsing transition input
def parse_dt(field: str, value, required: bool = False) -> datetime | None:
    """An aware UTC datetime from a datetime or an ISO 8601 string (naive = Asia/Shanghai)."""
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请填写时间"))
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValidationError(field, _l("时间格式不正确,应为 ISO 8601,如 2026-11-29T14:30:00+08:00"))


def parse_money(field: str, value, required: bool = True, allow_zero: bool = True) -> Decimal | None:
    """A non-negative amount with two places; floats and text that is not a number are refused."""
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请填写金额"))
        return None
    if isinstance(value, bool):
        raise ValidationError(field, _l("金额必须是数字"))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(field, _l("金额必须是数字")) from None
    if not amount.is_finite():
        raise ValidationError(field, _l("金额必须是数字"))
    if amount < 0:
        raise ValidationError(field, _l("金额不能为负数"))
    if amount == 0 and not allow_zero:
        raise ValidationError(field, _l("金额必须大于 0"))
    if amount >= Decimal("10000000000"):
        raise ValidationError(field, _l("金额过大"))
    if amount != amount.quantize(CENT):
        raise ValidationError(field, _l("金额最多两位小数"))
    return amount.quantize(CENT)


def parse_decimal(field: str, value, required: bool = True, positive: bool = False, places: int = 2) -> Decimal | None:
    """A non-negative number such as a quantity or work hours."""
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请填写数量"))
        return None
    if isinstance(value, bool):
        raise ValidationError(field, _l("必须是数字"))
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(field, _l("必须是数字")) from None
    if not number.is_finite() or number < 0 or number >= Decimal("100000000"):
        raise ValidationError(field, _l("必须是不小于 0 的合理数字"))
    if positive and number == 0:
        raise ValidationError(field, _l("必须大于 0"))
    return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def parse_int(field: str, value, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请选择"))
        return None
    if isinstance(value, bool):
        raise ValidationError(field, _l("必须是整数编号"))
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field, _l("必须是整数编号")) from None
    if not 0 < number <= MAX_ID:
        raise ValidationError(field, _l("编号超出范围"))
    return number


def parse_bool(field: str, value, required: bool = True) -> bool | None:
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请选择是或否"))
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "y", "yes", "是", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "n", "no", "否", "off"):
        return False
    raise ValidationError(field, _l("只能是是(true)或否(false)"))


def require_text(field: str, value, max_len: int = 500, message=None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, message or _l("请填写此项"))
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(field, _l("不能超过 %(n)s 个字", n=max_len))
    return value


def parse_text(field: str, value, max_len: int = 500) -> str | None:
    """Optional text, stripped; empty is None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(field, _l("必须是文字"))
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(field, _l("不能超过 %(n)s 个字", n=max_len))
    return value or None


def parse_choice(field: str, value, enum_cls, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise ValidationError(field, _l("请选择"))
        return None
    codes = [m.value for m in enum_cls]
    if value not in codes:
        raise ValidationError(field, _l("取值不正确,可选:%(codes)s", codes=", ".join(codes)))
    return value
