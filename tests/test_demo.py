"""The demo command: the seed incidents replayed faithfully, ninety days of history, idempotent."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from components.models import ComponentStatusChange
from incidents.models import Incident
from statuspage import snapshots
from statuspage.models import Page

LA = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def demo_page(db):
    call_command("demo")
    return Page.objects.get(slug="demo")


def test_seed_001_is_replayed_update_by_update_in_pacific_time(demo_page):
    incident = Incident.objects.get(
        page=demo_page, name="US | Elevated API latencies and elevated rate of 520 errors"
    )
    updates = list(incident.updates.order_by("display_at"))
    assert len(updates) == 16
    assert updates[1].display_at.astimezone(LA).strftime("%b %d, %Y - %H:%M %Z") == "Jun 06, 2023 - 08:11 PDT"
    assert updates[1].body.startswith("Because of a failure of one of our clusters")
    assert updates[-1].status == "resolved"
    assert incident.impact == "critical"
    assert incident.postmortem.is_published
    assert incident.postmortem.published_at.astimezone(LA).strftime("%b %d, %Y %H:%M") == "Jun 12, 2023 16:04"
    assert "Incident Commander" in incident.postmortem.body
    assert {c.name for c in incident.components.all()} == {"API", "Dashboard", "Scheduler"}


def test_seed_002_keeps_its_back_and_forth_statuses(demo_page):
    incident = Incident.objects.get(page=demo_page, name="Nylas applications not active preventing API calls")
    statuses = list(incident.updates.order_by("display_at").values_list("status", flat=True))
    assert statuses == ["investigating", "identified", "monitoring", "identified", "monitoring", "resolved"]
    assert incident.postmortem.is_published


def test_ninety_days_of_history_an_internal_component_and_an_upcoming_maintenance(demo_page):
    now = timezone.now()
    old = ComponentStatusChange.objects.filter(
        component__page=demo_page,
        created_at__lt=now - timedelta(days=80),
        created_at__gt=now - timedelta(days=90),
    )
    assert old.exists()
    assert demo_page.components.get(name="Redis auth cache").is_public is False
    assert Incident.objects.for_page(demo_page).upcoming().count() == 1
    recent = Incident.objects.for_page(demo_page).incidents().filter(started_at__gt=now - timedelta(days=14))
    assert recent.exists()
    assert all(c.status == "operational" for c in demo_page.components.all())


def test_demo_is_published_and_idempotent(demo_page):
    assert snapshots.read_manifest(demo_page.code) is not None
    counts = (Page.objects.count(), Incident.objects.count(), ComponentStatusChange.objects.count())
    call_command("demo")
    assert (Page.objects.count(), Incident.objects.count(), ComponentStatusChange.objects.count()) == counts


def test_reset_builds_it_again(demo_page):
    call_command("demo", "--reset")
    page = Page.objects.get(slug="demo")
    assert page.pk != demo_page.pk
    assert Incident.objects.filter(page=page).count() == Incident.objects.count()


def test_demo_page_is_served_at_the_root_of_a_single_page_installation(demo_page, client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nylas Status (demo)" in html
    assert "Redis auth cache TLS upgrade" in html
    assert "Redis auth cache</span>" not in html
