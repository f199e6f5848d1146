"""Dependencies through the management API: `depends_on` on a component (read, and written by POST, PATCH
and PUT in either form), cycles and bad ids as 400 field errors with nothing written, and the ext endpoints
for the blast radius and proposals, with roles and other pages."""

from __future__ import annotations

import pytest

from components.models import Component, ComponentDependency
from components.services import add_dependency, set_component_status
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(page, make_component):
    c = {
        name: make_component(page, name, is_public=name != "Redis auth cache")
        for name in ("Redis auth cache", "Calendars API", "Events API", "Search")
    }
    add_dependency(actor=SYSTEM, component=c["Calendars API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Events API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Search"], depends_on=c["Events API"], kind="soft")
    return c


def base(page):
    return f"/api/v1/pages/{page.code}/components"


def ext(page, component, what):
    return f"/api/v1/pages/{page.code}/ext/components/{component.code}/{what}"


def edges(component):
    return sorted(
        (link.depends_on.name, link.kind)
        for link in ComponentDependency.objects.filter(component=component).select_related("depends_on")
    )


def test_components_show_what_they_depend_on(page, acme, client_for, django_assert_max_num_queries):
    client = client_for(page, "viewer")
    one = client.get(f"{base(page)}/{acme['Search'].code}").json()
    assert one["depends_on"] == [{"component_id": acme["Events API"].code, "kind": "soft"}]
    with django_assert_max_num_queries(6):  # one query for every component's dependencies, not one each
        listed = {c["name"]: c for c in client.get(base(page)).json()}
    assert listed["Calendars API"]["depends_on"] == [
        {"component_id": acme["Redis auth cache"].code, "kind": "hard"}
    ]
    assert listed["Redis auth cache"]["depends_on"] == []


