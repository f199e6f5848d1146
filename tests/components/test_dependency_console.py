"""Dependencies in the console: a component's page (upstream, downstream, blast radius drawn and listed),
adding and removing dependencies, the proposals a status change makes (htmx and without JavaScript;
confirm, edit, skip), automatic propagation, roles, other pages, and the whole page's graph in a bounded
number of queries."""

from __future__ import annotations

import random
import re

import pytest

from components.models import Component, ComponentDependency
from components.services import add_dependency, set_component_status
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, update_page
from tests.console import conftest as console

team = console.team  # the console's team of every role, and an outsider: shared

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def acme(page, make_component):
    c = {
        name: make_component(page, name, is_public=name != "Redis auth cache")
        for name in ("Redis auth cache", "Calendars API", "Events API", "Search", "Billing")
    }
    add_dependency(actor=SYSTEM, component=c["Calendars API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Events API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Search"], depends_on=c["Events API"], kind="soft")
    return c


def url(component, rest=""):
    return f"/console/acme/components/{component.code}/{rest}"


def status(component):
    return Component.objects.get(pk=component.pk).status


def selected(html, component):
    """The status preselected for `component` in a proposals form."""
    select = re.search(rf'name="status-{component.code}">(.*?)</select>', html, re.S)
    assert select, f"no proposal for {component.name}"
    return re.search(r'<option value="([a-z_]*)" selected>', select.group(1)).group(1)


def edges(svg, kind):
    """The edges of one kind drawn in an SVG graph."""
    group = re.search(rf'<g class="dep-edges dep-edges--{kind}"[^>]*>(.*?)</g>', svg, re.S).group(1)
    return re.findall(r'<path d="M[^"]*"/>', group)


# --- A component's page ---------------------------------------------------------------------------------


def test_a_component_page_shows_its_dependencies_and_blast_radius_as_a_graph_and_a_list(acme, team):
    html = team.client("viewer").get(url(acme["Redis auth cache"])).content.decode()
    assert "Redis auth cache" in html and "internal" in html
    svg = html[html.index("<svg") : html.index("</svg>")]
    for name in ("Redis auth cache", "Calendars API", "Events API", "Search"):
        assert name in svg
    assert "Billing" not in svg  # not in the blast radius
    assert len(edges(svg, "hard")) == 2 and len(edges(svg, "soft")) == 1  # Search depends softly
    assert "<script" not in html.split("</head>")[1]  # drawn on the server
    listed = html[html.index('id="radius-title"') :]
    assert re.search(r"Events API.*Search", listed, re.S)
    assert "Redis auth cache → Events API → Search" in listed
    # Read-only for a viewer: no forms to add or remove.
    assert "dependencies/remove/" not in html and "Add a dependency" not in html

    html = team.client("commander").get(url(acme["Events API"])).content.decode()
    up = html[html.index('id="up-title"') : html.index('id="down-title"')]
    down = html[html.index('id="down-title"') : html.index('id="add-title"')]
    assert "Redis auth cache" in up and "hard" in up
    assert "Search" in down and "soft" in down
    assert "Add a dependency" in html and "Redis auth cache (internal)" in html


def test_adding_a_dependency_either_way_round(acme, team):
    client = team.client("commander")
    billing, redis = acme["Billing"], acme["Redis auth cache"]
    response = client.post(
        url(billing, "dependencies/"), {"direction": "upstream", "other": redis.code, "kind": "soft"}
    )
    assert response.status_code == 302 and response["Location"] == url(billing)
    assert ComponentDependency.objects.get(component=billing, depends_on=redis).kind == "soft"
    response = client.post(
        url(billing, "dependencies/"),
        {"direction": "downstream", "other": acme["Search"].code, "kind": "hard"},
    )
    assert ComponentDependency.objects.filter(component=acme["Search"], depends_on=billing).exists()
    event = AuditEvent.objects.filter(action="dependency.added").first()
    assert event.actor == team.commander


