from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from components.models import ComponentStatusChange
from incidents.models import Incident, IncidentUpdate
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    save_postmortem,
    schedule_maintenance,
    unpublish_postmortem,
)
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM
from subscribers.models import OutboxEvent

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def dashboard(page, make_component):
    return make_component(page, "Dashboard")


def test_impact_is_computed_from_the_worst_component_status(page, api, dashboard):
    incident = create_incident(
        actor=SYSTEM, page=page, name="Slow", body="b", components={api: "degraded_performance"}, at=T
    )
    assert incident.impact == "minor"
    post_update(
        actor=SYSTEM,
        incident=incident,
        status="identified",
        components={dashboard: "partial_outage"},
        at=T + timedelta(minutes=5),
    )
    incident.refresh_from_db()
    assert incident.impact == "major"
    post_update(
        actor=SYSTEM,
        incident=incident,
        status="identified",
        components={api: "major_outage"},
        at=T + timedelta(minutes=10),
    )
    incident.refresh_from_db()
    assert incident.impact == "critical"


def test_impact_keeps_its_peak_after_recovery(page, api):
    incident = create_incident(
        actor=SYSTEM, page=page, name="Down", body="b", components={api: "major_outage"}
    )
    post_update(actor=SYSTEM, incident=incident, status="resolved", components={api: "operational"})
    incident.refresh_from_db()
    assert incident.impact == "critical"
    assert incident.resolved_at is not None


def test_impact_override_wins_over_the_computed_impact(page, api):
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="Down",
        body="b",
        components={api: "major_outage"},
        impact_override="minor",
    )
    assert incident.impact == "critical"
    assert incident.effective_impact == "minor"


def test_update_sets_component_status_and_records_old_and_new(page, api):
    incident = create_incident(
        actor=SYSTEM, page=page, name="x", body="b", components={api: "partial_outage"}, at=T
    )
    update = post_update(
        actor=SYSTEM,
        incident=incident,
        status="identified",
        body="found",
        components={api: "partial_outage"},
        at=T + timedelta(minutes=3),
    )
    api.refresh_from_db()
    assert api.status == "partial_outage"
    (change,) = update.component_changes.all()
    assert (change.old_status, change.new_status) == ("partial_outage", "partial_outage")
    first = incident.updates.order_by("display_at").first()
    (first_change,) = first.component_changes.all()
    assert (first_change.old_status, first_change.new_status) == ("operational", "partial_outage")


def test_timeline_is_newest_first_and_the_incident_copies_the_latest_status(page):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="first", at=T)
    for i, status in enumerate(["identified", "monitoring", "identified", "monitoring", "resolved"], start=1):
        post_update(actor=SYSTEM, incident=incident, status=status, body=f"u{i}", at=T + timedelta(minutes=i))
    incident.refresh_from_db()
    bodies = list(incident.updates.values_list("body", flat=True))
    assert bodies == ["u5", "u4", "u3", "u2", "u1", "first"]
    assert incident.status == "resolved"
    assert incident.monitoring_at == T + timedelta(minutes=2)
    assert incident.resolved_at == T + timedelta(minutes=5)


def test_empty_body_takes_the_status_default_text(page):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="")
    update = post_update(actor=SYSTEM, incident=incident, status="resolved")
    assert update.body == "This incident has been resolved."
    assert incident.updates.last().body == "We are currently investigating this issue."


def test_reopening_a_resolved_incident_is_recorded(page):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b")
    post_update(actor=SYSTEM, incident=incident, status="resolved")
    post_update(actor=SYSTEM, incident=incident, status="investigating", body="It is back")
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert incident.resolved_at is None
    assert AuditEvent.objects.filter(page=page, action="incident.reopened", object_id=incident.code).exists()


