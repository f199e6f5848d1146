"""The public side: routing to the right page, serving from the snapshot, and what the page shows."""

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import feedparser
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from components.services import set_component_status
from incidents.services import (
    create_incident,
    post_update,
    publish_postmortem,
    save_postmortem,
    schedule_maintenance,
)
from statuspage import publishing
from statuspage.services import SYSTEM, update_page

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def acme(page, other_page, make_group, make_component):
    apps = make_group(page, "Application Services")
    api = make_component(page, "API", group=apps, at=NOW - timedelta(days=100))
    dash = make_component(page, "Dashboard", group=apps, at=NOW - timedelta(days=100))
    make_component(page, "Redis auth cache", is_public=False, at=NOW - timedelta(days=100))
    make_component(other_page, "Globex Billing", at=NOW - timedelta(days=100))
    create_incident(actor=SYSTEM, page=other_page, name="Globex secret outage", body="theirs")
    return page, api, dash


def publish(*pages):
    for p in pages:
        publishing.publish_page(p.pk)


def get(client, path, host="testserver", **headers):
    return client.get(path, HTTP_HOST=host, **headers)


@pytest.mark.django_db
def test_page_is_served_by_slug_subdomain_custom_domain_and_alone_at_root(client, acme, other_page):
    page, _, _ = acme
    from statuspage.services import update_page

    update_page(actor=SYSTEM, page=page, custom_domain="status.acme.com")
    publish(page, other_page)
    assert b"Acme" in get(client, "/pages/acme/").content
    assert b"Acme" in get(client, "/", host="acme.status.test").content
    assert b"Acme" in get(client, "/", host="status.acme.com").content
    assert b"Globex" in get(client, "/", host="globex.status.test").content
    # Two pages and an unknown host: nothing to show at the root.
    assert get(client, "/", host="unknown.example.org").status_code == 404


@pytest.mark.django_db
def test_single_page_installation_serves_its_page_at_root(client, page):
    publish(page)
    response = get(client, "/")
    assert response.status_code == 200
    assert b"Acme" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/pages/nope/",
        "/pages/acme/incidents/doesnotexist",
        "/pages/acme/incidents/../../etc",
        "/pages/acme/history?page=0",
        "/pages/acme/history?page=abc",
        "/pages/acme/nothing-here",
    ],
)
def test_unknown_slug_or_document_is_a_proper_404_page(client, acme, path):
    publish(acme[0])
    response = get(client, path)
    assert response.status_code == 404
    assert b"<html" in response.content.lower()
    assert b"Traceback" not in response.content


@pytest.mark.django_db
def test_public_requests_do_no_database_query_in_steady_state(client, acme):
    page, api, _ = acme
    incident = create_incident(
        actor=SYSTEM, page=page, name="API errors", body="Looking", components={api: "major_outage"}
    )
    publish(page)
    paths = [
        "/pages/acme/",
        "/pages/acme/live",
        f"/pages/acme/incidents/{incident.code}",
        "/pages/acme/history",
        "/pages/acme/history.atom",
        "/pages/acme/history.rss",
        "/",
    ]
    for path in paths:  # the first request of a lazily rendered document may query
        get(client, path, host="acme.status.test" if path == "/" else "testserver")
    with CaptureQueriesContext(connection) as queries:
        for path in paths:
            response = get(client, path, host="acme.status.test" if path == "/" else "testserver")
            assert response.status_code == 200, path
    assert len(queries) == 0, [q["sql"] for q in queries]


def _make_history(page, component, n):
    """n resolved past incidents, each with two updates and component changes, written in bulk (the
    services would take seconds for a thousand; the rows are the same)."""
    from components.models import ComponentStatusChange
    from incidents.models import Incident, IncidentUpdate

    starts = [NOW - timedelta(days=200 + i) for i in range(n)]
    incidents = Incident.objects.bulk_create(
        Incident(
            page=page,
            name=f"Old incident {i}",
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
            component=component,
            incident_update=u,
            old_status="operational",
            new_status="partial_outage" if u.status == "investigating" else "operational",
            created_at=u.display_at,
        )
        for u in updates
    )
    Incident.components.through.objects.bulk_create(
        Incident.components.through(incident_id=i.pk, component_id=component.pk) for i in incidents
    )


@pytest.mark.django_db
def test_rendering_cost_does_not_grow_with_history(acme):
    page, api, _ = acme
    _make_history(page, api, 10)
    with CaptureQueriesContext(connection) as few:
        publish(page)
    _make_history(page, api, 990)
    with CaptureQueriesContext(connection) as many:
        publish(page)
    assert len(many) == len(few)


@pytest.mark.django_db
def test_front_page_shows_banner_incident_components_and_uptime_but_no_internal_or_foreign_rows(client, acme):
    page, api, _ = acme
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="Elevated API errors",
        body="We are **looking**.",
        components={api: "partial_outage"},
    )
    publish(page)
    html = get(client, "/pages/acme/").content.decode()
    assert "Elevated API errors" in html
    assert "<strong>looking</strong>" in html
    assert "Application Services" in html and "Dashboard" in html
    assert "Partial Outage" in html
    assert "Redis auth cache" not in html
    assert "Globex" not in html
    assert "All Systems Operational" not in html
    assert f"incidents/{incident.code}" in html
    assert "100%" in html or "uptime" in html.lower()


