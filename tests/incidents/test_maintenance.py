"""Scheduled maintenance on a controlled clock: reminders, automatic start and completion each exactly once,
catch-up after a missed beat, components restored to what they were, reschedule, extend, cancel, overlapping
windows, recurring windows across daylight-saving changes, and subscribers told through the real SMTP road."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection

from components.models import ComponentStatusChange
from components.services import set_component_status
from incidents import scheduler, selectors
from incidents.models import Incident, MaintenanceNotice, MaintenanceSeries
from incidents.services import (
    cancel_maintenance,
    complete_maintenance,
    create_maintenance_series,
    edit_maintenance,
    extend_maintenance,
    reschedule_maintenance,
    schedule_maintenance,
    start_maintenance,
    stop_maintenance_series,
)
from incidents.tasks import run_maintenance_clock_task
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, create_page
from subscribers.models import OutboxEvent
from subscribers.services import subscribe

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
START = T + timedelta(hours=2)
END = START + timedelta(hours=1)


def at(minutes: int) -> datetime:
    """Minutes from the maintenance's start."""
    return START + timedelta(minutes=minutes)


def run(when: datetime) -> dict:
    with time_machine.travel(when, tick=False):
        return run_maintenance_clock_task()


def events(incident, type_: str) -> int:
    return OutboxEvent.objects.filter(incident=incident, type=type_).count()


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def web(page, make_component):
    return make_component(page, "Website", status="degraded_performance")


@pytest.fixture
def cache(page, make_component):
    return make_component(page, "Redis auth cache", is_public=False)


@pytest.fixture
def maintenance(page, api, web):
    return schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Database upgrade",
        scheduled_for=START,
        scheduled_until=END,
        components=[api, web],
        at=T,
    )


def refresh(*objects):
    for obj in objects:
        obj.refresh_from_db()


# --- Scheduling ---------------------------------------------------------------------------------------


def test_a_new_maintenance_reminds_an_hour_before_starts_and_completes_by_itself(maintenance):
    assert maintenance.reminders == [60]
    assert maintenance.auto_start and maintenance.auto_complete
    assert maintenance.published_at == T and maintenance.announced_at == T
    assert events(maintenance, "maintenance.scheduled") == 1
    assert AuditEvent.objects.filter(action="maintenance.scheduled", object_id=maintenance.code).exists()


def test_reminders_must_be_a_list_of_minutes(page):
    for bad in ("60", [0], [60, "x"], [True], [10_081], [1, 2, 3, 4, 5, 6]):
        with pytest.raises(ValidationError) as err:
            schedule_maintenance(
                actor=SYSTEM, page=page, name="x", scheduled_for=START, scheduled_until=END, reminders=bad
            )
        assert "reminders" in err.value.message_dict, bad
    assert not Incident.objects.exists()
    m = schedule_maintenance(
        actor=SYSTEM, page=page, name="x", scheduled_for=START, scheduled_until=END, reminders=[15, 60, 15]
    )
    assert m.reminders == [60, 15]


# --- The clock: exactly once ----------------------------------------------------------------------------


def test_it_starts_and_completes_on_time_exactly_once_and_restores_each_component(maintenance, api, web):
    assert run(at(-1))["started"] == 0
    assert run(at(0))["started"] == 1
    assert run(at(0))["started"] == 0  # the same instant again: a retried task, or a second beat
    assert run(at(1))["started"] == 0
    refresh(maintenance, api, web)
    assert maintenance.status == "in_progress"
    assert (api.status, web.status) == ("under_maintenance", "under_maintenance")
    assert maintenance.restore_statuses == {api.code: "operational", web.code: "degraded_performance"}
    assert events(maintenance, "maintenance.started") == 1

    assert run(at(59))["completed"] == 0
    assert run(at(60))["completed"] == 1
    assert run(at(60))["completed"] == 0
    refresh(maintenance, api, web)
    assert maintenance.status == "completed" and maintenance.resolved_at == at(60)
    assert (api.status, web.status) == ("operational", "degraded_performance")
    assert events(maintenance, "maintenance.completed") == 1
    # Every change went through the component service, attached to the maintenance's updates.
    changes = ComponentStatusChange.objects.filter(incident_update__incident=maintenance)
    assert sorted((c.component.name, c.old_status, c.new_status) for c in changes) == [
        ("API", "operational", "under_maintenance"),
        ("API", "under_maintenance", "operational"),
        ("Website", "degraded_performance", "under_maintenance"),
        ("Website", "under_maintenance", "degraded_performance"),
    ]
    actions = AuditEvent.objects.filter(object_id=maintenance.code).values_list("action", "actor_label")
    assert ("maintenance.started", "maintenance scheduler") in actions
    assert ("maintenance.completed", "maintenance scheduler") in actions
    assert MaintenanceNotice.objects.filter(incident=maintenance).count() == 3  # reminder, start, completion