def test_bad_input_names_the_field_and_writes_nothing(page, other_page, make_component):
    foreign = make_component(other_page, "Theirs")
    before = (Incident.objects.count(), IncidentUpdate.objects.count(), ComponentStatusChange.objects.count())
    with pytest.raises(ValidationError) as err:
        create_incident(actor=SYSTEM, page=page, name=" ", body="b", status="bogus")
    assert set(err.value.message_dict) == {"name", "status"}
    with pytest.raises(ValidationError) as err:
        create_incident(actor=SYSTEM, page=page, name="x", body="b", components={foreign: "major_outage"})
    assert "components" in err.value.message_dict
    assert (
        Incident.objects.count(),
        IncidentUpdate.objects.count(),
        ComponentStatusChange.objects.count(),
    ) == before
    foreign.refresh_from_db()
    assert foreign.status == "operational"


def test_maintenance_statuses_are_kept_apart_from_incident_statuses(page, api):
    m = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="DB upgrade",
        scheduled_for=T,
        scheduled_until=T + timedelta(hours=1),
        components=[api],
    )
    assert m.status == "scheduled" and m.effective_impact == "maintenance"
    with pytest.raises(ValidationError) as err:
        post_update(actor=SYSTEM, incident=m, status="investigating")
    assert "status" in err.value.message_dict
    post_update(actor=SYSTEM, incident=m, status="in_progress", components={api: "under_maintenance"})
    m.refresh_from_db()
    assert m.status == "in_progress"


def test_maintenance_window_must_end_after_it_starts(page):
    with pytest.raises(ValidationError) as err:
        schedule_maintenance(actor=SYSTEM, page=page, name="x", scheduled_for=T, scheduled_until=T)
    assert "scheduled_until" in err.value.message_dict
    assert not Incident.objects.exists()


def test_notifying_updates_write_an_outbox_event_and_silent_ones_do_not(page, api):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b", components={api: "major_outage"})
    post_update(actor=SYSTEM, incident=incident, status="identified", deliver_notifications=False)
    post_update(actor=SYSTEM, incident=incident, status="resolved", components={api: "operational"})
    types = list(OutboxEvent.objects.filter(incident=incident).values_list("type", flat=True))
    assert types == ["incident.created", "incident.resolved"]
    created = OutboxEvent.objects.get(type="incident.created")
    assert created.component_ids == [api.pk]


def test_backfilled_incident_notifies_nobody(page, api):
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="old",
        body="b",
        backfilled=True,
        components={api: "major_outage"},
        at=T - timedelta(days=30),
    )
    post_update(actor=SYSTEM, incident=incident, status="resolved", at=T - timedelta(days=30, hours=-1))
    assert not OutboxEvent.objects.filter(incident=incident).exists()
    assert incident.started_at == T - timedelta(days=30)


def test_postmortem_draft_publish_and_unpublish(page):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b")
    with pytest.raises(ValidationError):
        publish_postmortem(actor=SYSTEM, incident=incident)
    pm = save_postmortem(actor=SYSTEM, incident=incident, body="# What happened")
    assert not pm.is_published
    pm = publish_postmortem(actor=SYSTEM, incident=incident, notify=True, at=T)
    assert pm.published_at == T
    assert OutboxEvent.objects.filter(type="postmortem.published", incident=incident).count() == 1
    publish_postmortem(actor=SYSTEM, incident=incident, notify=True)  # idempotent
    assert OutboxEvent.objects.filter(type="postmortem.published", incident=incident).count() == 1
    assert not unpublish_postmortem(actor=SYSTEM, incident=incident).is_published


def test_commands_write_audit_rows_with_before_and_after(page, api):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b")
    post_update(actor=SYSTEM, incident=incident, status="monitoring")
    row = AuditEvent.objects.filter(page=page, action="incident.updated").get()
    assert row.before == {"status": "investigating"}
    assert row.after["status"] == "monitoring"
    assert row.actor_label == "system"


def test_public_ids_are_twelve_lowercase_alphanumerics(page, api):
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b")
    for code in (page.code, api.code, incident.code, incident.updates.get().code):
        assert len(code) == 12
        assert code.isalnum() and code == code.lower()
