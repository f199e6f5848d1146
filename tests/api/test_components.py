"""Components and groups through the management API, in Statuspage's shapes; what the API writes is what
the public documents show."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from components.models import Component, ComponentGroup
from statuspage import publishing
from statuspage.models import AuditEvent

pytestmark = pytest.mark.django_db

COMPONENT_FIELDS = {
    "id", "page_id", "group_id", "created_at", "updated_at", "group", "name", "description", "position",
    "status", "showcase", "only_show_if_degraded", "automation_email", "start_date",
}  # fmt: skip


def test_create_read_update_and_delete_a_component(page, client_for, make_group, make_component):
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/components"
    group = make_group(page, "Core")
    make_component(page, "Anchor", group=group)
    response = client.post(
        base,
        {
            "component": {
                "name": "API",
                "description": "REST",
                "status": "partial_outage",
                "group_id": group.code,
                "showcase": False,
                "start_date": "2026-01-01",
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert set(created) >= COMPONENT_FIELDS
    assert created["status"] == "partial_outage" and created["group_id"] == group.code
    assert created["showcase"] is False and created["start_date"] == "2026-01-01"
    assert created["created_at"].endswith("-08:00") or created["created_at"].endswith("-07:00")

    one = client.get(f"{base}/{created['id']}").json()
    assert one == created
    assert created["id"] in [c["id"] for c in client.get(base).json()]

    response = client.patch(
        f"{base}/{created['id']}",
        {"component": {"status": "operational", "name": "Public API"}},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "operational" and response.json()["name"] == "Public API"
    component = Component.objects.get(code=created["id"])
    assert [c.new_status for c in component.status_changes.order_by("created_at", "id")][-1] == "operational"

    # What the API says is what the public v2 document says.
    publishing.publish_page(page.pk)
    public_doc = APIClient().get("/pages/acme/api/v2/components.json").json()
    public = next(c for c in public_doc["components"] if c["id"] == created["id"])
    for field in ("id", "name", "status", "group_id", "page_id", "showcase", "position", "updated_at"):
        assert public[field] == response.json()[field], field

    assert client.delete(f"{base}/{created['id']}").status_code == 204
    assert client.get(f"{base}/{created['id']}").status_code == 404
    assert AuditEvent.objects.filter(action="component.deleted").exists()


def test_a_group_from_another_page_or_an_unknown_group_is_a_field_error(pages, client_for, make_group):
    page, other = pages
    theirs = make_group(other, "Theirs")
    client = client_for(page)
    response = client.post(
        f"/api/v1/pages/{page.code}/components",
        {"component": {"name": "X", "group_id": theirs.code}},
        format="json",
    )
    assert response.status_code == 400 and "group_id" in response.json()["errors"]
    assert not Component.objects.filter(page=page).exists()


def test_groups_need_components_list_children_and_deleting_one_keeps_them(page, client_for, make_component):
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/component-groups"
    a, b, c = (make_component(page, n) for n in "ABC")
    assert client.post(base, {"component_group": {"name": "Empty"}}, format="json").status_code == 400
    response = client.post(
        base,
        {"component_group": {"name": "Core", "components": [a.code, b.code]}, "description": "The core"},
        format="json",
    )
    assert response.status_code == 201, response.content
    group = response.json()
    assert group["components"] == [a.code, b.code] and group["description"] == "The core"
    response = client.patch(
        f"{base}/{group['id']}", {"component_group": {"components": [b.code, c.code]}}, format="json"
    )
    assert sorted(response.json()["components"]) == sorted([b.code, c.code])
    assert Component.objects.get(pk=a.pk).group is None
    response = client.delete(f"{base}/{group['id']}")
    assert response.status_code == 200 and response.json()["id"] == group["id"]
    assert not ComponentGroup.objects.exists()
    assert Component.objects.filter(page=page).count() == 3


def test_removing_the_last_component_of_a_group_removes_the_group(
    page, client_for, make_group, make_component
):
    group = make_group(page, "Solo")
    only = make_component(page, "Only", group=group)
    client = client_for(page)
    assert client.delete(f"/api/v1/pages/{page.code}/components/{only.code}").status_code == 204
    assert not ComponentGroup.objects.filter(pk=group.pk).exists()


def test_pagination_caps_at_100_and_pages_are_1_based(page, client_for, make_component):
    for i in range(105):
        Component.objects.create(page=page, name=f"C{i:03d}", position=i)
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/components"
    assert len(client.get(base).json()) == 100
    assert len(client.get(f"{base}?per_page=500").json()) == 100
    second = client.get(f"{base}?per_page=100&page=2").json()
    assert [c["name"] for c in second] == ["C100", "C101", "C102", "C103", "C104"]
    assert [c["name"] for c in client.get(f"{base}?limit=2&page=3").json()] == ["C004", "C005"]
    assert client.get(f"{base}?page=abc").status_code == 400
    # Far past the end is empty, not a database error (schemathesis asked for page 1282557623863792384).
    assert client.get(f"{base}?page=1282557623863792384").json() == []
    assert client.get(f"{base}?page=1000001&per_page=100").json() == []


def test_uptime_of_a_component_and_a_group_as_statuspage_reports_it(
    page, client_for, make_component, make_group
):
    from datetime import UTC, datetime, timedelta

    import time_machine

    from components.services import set_component_status
    from incidents.services import create_incident, post_update
    from statuspage.services import SYSTEM

    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the page's zone is America/Los_Angeles
    with time_machine.travel(start, tick=False) as clock:
        regions = make_group(page, "Regions")
        eu = make_component(page, "EU", group=regions)
        us = make_component(page, "US", group=regions)
        clock.shift(timedelta(days=2))
        incident = create_incident(
            actor=SYSTEM, page=page, name="EU down", body="x", components={eu: "major_outage"}
        )
        clock.shift(timedelta(hours=1))
        post_update(
            actor=SYSTEM, incident=incident, status="identified", body="y", components={eu: "partial_outage"}
        )
        clock.shift(timedelta(hours=2))
        set_component_status(actor=SYSTEM, component=eu, status="operational")
        post_update(actor=SYSTEM, incident=incident, status="resolved", body="z")
        clock.shift(timedelta(days=3))
        client = client_for(page)
        base = f"/api/v1/pages/{page.code}"
        doc = client.get(f"{base}/components/{eu.code}/uptime?start=2026-03-01&end=2026-03-05").json()
        assert (doc["id"], doc["name"], doc["range_start"], doc["range_end"]) == (
            eu.code,
            "EU",
            "2026-03-01",
            "2026-03-05",
        )
        assert (doc["major_outage"], doc["partial_outage"]) == (3600, 7200)
        counted = (datetime(2026, 3, 6, 8, tzinfo=UTC) - start).total_seconds()  # to the end of Mar 5 in LA
        assert doc["uptime_percentage"] == pytest.approx(100 * (1 - (3600 + 0.3 * 7200) / counted), abs=1e-3)
        assert doc["related_events"] == {"incidents": [{"id": incident.code}]}
        assert doc["warnings"] == []
        group = client.get(
            f"{base}/component-groups/{regions.code}/uptime?start=2026-03-01&end=2026-03-05"
        ).json()
        assert group["id"] == regions.code and group["major_outage"] == 3600
        assert group["uptime_percentage"] == pytest.approx((doc["uptime_percentage"] + 100.0) / 2, abs=1e-3)
        assert client.get(f"{base}/components/{us.code}/uptime").json()["related_events"] == {"incidents": []}
        early = client.get(f"{base}/components/{eu.code}/uptime?start=2026-02-01&end=2026-03-05").json()
        assert early["warnings"] and "counted from 2026-03-01" in early["warnings"][0]
        for bad, field in (
            ("start=2026-03-05&end=2026-03-01", "start"),
            ("end=2027-01-01", "end"),
            ("start=2025-01-01&end=2026-03-05", "start"),
            ("start=yesterday", "start"),
        ):
            response = client.get(f"{base}/components/{eu.code}/uptime?{bad}")
            assert response.status_code == 400 and field in response.json()["errors"], bad