def test_each_reminder_is_sent_exactly_once(page, api):
    m = schedule_maintenance(
        actor=SYSTEM, page=page, name="m", scheduled_for=START, scheduled_until=END, reminders=[60, 15], at=T
    )
    assert run(at(-61))["reminded"] == 0
    assert run(at(-60))["reminded"] == 1
    assert run(at(-60))["reminded"] == 0
    assert run(at(-30))["reminded"] == 0
    assert run(at(-15))["reminded"] == 1
    assert run(at(-15))["reminded"] == 0
    assert run(at(-1))["reminded"] == 0
    reminders = OutboxEvent.objects.filter(incident=m, type="maintenance.reminder").order_by("id")
    assert [e.data["minutes"] for e in reminders] == [60, 15]


def test_automatic_start_and_completion_can_be_turned_off(page, api):
    m = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="m",
        scheduled_for=START,
        scheduled_until=END,
        components=[api],
        auto_start=False,
        at=T,
    )
    assert run(at(5))["started"] == 0
    start_maintenance(actor=SYSTEM, incident=m, at=at(10))
    assert run(at(10))["started"] == 0
    edit_maintenance(actor=SYSTEM, incident=m, auto_complete=False)
    assert run(at(90))["completed"] == 0
    refresh(m, api)
    assert m.status == "in_progress" and api.status == "under_maintenance"


# --- Catching up after a missed beat -----------------------------------------------------------------


def test_a_start_missed_by_ten_minutes_still_starts_and_its_passed_reminder_is_not_sent(maintenance, api):
    assert run(at(10)) == {
        "generated": 0,
        "published": 0,
        "reminded": 0,
        "started": 1,
        "completed": 0,
        "failed": 0,
    }
    refresh(maintenance, api)
    assert maintenance.status == "in_progress" and api.status == "under_maintenance"
    assert events(maintenance, "maintenance.reminder") == 0


def test_a_beat_down_for_an_hour_sends_only_the_reminder_nearest_the_start(page):
    m = schedule_maintenance(
        actor=SYSTEM, page=page, name="m", scheduled_for=START, scheduled_until=END, reminders=[60, 15], at=T
    )
    assert run(at(-10))["reminded"] == 1
    assert run(at(-5))["reminded"] == 0
    assert [
        e.data["minutes"] for e in OutboxEvent.objects.filter(incident=m, type="maintenance.reminder")
    ] == [15]


