"""Statuspage's public v2 documents: exact keys, nesting and formats (STATUSPAGE.md section 1)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.services import create_incident, post_update, schedule_maintenance
from statuspage import publishing
from statuspage.services import SYSTEM, update_page

NOW = datetime(2026, 3, 20, 18, 30, 15, 123000, tzinfo=UTC)

PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def acme(page, other_page, make_group, make_component):
    apps = make_group(page, "Application Services")
    api = make_component(page, "API", group=apps, description="REST endpoints")
    dash = make_component(page, "Dashboard", group=apps)
    lone = make_component(page, "Webhooks")
    make_component(page, "Redis auth cache", is_public=False)
    make_component(other_page, "Globex Billing")
    return page, apps, api, dash, lone


def fetch(client, name):
    response = client.get(f"/pages/acme/api/v2/{name}")
    assert response.status_code == 200, name
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


@pytest.mark.django_db
def test_summary_has_statuspages_shape(client, acme):
    page, apps, api, dash, _ = acme
    incident = create_incident(
        actor=SYSTEM, page=page, name="API errors", body="Looking", components={api: "partial_outage"}
    )
    post_update(
        actor=SYSTEM, incident=incident, status="identified", body="Found", components={api: "partial_outage"}
    )
    schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="DB upgrade",
        scheduled_for=NOW + timedelta(days=1),
        scheduled_until=NOW + timedelta(days=1, hours=1),
        components=[dash],
    )
    publishing.publish_page(page.pk)
    doc = fetch(client, "summary.json")
    assert set(doc) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(doc["page"]) == PAGE_KEYS
    assert doc["page"]["time_zone"] == "America/Los_Angeles"
    assert doc["page"]["updated_at"] == "2026-03-20T11:30:15.123-07:00"
    names = [c["name"] for c in doc["components"]]
    assert names == ["Application Services", "API", "Dashboard", "Webhooks"]
    group = doc["components"][0]
    assert set(group) == COMPONENT_KEYS | {"components"}
    assert group["group"] is True
    assert group["components"] == [api.code, dash.code]
    assert group["status"] == "partial_outage"
    child = doc["components"][1]
    assert set(child) == COMPONENT_KEYS
    assert child["group_id"] == apps.code and child["group"] is False
    assert child["description"] == "REST endpoints"
    assert doc["components"][3]["description"] is None and doc["components"][3]["group_id"] is None
    (inc,) = doc["incidents"]
    assert set(inc) == INCIDENT_KEYS
    assert inc["impact"] == "major" and inc["status"] == "identified"
    assert inc["shortlink"].endswith(f"/pages/acme/incidents/{incident.code}")
    assert [u["body"] for u in inc["incident_updates"]] == ["Found", "Looking"]
    first_update = inc["incident_updates"][1]
    assert set(first_update) == UPDATE_KEYS
    assert first_update["affected_components"] == [
        {"code": api.code, "name": "API", "old_status": "operational", "new_status": "partial_outage"}
    ]
    (maint,) = doc["scheduled_maintenances"]
    assert set(maint) == INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}
    assert maint["impact"] == "maintenance" and maint["status"] == "scheduled"
    assert doc["status"] == {"indicator": "major", "description": "Partial System Outage"}
    for ts in (inc["created_at"], inc["started_at"], first_update["display_at"], maint["scheduled_for"]):
        assert TIMESTAMP.match(ts), ts
    assert "Redis auth cache" not in str(doc) and "Globex" not in str(doc)


@pytest.mark.django_db
def test_utc_pages_write_z(client, acme):
    page = acme[0]
    update_page(actor=SYSTEM, page=page, time_zone="Etc/UTC")
    publishing.publish_page(page.pk)
    assert fetch(client, "status.json")["page"]["updated_at"] == "2026-03-20T18:30:15.123Z"


@pytest.mark.django_db
def test_status_follows_statuspage_rules_unless_the_page_lets_incidents_raise_it(client, acme):
    page = acme[0]
    create_incident(
        actor=SYSTEM, page=page, name="Slow logins reported", body="Looking", impact_override="major"
    )
    publishing.publish_page(page.pk)
    assert fetch(client, "status.json")["status"] == {
        "indicator": "major",
        "description": "Partial System Outage",
    }
    banner = re.compile(r'class="banner banner--(\w+)".*?id="banner-title">.*?</span>([^<]+)</h1>', re.S)
    assert banner.search(client.get("/pages/acme/").content.decode()).groups() == (
        "major",
        "Partial System Outage",
    )
    update_page(actor=SYSTEM, page=page, incidents_raise_indicator=False)
    publishing.publish_page(page.pk)
    assert fetch(client, "status.json")["status"] == {
        "indicator": "none",
        "description": "All Systems Operational",
    }
    # The HTML banner follows the same setting: the page and its API never disagree.
    assert banner.search(client.get("/pages/acme/").content.decode()).groups() == (
        "none",
        "All Systems Operational",
    )


@pytest.mark.django_db
def test_list_documents_split_and_cap_as_statuspage_does(client, acme):
    page = acme[0]
    for i in range(52):
        incident = create_incident(
            actor=SYSTEM, page=page, name=f"I{i}", body="b", backfilled=True, at=NOW - timedelta(days=60 - i)
        )
        post_update(
            actor=SYSTEM, incident=incident, status="resolved", at=NOW - timedelta(days=60 - i, hours=-1)
        )
    open_one = create_incident(actor=SYSTEM, page=page, name="Open", body="b")
    running = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Running",
        scheduled_for=NOW - timedelta(hours=1),
        scheduled_until=NOW + timedelta(hours=1),
    )
    post_update(actor=SYSTEM, incident=running, status="in_progress")
    publishing.publish_page(page.pk)
    incidents = fetch(client, "incidents.json")["incidents"]
    assert len(incidents) == 50
    assert incidents[0]["id"] == open_one.code
    assert [i["id"] for i in fetch(client, "incidents/unresolved.json")["incidents"]] == [open_one.code]
    assert [
        m["name"] for m in fetch(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    ] == ["Running"]
    assert fetch(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"] == []
    assert len(fetch(client, "scheduled-maintenances.json")["scheduled_maintenances"]) == 1
    assert set(fetch(client, "components.json")) == {"page", "components"}


@pytest.mark.django_db
def test_unknown_api_document_is_a_json_404(client, acme):
    publishing.publish_page(acme[0].pk)
    response = client.get("/pages/acme/api/v2/nothing.json")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found"}
