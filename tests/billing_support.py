"""Shared set-up of the billing and convenience-service tests: a catalogue, announced prices, deliveries."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import time_machine

from models.base import TZ


def at(text: str) -> datetime:
    """An instant written as Asia/Shanghai wall time (or with its own offset)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=TZ)


def item(session, name="钟点工(家务清洁)", price="35.00", cost="30.00", unit="小时", long_term=True, deposit="0",
         prepayment="0", kind="paid", category="housekeeping", estate=None):
    from app.scope import prepare_write
    from models.services import ServiceItem

    obj = ServiceItem(name=name, kind=kind, category=category, unit=unit, price=Decimal(price), cost=Decimal(cost),
                      deposit=Decimal(deposit), prepayment=Decimal(prepayment), long_term=long_term,
                      estate_id=estate.id if estate else None)
    prepare_write(obj, session)
    session.add(obj)
    session.commit()
    return obj


def announced_list(session, estate, prices: dict, year=2026, announced_on=date(2026, 1, 8), **line_kw):
    """An announced 价格表 (set up directly; the moves themselves are tested in test_services_price)."""
    from models.services_price import PriceList, add_line

    price_list = PriceList(estate_id=estate.id, year=year, status="draft")
    session.add(price_list)
    session.flush()
    for obj, price in prices.items():
        add_line(session, price_list, obj.id, price, **line_kw.get(obj.name, {}))
    price_list.status = "announced"
    price_list.announce_method = "office"
    price_list.announced_on = announced_on
    session.commit()
    return price_list


def deliver(session, owner, service, when: str, settlement="bill", quantity="1", signed=True, staff=None,
            subscription=None):
    """A delivery recorded at `when` (Asia/Shanghai), with the clock set just after it."""
    from app.scope import prepare_write
    from models.services_subscription import ServiceDelivery

    moment = at(when)
    with time_machine.travel(moment, tick=False):
        obj = ServiceDelivery(
            owner_id=owner.id if owner else None, service_item_id=service.id if service else None, delivered_at=moment,
            quantity=Decimal(quantity), settlement=settlement, owner_signed_by=(owner.name if owner else "业户") if signed else None,
            staff_id=staff.id if staff else None, subscription_id=subscription.id if subscription else None,
        )
        prepare_write(obj, session)
        session.add(obj)
        session.commit()
    return obj


def household(make, estate, room, name="张三", phone="13812345678"):
    building = getattr(estate, "_test_building", None)
    if building is None:
        building = make.building(estate)
        estate._test_building = building
    return make.owner(unit=make.unit(building, room), name=name, phone=phone)



_HASH: dict[str, str] = {}


@pytest.fixture(autouse=True)
def quick_passwords(monkeypatch, app):
    """Users made by `make.user` get a cheap hash of the test password: creating and logging in real
    users stays real, without a quarter second of scrypt each time (imported by the billing tests)."""
    from werkzeug.security import generate_password_hash

    from tests.conftest import PASSWORD

    if "h" not in _HASH:
        _HASH["h"] = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    sm = app.appbuilder.sm
    original = sm.add_user

    def add_user(username, first_name, last_name, email, role, password="", hashed_password="", **kw):
        if password == PASSWORD and not hashed_password:
            password, hashed_password = "", _HASH["h"]
        return original(username, first_name, last_name, email, role, password=password, hashed_password=hashed_password, **kw)

    monkeypatch.setattr(sm, "add_user", add_user)
