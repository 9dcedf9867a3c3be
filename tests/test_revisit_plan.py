"""The revisit plan as pure rules (SPEC §5): each rule, their union, the after-rain revisit."""

from datetime import UTC, date, datetime, timedelta

from models.revisit import TZ, Kpi, first_rain_day, plan_for

# 2026-12-01 14:30 in Shanghai
DONE = datetime(2026, 12, 1, 14, 30, tzinfo=TZ).astimezone(UTC)
H, D = timedelta(hours=1), timedelta(days=1)


def windows(plan):
    return {kind: (nb, due) for kind, nb, due in plan}


def shanghai_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=TZ).astimezone(UTC)


def test_ordinary_repair_is_revisited_within_a_week():
    assert windows(plan_for({"urgency": "normal", "category": "plumbing_electric"}, DONE)) == {"R1": (DONE, DONE + 7 * D)}


def test_safety_facility_within_two_days():
    assert windows(plan_for({"urgency": "normal", "category": "safety"}, DONE)) == {"R1": (DONE, DONE + 2 * D)}


def test_emergency_within_24_hours_and_again_from_day_two_to_three():
    plan = windows(plan_for({"urgency": "emergency", "category": "elevator"}, DONE))
    assert plan == {"R1": (DONE, DONE + 24 * H), "R2": (DONE + 2 * D, DONE + 3 * D)}


def test_leak_within_three_days_and_no_after_rain_revisit_before_it_rains():
    assert windows(plan_for({"urgency": "normal", "category": "leak"}, DONE)) == {"R1": (DONE, DONE + 3 * D)}


def test_leak_revisited_two_days_after_the_next_rain_day():
    rain = date(2026, 12, 4)
    plan = windows(plan_for({"urgency": "normal", "category": "leak"}, DONE, [date(2026, 11, 20), rain, date(2026, 12, 9)]))
    assert plan["R1"] == (DONE, DONE + 3 * D)
    assert plan["after_rain"] == (shanghai_midnight(rain), shanghai_midnight(rain) + 2 * D)


def test_rain_on_the_day_of_completion_counts_but_the_revisit_cannot_precede_the_work():
    plan = windows(plan_for({"urgency": "normal", "category": "leak"}, DONE, [date(2026, 12, 1)]))
    assert plan["after_rain"] == (DONE, shanghai_midnight(date(2026, 12, 1)) + 2 * D)


def test_rain_before_completion_is_not_the_next_rain():
    assert first_rain_day(DONE, [date(2026, 11, 30)]) is None
    assert "after_rain" not in windows(plan_for({"urgency": "normal", "category": "leak"}, DONE, [date(2026, 11, 30)]))


def test_union_of_rules_for_an_emergency_leak_takes_the_tighter_first_revisit():
    plan = plan_for({"urgency": "emergency", "category": "leak"}, DONE, [date(2026, 12, 6)])
    assert [p.kind for p in plan] == ["R1", "R2", "after_rain"]
    got = windows(plan)
    assert got["R1"] == (DONE, DONE + 24 * H)
    assert got["R2"] == (DONE + 2 * D, DONE + 3 * D)
    assert got["after_rain"] == (shanghai_midnight(date(2026, 12, 6)), shanghai_midnight(date(2026, 12, 8)))


def test_emergency_safety_repair_keeps_24_hours_and_the_second_revisit():
    got = windows(plan_for({"urgency": "emergency", "category": "safety"}, DONE))
    assert got == {"R1": (DONE, DONE + 24 * H), "R2": (DONE + 2 * D, DONE + 3 * D)}


def test_plan_items_unpack_as_kind_not_before_due():
    (kind, not_before, due_at), = plan_for({"urgency": "normal", "category": "other"}, DONE)
    assert (kind, not_before, due_at) == ("R1", DONE, DONE + 7 * D)


def test_kpi_reports_value_target_and_whether_met():
    from decimal import Decimal

    kpi = Kpi("revisit_rate", "回访处理率", 19, 20, Decimal("0.95"), Decimal("1"), "%")
    assert kpi.met is False and kpi.display == "95.0%"
    low = Kpi("valid_complaint_rate", "有效投诉率", 1, 4000, Decimal("0.25"), Decimal("0.5"), "‰", higher_is_better=False)
    assert low.met is True and low.display == "0.25‰"
    assert Kpi("x", "x", 0, 0, None, Decimal("1"), "%").met is None
