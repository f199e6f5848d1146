"""Rendering the public page and summary.json costs a fixed number of queries, whatever the length of
history and however many incidents the recent past shows (bench/scale.py measures the same at 100,000)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from components.models import ComponentStatusChange
from incidents.models import Incident, IncidentUpdate
from statuspage import publishing

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def acme(page, make_group, make_component):
    groups = [make_group(page, f"Group {g}") for g in range(3)]
    components = [
        make_component(page, f"Service {i}", group=groups[i % 3], at=NOW - timedelta(days=400))
        for i in range(6)
    ]
    return page, components


def add_incidents(page, components, starts):
    """Resolved incidents at `starts`: two updates each, touching two components (status changes and
    links), written in bulk as the services would leave them."""
    n = len(components)
    incidents = Incident.objects.bulk_create(
        Incident(
            page=page,
            name=f"Errors {i}",
            status="resolved",
            impact="major",
            backfilled=True,
            started_at=t,
            created_at=t,
            updated_at=t + timedelta(hours=1),
            resolved_at=t + timedelta(hours=1),
        )
        for i, t in enumerate(starts)
    )
    updates = IncidentUpdate.objects.bulk_create(
        IncidentUpdate(
            incident=incident, status=status, body=status, created_at=at, display_at=at, updated_at=at
        )
        for incident in incidents
        for status, at in (("investigating", incident.started_at), ("resolved", incident.resolved_at))
    )
    ComponentStatusChange.objects.bulk_create(
        ComponentStatusChange(
            component=components[(u.incident_id + k) % n],
            incident_update=u,
            old_status="operational" if u.status == "investigating" else "partial_outage",
            new_status="partial_outage" if u.status == "investigating" else "operational",
            created_at=u.display_at,
        )
        for u in updates
        for k in (0, 1)
    )
    Incident.components.through.objects.bulk_create(
        Incident.components.through(incident_id=i.pk, component_id=components[(i.pk + k) % n].pk)
        for i in incidents
        for k in (0, 1)
    )


def render_page_and_summary(page) -> tuple[int, str, dict]:
    """(queries, index.html, summary.json) rendered from the database, as a publish renders them."""
    with CaptureQueriesContext(connection) as queries:
        context = publishing.index_context(page, now=timezone.now(), version=1)
        with timezone.override(page.tz):
            html = render_to_string("public/index.html", context)
        summary = publishing.api_documents(page, context, now=timezone.now())["api/v2/summary.json"]
    return len(queries), html, json.loads(summary.body)


@pytest.mark.django_db
def test_page_and_summary_cost_the_same_queries_with_5_or_200_old_incidents(acme):
    page, components = acme
    add_incidents(page, components, [NOW - timedelta(days=120 + i) for i in range(5)])
    few, _, _ = render_page_and_summary(page)
    add_incidents(page, components, [NOW - timedelta(days=130 + i) for i in range(195)])
    many, _, summary = render_page_and_summary(page)
    assert many == few
    assert len(summary["components"]) == 6 + 3  # Statuspage lists groups as components too


@pytest.mark.django_db
def test_page_and_summary_cost_the_same_queries_with_5_or_60_incidents_on_show(acme):
    """Incidents in the last 14 days (listed with their timelines) and the 90-day uptime window (in the
    bars' tooltips): more of them on the page means more rows, never more queries."""
    page, components = acme
    add_incidents(page, components, [NOW - timedelta(days=1 + i * 2) for i in range(5)])
    few, few_html, _ = render_page_and_summary(page)
    add_incidents(
        page,
        components,
        [NOW - timedelta(days=1, hours=3 + i) for i in range(25)]
        + [NOW - timedelta(days=20 + i * 2) for i in range(30)],
    )
    many, many_html, _ = render_page_and_summary(page)
    assert many == few
    assert many_html.count("Errors ") > few_html.count("Errors ")


@pytest.mark.django_db
def test_a_whole_publish_costs_the_same_queries_with_more_incidents_on_show(acme):
    page, components = acme
    add_incidents(page, components, [NOW - timedelta(days=1 + i * 2) for i in range(3)])
    with CaptureQueriesContext(connection) as few:
        publishing.publish_page(page.pk)
    add_incidents(page, components, [NOW - timedelta(days=1, hours=3 + i) for i in range(20)])
    with CaptureQueriesContext(connection) as many:
        publishing.publish_page(page.pk)
    assert len(many) == len(few)
