"""Lists never include another page's rows, generated from the URL configurations so that no list can be
forgotten: both pages are seeded with one row of every kind (incidents, updates, components, groups,
subscribers, templates, maintenances, changes, outbox events, deliveries, audit events, API keys, team
members), each carrying a marker naming its page; then every console page and every management API read
of page A, fetched as A's owner, must show none of B's markers, and the lists must show A's own.

(test_roles.py and tests/api/test_matrix.py check the other half of tenancy: another page's member or key
gets 404, and so do another page's objects named in a URL.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from components.services import create_component, create_group
from incidents.services import (
    create_change_record,
    create_incident,
    create_maintenance_series,
    save_template,
    schedule_maintenance,
)
from statuspage import console_urls
from statuspage.services import SYSTEM, Actor, add_member, create_api_key
from subscribers.models import Delivery, OutboxEvent
from subscribers.services import subscribe
from tests.api.test_matrix import ENDPOINTS

START = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)
KINDS = (
    "group",
    "component",
    "incident",
    "update",
    "subscriber",
    "template",
    "maintenance",
    "series",
    "change",
    "apikey",
    "member",
)


def marker(letter: str, kind: str) -> str:
    return f"mk-{letter.lower()}-{kind}"


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _around(body: str, needle: str) -> str:
    at = body.index(needle)
    return body[max(0, at - 80) : at + 40]


def seed(page, letter: str, worker) -> dict:
    """One row of every kind on `page`, each named with its marker; the ids a URL may name."""
    m = lambda kind: marker(letter, kind)  # noqa: E731
    owner = User.objects.create_user(m("member"), f"{m('member')}@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    actor = Actor.of(owner)
    group = create_group(actor=actor, page=page, name=m("group"))
    component = create_component(actor=actor, page=page, name=m("component"), group=group)
    subscriber = subscribe(
        page=page, actor=actor, email=f"{m('subscriber')}@example.com", skip_confirmation=True
    )
    with worker():
        incident = create_incident(
            actor=actor,
            page=page,
            name=m("incident"),
            body=m("update"),
            components={component: "major_outage"},
            deliver_notifications=True,
        )
    template = save_template(actor=actor, page=page, name=m("template"), title=m("template"), body="b")
    maintenance = schedule_maintenance(
        actor=actor,
        page=page,
        name=m("maintenance"),
        scheduled_for=START,
        scheduled_until=START + timedelta(hours=1),
    )
    series = create_maintenance_series(
        actor=actor,
        page=page,
        name=m("series"),
        first_start=START,
        first_end=START + timedelta(hours=1),
        frequency="weekly",
        at=START - timedelta(days=1),
    )
    change = create_change_record(actor=actor, page=page, title=m("change"))
    key, _ = create_api_key(actor=actor, page=page, name=m("apikey"), role="viewer")
    event = OutboxEvent.objects.filter(page=page, incident=incident).first()
    assert Delivery.objects.filter(event=event, subscriber=subscriber).exists(), "seed a delivery"
    return {
        "owner": owner,
        "console": {
            "code": incident.code,
            "update_code": incident.updates.first().code,
            "component_code": component.code,
            "template_code": template.code,
            "member_id": page.memberships.get(user=owner).pk,
            "subscriber_code": subscriber.code,
            "event_code": event.code,
            "key_id": key.pk,
            "maintenance_code": maintenance.code,
            "series_code": series.code,
            "change_code": change.code,
            "action": "edit",
        },
        "api": {
            "page_id": page.code,
            "component_id": component.code,
            "group_id": group.code,
            "incident_id": incident.code,
            "update_id": incident.updates.first().code,
            "template_id": template.code,
            "subscriber_id": subscriber.code,
            "event_id": str(getattr(event, "code", None) or event.pk),
            "change_id": change.code,
        },
    }


@pytest.fixture
def world(page, other_page, worker):
    return seed(page, "A", worker), seed(other_page, "B", worker)


# What each console list must show of page A's own rows (so an empty list cannot pass for a scoped one).
CONSOLE_LISTS = {
    "incidents": ["incident"],
    "components": ["component", "group"],
    "subscribers": ["subscriber"],
    "subscriber_export": ["subscriber"],
    "templates": ["template"],
    "audit": ["incident"],
    "audit_export": ["incident", "subscriber"],
    "maintenance": ["maintenance"],
    "changes": ["change"],
    "notifications": ["incident"],
    "api_keys": ["apikey"],
    "team": ["member"],
    "dashboard": ["incident"],
}


def test_no_console_page_shows_another_pages_rows(page, world):
    ours, _ = world
    client = Client()
    client.force_login(ours["owner"])
    seen = set()
    for pattern in console_urls.page:
        names = set(pattern.pattern.converters)
        kwargs = {k: v for k, v in ours["console"].items() if k in names}
        url = reverse(f"console:{pattern.name}", kwargs={"page_slug": page.slug, **kwargs})
        response = client.get(url)
        if response.status_code in (302, 405):
            continue
        assert response.status_code == 200, (pattern.name, response.status_code)
        body = _body(response)
        assert "mk-b-" not in body, (pattern.name, _around(body, "mk-b-"))
        for kind in CONSOLE_LISTS.get(pattern.name, []):
            assert marker("A", kind) in body, (pattern.name, kind)
        seen.add(pattern.name)
    assert set(CONSOLE_LISTS) <= seen, "every list page was fetched"


# What each API list must show of page A's own rows.
API_LISTS = {
    "incidents": ["incident"],
    "components": ["component"],
    "component-groups": ["group"],
    "subscribers": ["subscriber"],
    "incident-templates": ["template"],
    "ext-audit-events": ["incident"],
    "incidents-scheduled": ["maintenance"],
}


# Reads that need a query.
QUERIES = {"ext-component-proposals": {"status": "major_outage"}}


def test_no_management_api_read_shows_another_pages_rows(world):
    ours, _ = world
    client = APIClient()
    _, raw = create_api_key(
        actor=SYSTEM, page=ours["owner"].memberships.get().page, name="reader", role="owner"
    )
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    reads = [e for e in ENDPOINTS if e.method == "GET"]
    assert len(reads) >= 15
    seen = set()
    for endpoint in reads:
        response = client.get(endpoint.url(ours["api"]), QUERIES.get(endpoint.name, {}))
        assert response.status_code == 200, (str(endpoint), response.status_code, response.content[:200])
        body = response.content.decode()
        assert "mk-b-" not in body, (str(endpoint), _around(body, "mk-b-"))
        for kind in API_LISTS.get(endpoint.name, []):
            assert marker("A", kind) in body, (endpoint.name, kind)
        seen.add(endpoint.name)
    assert set(API_LISTS) <= seen, f"unknown list names: {set(API_LISTS) - seen}"
    # The event list carries ids, not names: A's event is there, and every row is A's.
    events = client.get(f"/api/v1/pages/{ours['api']['page_id']}/ext/events").json()
    assert ours["api"]["event_id"] in {e["id"] for e in events}
    assert {e["id"] for e in events} <= set(
        OutboxEvent.objects.filter(page__code=ours["api"]["page_id"]).values_list("code", flat=True)
    )
    # Deliveries, changes and the event list are reached through their own ids above; their rows carry
    # codes, not names: check they are A's.
    deliveries = [e for e in reads if "deliveries" in e.name]
    assert deliveries, "the API lists deliveries"
    for endpoint in deliveries:
        rows = client.get(endpoint.url(ours["api"])).json()
        rows = rows if isinstance(rows, list) else rows.get("deliveries", rows.get("results", []))
        assert rows and all(ours["api"]["subscriber_id"] in str(row) for row in rows), endpoint.name