def test_a_cycle_is_a_field_message_and_writes_nothing(acme, team):
    client = team.client("commander")
    before = ComponentDependency.objects.count()
    response = client.post(
        url(acme["Redis auth cache"], "dependencies/"),
        {"direction": "upstream", "other": acme["Search"].code, "kind": "hard"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    field = html[html.index('name="other"') :]
    assert "This would make a cycle: Redis auth cache → Search → Events API → Redis auth cache." in field
    assert ComponentDependency.objects.count() == before


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"direction": "upstream", "kind": "hard"},
        {"direction": "sideways", "other": "x", "kind": "hard"},
        {"direction": "upstream", "other": "nosuchcode00", "kind": "hard"},
        {"direction": "upstream", "other": "SELF", "kind": "hard"},
        {"direction": "upstream", "other": "OTHER", "kind": "maybe"},
    ],
)
def test_bad_input_is_a_field_message_never_a_500(acme, team, data):
    search = acme["Search"]
    data = {k: {"SELF": search.code, "OTHER": acme["Billing"].code}.get(v, v) for k, v in data.items()}
    before = ComponentDependency.objects.count()
    response = team.client("commander").post(url(search, "dependencies/"), data)
    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()
    assert ComponentDependency.objects.count() == before


def test_removing_a_dependency_from_either_end(acme, team):
    client = team.client("commander")
    response = client.post(
        url(acme["Search"], "dependencies/remove/"),
        {"direction": "upstream", "other": acme["Events API"].code},
    )
    assert response.status_code == 302
    assert not ComponentDependency.objects.filter(component=acme["Search"]).exists()
    client.post(
        url(acme["Redis auth cache"], "dependencies/remove/"),
        {"direction": "downstream", "other": acme["Calendars API"].code},
    )
    assert not ComponentDependency.objects.filter(component=acme["Calendars API"]).exists()
    assert AuditEvent.objects.filter(action="dependency.removed").count() == 2
    assert client.post(url(acme["Search"], "dependencies/remove/"), {}).status_code == 400


def test_a_viewer_sees_graphs_but_cannot_change_anything(acme, team):
    client = team.client("viewer")
    assert client.get(url(acme["Redis auth cache"])).status_code == 200
    assert client.get("/console/acme/components/dependencies/").status_code == 200
    redis, search = acme["Redis auth cache"], acme["Search"]
    for path, data in [
        (url(search, "dependencies/"), {"direction": "upstream", "other": redis.code, "kind": "hard"}),
        (url(search, "dependencies/remove/"), {"direction": "upstream", "other": acme["Events API"].code}),
        (url(redis, "proposals/"), {"dependent": search.code, f"status-{search.code}": "major_outage"}),
        (url(redis, "status/"), {"status": "major_outage"}),
    ]:
        assert client.post(path, data).status_code == 403, path
    assert ComponentDependency.objects.count() == 3 and status(search) == "operational"


def test_another_pages_components_are_404(acme, team, other_page, make_component):
    theirs = make_component(other_page, "Globex DB")
    ours = acme["Search"]
    client = team.client("owner")
    assert client.get(url(theirs)).status_code == 404
    for rest in ("dependencies/", "dependencies/remove/", "proposals/"):
        assert client.post(url(theirs, rest), {}).status_code == 404, rest
    # Naming another page's component as the other end is refused too, and nothing is written.
    response = client.post(
        url(ours, "dependencies/"), {"direction": "upstream", "other": theirs.code, "kind": "hard"}
    )
    assert response.status_code == 400
    client.post(url(ours, "dependencies/remove/"), {"direction": "upstream", "other": theirs.code})
    client.post(url(ours, "proposals/"), {"dependent": theirs.code, f"status-{theirs.code}": "major_outage"})
    assert status(theirs) == "operational"
    assert not ComponentDependency.objects.filter(page=other_page).exists()
    # The outsider (owner of the other page) sees nothing of this one.
    assert team.client("outsider").get(url(ours)).status_code == 404
    assert team.client("outsider").get("/console/acme/components/dependencies/").status_code == 404


# --- Proposals after a status change ---------------------------------------------------------------------


