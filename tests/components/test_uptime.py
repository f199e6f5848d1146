from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from components.selectors import day_bounds, uptime_for_components
from components.services import set_component_status
from statuspage.services import SYSTEM

UTC_ZONE = ZoneInfo("Etc/UTC")
LA = ZoneInfo("America/Los_Angeles")


def at(day, hour=0, minute=0, tz=UTC_ZONE):
    return datetime(2026, 3, day, hour, minute, tzinfo=tz)


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API", at=at(1))


def day_of(uptime, d):
    return next(x for x in uptime.days if x.date == d)


@pytest.mark.django_db
def test_major_outage_counts_fully_and_partial_at_thirty_percent(api):
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=at(10, 1))
    set_component_status(actor=SYSTEM, component=api, status="partial_outage", at=at(10, 2))  # 1 h major
    set_component_status(actor=SYSTEM, component=api, status="operational", at=at(10, 12))  # 10 h partial
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(20), days=30)[api.pk]
    day = day_of(u, date(2026, 3, 10))
    assert day.counted == 86400
    assert day.downtime == pytest.approx(3600 + 0.3 * 36000)
    assert day.uptime == pytest.approx(100 * (1 - (3600 + 10800) / 86400))
    assert day.worst == "major_outage"


@pytest.mark.django_db
def test_degraded_and_maintenance_are_not_downtime(api):
    set_component_status(actor=SYSTEM, component=api, status="degraded_performance", at=at(5, 0))
    set_component_status(actor=SYSTEM, component=api, status="under_maintenance", at=at(5, 6))
    set_component_status(actor=SYSTEM, component=api, status="operational", at=at(5, 12))
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(6), days=10)[api.pk]
    day = day_of(u, date(2026, 3, 5))
    assert day.uptime == 100.0
    assert day.worst == "degraded_performance"
    assert day.seconds["under_maintenance"] == 6 * 3600


@pytest.mark.django_db
def test_an_outage_across_midnight_is_split_between_the_two_days(api):
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=at(7, 22))
    set_component_status(actor=SYSTEM, component=api, status="operational", at=at(8, 3))
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(9), days=5)[api.pk]
    assert day_of(u, date(2026, 3, 7)).seconds["major_outage"] == 2 * 3600
    assert day_of(u, date(2026, 3, 8)).seconds["major_outage"] == 3 * 3600


@pytest.mark.django_db
def test_days_follow_the_page_time_zone_not_utc(api):
    # 02:00-04:00 UTC on Mar 8 is the evening of Mar 7 in Los Angeles (UTC-8).
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=at(8, 2))
    set_component_status(actor=SYSTEM, component=api, status="operational", at=at(8, 4))
    u = uptime_for_components([api], tz=LA, now=at(12), days=8)[api.pk]
    assert day_of(u, date(2026, 3, 7)).seconds["major_outage"] == 2 * 3600
    assert "major_outage" not in day_of(u, date(2026, 3, 8)).seconds


@pytest.mark.django_db
def test_a_daylight_saving_day_has_twenty_three_hours(api):
    # Clocks in Los Angeles spring forward on 2026-03-08.
    start, end = day_bounds(date(2026, 3, 8), LA)
    assert (end - start) == timedelta(hours=23)
    u = uptime_for_components([api], tz=LA, now=at(12), days=8)[api.pk]
    assert day_of(u, date(2026, 3, 8)).counted == 23 * 3600
    assert day_of(u, date(2026, 3, 9)).counted == 24 * 3600


@pytest.mark.django_db
def test_days_before_the_component_existed_have_no_data_and_do_not_count(api):
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(3, 12), days=5)[api.pk]
    assert [d.has_data for d in u.days] == [False, False, True, True, True]
    assert u.days[-1].counted == 12 * 3600  # today counts only up to now
    assert u.percent == 100.0


@pytest.mark.django_db
def test_start_date_moves_the_start_of_counting(page, make_component):
    c = make_component(page, "Old", at=at(1), start_date=date(2026, 3, 4))
    u = uptime_for_components([c], tz=UTC_ZONE, now=at(6), days=6)[c.pk]
    assert [d.has_data for d in u.days] == [False, False, False, True, True, False]


@pytest.mark.django_db
def test_ninety_day_percentage_weighs_every_counted_second(api):
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=at(2, 0))
    set_component_status(actor=SYSTEM, component=api, status="operational", at=at(2, 12))
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(5), days=4)[api.pk]
    # Counted: Mar 2, 3, 4 in full; today (Mar 5) has zero elapsed seconds.
    assert u.percent == pytest.approx(100 * (1 - 12 * 3600 / (3 * 86400)))


@pytest.mark.django_db
def test_status_before_the_window_carries_into_it(api):
    set_component_status(actor=SYSTEM, component=api, status="partial_outage", at=at(1, 6))
    u = uptime_for_components([api], tz=UTC_ZONE, now=at(4), days=2)[api.pk]
    assert day_of(u, date(2026, 3, 3)).seconds == {"partial_outage": 86400}


@pytest.mark.django_db
def test_uptime_costs_two_queries_whatever_the_number_of_components(
    page, make_component, django_assert_num_queries
):
    comps = [make_component(page, f"C{i}", at=at(1)) for i in range(12)]
    for c in comps[:4]:
        set_component_status(actor=SYSTEM, component=c, status="major_outage", at=at(2))
    with django_assert_num_queries(2):
        result = uptime_for_components(comps, tz=UTC_ZONE, now=datetime(2026, 3, 20, tzinfo=UTC), days=90)
    assert len(result) == 12
