"""Maintenance and change review through the management API, as Statuspage clients and deploy pipelines
drive them: the scheduled_* and auto_transition_* fields, status transitions by PATCH (components under
maintenance and restored), reschedule and extend, cancel, approval with owners' keys (never the author's),
change records with their potential impact, and isolation between pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from components.models import Component
from components.services import add_dependency
from incidents.models import ChangeRecord, Incident
from incidents.services import create_incident, schedule_maintenance
from incidents.tasks import run_maintenance_clock_task
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, Actor, add_member, create_api_key, update_page

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
START = NOW + timedelta(days=1)
END = START + timedelta(hours=2)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def people(page, other_page):
    users = {name: User.objects.create_user(name, f"{name}@example.com", "pw") for name in ("author", "lead")}
    add_member(actor=SYSTEM, page=page, user=users["author"], role="owner")
    add_member(actor=SYSTEM, page=page, user=users["lead"], role="owner")
    return users


def key_client(page, user=None, role="commander") -> APIClient:
    _, raw = create_api_key(actor=Actor.of(user), page=page, name=f"{role} key", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    return client


@pytest.fixture
def api_client(page, people):
    return key_client(page, people["author"], "owner")


@pytest.fixture
def db_component(page, make_component):
    return make_component(page, "Database", status="degraded_performance")


def create(client, page, **fields):
    incident = {
        "name": "Database upgrade",
        "status": "scheduled",
        "scheduled_for": iso(START),
        "scheduled_until": iso(END),
        **fields,
    }
    return client.post(f"/api/v1/pages/{page.code}/incidents", {"incident": incident}, format="json")


def test_a_maintenance_takes_statuspages_scheduled_fields_and_our_reminders_list(
    page, api_client, db_component
):
    response = create(api_client, page, component_ids=[db_component.code])
    assert response.status_code == 201, response.content
    default = response.json()
    assert default["scheduled_remind_prior"] is True and default["scheduled_reminders"] == [60]
    assert default["scheduled_auto_in_progress"] is default["scheduled_auto_completed"] is True
    assert default["auto_transition_to_maintenance_state"] is True
    assert default["scheduled_reminded_at"] is None
    assert default["approval"]["state"] == "draft" and default["approval"]["author"] == "author"

    quiet = create(
        api_client,
        page,
        scheduled_remind_prior=False,
        scheduled_auto_in_progress=False,
        scheduled_auto_completed=False,
        auto_transition_deliver_notifications_at_start=False,
    ).json()
    assert quiet["scheduled_remind_prior"] is False and quiet["scheduled_reminders"] == []
    assert quiet["scheduled_auto_in_progress"] is False and quiet["scheduled_auto_completed"] is False
    assert quiet["auto_transition_deliver_notifications_at_start"] is False

    listed = create(api_client, page, scheduled_reminders=[15, 120], scheduled_auto_transition=False).json()
    assert listed["scheduled_reminders"] == [120, 15] and listed["scheduled_remind_prior"] is True
    assert listed["scheduled_auto_in_progress"] is False
    assert Incident.objects.get(code=listed["id"]).reminders == [120, 15]


def test_scheduled_reminded_at_is_set_once_the_reminder_went_out(page, api_client):
    created = create(api_client, page).json()
    with time_machine.travel(START - timedelta(minutes=60), tick=False):
        run_maintenance_clock_task()
    shown = api_client.get(f"/api/v1/pages/{page.code}/incidents/{created['id']}").json()
    assert shown["scheduled_reminded_at"] == "2026-03-11T07:00:00.000-07:00"  # PDT


def test_bad_maintenance_input_is_400_with_field_errors_and_writes_nothing(page, api_client, other_page):
    cases = [
        {"scheduled_reminders": ["soon"]},
        {"scheduled_reminders": [0]},
        {"scheduled_reminders": [1, 2, 3, 4, 5, 6]},
        {"scheduled_reminders": "60"},
        {"scheduled_auto_in_progress": "maybe"},
        {"status": "completed"},
        {"scheduled_until": iso(START - timedelta(hours=1))},
    ]
    for fields in cases:
        response = create(api_client, page, **fields)
        assert response.status_code == 400, (fields, response.content)
        assert response.json()["errors"], fields
    assert not Incident.objects.exists()


def test_a_maintenance_created_in_progress_starts_at_once(page, api_client, db_component):
    response = create(
        api_client,
        page,
        status="in_progress",
        scheduled_for=iso(NOW - timedelta(minutes=1)),
        component_ids=[db_component.code],
        body="Emergency patching.",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "in_progress"
    assert [u["status"] for u in created["incident_updates"]] == ["in_progress", "scheduled"]
    assert created["incident_updates"][0]["body"] == "Emergency patching."
    assert Component.objects.get(pk=db_component.pk).status == "under_maintenance"


def test_patching_the_status_starts_and_completes_with_components_restored(page, api_client, db_component):
    created = create(api_client, page, component_ids=[db_component.code]).json()
    url = f"/api/v1/pages/{page.code}/incidents/{created['id']}"
    assert api_client.patch(url, {"incident": {"status": "verifying"}}, format="json").status_code == 400
    started = api_client.patch(
        url, {"incident": {"status": "in_progress", "body": "Started early."}}, format="json"
    )
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "in_progress"
    assert started.json()["incident_updates"][0]["body"] == "Started early."
    assert Component.objects.get(pk=db_component.pk).status == "under_maintenance"
    verifying = api_client.patch(url, {"incident": {"status": "verifying"}}, format="json").json()
    assert verifying["status"] == "verifying"
    done = api_client.patch(url, {"incident": {"status": "completed"}}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "completed"
    assert Component.objects.get(pk=db_component.pk).status == "degraded_performance"
    back = api_client.patch(url, {"incident": {"status": "scheduled"}}, format="json")
    assert back.status_code == 400


def test_patching_the_window_reschedules_or_extends(page, api_client):
    created = create(api_client, page).json()
    url = f"/api/v1/pages/{page.code}/incidents/{created['id']}"
    later = START + timedelta(days=1)
    moved = api_client.patch(url, {"incident": {"scheduled_for": iso(later)}}, format="json")
    assert moved.status_code == 200, moved.content
    incident = Incident.objects.get(code=created["id"])
    assert (incident.scheduled_for, incident.scheduled_until) == (later, later + timedelta(hours=2))
    assert incident.sequence == 1
    longer = api_client.patch(
        url, {"incident": {"scheduled_until": iso(later + timedelta(hours=5))}}, format="json"
    )
    assert longer.status_code == 200
    incident.refresh_from_db()
    assert incident.scheduled_until == later + timedelta(hours=5) and incident.sequence == 2
    assert (
        api_client.patch(
            url, {"incident": {"scheduled_for": iso(NOW - timedelta(days=1))}}, format="json"
        ).status_code
        == 400
    )


def test_a_maintenance_is_cancelled_through_ext(page, api_client, other_page):
    created = create(api_client, page).json()
    response = api_client.post(
        f"/api/v1/pages/{page.code}/ext/incidents/{created['id']}/cancel",
        {"comment": "Not needed."},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["cancelled_at"] is not None
    assert api_client.get(f"/api/v1/pages/{page.code}/incidents/upcoming").json() == []


def test_approval_needs_an_owners_key_made_by_someone_other_than_the_author(page, people, make_component):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    cache = make_component(page, "Redis auth cache", is_public=False)
    calendars = make_component(page, "Calendars API")
    add_dependency(actor=SYSTEM, component=calendars, depends_on=cache)
    author = key_client(page, people["author"], "owner")
    created = create(author, page, component_ids=[cache.code]).json()
    assert created["approval"]["state"] == "pending_approval" and created["published_at"] is None
    base = f"/api/v1/pages/{page.code}/ext/incidents/{created['id']}"

    impact = author.get(f"{base}/impact").json()["potential_impact"]
    assert [(i["name"], i["public"], i["depth"]) for i in impact] == [
        ("Redis auth cache", False, 0),
        ("Calendars API", True, 1),
    ]
    assert author.post(f"{base}/approve", {"comment": "mine"}, format="json").status_code == 403
    commander = key_client(page, people["lead"], "commander")
    assert commander.post(f"{base}/approve", {}, format="json").status_code == 403
    lead = key_client(page, people["lead"], "owner")
    start = author.patch(
        f"/api/v1/pages/{page.code}/incidents/{created['id']}",
        {"incident": {"status": "in_progress"}},
        format="json",
    )
    assert start.status_code == 400 and "approval" in start.json()["errors"]
    assert lead.post(f"{base}/reject", {"comment": ""}, format="json").status_code == 400
    approved = lead.post(
        f"{base}/approve", {"comment": "Calendars API at risk: do it at night."}, format="json"
    )
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert body["approval"]["state"] == "approved" and body["approval"]["reviewed_by"] == "lead"
    assert body["published_at"] is not None
    audit = AuditEvent.objects.get(action="maintenance.approved", object_id=created["id"])
    assert audit.actor.username == "lead" and "API key" in audit.actor_label
    # Changing the components after the approval asks for it again.
    edited = author.patch(
        f"/api/v1/pages/{page.code}/incidents/{created['id']}",
        {"incident": {"component_ids": [cache.code, calendars.code]}},
        format="json",
    ).json()
    assert edited["approval"]["state"] == "pending_approval"


def test_change_records_through_ext(page, people, make_component):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    cache = make_component(page, "Redis auth cache", is_public=False)
    events = make_component(page, "Events API")
    add_dependency(actor=SYSTEM, component=events, depends_on=cache, kind="soft")
    author = key_client(page, people["author"], "commander")
    lead = key_client(page, people["lead"], "owner")
    base = f"/api/v1/pages/{page.code}/ext/changes"
    created = author.post(
        base,
        {"change": {"title": "Require TLS on the cache", "component_ids": [cache.code]}},
        format="json",
    )
    assert created.status_code == 201, created.content
    change = created.json()
    assert change["state"] == "pending_approval" and change["author"] == "author"
    assert [(i["name"], i["kind"]) for i in change["potential_impact"]] == [
        ("Redis auth cache", None),
        ("Events API", "soft"),
    ]
    url = f"{base}/{change['id']}"
    assert author.patch(url, {"change": {"state": "done"}}, format="json").status_code == 400
    assert author.post(f"{url}/approve", {}, format="json").status_code == 403  # a commander's key
    assert lead.post(f"{url}/approve", {"comment": "ok"}, format="json").json()["state"] == "approved"
    assert author.patch(url, {"change": {"state": "done"}}, format="json").json()["state"] == "done"
    assert [c["id"] for c in author.get(base).json()] == [change["id"]]
    assert author.get(f"{base}?state=draft").json() == []
    bad = author.post(base, {"change": {"title": "", "component_ids": ["nope"]}}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"title", "component_ids"}
    assert ChangeRecord.objects.count() == 1


def test_another_pages_maintenances_and_changes_are_404(page, other_page, people, client_for):
    theirs = schedule_maintenance(
        actor=SYSTEM, page=other_page, name="Theirs", scheduled_for=START, scheduled_until=END
    )
    lead = key_client(page, people["lead"], "owner")
    for step in ("approve", "reject", "cancel"):
        response = lead.post(
            f"/api/v1/pages/{page.code}/ext/incidents/{theirs.code}/{step}", {}, format="json"
        )
        assert response.status_code == 404, step
    assert lead.get(f"/api/v1/pages/{page.code}/ext/incidents/{theirs.code}/impact").status_code == 404
    their_key = client_for(other_page, "owner")
    change = their_key.post(
        f"/api/v1/pages/{other_page.code}/ext/changes", {"change": {"title": "Theirs"}}, format="json"
    ).json()
    assert lead.get(f"/api/v1/pages/{page.code}/ext/changes/{change['id']}").status_code == 404
    assert lead.get(f"/api/v1/pages/{page.code}/ext/changes").json() == []
    assert lead.get(f"/api/v1/pages/{other_page.code}/ext/changes").status_code == 404
    theirs.refresh_from_db()
    assert theirs.cancelled_at is None


def test_an_owner_key_with_no_person_behind_it_reviews_but_not_what_it_wrote(page, people, client_for):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    machine = client_for(page, "owner")  # made from the command line: no person behind it
    written = create(machine, page).json()
    assert written["approval"]["author"] is None
    refused = machine.post(
        f"/api/v1/pages/{page.code}/ext/incidents/{written['id']}/approve", {}, format="json"
    )
    assert refused.status_code == 403
    by_author = create(key_client(page, people["author"], "owner"), page).json()
    approved = machine.post(
        f"/api/v1/pages/{page.code}/ext/incidents/{by_author['id']}/approve", {"comment": "ok"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["approval"]["state"] == "approved"
    incident = create_incident(actor=SYSTEM, page=page, name="Errors", body="Looking")
    not_maintenance = machine.post(
        f"/api/v1/pages/{page.code}/ext/incidents/{incident.code}/approve", {}, format="json"
    )
    assert not_maintenance.status_code == 400
    impact = machine.get(f"/api/v1/pages/{page.code}/ext/incidents/{incident.code}/impact").json()
    assert impact == {"id": incident.code, "potential_impact": []}