def test_a_window_that_passed_while_nobody_ran_is_started_then_completed(maintenance, api, web):
    result = run(at(75))
    assert (result["started"], result["completed"]) == (1, 1)
    refresh(maintenance, api, web)
    assert maintenance.status == "completed"
    assert (api.status, web.status) == ("operational", "degraded_performance")
    assert run(at(80))["completed"] == 0


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_start_and_remind_each_maintenance_once(page, make_component):
    api = make_component(page, "API")
    for i in range(4):
        schedule_maintenance(
            actor=SYSTEM,
            page=page,
            name=f"M{i}",
            scheduled_for=START,
            scheduled_until=END,
            components=[api],
            reminders=[60],
            at=T,
        )
    barrier = threading.Barrier(2)
    results = []

    def sweep(when):
        try:
            barrier.wait()
            with time_machine.travel(when, tick=False):
                results.append(scheduler.sweep().as_dict())
        finally:
            connection.close()

    for when in (at(-60), at(0)):
        threads = [threading.Thread(target=sweep, args=(when,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert sum(r["reminded"] for r in results) == 4
    assert sum(r["started"] for r in results) == 4
    assert OutboxEvent.objects.filter(type="maintenance.reminder").count() == 4
    assert OutboxEvent.objects.filter(type="maintenance.started").count() == 4


# --- Components restored ---------------------------------------------------------------------------------


def test_a_component_changed_during_the_window_is_left_as_it_is_and_the_update_says_so(page, api, web, cache):
    m = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Cache TLS",
        scheduled_for=START,
        scheduled_until=END,
        components=[api, web, cache],
        at=T,
    )
    run(at(0))
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=at(20))
    set_component_status(actor=SYSTEM, component=cache, status="partial_outage", at=at(20))
    update = complete_maintenance(actor=SYSTEM, incident=m, at=at(40))
    refresh(api, web, cache)
    assert (api.status, web.status, cache.status) == (
        "major_outage",
        "degraded_performance",
        "partial_outage",
    )
    assert "API (Major Outage)" in update.body
    assert "Redis auth cache" not in update.body  # internal: never in a public update...
    audit = AuditEvent.objects.get(action="maintenance.completed", object_id=m.code)
    assert audit.after["left_as_changed"] == {api.code: "major_outage", cache.code: "partial_outage"}
    assert audit.after["restored"] == {web.code: "degraded_performance"}  # ...but in the audit log


def test_overlapping_maintenances_hand_a_shared_component_over(page, api):
    first = schedule_maintenance(
        actor=SYSTEM, page=page, name="A", scheduled_for=START, scheduled_until=END, components=[api], at=T
    )
    second = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="B",
        scheduled_for=at(30),
        scheduled_until=at(120),
        components=[api],
        at=T,
    )
    run(at(0))
    run(at(30))
    run(at(60))  # A completes while B still holds the component
    refresh(first, second, api)
    assert first.status == "completed" and second.status == "in_progress"
    assert api.status == "under_maintenance"
    assert second.restore_statuses == {api.code: "operational"}
    run(at(120))
    api.refresh_from_db()
    assert api.status == "operational"


# --- Changing the window --------------------------------------------------------------------------------


def test_rescheduling_re_arms_the_reminders_for_the_new_time(maintenance):
    assert run(at(-60))["reminded"] == 1
    later = START + timedelta(days=1)
    reschedule_maintenance(
        actor=SYSTEM,
        incident=maintenance,
        scheduled_for=later,
        scheduled_until=later + timedelta(hours=1),
        at=at(-50),
    )
    refresh(maintenance)
    assert maintenance.sequence == 1 and maintenance.started_at == later
    assert run(at(0))["started"] == 0
    assert run(later - timedelta(minutes=60))["reminded"] == 1
    assert run(later)["started"] == 1
    assert events(maintenance, "maintenance.reminder") == 2
    assert events(maintenance, "maintenance.updated") == 1  # subscribers told of the new time


def test_rescheduling_refuses_a_past_window_and_a_started_maintenance(maintenance):
    with pytest.raises(ValidationError) as err:
        reschedule_maintenance(
            actor=SYSTEM,
            incident=maintenance,
            scheduled_for=T,
            scheduled_until=T + timedelta(hours=1),
            at=at(-30),
        )
    assert "scheduled_for" in err.value.message_dict
    run(at(0))
    with pytest.raises(ValidationError):
        reschedule_maintenance(
            actor=SYSTEM, incident=maintenance, scheduled_for=at(600), scheduled_until=at(700), at=at(1)
        )


def test_extending_moves_the_automatic_completion(maintenance, api):
    run(at(0))
    extend_maintenance(actor=SYSTEM, incident=maintenance, scheduled_until=at(90), at=at(50))
    assert run(at(60))["completed"] == 0
    assert run(at(90))["completed"] == 1
    refresh(maintenance, api)
    assert maintenance.sequence == 1 and api.status == "operational"
    with pytest.raises(ValidationError):
        extend_maintenance(actor=SYSTEM, incident=maintenance, scheduled_until=at(200), at=at(95))


def test_a_cancelled_maintenance_leaves_the_public_lists_never_starts_and_told_subscribers_hear_of_it(
    maintenance, page, api
):
    assert [m.code for m in selectors.upcoming_maintenances(page)] == [maintenance.code]
    cancel_maintenance(actor=SYSTEM, incident=maintenance, at=at(-30))
    refresh(maintenance)
    assert maintenance.cancelled_at == at(-30) and maintenance.sequence == 1
    assert selectors.upcoming_maintenances(page) == []
    assert selectors.most_recent(page, kind="maintenance") == []
    assert events(maintenance, "maintenance.updated") == 1
    assert maintenance.updates.first().body == "This scheduled maintenance has been cancelled."
    assert run(at(0))["started"] == 0 and run(at(-60))["reminded"] == 0
    api.refresh_from_db()
    assert api.status == "operational"
    with pytest.raises(ValidationError):
        start_maintenance(actor=SYSTEM, incident=maintenance, at=at(1))