def test_a_worse_status_comes_back_with_proposals_for_the_dependents(acme, team):
    redis = acme["Redis auth cache"]
    response = team.client("commander").post(url(redis, "status/"), {"status": "major_outage"}, **HX)
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="component-{redis.code}"')
    assert f'<tr id="proposals-{redis.code}" class="proposals-row" hx-swap-oob="true">' in html
    assert selected(html, acme["Calendars API"]) == "major_outage"
    assert selected(html, acme["Events API"]) == "major_outage"
    assert selected(html, acme["Search"]) == "degraded_performance"
    assert "Billing" not in html
    # Nothing changed yet: the commander decides.
    assert status(redis) == "major_outage" and status(acme["Calendars API"]) == "operational"


def test_without_javascript_the_proposals_come_on_the_component_list(acme, team):
    redis = acme["Redis auth cache"]
    response = team.client("commander").post(url(redis, "status/"), {"status": "partial_outage"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Components</h1>" in html and "is now Partial Outage" in html
    assert selected(html, acme["Events API"]) == "partial_outage"
    assert f'action="/console/acme/components/{redis.code}/proposals/"' in html
    # A change that proposes nothing goes back as before.
    response = team.client("commander").post(url(acme["Billing"], "status/"), {"status": "major_outage"})
    assert response.status_code == 302


def test_confirming_all_applies_the_suggestions_and_updates_their_rows(acme, team):
    client = team.client("commander")
    redis, calendars, events, search = (
        acme[n] for n in ("Redis auth cache", "Calendars API", "Events API", "Search")
    )
    client.post(url(redis, "status/"), {"status": "major_outage"}, **HX)
    form = {
        "dependent": [calendars.code, events.code, search.code],
        f"status-{calendars.code}": "major_outage",
        f"status-{events.code}": "major_outage",
        f"status-{search.code}": "degraded_performance",
        "action": "confirm",
    }
    response = client.post(url(redis, "proposals/"), form, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert (status(calendars), status(events), status(search)) == (
        "major_outage",
        "major_outage",
        "degraded_performance",
    )
    assert f'<tr id="component-{search.code}" hx-swap-oob="true">' in html
    assert "Changed:" in html
    events_audit = AuditEvent.objects.get(action="component.status_changed", object_id=events.code)
    assert events_audit.actor == team.commander and events_audit.after["because_of"] == redis.code


def test_each_proposal_can_be_edited_or_skipped(acme, team):
    client = team.client("commander")
    redis, calendars, events, search = (
        acme[n] for n in ("Redis auth cache", "Calendars API", "Events API", "Search")
    )
    set_component_status(actor=SYSTEM, component=redis, status="major_outage")
    form = {
        "dependent": [calendars.code, events.code, search.code],
        f"status-{calendars.code}": "partial_outage",  # edited
        f"status-{events.code}": "",  # skipped
        f"status-{search.code}": "degraded_performance",
        "action": "confirm",
    }
    response = client.post(url(redis, "proposals/"), form)
    assert response.status_code == 302
    assert (status(calendars), status(events), status(search)) == (
        "partial_outage",
        "operational",
        "degraded_performance",
    )


def test_skipping_all_changes_nothing(acme, team):
    client = team.client("commander")
    redis, calendars = acme["Redis auth cache"], acme["Calendars API"]
    form = {"dependent": [calendars.code], f"status-{calendars.code}": "major_outage", "action": "skip"}
    response = client.post(url(redis, "proposals/"), form, **HX)
    assert response.status_code == 200 and "left as they are" in response.content.decode()
    assert status(calendars) == "operational"


def test_a_bad_status_in_the_proposals_is_refused_whole(acme, team):
    redis, calendars, events = acme["Redis auth cache"], acme["Calendars API"], acme["Events API"]
    form = {
        "dependent": [calendars.code, events.code],
        f"status-{calendars.code}": "major_outage",
        f"status-{events.code}": "on_fire",
    }
    response = team.client("commander").post(url(redis, "proposals/"), form, **HX)
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    assert status(calendars) == "operational"


def test_recovery_proposes_the_reverse(acme, team):
    client = team.client("commander")
    redis = acme["Redis auth cache"]
    set_component_status(actor=SYSTEM, component=redis, status="major_outage")
    for name in ("Calendars API", "Events API"):
        set_component_status(actor=SYSTEM, component=acme[name], status="major_outage")
    html = client.post(url(redis, "status/"), {"status": "operational"}, **HX).content.decode()
    assert selected(html, acme["Calendars API"]) == "operational"
    assert selected(html, acme["Events API"]) == "operational"
    assert "status-" + acme["Search"].code not in html  # it is not down


def test_with_propagation_on_the_dependents_change_at_once(page, acme, team):
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    redis = acme["Redis auth cache"]
    html = (
        team.client("commander")
        .post(url(redis, "status/"), {"status": "major_outage"}, **HX)
        .content.decode()
    )
    assert (
        status(acme["Calendars API"]) == "major_outage" and status(acme["Search"]) == "degraded_performance"
    )
    assert "automatically" in html and 'name="status-' not in html
    assert f'<tr id="component-{acme["Search"].code}" hx-swap-oob="true">' in html
    assert AuditEvent.objects.filter(action="component.status_propagated", actor=team.commander).count() == 3


def test_the_list_and_dashboard_still_render_with_proposal_placeholders(acme, team):
    client = team.client("commander")
    html = client.get("/console/acme/components/").content.decode()
    assert f'<tr id="proposals-{acme["Search"].code}" class="proposals-row" hidden>' in html
    assert client.get("/console/acme/").status_code == 200


def test_the_propagation_setting_is_on_the_settings_form(page, team):
    client = team.client("owner")
    html = client.get("/console/acme/settings/").content.decode()
    assert 'name="propagate_dependencies"' in html
    data = {
        "name": "Acme",
        "slug": "acme",
        "time_zone": "America/Los_Angeles",
        "brand_colour": "#1f6feb",
        "update_cadence_minutes": 30,
        "monitoring_cadence_minutes": 60,
        "reminder_lead_minutes": 5,
        "incidents_raise_indicator": "on",
        "propagate_dependencies": "on",
        "visibility": "public",
    }
    response = client.post("/console/acme/settings/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    page.refresh_from_db()
    assert page.propagate_dependencies is True
    assert AuditEvent.objects.filter(action="page.updated", after__propagate_dependencies=True).exists()


# --- The whole page --------------------------------------------------------------------------------------


def random_graph(page, make_component, n, m, seed):
    """n components and m random acyclic edges (each edge from a later to an earlier component)."""
    rng = random.Random(seed)
    nodes = [make_component(page, f"Service {i:03}", is_public=i % 7 != 0) for i in range(n)]
    pairs = set()
    while len(pairs) < m:
        a, b = rng.sample(range(n), 2)
        pairs.add((max(a, b), min(a, b)))
    ComponentDependency.objects.bulk_create(
        ComponentDependency(
            page=page, component=nodes[a], depends_on=nodes[b], kind=rng.choice(["hard", "soft"])
        )
        for a, b in pairs
    )
    return nodes


@pytest.mark.parametrize(("n", "m"), [(10, 15), (120, 400)])
def test_the_dependency_page_draws_everything_in_a_bounded_number_of_queries(
    page, team, make_component, django_assert_max_num_queries, n, m
):
    nodes = random_graph(page, make_component, n, m, seed=n)
    client = team.client("viewer")
    client.get("/console/acme/")  # the session is warm, as for any page after the first
    with django_assert_max_num_queries(6):
        response = client.get("/console/acme/components/dependencies/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('class="dep-node ') == n
    assert len(edges(html, "hard")) + len(edges(html, "soft")) == m
    assert f"{m} dependencies" in html
    assert all(node.name in html for node in nodes)


def test_the_dependency_page_shows_only_this_page(page, other_page, acme, team, make_component):
    make_component(other_page, "Globex secret DB")
    html = team.client("viewer").get("/console/acme/components/dependencies/").content.decode()
    assert "Globex" not in html
    assert "Redis auth cache" in html and "internal" in html