@pytest.mark.django_db
def test_green_page_says_all_systems_operational(client, acme):
    publish(acme[0])
    assert "All Systems Operational" in get(client, "/pages/acme/").content.decode()


@pytest.mark.django_db
def test_past_incidents_are_grouped_by_day_with_quiet_days_marked(client, acme):
    page, _, _ = acme
    t = NOW - timedelta(days=2)
    incident = create_incident(actor=SYSTEM, page=page, name="Two days ago", body="b", at=t)
    post_update(actor=SYSTEM, incident=incident, status="resolved", at=t + timedelta(hours=1))
    publish(page)
    html = get(client, "/pages/acme/").content.decode()
    assert "Two days ago" in html
    assert html.count("No incidents reported.") == 13
    assert "Mar 18, 2026" in html  # the day heading, in the page's zone


@pytest.mark.django_db
def test_incident_page_shows_timeline_newest_first_with_times_in_the_page_zone(client, acme):
    page, api, dash = acme
    t = datetime(2026, 3, 19, 15, 11, tzinfo=UTC)  # 08:11 PDT
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="US | API unreachable",
        body="First words",
        components={api: "major_outage", dash: "partial_outage"},
        at=t,
    )
    post_update(
        actor=SYSTEM,
        incident=incident,
        status="monitoring",
        body="Second words",
        at=t + timedelta(minutes=35),
    )
    save_postmortem(actor=SYSTEM, incident=incident, body="The *root cause* was a cache.")
    publish_postmortem(actor=SYSTEM, incident=incident)
    publish(page)
    html = get(client, f"/pages/acme/incidents/{incident.code}").content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert "Posted Mar 19, 2026 - 08:11 PDT" in text
    assert "Posted Mar 19, 2026 - 08:46 PDT" in text
    assert html.index("Second words") < html.index("First words")
    assert "This incident affected" in html
    assert "Application Services (API, Dashboard)" in html
    assert "<em>root cause</em>" in html
    assert html.index("root cause") < html.index("Second words")


@pytest.mark.django_db
def test_unpublished_postmortem_is_not_shown(client, acme):
    page, _, _ = acme
    incident = create_incident(actor=SYSTEM, page=page, name="x", body="b")
    save_postmortem(actor=SYSTEM, incident=incident, body="Secret draft")
    publish(page)
    assert "Secret draft" not in get(client, f"/pages/acme/incidents/{incident.code}").content.decode()


@pytest.mark.django_db
def test_incident_of_another_page_is_404(client, acme, other_page):
    theirs = other_page.incidents.get()
    publish(acme[0], other_page)
    assert get(client, f"/pages/acme/incidents/{theirs.code}").status_code == 404
    assert get(client, f"/pages/globex/incidents/{theirs.code}").status_code == 200


@pytest.mark.django_db
def test_markdown_in_updates_is_sanitized(client, acme):
    page, _, _ = acme
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="<script>alert(1)</script>",
        body="<script>alert(2)</script> [x](javascript:alert(3)) <img src=x onerror=alert(4)>",
    )
    publish(page)
    for path in ("/pages/acme/", f"/pages/acme/incidents/{incident.code}"):
        html = get(client, path).content.decode()
        assert "<script>alert" not in html
        assert 'href="javascript' not in html
        assert "<img" not in html


@pytest.mark.django_db
def test_maintenance_in_progress_and_upcoming_are_shown(client, acme):
    page, api, _ = acme
    schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Database upgrade",
        scheduled_for=NOW + timedelta(days=2),
        scheduled_until=NOW + timedelta(days=2, hours=1),
        components=[api],
    )
    running = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Network work",
        scheduled_for=NOW - timedelta(hours=1),
        scheduled_until=NOW + timedelta(hours=1),
        components=[api],
    )
    post_update(actor=SYSTEM, incident=running, status="in_progress", components={api: "under_maintenance"})
    publish(page)
    html = get(client, "/pages/acme/").content.decode()
    assert "Database upgrade" in html and "Network work" in html


@pytest.mark.django_db
def test_feeds_parse_and_list_incidents_with_their_updates(client, acme):
    page, _, _ = acme
    incident = create_incident(actor=SYSTEM, page=page, name="Feed me", body="First update text")
    post_update(actor=SYSTEM, incident=incident, status="resolved", body="All good now")
    publish(page)
    atom = get(client, "/pages/acme/history.atom")
    assert atom["Content-Type"].startswith("application/atom+xml")
    ElementTree.fromstring(atom.content)
    feed = feedparser.parse(atom.content)
    assert not feed.bozo
    (entry,) = feed.entries
    assert entry.title == "Feed me"
    assert entry.link == f"http://testserver/pages/acme/incidents/{incident.code}"
    assert "All good now" in entry.summary and "First update text" in entry.summary
    rss = feedparser.parse(get(client, "/pages/acme/history.rss").content)
    assert not rss.bozo and rss.entries[0].title == "Feed me"
    assert "Globex" not in atom.content.decode()