def test_subscribers_not_told_of_a_maintenance_are_not_told_of_its_cancellation(page):
    m = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Quiet",
        scheduled_for=START,
        scheduled_until=END,
        deliver_notifications=False,
        at=T,
    )
    cancel_maintenance(actor=SYSTEM, incident=m, at=at(-30))
    assert not OutboxEvent.objects.filter(incident=m).exists()


def test_a_maintenance_cannot_be_completed_before_it_starts(maintenance):
    with pytest.raises(ValidationError) as err:
        complete_maintenance(actor=SYSTEM, incident=maintenance, at=at(-10))
    assert "status" in err.value.message_dict


# --- Recurring windows ----------------------------------------------------------------------------------


@pytest.fixture
def berlin(db):
    return create_page(actor=SYSTEM, name="Berlin", slug="berlin", time_zone="Europe/Berlin")


def local(moments, tz):
    return [m.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") for m in moments]


def test_a_weekly_window_keeps_its_local_time_across_the_march_and_october_changes(berlin):
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    first = datetime(2026, 3, 17, 1, 0, tzinfo=UTC)  # Tuesday 02:00 CET
    series = create_maintenance_series(
        actor=SYSTEM,
        page=berlin,
        name="Weekly patching",
        first_start=first,
        first_end=first + timedelta(hours=2),
        frequency="weekly",
        at=now,
    )
    windows = list(series.occurrences.order_by("scheduled_for"))
    starts = [w.scheduled_for for w in windows]
    assert local(starts[:4], berlin.tz) == [
        "Tue 2026-03-17 02:00",
        "Tue 2026-03-24 02:00",
        "Tue 2026-03-31 02:00",  # after the last Sunday of March: summer time
        "Tue 2026-04-07 02:00",
    ]
    # The UTC time moves an hour with the change (Sunday March 29), the local time does not.
    assert [s.astimezone(UTC).hour for s in starts[:4]] == [1, 1, 0, 0]
    assert all(w.scheduled_until - w.scheduled_for == timedelta(hours=2) for w in windows)
    assert max(starts) <= now + timedelta(days=60)
    assert len(windows) == 8
    # Expansion is idempotent, and rolls forward as time passes, through the October change.
    assert run(now)["generated"] == 0
    later = datetime(2026, 9, 20, 12, 0, tzinfo=UTC)
    run(later)
    autumn = [
        w.scheduled_for
        for w in series.occurrences.filter(scheduled_for__gte=datetime(2026, 10, 19, tzinfo=UTC)).order_by(
            "scheduled_for"
        )[:2]
    ]
    assert local(autumn, berlin.tz) == ["Tue 2026-10-20 02:00", "Tue 2026-10-27 02:00"]  # Oct 25: back to CET
    assert [s.hour for s in autumn] == [0, 1]
    assert run(later)["generated"] == 0


def test_monthly_on_the_last_sunday_meets_the_night_the_clocks_go_forward(berlin):
    now = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    first = datetime(2026, 2, 22, 1, 30, tzinfo=UTC)  # Sunday Feb 22 (the last of February) 02:30 CET
    series = create_maintenance_series(
        actor=SYSTEM,
        page=berlin,
        name="Monthly",
        first_start=first,
        first_end=first + timedelta(hours=1),
        frequency="monthly",
        month_week=-1,
        at=now,
    )
    assert series.month_weekday == 6
    starts = [w.scheduled_for for w in series.occurrences.order_by("scheduled_for")]
    # 02:30 does not exist on March 29 (02:00 jumps to 03:00): the window starts at the same instant, which
    # the wall clock calls 03:30.
    assert local(starts, berlin.tz) == ["Sun 2026-02-22 02:30", "Sun 2026-03-29 03:30"]
    assert [s.astimezone(UTC) for s in starts] == [first, datetime(2026, 3, 29, 1, 30, tzinfo=UTC)]


def test_monthly_on_the_first_sunday_and_until_a_date(berlin):
    now = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    first = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)  # Sunday March 1, 10:00 CET
    series = create_maintenance_series(
        actor=SYSTEM,
        page=berlin,
        name="First Sunday",
        first_start=first,
        first_end=first + timedelta(hours=1),
        frequency="monthly",
        month_week=1,
        until=date(2026, 4, 30),
        at=now,
    )
    starts = [w.scheduled_for for w in series.occurrences.order_by("scheduled_for")]
    assert local(starts, berlin.tz) == ["Sun 2026-03-01 10:00", "Sun 2026-04-05 10:00"]


