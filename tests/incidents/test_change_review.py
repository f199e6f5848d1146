"""Change impact review: potential impact from the dependency graph, and the approval rules when a page asks
for them (an owner other than the author approves; nothing is published, notified or started before; a
re-edit of the components asks again; approvals and rejections go to the audit log with their comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from components.services import add_dependency
from incidents import selectors
from incidents.models import Incident
from incidents.services import (
    approve_change,
    complete_change_record,
    create_change_record,
    create_maintenance_series,
    edit_maintenance,
    reject_change,
    schedule_maintenance,
    start_maintenance,
    submit_change_record,
    update_change_record,
)
from incidents.tasks import run_maintenance_clock_task
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, Actor, add_member, update_page
from subscribers.models import OutboxEvent

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
START = T + timedelta(hours=2)
END = START + timedelta(hours=1)


def run(when):
    with time_machine.travel(when, tick=False):
        return run_maintenance_clock_task()


@pytest.fixture
def people(page, other_page):
    users = {
        name: User.objects.create_user(name, f"{name}@example.com", "pw")
        for name in ("author", "lead", "commander", "outsider")
    }
    add_member(actor=SYSTEM, page=page, user=users["author"], role="owner")
    add_member(actor=SYSTEM, page=page, user=users["lead"], role="owner")
    add_member(actor=SYSTEM, page=page, user=users["commander"], role="commander")
    add_member(actor=SYSTEM, page=other_page, user=users["outsider"], role="owner")
    return {name: Actor.of(user) for name, user in users.items()}


@pytest.fixture
def graph(page, make_component):
    """Seed 000: a Redis cache, thought to serve one endpoint, also backs authentication for two APIs."""
    cache = make_component(page, "Redis auth cache", is_public=False)
    auth = make_component(page, "Auth", is_public=False)
    calendars = make_component(page, "Calendars API")
    events = make_component(page, "Events API")
    widgets = make_component(page, "Widgets")
    add_dependency(actor=SYSTEM, component=auth, depends_on=cache)
    add_dependency(actor=SYSTEM, component=calendars, depends_on=auth)
    add_dependency(actor=SYSTEM, component=events, depends_on=auth, kind="soft")
    return cache, auth, calendars, events, widgets


@pytest.fixture
def strict(page):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    page.refresh_from_db()
    return page


def schedule(page, actor, components=(), **kwargs):
    return schedule_maintenance(
        actor=actor,
        page=page,
        name="Require TLS on the Redis cache",
        scheduled_for=START,
        scheduled_until=END,
        components=list(components),
        at=T,
        **kwargs,
    )


def test_potential_impact_is_the_blast_radius_public_and_internal_marked(page, graph):
    cache, *_, widgets = graph
    impact = selectors.potential_impact(page, [cache])
    rows = [(i.component.name, i.depth, i.kind, i.public, [c.name for c in i.via]) for i in impact]
    assert rows == [
        ("Redis auth cache", 0, "", False, []),
        ("Auth", 1, "hard", False, ["Redis auth cache"]),
        ("Calendars API", 2, "hard", True, ["Redis auth cache", "Auth"]),
        ("Events API", 2, "soft", True, ["Redis auth cache", "Auth"]),
    ]
    assert selectors.potential_impact(page, []) == []
    assert [i.component.name for i in selectors.potential_impact(page, [widgets])] == ["Widgets"]


def test_an_unapproved_maintenance_is_not_published_notified_or_started(page, strict, people, graph):
    cache = graph[0]
    m = schedule(page, people["author"], [cache])
    assert m.review_state == "pending_approval" and m.published_at is None
    assert not OutboxEvent.objects.filter(incident=m).exists()
    assert selectors.upcoming_maintenances(page) == []
    assert selectors.incident_detail(page, m.code) is None
    with pytest.raises(ValidationError) as err:
        start_maintenance(actor=people["author"], incident=m, at=START)
    assert "approval" in err.value.message_dict
    assert run(START - timedelta(minutes=60))["reminded"] == 0
    assert run(START)["started"] == 0
    m.refresh_from_db()
    assert m.status == "scheduled"
    cache.refresh_from_db()
    assert cache.status == "operational"


def test_the_author_cannot_approve_their_own_and_a_commander_cannot_approve_at_all(page, strict, people):
    m = schedule(page, people["author"])
    for who in ("author", "commander", "outsider"):
        with pytest.raises(PermissionDenied):
            approve_change(actor=people[who], target=m, comment="fine")
    with pytest.raises(PermissionDenied):
        approve_change(actor=SYSTEM, target=m)
    m.refresh_from_db()
    assert m.review_state == "pending_approval"
    assert not AuditEvent.objects.filter(action="maintenance.approved").exists()


def test_another_owners_approval_publishes_notifies_and_lets_it_start(page, strict, people, graph):
    cache = graph[0]
    m = schedule(page, people["author"], [cache])
    with time_machine.travel(T + timedelta(minutes=5), tick=False):
        approve_change(actor=people["lead"], target=m, comment="Impact reviewed: Auth, Calendars, Events.")
    m.refresh_from_db()
    assert m.review_state == "approved" and m.reviewed_by.username == "lead"
    assert m.published_at is not None
    assert OutboxEvent.objects.filter(incident=m, type="maintenance.scheduled").count() == 1
    audit = AuditEvent.objects.get(action="maintenance.approved", object_id=m.code)
    assert audit.actor_label == "lead"
    assert audit.after == {
        "review_state": "approved",
        "comment": "Impact reviewed: Auth, Calendars, Events.",
    }
    assert [i.code for i in selectors.upcoming_maintenances(page)] == [m.code]
    assert run(START)["started"] == 1


def test_changing_the_components_after_approval_asks_for_approval_again(page, strict, people, graph):
    cache, auth, *_ = graph
    m = schedule(page, people["author"], [cache])
    approve_change(actor=people["lead"], target=m, comment="ok")
    edit_maintenance(actor=people["author"], incident=m, name="Renamed")  # not the components: still approved
    m.refresh_from_db()
    assert m.review_state == "approved"
    edit_maintenance(actor=people["author"], incident=m, components=[cache, auth])
    m.refresh_from_db()
    assert m.review_state == "pending_approval"
    assert AuditEvent.objects.filter(action="maintenance.approval_reset", object_id=m.code).exists()
    assert m.published_at is not None  # already public, subscribers already told: it stays on the page...
    assert run(START)["started"] == 0  # ...but cannot start
    approve_change(actor=people["lead"], target=m, comment="ok again")
    assert run(START + timedelta(minutes=1))["started"] == 1


def test_a_rejection_needs_a_comment_is_audited_and_keeps_it_from_starting(page, strict, people):
    m = schedule(page, people["author"])
    with pytest.raises(ValidationError) as err:
        reject_change(actor=people["lead"], target=m, comment=" ")
    assert "comment" in err.value.message_dict
    reject_change(actor=people["lead"], target=m, comment="Not during business hours.")
    m.refresh_from_db()
    assert m.review_state == "rejected" and m.published_at is None
    audit = AuditEvent.objects.get(action="maintenance.rejected", object_id=m.code)
    assert audit.after["comment"] == "Not during business hours."
    update_page(actor=SYSTEM, page=page, require_change_approval=False)
    assert run(START)["started"] == 0  # rejected stays rejected even once the page stops asking


def test_turning_approval_off_releases_held_maintenances_at_the_next_sweep(page, strict, people):
    m = schedule(page, people["author"])
    update_page(actor=SYSTEM, page=page, require_change_approval=False)
    assert run(T + timedelta(minutes=1))["published"] == 1
    m.refresh_from_db()
    assert m.published_at is not None
    assert OutboxEvent.objects.filter(incident=m, type="maintenance.scheduled").count() == 1


def test_a_page_that_does_not_ask_for_approval_publishes_at_once(page, people):
    m = schedule(page, people["author"])
    assert m.review_state == "draft" and m.published_at == T


def test_approving_a_series_approves_and_publishes_its_windows(page, strict, people):
    series = create_maintenance_series(
        actor=people["author"],
        page=page,
        name="Weekly patching",
        first_start=START,
        first_end=END,
        frequency="weekly",
        at=T,
    )
    windows = Incident.objects.filter(series=series)
    assert windows.count() == 9
    assert set(windows.values_list("review_state", flat=True)) == {"pending_approval"}
    assert not windows.filter(published_at__isnull=False).exists()
    with pytest.raises(PermissionDenied):
        approve_change(actor=people["author"], target=series)
    approve_change(actor=people["lead"], target=series, comment="Standard change.")
    assert set(windows.values_list("review_state", flat=True)) == {"approved"}
    assert not windows.filter(published_at__isnull=True).exists()
    # Windows made later inherit the approval.
    run(T + timedelta(days=10))
    assert set(windows.values_list("review_state", flat=True)) == {"approved"}
    assert windows.count() == 10


# --- Change records -------------------------------------------------------------------------------------


def test_a_change_record_is_approved_by_another_owner_and_re_edits_reset_it(page, strict, people, graph):
    cache, auth, *_ = graph
    change = create_change_record(
        actor=people["author"],
        page=page,
        title="Require TLS on the Redis auth cache",
        description="Security hardening.",
        components=[cache],
    )
    assert change.state == "pending_approval"
    with pytest.raises(ValidationError):
        complete_change_record(actor=people["author"], change=change)
    with pytest.raises(PermissionDenied):
        approve_change(actor=people["author"], target=change)
    approve_change(
        actor=people["lead"], target=change, comment="Calendars and Events depend on it: at night."
    )
    change.refresh_from_db()
    assert change.state == "approved"
    update_change_record(actor=people["author"], change=change, description="Also rotate the password.")
    change.refresh_from_db()
    assert change.state == "approved"  # the text changed, not what it touches
    update_change_record(actor=people["author"], change=change, components=[cache, auth])
    change.refresh_from_db()
    assert change.state == "pending_approval"
    approve_change(actor=people["lead"], target=change, comment="ok")
    complete_change_record(actor=people["author"], change=change)
    change.refresh_from_db()
    assert change.state == "done" and change.done_at is not None
    actions = list(
        AuditEvent.objects.filter(object_id=change.code)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "change.created",
        "change.approved",
        "change.edited",
        "change.edited",
        "change.approval_reset",
        "change.approved",
        "change.done",
    ]


def test_a_rejected_change_is_resubmitted_after_an_edit(page, strict, people):
    change = create_change_record(actor=people["author"], page=page, title="Upgrade Postgres")
    reject_change(actor=people["lead"], target=change, comment="Needs a rollback plan.")
    with pytest.raises(ValidationError):
        complete_change_record(actor=people["author"], change=change)
    submit_change_record(actor=people["author"], change=change)
    change.refresh_from_db()
    assert change.state == "pending_approval"


def test_without_required_approval_a_change_is_simply_recorded_and_done(page, people):
    change = create_change_record(actor=people["commander"], page=page, title="Rotate keys")
    assert change.state == "draft"
    complete_change_record(actor=people["commander"], change=change)
    change.refresh_from_db()
    assert change.state == "done"


def test_a_change_cannot_touch_another_pages_components(page, other_page, people, make_component):
    theirs = make_component(other_page, "Theirs")
    with pytest.raises(ValidationError) as err:
        create_change_record(actor=people["author"], page=page, title="x", components=[theirs])
    assert "components" in err.value.message_dict
    with pytest.raises(ValidationError):
        schedule(page, people["author"], [theirs])
