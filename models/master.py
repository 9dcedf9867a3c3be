"""Master data (SPEC §2): estates, buildings, units, owners, departments and staff."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_appbuilder.models.sqla import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Column, ForeignKey, Integer, Numeric, String, Table, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AuditMixinNullable, EstateOwned, LabeledEnum, ValidationError, code_column

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{2,3}-?\d{7,8}(-\d{1,6})?$")
SHORT_RE = re.compile(r"^[48]00-?\d{3}-?\d{4}$")  # 400/800 service numbers


def normalize_phone(value: str | None) -> str:
    return re.sub(r"[\s()（）]", "", value or "").replace("+86", "")


def phone_error(value: str | None, required: bool = True) -> str | None:
    """None when the phone is a mainland mobile or landline number, else the Chinese reason."""
    phone = normalize_phone(value)
    if not phone:
        return str(_l("请填写电话号码")) if required else None
    if MOBILE_RE.match(phone) or LANDLINE_RE.match(phone) or SHORT_RE.match(phone):
        return None
    return str(_l("电话号码格式不正确:应为 11 位手机号(如 13812345678)或带区号的座机(如 021-62345678)"))


def check_phone(field: str, value: str | None, required: bool = True) -> str:
    err = phone_error(value, required)
    if err:
        raise ValidationError(field, err)
    return normalize_phone(value)


class EstateKind(LabeledEnum):
    residential = "residential"
    commercial = "commercial"

    @classmethod
    def labels(cls):
        return {"residential": _l("住宅小区"), "commercial": _l("商业大厦")}


class Estate(AuditMixinNullable, Model):
    """小区/大厦."""

    __tablename__ = "estate"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    kind: Mapped[str] = code_column(EstateKind, nullable=False, default=EstateKind.residential.value)
    address: Mapped[str | None] = mapped_column(String(200))
    households: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    complaint_phone_day: Mapped[str | None] = mapped_column(String(40))
    complaint_phone_night: Mapped[str | None] = mapped_column(String(40))

    def __repr__(self) -> str:
        return self.name

    @property
    def kind_label(self) -> str:
        return EstateKind.label_of(self.kind)

    @classmethod
    def estate_scope_column(cls):
        return cls.id

    @property
    def estate_id(self):
        return self.id

    def derive_estate(self, session) -> None:
        pass

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写小区/大厦名称"))
        self.kind = self.kind or EstateKind.residential.value
        if self.households is None:
            self.households = 0
        if self.kind not in {k.value for k in EstateKind}:
            raise ValidationError("kind", _l("类型只能是住宅小区(residential)或商业大厦(commercial)"))
        if self.households is None or self.households < 0:
            raise ValidationError("households", _l("户数不能为负数"))
        if self.households > 1_000_000:
            raise ValidationError("households", _l("户数过大"))
        for field in ("complaint_phone_day", "complaint_phone_night"):
            value = getattr(self, field)
            if value:
                setattr(self, field, check_phone(field, value, required=False))
        dup = session.scalar(select(Estate.id).where(Estate.name == self.name.strip(), Estate.id != (self.id or 0)))
        if dup:
            raise ValidationError("name", _l("已有同名的小区/大厦"))

    def check_delete(self, session) -> None:
        count = session.scalar(select(func.count(Building.id)).where(Building.estate_id == self.id))
        if count:
            raise ValidationError("estate", _l("该小区/大厦下还有 %(n)s 栋楼,不能删除", n=count))


class Building(EstateOwned, AuditMixinNullable, Model):
    """楼栋."""

    __tablename__ = "building"
    __table_args__ = (UniqueConstraint("estate_id", "name", name="uq_building_estate_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    floors: Mapped[int | None] = mapped_column(Integer)
    units = relationship("Unit", back_populates="building", passive_deletes="all")

    def __repr__(self) -> str:
        return f"{self.estate.name if self.estate else ''} {self.name}".strip()

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写楼栋名称"))
        if not self.estate_id:
            raise ValidationError("estate_id", _l("请选择所属小区/大厦"))
        dup = session.scalar(
            select(Building.id).where(
                Building.estate_id == self.estate_id, Building.name == self.name, Building.id != (self.id or 0)
            )
        )
        if dup:
            raise ValidationError("name", _l("该小区已有同名楼栋"))

    def check_delete(self, session) -> None:
        count = session.scalar(select(func.count(Unit.id)).where(Unit.building_id == self.id))
        if count:
            raise ValidationError("building", _l("该楼栋下还有 %(n)s 套房屋,不能删除", n=count))


def unit_name(building: str | None, room: str) -> str:
    """How a unit reads: building and room, 3号楼-1203."""
    return f"{building or ''}-{room}"


class Unit(EstateOwned, AuditMixinNullable, Model):
    """房屋 (a room number in a building)."""

    __tablename__ = "unit"
    __table_args__ = (UniqueConstraint("building_id", "room", name="uq_unit_building_room"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("building.id"), nullable=False, index=True)
    room: Mapped[str] = mapped_column(String(20), nullable=False)
    area: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    building = relationship("Building", back_populates="units", lazy="joined")
    owners = relationship("Owner", back_populates="unit", passive_deletes="all")

    def __repr__(self) -> str:
        return unit_name(self.building.name if self.building else None, self.room)

    @property
    def label(self) -> str:
        estate = self.building.estate.name if self.building and self.building.estate else ""
        return f"{estate} {self}"

    def derive_estate(self, session) -> None:
        if self.building_id and (self.building is None or self.building.id != self.building_id):
            self.building = session.get(Building, self.building_id)
        if self.building is not None:
            self.estate_id = self.building.estate_id

    def validate(self, session) -> None:
        if not self.building_id and self.building is None:
            raise ValidationError("building_id", _l("请选择楼栋"))
        if self.building is None:
            raise ValidationError("building_id", _l("楼栋不存在"))
        if not (self.room or "").strip():
            raise ValidationError("room", _l("请填写房号"))
        self.room = self.room.strip()
        dup = session.scalar(
            select(Unit.id).where(
                Unit.building_id == self.building.id, Unit.room == self.room, Unit.id != (self.id or 0)
            )
        )
        if dup:
            raise ValidationError("room", _l("该楼栋已有房号 %(room)s", room=self.room))

    def check_delete(self, session) -> None:
        count = session.scalar(select(func.count(Owner.id)).where(Owner.unit_id == self.id))
        if count:
            raise ValidationError("unit", _l("该房屋还登记有 %(n)s 位业户,不能删除", n=count))


class OwnerKind(LabeledEnum):
    owner = "owner"
    tenant = "tenant"

    @classmethod
    def labels(cls):
        return {"owner": _l("业主"), "tenant": _l("租户")}


class Owner(EstateOwned, AuditMixinNullable, Model):
    """业户: an owner or a tenant of a unit; a company for 住户单位."""

    __tablename__ = "owner"
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    phone: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    kind: Mapped[str] = code_column(OwnerKind, nullable=False, default=OwnerKind.owner.value)
    company: Mapped[str | None] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(String(200))
    unit = relationship("Unit", back_populates="owners", lazy="joined")

    def __repr__(self) -> str:
        return f"{self.name}({self.unit})" if self.unit else self.name

    @property
    def kind_label(self) -> str:
        return OwnerKind.label_of(self.kind)

    def derive_estate(self, session) -> None:
        if self.unit_id and (self.unit is None or self.unit.id != self.unit_id):
            self.unit = session.get(Unit, self.unit_id)
        if self.unit is not None:
            self.estate_id = self.unit.estate_id

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写业户姓名"))
        if self.unit is None:
            raise ValidationError("unit_id", _l("请选择房屋"))
        self.phone = check_phone("phone", self.phone)
        self.kind = self.kind or OwnerKind.owner.value
        if self.kind not in {k.value for k in OwnerKind}:
            raise ValidationError("kind", _l("业户类型只能是业主(owner)或租户(tenant)"))


class DepartmentKind(LabeledEnum):
    service = "service"
    duty = "duty"
    engineering = "engineering"
    supply = "supply"
    finance = "finance"
    section = "section"
    management = "management"

    @classmethod
    def labels(cls):
        return {
            "service": _l("业户服务部"),
            "duty": _l("总值班室"),
            "engineering": _l("工程部"),
            "supply": _l("供应处"),
            "finance": _l("财务"),
            "section": _l("维修处"),
            "management": _l("管理处"),
        }


class Department(EstateOwned, AuditMixinNullable, Model):
    """部门/处; a company-wide department has no estate."""

    __tablename__ = "department"
    estate_shared = True
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    kind: Mapped[str] = code_column(DepartmentKind, nullable=False)
    head_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", use_alter=True), nullable=True)
    phone: Mapped[str | None] = mapped_column(String(30))
    head = relationship("Staff", foreign_keys=[head_id], post_update=True)

    def __repr__(self) -> str:
        return self.name

    @property
    def kind_label(self) -> str:
        return DepartmentKind.label_of(self.kind)

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写部门名称"))
        if self.kind not in {k.value for k in DepartmentKind}:
            raise ValidationError("kind", _l("部门类型不正确"))
        if self.phone:
            self.phone = check_phone("phone", self.phone, required=False)

    def check_delete(self, session) -> None:
        count = session.scalar(select(func.count(Staff.id)).where(Staff.department_id == self.id))
        if count:
            raise ValidationError("department", _l("该部门还有 %(n)s 名员工,不能删除", n=count))


staff_estate = Table(
    "staff_estate",
    Model.metadata,
    Column("staff_id", Integer, ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True),
    Column("estate_id", Integer, ForeignKey("estate.id", ondelete="CASCADE"), primary_key=True),
)


class Staff(AuditMixinNullable, Model):
    """员工: links a login, a department and the estates the person works for."""

    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(30))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("ab_user.id"), unique=True, nullable=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    position: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    user = relationship("User", foreign_keys=[user_id])
    department = relationship("Department", foreign_keys=[department_id], lazy="joined")
    estates = relationship("Estate", secondary=staff_estate, lazy="selectin")

    def __repr__(self) -> str:
        return self.name

    def validate(self, session) -> None:
        if not (self.name or "").strip():
            raise ValidationError("name", _l("请填写员工姓名"))
        if self.phone:
            self.phone = check_phone("phone", self.phone, required=False)
        if self.user_id:
            dup = session.scalar(select(Staff.id).where(Staff.user_id == self.user_id, Staff.id != (self.id or 0)))
            if dup:
                raise ValidationError("user_id", _l("该登录账号已关联其他员工"))

    @property
    def estate_ids(self) -> set[int]:
        return {e.id for e in self.estates}
