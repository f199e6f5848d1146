"""The maintenance calendar feeds, parsed back with the icalendar library: stable UIDs, SEQUENCE that grows on
reschedule, cancelled events marked CANCELLED, UTC times, public components only, nothing of another page,
nothing held back by the change review, and served from the page's snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from icalendar import Calendar

from incidents.services import (
    cancel_maintenance,
    create_incident,
    extend_maintenance,
    reschedule_maintenance,
    schedule_maintenance,
)
from statuspage import publishing
from statuspage.services import SYSTEM, Actor, add_member, update_page

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)
END = START + timedelta(hours=2)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(page, make_component):
    return make_component(page, "API")


@pytest.fixture
def cache(page, make_component):
    return make_component(page, "Redis auth cache", is_public=False)


@pytest.fixture
def maintenance(page, api, cache):
    return schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Database upgrade",
        scheduled_for=START,
        scheduled_until=END,
        components=[api, cache],
        body="We upgrade the **primary**.",
    )


def feed(client, path="/pages/acme/maintenance.ics", *pages):
    for p in pages:
        publishing.publish_page(p.pk)
    response = client.get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events(calendar):
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def test_the_page_feed_lists_its_maintenances_in_utc_with_stable_uids(client, page, maintenance):
    calendar = feed(client, "/pages/acme/maintenance.ics", page)
    assert str(calendar["X-WR-CALNAME"]) == "Acme maintenance"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{maintenance.code}@testserver"
    assert event.decoded("DTSTART") == START and event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert event.decoded("DTEND") == END
    assert b"DTSTART:20260312T150000Z" in calendar.to_ical()
    assert str(event["SUMMARY"]) == "Database upgrade"
    assert str(event["URL"]) == f"http://testserver/pages/acme/incidents/{maintenance.code}"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    description = str(event["DESCRIPTION"])
    assert "We upgrade the **primary**." in description and "Affected: API" in description
    assert "Redis" not in calendar.to_ical().decode()  # an internal component is never named


def test_reschedule_and_extension_keep_the_uid_and_raise_the_sequence(client, page, maintenance):
    uid = f"{maintenance.code}@testserver"
    assert int(events(feed(client, "/pages/acme/maintenance.ics", page))[uid]["SEQUENCE"]) == 0
    later = START + timedelta(days=1)
    reschedule_maintenance(
        actor=SYSTEM, incident=maintenance, scheduled_for=later, scheduled_until=later + timedelta(hours=1)
    )
    event = events(feed(client, "/pages/acme/maintenance.ics", page))[uid]
    assert int(event["SEQUENCE"]) == 1
    assert event.decoded("DTSTART") == later
    extend_maintenance(actor=SYSTEM, incident=maintenance, scheduled_until=later + timedelta(hours=3))
    event = events(feed(client, "/pages/acme/maintenance.ics", page))[uid]
    assert int(event["SEQUENCE"]) == 2
    assert event.decoded("DTEND") == later + timedelta(hours=3)


def test_a_cancelled_maintenance_stays_in_the_feed_as_cancelled(client, page, maintenance):
    cancel_maintenance(actor=SYSTEM, incident=maintenance)
    event = events(feed(client, "/pages/acme/maintenance.ics", page))[f"{maintenance.code}@testserver"]
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1


def test_the_component_feed_lists_only_that_components_maintenances(
    client, page, maintenance, make_component
):
    web = make_component(page, "Website")
    schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="CDN switch",
        scheduled_for=START,
        scheduled_until=END,
        components=[web],
    )
    publishing.publish_page(page.pk)
    api_feed = feed(
        client, f"/pages/acme/components/{maintenance.components.get(name='API').code}/maintenance.ics"
    )
    assert [str(e["SUMMARY"]) for e in api_feed.walk("VEVENT")] == ["Database upgrade"]
    assert str(api_feed["X-WR-CALNAME"]) == "Acme maintenance: API"
    web_feed = feed(client, f"/pages/acme/components/{web.code}/maintenance.ics")
    assert [str(e["SUMMARY"]) for e in web_feed.walk("VEVENT")] == ["CDN switch"]
    page_feed = feed(client, "/pages/acme/maintenance.ics")
    assert len(page_feed.walk("VEVENT")) == 2


def test_internal_and_foreign_components_have_no_feed(
    client, page, other_page, maintenance, cache, make_component
):
    theirs = make_component(other_page, "Theirs")
    publishing.publish_page(page.pk)
    assert client.get(f"/pages/acme/components/{cache.code}/maintenance.ics").status_code == 404
    assert client.get(f"/pages/acme/components/{theirs.code}/maintenance.ics").status_code == 404
    assert client.get("/pages/acme/components/NOT-A-CODE/maintenance.ics").status_code == 404
    assert client.get("/pages/nosuchpage/maintenance.ics").status_code == 404


def test_another_pages_maintenances_and_incidents_never_appear(
    client, page, other_page, maintenance, make_component
):
    theirs = make_component(other_page, "Theirs")
    schedule_maintenance(
        actor=SYSTEM,
        page=other_page,
        name="Globex secret work",
        scheduled_for=START,
        scheduled_until=END,
        components=[theirs],
    )
    create_incident(actor=SYSTEM, page=page, name="An incident, not a maintenance", body="x")
    ours = feed(client, "/pages/acme/maintenance.ics", page, other_page).to_ical().decode()
    assert "Globex" not in ours and "An incident" not in ours
    theirs_feed = feed(client, "/pages/globex/maintenance.ics")
    assert [str(e["SUMMARY"]) for e in theirs_feed.walk("VEVENT")] == ["Globex secret work"]
    assert str(theirs_feed.walk("VEVENT")[0]["UID"]).endswith("@testserver")


def test_a_maintenance_held_back_by_the_change_review_is_not_in_the_feed(client, page, api):
    update_page(actor=SYSTEM, page=page, require_change_approval=True)
    page.refresh_from_db()
    author = User.objects.create_user("author", "a@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=author, role="owner")
    schedule_maintenance(
        actor=Actor.of(author), page=page, name="Unapproved", scheduled_for=START, scheduled_until=END
    )
    assert feed(client, "/pages/acme/maintenance.ics", page).walk("VEVENT") == []


def test_the_feed_is_served_from_the_snapshot_with_no_query_and_revalidates(client, page, maintenance):
    publishing.publish_page(page.pk)
    first = client.get("/pages/acme/maintenance.ics")
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/pages/acme/maintenance.ics")
    assert len(queries) == 0
    assert again.content == first.content and again["ETag"] == first["ETag"]
    assert client.get("/pages/acme/maintenance.ics", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


def test_the_page_and_the_console_link_to_the_feed(client, page, maintenance):
    publishing.publish_page(page.pk)
    html = client.get("/pages/acme/").content.decode()
    assert 'href="maintenance.ics"' in html
    user = User.objects.create_user("viewer", "v@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=user, role="viewer")
    client.force_login(user)
    console = client.get("/console/acme/maintenance/").content.decode()
    assert "http://testserver/pages/acme/maintenance.ics" in console
    assert "webcal://testserver/pages/acme/maintenance.ics" in console