def test_post_creates_a_component_with_its_dependencies(page, acme, client_for):
    client = client_for(page)
    response = client.post(
        base(page),
        {
            "component": {
                "name": "Web app",
                "depends_on": [
                    acme["Calendars API"].code,
                    {"component_id": acme["Search"].code, "kind": "soft"},
                ],
            }
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    web = Component.objects.get(code=response.json()["id"])
    assert edges(web) == [("Calendars API", "hard"), ("Search", "soft")]
    assert response.json()["depends_on"] == [
        {"component_id": acme["Calendars API"].code, "kind": "hard"},
        {"component_id": acme["Search"].code, "kind": "soft"},
    ]
    assert AuditEvent.objects.filter(action="dependency.added", object_id=web.code).count() == 2


def test_patch_and_put_replace_the_dependencies_in_either_form(page, acme, client_for):
    client = client_for(page)
    search = acme["Search"]
    response = client.patch(
        f"{base(page)}/{search.code}",
        {"component": {"depends_on": [{"component_id": acme["Calendars API"].code, "kind": "soft"}]}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert edges(search) == [("Calendars API", "soft")]
    # Form-encoded, as Statuspage's clients send: a list of ids.
    response = client.put(
        f"{base(page)}/{search.code}",
        "&".join(f"component[depends_on][]={acme[n].code}" for n in ("Events API", "Redis auth cache")),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert edges(search) == [("Events API", "hard"), ("Redis auth cache", "hard")]
    # Fields left out leave the dependencies alone; an empty list clears them.
    client.patch(f"{base(page)}/{search.code}", {"component": {"description": "Full text"}}, format="json")
    assert len(edges(search)) == 2
    client.patch(f"{base(page)}/{search.code}", {"component": {"depends_on": []}}, format="json")
    assert edges(search) == []


def test_a_cycle_is_a_400_naming_it_and_nothing_is_written(page, acme, client_for):
    client = client_for(page)
    redis = acme["Redis auth cache"]
    response = client.patch(
        f"{base(page)}/{redis.code}",
        {"component": {"name": "Renamed", "depends_on": [acme["Search"].code]}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "depends_on": ["This would make a cycle: Redis auth cache → Search → Events API → Redis auth cache."]
    }
    assert Component.objects.get(pk=redis.pk).name == "Redis auth cache"  # the rename went with it
    assert edges(redis) == []


@pytest.mark.parametrize(
    "depends_on",
    [
        ["nosuchcomponent"],
        [{"component_id": "SEARCH", "kind": "sometimes"}],
        [{"kind": "hard"}],
        [42],
        "SEARCH",
        {"component_id": "SEARCH"},
        ["SELF"],
        ["FOREIGN"],
    ],
)
def test_bad_depends_on_is_a_field_error(page, other_page, acme, client_for, make_component, depends_on):
    theirs = make_component(other_page, "Globex DB")
    codes = {"SEARCH": acme["Search"].code, "SELF": acme["Events API"].code, "FOREIGN": theirs.code}

    def swap(value):
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return codes.get(value, value) if isinstance(value, str) else value

    before = ComponentDependency.objects.count()
    response = client_for(page).patch(
        f"{base(page)}/{acme['Events API'].code}",
        {"component": {"depends_on": swap(depends_on)}},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "depends_on" in response.json()["errors"]
    assert ComponentDependency.objects.count() == before


def test_the_blast_radius_endpoint(page, acme, client_for):
    response = client_for(page, "viewer").get(ext(page, acme["Redis auth cache"], "blast_radius"))
    assert response.status_code == 200
    body = response.json()
    assert body["component_id"] == acme["Redis auth cache"].code
    assert [(a["name"], a["depth"], a["kind"], [v["name"] for v in a["via"]]) for a in body["affected"]] == [
        ("Calendars API", 1, "hard", ["Redis auth cache"]),
        ("Events API", 1, "hard", ["Redis auth cache"]),
        ("Search", 2, "soft", ["Redis auth cache", "Events API"]),
    ]
    assert body["affected"][0]["status"] == "operational" and body["affected"][0]["is_public"] is True
    assert client_for(page).get(ext(page, acme["Search"], "blast_radius")).json()["affected"] == []


def test_the_proposals_endpoint_on_worsen_and_recover(page, acme, client_for):
    client = client_for(page, "viewer")
    redis = acme["Redis auth cache"]
    body = client.get(ext(page, redis, "proposals"), {"status": "major_outage"}).json()
    assert body["current_status"] == "operational" and body["status"] == "major_outage"
    assert [
        (p["name"], p["current_status"], p["suggested_status"], p["kind"]) for p in body["proposals"]
    ] == [
        ("Calendars API", "operational", "major_outage", "hard"),
        ("Events API", "operational", "major_outage", "hard"),
        ("Search", "operational", "degraded_performance", "soft"),
    ]
    assert Component.objects.get(pk=acme["Calendars API"].pk).status == "operational"  # nothing applied

    set_component_status(actor=SYSTEM, component=redis, status="major_outage")
    set_component_status(actor=SYSTEM, component=acme["Events API"], status="major_outage")
    body = client.get(ext(page, redis, "proposals"), {"status": "operational"}).json()
    assert [(p["name"], p["suggested_status"]) for p in body["proposals"]] == [("Events API", "operational")]


@pytest.mark.parametrize("query", [{}, {"status": "on_fire"}])
def test_the_proposals_endpoint_needs_a_known_status(page, acme, client_for, query):
    response = client_for(page).get(ext(page, acme["Redis auth cache"], "proposals"), query)
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_other_pages_and_unknown_components_are_404(page, other_page, acme, client_for, make_component):
    theirs = make_component(other_page, "Globex DB")
    ours = client_for(page)
    for what in ("blast_radius", "proposals?status=major_outage"):
        assert ours.get(ext(page, theirs, what)).status_code == 404
        assert ours.get(f"/api/v1/pages/{page.code}/ext/components/nosuchcomponent/{what}").status_code == 404
        # Their key on our page: 404, nothing revealed.
        assert client_for(other_page).get(ext(page, acme["Search"], what)).status_code == 404


def test_a_viewer_key_reads_but_cannot_write_dependencies(page, acme, client_for):
    viewer = client_for(page, "viewer")
    assert viewer.get(ext(page, acme["Redis auth cache"], "blast_radius")).status_code == 200
    response = viewer.patch(
        f"{base(page)}/{acme['Search'].code}", {"component": {"depends_on": []}}, format="json"
    )
    assert response.status_code == 403
    assert edges(acme["Search"]) == [("Events API", "soft")]


def test_a_status_change_through_the_api_propagates_when_the_page_says_so(page, acme, client_for):
    from statuspage.services import update_page

    client = client_for(page)
    redis = acme["Redis auth cache"]
    client.patch(f"{base(page)}/{redis.code}", {"component": {"status": "partial_outage"}}, format="json")
    assert Component.objects.get(pk=acme["Events API"].pk).status == "operational"
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    client.patch(f"{base(page)}/{redis.code}", {"component": {"status": "major_outage"}}, format="json")
    assert Component.objects.get(pk=acme["Events API"].pk).status == "major_outage"
    assert Component.objects.get(pk=acme["Search"].pk).status == "degraded_performance"