@pytest.mark.django_db
def test_history_lists_incidents_by_month_and_paginates(client, acme):
    page, api, _ = acme
    _make_history(page, api, 3)  # 200-202 days ago: about Aug-Sep 2025
    recent = create_incident(actor=SYSTEM, page=page, name="This month", body="b", at=NOW - timedelta(days=1))
    publish(page)
    first = get(client, "/pages/acme/history").content.decode()
    assert "This month" in first and "March 2026" in first
    assert "Old incident" not in first
    assert "history?page=2" in first
    pages = [get(client, f"/pages/acme/history?page={n}").content.decode() for n in (2, 3)]
    assert any("Old incident 0" in p for p in pages)
    assert recent.code in first


@pytest.mark.django_db
def test_live_fragment_is_the_changing_part_only(client, acme):
    publish(acme[0])
    html = get(client, "/pages/acme/live").content.decode()
    assert "All Systems Operational" in html
    assert "<html" not in html.lower()
    assert 'hx-get="live"' in html


@pytest.mark.django_db
def test_etag_and_last_modified_give_304(client, acme):
    publish(acme[0])
    first = get(client, "/pages/acme/")
    assert first["Cache-Control"].startswith("public")
    again = get(client, "/pages/acme/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    since = get(client, "/pages/acme/", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert since.status_code == 304


@pytest.mark.django_db
def test_a_write_republishes_on_commit(client, acme, setup_committed, django_capture_on_commit_callbacks):
    page, api, _ = acme
    publish(page)
    setup_committed()
    with django_capture_on_commit_callbacks() as callbacks:
        set_component_status(actor=SYSTEM, component=api, status="major_outage")
    publishes = [cb.publishes_page for cb in callbacks if hasattr(cb, "publishes_page")]
    assert publishes == [page.pk], "publishing must be enqueued on commit"
    from statuspage.tasks import publish_page_task

    publish_page_task(page.pk)  # what the worker runs
    assert "Major Outage" in get(client, "/pages/acme/").content.decode()


@pytest.mark.django_db
def test_missing_snapshot_is_rendered_on_first_request(client, acme):
    response = get(client, "/pages/acme/")
    assert response.status_code == 200 and b"Acme" in response.content


@pytest.mark.django_db
def test_stale_snapshots_are_refreshed_after_midnight_in_the_page_zone(acme, other_page):
    page = acme[0]
    publish(page, other_page)
    assert publishing.refresh_stale_snapshots() == []
    # 18:30 UTC on Mar 20 is 11:30 in Los Angeles; 13 hours later it is the next day there.
    with time_machine.travel(NOW + timedelta(hours=13), tick=False):
        refreshed = publishing.refresh_stale_snapshots()
    assert page.pk in refreshed


@pytest.mark.django_db
def test_page_name_change_shows_after_publish(client, acme):
    page = acme[0]
    publish(page)
    update_page(actor=SYSTEM, page=page, name="Acme Cloud")
    publish(page)
    assert b"Acme Cloud" in get(client, "/pages/acme/").content


def test_each_uptime_bar_carries_its_day_s_facts_as_markup():
    """statuspage_tags.uptime_bars: with JavaScript off the tooltips are all there is, so every fact of a
    day is in the markup: the date, the uptime, the time in each status, the incidents (escaped), or that
    there is no data."""
    from datetime import date
    from types import SimpleNamespace

    from components.selectors import Day, Uptime
    from statuspage.templatetags.statuspage_tags import uptime_bars

    quiet = Day(date=date(2026, 9, 10), seconds={"operational": 86400.0}, counted=86400.0)
    bad = Day(
        date=date(2026, 12, 1),
        seconds={"operational": 82800.0, "partial_outage": 1500.0, "degraded_performance": 1800.0},
        counted=86400.0,
        incidents=[SimpleNamespace(name="US <b>latency</b> & errors")],
    )
    empty = Day(date=date(2026, 12, 2))
    html = str(uptime_bars(Uptime([quiet, bad, empty])))
    bars = html.split("</li>")[:-1]
    assert len(bars) == 3
    # An operational day is a bare <li> (its colour is the list's default); any other day names its worst.
    assert bars[0] == "<li><span><b>Sep 10, 2026</b> <small>100% uptime</small></span>"
    assert bars[1].startswith('<li class="bar--partial_outage"><span><b>Dec 1, 2026</b> ')
    assert "99.48% uptime" in bars[1] and "Partial outage 25 min" in bars[1] and "Degraded 30 min" in bars[1]
    assert "US &lt;b&gt;latency&lt;/b&gt; &amp; errors" in bars[1]
    assert bars[2] == '<li class="bar--none"><span><b>Dec 2, 2026</b> No data</span>'
    assert "tabindex" not in html  # public.js gives each row one stop
