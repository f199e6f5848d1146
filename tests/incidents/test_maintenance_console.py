"""The console's Maintenance section: schedule (once or recurring) in the page's time zone with field
errors for bad input, the detail page with its potential impact and its start, complete, extend, reschedule
and cancel buttons, the approval panel, change records, roles, and another page's objects as 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from components.models import Component
from components.services import add_dependency
from incidents.models import ChangeRecord, Incident, MaintenanceSeries
from incidents.services import create_change_record, schedule_maintenance
from statuspage.models import AuditEvent, Page
from statuspage.services import SYSTEM, Actor, add_member, update_page
from tests.console import conftest as console

team = console.team  # the console's team of every role (owner, commander, viewer, outsider)

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles (PST)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def cache(page, make_component, api):
    cache = make_component(page, "Redis auth cache", is_public=False)
    add_dependency(actor=SYSTEM, component=api, depends_on=cache)
    return cache


def form(**fields):
    data = {
        "name": "Database upgrade",
        "scheduled_for": "2026-12-01T02:00",
        "scheduled_until": "2026-12-01T04:00",
        "body": "We upgrade the primary.",
        "reminders": "60, 15",
        "auto_start": "on",
        "auto_complete": "on",
        "deliver_notifications": "on",
        "notify_at_start": "on",
        "notify_at_end": "on",
        "interval": "1",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_a_commander_schedules_a_maintenance_in_the_pages_time_zone(team, page, api, cache):
    client = team.client("commander")
    response = client.post("/console/acme/maintenance/new/", form(components=[str(api.pk), str(cache.pk)]))
    assert response.status_code == 302, response.content.decode()
    m = Incident.objects.get()
    assert response["Location"] == f"/console/acme/maintenance/{m.code}/"
    assert m.scheduled_for == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 02:00 PST
    assert m.reminders == [60, 15] and m.auto_start and m.created_by == team.commander
    assert set(m.components.all()) == {api, cache}
    html = client.get(response["Location"]).content.decode()
    assert "Dec 01, 2026 02:00" in html
    assert "Potential impact" in html and 'data-impact-component="' + cache.code + '"' in html
    assert "internal" in html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"scheduled_until": "2026-12-01T01:00"}, "scheduled_until", "must end after it starts"),
        ({"reminders": "an hour"}, "reminders", "whole minutes"),
        ({"reminders": "0"}, "reminders", "1 to 10080 minutes"),
        ({"scheduled_for": "2026-11-01T02:00"}, "scheduled_for", "must start in the future"),
        ({"name": ""}, "name", "required"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for", "Enter a valid date/time"),
        (
            {
                "recurrence": "monthly_day",
                "scheduled_for": "2026-12-31T02:00",
                "scheduled_until": "2026-12-31T03:00",
            },
            "recurrence",
            "days 1 to 28",
        ),
    ],
)
def test_bad_input_shows_field_messages_and_writes_nothing(team, fields, field, message):
    response = team.client("commander").post("/console/acme/maintenance/new/", form(**fields))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field]), errors
    assert message in response.content.decode()
    assert not Incident.objects.exists() and not MaintenanceSeries.objects.exists()


def test_a_recurring_window_is_scheduled_as_a_series_of_maintenances(team, page, api):
    response = team.client("commander").post(
        "/console/acme/maintenance/new/",
        form(components=[str(api.pk)], recurrence="weekly", weekdays=["1", "3"]),  # Tue and Thu
    )
    assert response.status_code == 302, response.content.decode()
    series = MaintenanceSeries.objects.get()
    assert series.weekdays == [1, 3] and series.duration_minutes == 120
    local = [m.scheduled_for.astimezone(page.tz).strftime("%a %H:%M") for m in series.occurrences.all()]
    assert set(local) == {"Tue 02:00", "Thu 02:00"} and len(local) == 15  # 60 days ahead
    html = team.client("viewer").get(response["Location"]).content.decode()
    assert "Every Tuesday, Thursday, 02:00 to 04:00 America/Los_Angeles" in html


def maintenance(page, api, **kwargs):
    start = NOW + timedelta(days=1)
    return schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Database upgrade",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[api],
        **kwargs,
    )


def action(client, m, step, **data):
    return client.post(f"/console/acme/maintenance/{m.code}/{step}/", data)


def test_start_complete_by_hand_restores_components(team, page, api):
    m = maintenance(page, api)
    client = team.client("commander")
    assert action(client, m, "start", body="Starting now.", deliver_notifications="on").status_code == 302
    api.refresh_from_db()
    assert api.status == "under_maintenance"
    assert action(client, m, "update", status="verifying", body="Checking.").status_code == 302
    assert action(client, m, "complete", body="").status_code == 302
    m.refresh_from_db()
    api.refresh_from_db()
    assert m.status == "completed" and api.status == "operational"
    assert not m.updates.get(status="completed").deliver_notifications  # the box was left unticked
    assert action(client, m, "complete").status_code == 400  # already completed: a message, not a 500


def test_reschedule_extend_and_cancel_from_the_detail_page(team, page, api):
    m = maintenance(page, api)
    client = team.client("commander")
    bad = action(
        client, m, "reschedule", scheduled_for="2026-12-05T03:00", scheduled_until="2026-12-05T02:00"
    )
    assert bad.status_code == 400 and "must end after it starts" in bad.content.decode()
    past = action(
        client, m, "reschedule", scheduled_for="2026-11-01T03:00", scheduled_until="2026-11-01T04:00"
    )
    assert past.status_code == 400 and "must start in the future" in past.content.decode()
    ok = action(client, m, "reschedule", scheduled_for="2026-12-05T03:00", scheduled_until="2026-12-05T05:00")
    assert ok.status_code == 302
    m.refresh_from_db()
    assert m.scheduled_for == datetime(2026, 12, 5, 11, 0, tzinfo=UTC) and m.sequence == 1
    assert action(client, m, "extend", scheduled_until="2026-12-05T06:00").status_code == 302
    m.refresh_from_db()
    assert m.scheduled_until == datetime(2026, 12, 5, 14, 0, tzinfo=UTC)
    assert action(client, m, "cancel", body="Postponed.").status_code == 302
    m.refresh_from_db()
    assert m.cancelled_at is not None and m.updates.first().body == "Postponed."
    html = client.get("/console/acme/maintenance/").content.decode()
    assert "cancelled" in html
    assert action(client, m, "bogus").status_code == 404


def test_editing_reminders_must_be_numbers(team, page, api):
    m = maintenance(page, api)
    response = action(team.client("commander"), m, "edit", name="Renamed", reminders="soon")
    assert response.status_code == 400
    assert "whole minutes" in response.content.decode()
    m.refresh_from_db()
    assert m.name == "Database upgrade" and m.reminders == [60]


def test_viewers_read_but_do_not_act_and_other_pages_are_404(team, page, other_page, api, make_component):
    m = maintenance(page, api)
    theirs = maintenance(other_page, make_component(other_page, "Theirs"))
    viewer = team.client("viewer")
    html = viewer.get(f"/console/acme/maintenance/{m.code}/").content.decode()
    assert "Database upgrade" in html and "Start now" not in html
    assert action(viewer, m, "start").status_code == 403
    owner = team.client("owner")
    assert owner.get(f"/console/acme/maintenance/{theirs.code}/").status_code == 404
    assert action(owner, theirs, "cancel").status_code == 404
    listing = owner.get("/console/acme/maintenance/").content.decode()
    assert theirs.code not in listing and m.code in listing
    incident_page = owner.get(f"/console/acme/incidents/{m.code}/")
    assert incident_page.status_code == 302 and incident_page["Location"].endswith(f"/maintenance/{m.code}/")


def test_approval_from_the_console(team, page, api, cache):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    page = Page.objects.get(pk=page.pk)
    m = schedule_maintenance(
        actor=Actor.of(team.owner),
        page=page,
        name="Cache TLS",
        scheduled_for=NOW + timedelta(days=1),
        scheduled_until=NOW + timedelta(days=1, hours=1),
        components=[cache],
    )
    owner = team.client("owner")
    html = owner.get(f"/console/acme/maintenance/{m.code}/").content.decode()
    assert "You wrote it: another owner reviews it." in html
    refused = owner.post(f"/console/acme/maintenance/{m.code}/review/", {"decision": "approve"})
    assert refused.status_code == 400 and "another owner must review it" in refused.content.decode()
    assert (
        team.client("commander")
        .post(f"/console/acme/maintenance/{m.code}/review/", {"decision": "approve"})
        .status_code
        == 403
    )
    started = action(team.client("commander"), m, "start")
    assert started.status_code == 400 and "approves it" in started.content.decode()

    lead = User.objects.create_user("lead", "lead@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=lead, role="owner")
    client = Client()
    client.force_login(lead)
    no_comment = client.post(f"/console/acme/maintenance/{m.code}/review/", {"decision": "reject"})
    assert no_comment.status_code == 400 and "Say why" in no_comment.content.decode()
    ok = client.post(
        f"/console/acme/maintenance/{m.code}/review/", {"decision": "approve", "comment": "Fine."}
    )
    assert ok.status_code == 302
    m.refresh_from_db()
    assert m.review_state == "approved" and m.published_at is not None
    assert AuditEvent.objects.get(action="maintenance.approved").after["comment"] == "Fine."


def test_change_records_in_the_console(team, page, api, cache):
    client = team.client("commander")
    bad = client.post("/console/acme/changes/new/", {"title": ""})
    assert bad.status_code == 200 and bad.context["form"].errors["title"]
    response = client.post(
        "/console/acme/changes/new/",
        {"title": "Require TLS on the cache", "components": [str(cache.pk)], "submit": "on"},
    )
    assert response.status_code == 302
    change = ChangeRecord.objects.get()
    html = client.get(response["Location"]).content.decode()
    assert "Potential impact" in html and 'data-impact-component="' + api.code + '"' in html
    assert client.post(f"/console/acme/changes/{change.code}/done/").status_code == 302
    change.refresh_from_db()
    assert change.state == "done"  # the page asks for no approval
    other = create_change_record(actor=SYSTEM, page=page, title="Another")
    edit = client.post(f"/console/acme/changes/{other.code}/edit/", {"title": "", "description": "x"})
    assert edit.status_code == 400
    assert [c.title for c in ChangeRecord.objects.order_by("id")] == ["Require TLS on the cache", "Another"]


def test_the_settings_form_has_the_approval_switch(team, page):
    owner = team.client("owner")
    html = owner.get("/console/acme/settings/").content.decode()
    assert 'name="require_change_approval"' in html
    assert Component.objects.count() == 0