def test_an_occurrence_rescheduled_or_cancelled_alone_is_not_made_again_and_stopping_cancels_the_rest(berlin):
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    first = datetime(2026, 3, 17, 1, 0, tzinfo=UTC)
    series = create_maintenance_series(
        actor=SYSTEM,
        page=berlin,
        name="Weekly",
        first_start=first,
        first_end=first + timedelta(hours=2),
        frequency="weekly",
        at=now,
    )
    one, two = series.occurrences.order_by("scheduled_for")[:2]
    reschedule_maintenance(
        actor=SYSTEM,
        incident=one,
        scheduled_for=first + timedelta(hours=3),
        scheduled_until=first + timedelta(hours=4),
        at=now,
    )
    cancel_maintenance(actor=SYSTEM, incident=two, at=now)
    assert run(now)["generated"] == 0
    assert series.occurrences.count() == 8
    assert stop_maintenance_series(actor=SYSTEM, series=series, at=now) == 7
    assert not Incident.objects.filter(series=series).upcoming().exists()
    assert run(now + timedelta(days=30))["generated"] == 0
    assert MaintenanceSeries.objects.get(pk=series.pk).stopped_at == now


def test_a_series_refuses_bad_rules(berlin):
    first = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    cases = [
        ({"frequency": "daily"}, "recurrence"),
        ({"frequency": "monthly"}, "month_day"),  # the 31st: not in every month
        ({"frequency": "weekly", "weekdays": [7]}, "weekdays"),
        ({"frequency": "weekly", "interval": 0}, "interval"),
        ({"frequency": "weekly", "until": date(2026, 3, 1)}, "until"),
    ]
    for kwargs, field in cases:
        with pytest.raises(ValidationError) as err:
            create_maintenance_series(
                actor=SYSTEM,
                page=berlin,
                name="x",
                first_start=first,
                first_end=first + timedelta(hours=1),
                at=first - timedelta(days=1),
                **kwargs,
            )
        assert field in err.value.message_dict, kwargs
    assert not MaintenanceSeries.objects.exists() and not Incident.objects.exists()


# --- Subscribers, through the real SMTP road ------------------------------------------------------------


def test_subscribers_receive_the_reminder_the_start_and_the_completion_by_email(page, api, smtp, worker):
    subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True)
    subscribe(page=page, actor=SYSTEM, email="other@example.com", skip_confirmation=True, components=[])
    with worker():
        m = schedule_maintenance(
            actor=SYSTEM,
            page=page,
            name="Database upgrade",
            scheduled_for=START,
            scheduled_until=END,
            components=[api],
            at=T,
        )
    for when in (at(-60), at(-60), at(0), at(0), at(60), at(60)):
        with worker():
            run(when)
    mails = smtp.to("ann@example.com")
    kinds = [mail["X-Status-Event"] for mail in mails]
    assert kinds == [
        "maintenance.scheduled",
        "maintenance.reminder",
        "maintenance.started",
        "maintenance.completed",
    ]
    assert all(mail["Subject"] == "[Acme] Database upgrade" for mail in mails)
    reminder = mails[1].get_body(preferencelist=("plain",)).get_content()
    assert "Maintenance starts soon" in reminder
    assert f"/pages/acme/incidents/{m.code}" in reminder
    started = mails[2].get_body(preferencelist=("plain",)).get_content()
    assert "Scheduled maintenance is currently in progress" in started


def test_other_pages_are_untouched_by_the_clock(page, other_page, make_component, maintenance):
    theirs = make_component(other_page, "Theirs")
    run(at(0))
    theirs.refresh_from_db()
    assert theirs.status == "operational"
    assert not OutboxEvent.objects.filter(page=other_page, type__startswith="maintenance").exists()
