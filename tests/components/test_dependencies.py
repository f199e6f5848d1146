"""Component dependencies: the edges and their rules (one page, no self-edge, no cycle), blast radius, the
status changes a change proposes for dependents, and automatic propagation (seed 000: a Redis cache that
also backed authentication for the Calendars and Events APIs)."""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError

from components import dependencies
from components.dependencies import Graph
from components.models import Component, ComponentDependency
from components.services import (
    add_dependency,
    confirm_proposals,
    remove_dependency,
    set_component_status,
    set_dependencies,
)
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, update_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(page, make_component):
    """Redis auth cache (internal) ← Calendars API, Events API (hard); Search ← Events API (soft);
    Web app ← Calendars API (hard). A Database that nothing here depends on yet."""
    c = {
        name: make_component(page, name, is_public=name != "Redis auth cache")
        for name in ("Redis auth cache", "Calendars API", "Events API", "Search", "Web app", "Database")
    }
    add_dependency(actor=SYSTEM, component=c["Calendars API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Events API"], depends_on=c["Redis auth cache"])
    add_dependency(actor=SYSTEM, component=c["Search"], depends_on=c["Events API"], kind="soft")
    add_dependency(actor=SYSTEM, component=c["Web app"], depends_on=c["Calendars API"])
    return c


def names(components):
    return [c.name for c in components]


def fresh(component):
    return Component.objects.get(pk=component.pk).status


def chain(page, make_component, n, prefix="C"):
    """C1 depends on C2, C2 on C3, ... (hard)."""
    nodes = [make_component(page, f"{prefix}{i}") for i in range(1, n + 1)]
    for a, b in itertools.pairwise(nodes):
        add_dependency(actor=SYSTEM, component=a, depends_on=b)
    return nodes


# --- Edges and their rules ------------------------------------------------------------------------------


def test_adding_a_dependency_writes_one_audited_edge_and_is_idempotent(page, acme):
    edges = ComponentDependency.objects.for_page(page)
    assert edges.count() == 4
    link = add_dependency(actor=SYSTEM, component=acme["Search"], depends_on=acme["Events API"], kind="soft")
    assert edges.count() == 4 and link.kind == "soft"
    assert AuditEvent.objects.filter(action="dependency.added").count() == 4

    add_dependency(actor=SYSTEM, component=acme["Search"], depends_on=acme["Events API"], kind="hard")
    assert edges.get(component=acme["Search"]).kind == "hard"
    changed = AuditEvent.objects.get(action="dependency.changed")
    assert changed.before["kind"] == "soft" and changed.after["kind"] == "hard"
    assert changed.object_id == acme["Search"].code


def test_a_direct_cycle_is_refused_with_a_message_naming_it(acme):
    with pytest.raises(ValidationError) as exc:
        add_dependency(actor=SYSTEM, component=acme["Redis auth cache"], depends_on=acme["Calendars API"])
    assert exc.value.message_dict == {
        "depends_on": ["This would make a cycle: Redis auth cache → Calendars API → Redis auth cache."]
    }
    assert not ComponentDependency.objects.filter(component=acme["Redis auth cache"]).exists()


def test_a_long_cycle_is_refused_with_every_step_in_order(page, make_component):
    c1, *_, c5 = chain(page, make_component, 5)
    with pytest.raises(ValidationError) as exc:
        add_dependency(actor=SYSTEM, component=c5, depends_on=c1)
    assert exc.value.message_dict["depends_on"] == ["This would make a cycle: C5 → C1 → C2 → C3 → C4 → C5."]
    # Not a cycle: a shortcut along the chain's direction.
    add_dependency(actor=SYSTEM, component=c1, depends_on=c5)
    assert ComponentDependency.objects.filter(component=c1).count() == 2


def test_the_seed_story_cycle_reads_in_dependency_order(page, make_component):
    calendars = make_component(page, "Calendars API")
    redis = make_component(page, "Redis auth cache", is_public=False)
    add_dependency(actor=SYSTEM, component=redis, depends_on=calendars)
    with pytest.raises(ValidationError) as exc:
        add_dependency(actor=SYSTEM, component=calendars, depends_on=redis)
    assert "Calendars API → Redis auth cache → Calendars API" in exc.value.messages[0]


def test_self_edges_foreign_components_and_unknown_kinds_are_field_errors(acme, other_page, make_component):
    theirs = make_component(other_page, "Globex DB")
    cases = [
        (acme["Search"], acme["Search"], "hard", "depends_on", "cannot depend on itself"),
        (acme["Search"], theirs, "hard", "depends_on", "another page"),
        (theirs, acme["Search"], "hard", "depends_on", "another page"),
        (acme["Search"], acme["Database"], "sometimes", "kind", "hard, soft"),
    ]
    for component, target, kind, field, text in cases:
        with pytest.raises(ValidationError) as exc:
            add_dependency(actor=SYSTEM, component=component, depends_on=target, kind=kind)
        assert text in exc.value.message_dict[field][0]
    assert ComponentDependency.objects.count() == 4


def test_set_dependencies_makes_exactly_the_given_edges_or_changes_nothing(acme):
    web, calendars, database, search = (
        acme["Web app"],
        acme["Calendars API"],
        acme["Database"],
        acme["Search"],
    )
    links = set_dependencies(
        actor=SYSTEM, component=web, depends_on=[(calendars, "soft"), (database, "hard")]
    )
    assert [(link.depends_on.name, link.kind) for link in links] == [
        ("Calendars API", "soft"),
        ("Database", "hard"),
    ]
    assert set(AuditEvent.objects.values_list("action", flat=True)) >= {
        "dependency.changed",
        "dependency.added",
    }

    add_dependency(actor=SYSTEM, component=database, depends_on=search)
    with pytest.raises(ValidationError) as exc:
        set_dependencies(
            actor=SYSTEM, component=search, depends_on=[(acme["Redis auth cache"], "hard"), (web, "soft")]
        )
    assert exc.value.message_dict["depends_on"] == [
        "This would make a cycle: Search → Web app → Database → Search."
    ]
    assert [
        (link.depends_on.name, link.kind) for link in ComponentDependency.objects.filter(component=search)
    ] == [("Events API", "soft")]

    set_dependencies(actor=SYSTEM, component=web, depends_on=[])
    assert not ComponentDependency.objects.filter(component=web).exists()


def test_removing_a_dependency_is_audited_and_idempotent(acme):
    assert remove_dependency(actor=SYSTEM, component=acme["Web app"], depends_on=acme["Calendars API"])
    assert not remove_dependency(actor=SYSTEM, component=acme["Web app"], depends_on=acme["Calendars API"])
    assert AuditEvent.objects.filter(action="dependency.removed").count() == 1
    assert dependencies.upstream(acme["Web app"]) == []


def test_upstream_and_downstream_are_direct_with_their_kinds(acme):
    up = dependencies.upstream(acme["Search"])
    assert [(link.component.name, link.kind) for link in up] == [("Events API", "soft")]
    down = dependencies.downstream(acme["Redis auth cache"])
    assert [(link.component.name, link.kind) for link in down] == [
        ("Calendars API", "hard"),
        ("Events API", "hard"),
    ]


def test_deleting_a_component_removes_its_edges(acme):
    acme["Calendars API"].delete()
    assert [link.component.name for link in dependencies.downstream(acme["Redis auth cache"])] == [
        "Events API"
    ]


# --- Blast radius ------------------------------------------------------------------------------------------


def test_blast_radius_lists_every_transitive_dependent_once_by_depth_with_path_and_kind(
    page, acme, django_assert_num_queries
):
    with django_assert_num_queries(2):
        radius = dependencies.blast_radius(page, [acme["Redis auth cache"]])
    assert [(a.component.name, a.depth, names(a.via), a.kind) for a in radius] == [
        ("Calendars API", 1, ["Redis auth cache"], "hard"),
        ("Events API", 1, ["Redis auth cache"], "hard"),
        ("Search", 2, ["Redis auth cache", "Events API"], "soft"),
        ("Web app", 2, ["Redis auth cache", "Calendars API"], "hard"),
    ]
    assert dependencies.blast_radius(page, [acme["Database"]]) == []
    assert dependencies.blast_radius(page, []) == []


def test_blast_radius_takes_the_shortest_path_and_prefers_hard_among_equals(page, acme, make_component):
    # Dashboard depends on Web app (3 hops from Redis) and directly on Events API (2 hops), soft and hard.
    dashboard = make_component(page, "Dashboard")
    add_dependency(actor=SYSTEM, component=dashboard, depends_on=acme["Web app"])
    add_dependency(actor=SYSTEM, component=dashboard, depends_on=acme["Search"])
    add_dependency(actor=SYSTEM, component=dashboard, depends_on=acme["Events API"], kind="soft")
    affected = {a.component.name: a for a in dependencies.blast_radius(page, [acme["Redis auth cache"]])}
    assert affected["Dashboard"].depth == 2
    assert names(affected["Dashboard"].via) == ["Redis auth cache", "Events API"]
    assert affected["Dashboard"].kind == "soft"

    # Two shortest paths, one hard: the hard one is the answer.
    add_dependency(actor=SYSTEM, component=dashboard, depends_on=acme["Calendars API"])
    affected = {a.component.name: a for a in dependencies.blast_radius(page, [acme["Redis auth cache"]])}
    assert affected["Dashboard"].kind == "hard"
    assert names(affected["Dashboard"].via) == ["Redis auth cache", "Calendars API"]


def test_blast_radius_of_several_starts_counts_from_the_nearest_and_leaves_the_starts_out(page, acme):
    radius = dependencies.blast_radius(page, [acme["Calendars API"], acme["Redis auth cache"]])
    assert [(a.component.name, a.depth, names(a.via)) for a in radius] == [
        ("Events API", 1, ["Redis auth cache"]),
        ("Web app", 1, ["Calendars API"]),
        ("Search", 2, ["Redis auth cache", "Events API"]),
    ]


def test_blast_radius_refuses_another_pages_component(page, other_page, acme, make_component):
    with pytest.raises(ValueError, match="not a component of page"):
        dependencies.blast_radius(page, [make_component(other_page, "Globex DB")])


def test_a_page_never_sees_another_pages_graph(page, other_page, acme, make_component):
    redis = make_component(other_page, "Redis auth cache")
    theirs = make_component(other_page, "Calendars API")
    add_dependency(actor=SYSTEM, component=theirs, depends_on=redis)
    graph = Graph.load(page)
    assert set(graph.nodes) == {c.pk for c in acme.values()}
    assert names(a.component for a in dependencies.blast_radius(other_page, [redis])) == ["Calendars API"]
    set_component_status(actor=SYSTEM, component=acme["Redis auth cache"], status="major_outage")
    assert dependencies.propose(redis, "major_outage")[0].component == theirs
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    set_component_status(actor=SYSTEM, component=acme["Redis auth cache"], status="operational")
    set_component_status(actor=SYSTEM, component=acme["Redis auth cache"], status="major_outage")
    assert fresh(theirs) == "operational" and fresh(acme["Calendars API"]) == "major_outage"


def test_layers_put_every_component_right_of_all_it_depends_on(page, acme):
    graph = Graph.load(page)
    column = {pk: i for i, layer in enumerate(graph.layers()) for pk in layer}
    assert set(column) == set(graph.nodes)
    for pk, ups in graph.up.items():
        for upstream_id, _ in ups:
            assert column[upstream_id] < column[pk]


# --- Proposals ---------------------------------------------------------------------------------------------


def summary(proposals):
    return [(p.component.name, p.current, p.suggested, names(p.via), p.kind) for p in proposals]


def test_an_outage_proposes_the_same_status_over_hard_edges_and_degraded_over_soft_ones(acme):
    assert summary(dependencies.propose(acme["Redis auth cache"], "major_outage")) == [
        ("Calendars API", "operational", "major_outage", ["Redis auth cache"], "hard"),
        ("Events API", "operational", "major_outage", ["Redis auth cache"], "hard"),
        ("Search", "operational", "degraded_performance", ["Redis auth cache", "Events API"], "soft"),
        ("Web app", "operational", "major_outage", ["Redis auth cache", "Calendars API"], "hard"),
    ]
    assert dependencies.propose(acme["Redis auth cache"], "operational") == []  # no change, nothing proposed


def test_dependents_already_as_bad_are_skipped_and_nothing_is_proposed_better(acme):
    set_component_status(actor=SYSTEM, component=acme["Calendars API"], status="major_outage")
    set_component_status(actor=SYSTEM, component=acme["Search"], status="partial_outage")
    set_component_status(actor=SYSTEM, component=acme["Events API"], status="degraded_performance")
    proposals = dependencies.propose(acme["Redis auth cache"], "partial_outage")
    assert summary(proposals) == [
        ("Events API", "degraded_performance", "partial_outage", ["Redis auth cache"], "hard"),
        ("Web app", "operational", "partial_outage", ["Redis auth cache", "Calendars API"], "hard"),
    ]
    assert all(p.worsens for p in proposals)


def test_the_worst_path_sets_the_suggestion(page, acme, make_component):
    # Reports depends softly on Redis directly, and hard on Calendars API, which goes down with Redis.
    reports = make_component(page, "Reports")
    add_dependency(actor=SYSTEM, component=reports, depends_on=acme["Redis auth cache"], kind="soft")
    add_dependency(actor=SYSTEM, component=reports, depends_on=acme["Calendars API"])
    by_name = {p.component.name: p for p in dependencies.propose(acme["Redis auth cache"], "major_outage")}
    assert by_name["Reports"].suggested == "major_outage"
    assert names(by_name["Reports"].via) == ["Redis auth cache", "Calendars API"]


def test_maintenance_passes_over_hard_edges_only(acme):
    assert summary(dependencies.propose(acme["Redis auth cache"], "under_maintenance")) == [
        ("Calendars API", "operational", "under_maintenance", ["Redis auth cache"], "hard"),
        ("Events API", "operational", "under_maintenance", ["Redis auth cache"], "hard"),
        ("Web app", "operational", "under_maintenance", ["Redis auth cache", "Calendars API"], "hard"),
    ]


def test_recovery_proposes_the_reverse(acme):
    for name, status in [
        ("Redis auth cache", "major_outage"),
        ("Calendars API", "major_outage"),
        ("Events API", "major_outage"),
        ("Search", "degraded_performance"),
        ("Web app", "major_outage"),
    ]:
        set_component_status(actor=SYSTEM, component=acme[name], status=status, propagate=False)
    assert summary(dependencies.propose(acme["Redis auth cache"], "operational")) == [
        ("Calendars API", "major_outage", "operational", ["Redis auth cache"], "hard"),
        ("Events API", "major_outage", "operational", ["Redis auth cache"], "hard"),
        ("Search", "degraded_performance", "operational", ["Redis auth cache", "Events API"], "soft"),
        ("Web app", "major_outage", "operational", ["Redis auth cache", "Calendars API"], "hard"),
    ]
    # Partly better: the dependents follow it down to what it still justifies.
    assert summary(dependencies.propose(acme["Redis auth cache"], "degraded_performance"))[:2] == [
        ("Calendars API", "major_outage", "degraded_performance", ["Redis auth cache"], "hard"),
        ("Events API", "major_outage", "degraded_performance", ["Redis auth cache"], "hard"),
    ]


def test_recovery_leaves_what_another_upstream_or_another_cause_holds_down(acme):
    database = acme["Database"]
    add_dependency(actor=SYSTEM, component=acme["Events API"], depends_on=database, kind="soft")
    set_component_status(actor=SYSTEM, component=database, status="major_outage")
    set_component_status(actor=SYSTEM, component=acme["Redis auth cache"], status="partial_outage")
    for name in ("Calendars API", "Events API", "Web app"):
        set_component_status(actor=SYSTEM, component=acme[name], status="partial_outage")
    set_component_status(actor=SYSTEM, component=acme["Search"], status="degraded_performance")
    # Web app is down worse than Redis's partial outage explains: something else is wrong with it.
    set_component_status(actor=SYSTEM, component=acme["Web app"], status="major_outage")

    assert summary(dependencies.propose(acme["Redis auth cache"], "operational")) == [
        ("Calendars API", "partial_outage", "operational", ["Redis auth cache"], "hard"),
        # The database still degrades Events API (soft), so it comes back to degraded, not operational;
        # Search stays degraded through Events API.
        ("Events API", "partial_outage", "degraded_performance", ["Redis auth cache"], "hard"),
    ]


def test_proposals_load_the_graph_in_two_queries(acme, django_assert_num_queries):
    redis = Component.objects.get(pk=acme["Redis auth cache"].pk)
    with django_assert_num_queries(2):
        dependencies.propose(redis, "major_outage")


# --- Applying proposals: confirmed by a commander, or automatic ----------------------------------------


def test_without_propagation_nothing_changes_until_a_commander_confirms(page, acme):
    redis, calendars, search = acme["Redis auth cache"], acme["Calendars API"], acme["Search"]
    set_component_status(actor=SYSTEM, component=redis, status="major_outage")
    assert {fresh(c) for name, c in acme.items() if name != "Redis auth cache"} == {"operational"}

    confirm_proposals(
        actor=SYSTEM,
        component=redis,
        statuses=[(calendars, "partial_outage"), (search, "degraded_performance")],
    )
    assert fresh(calendars) == "partial_outage" and fresh(search) == "degraded_performance"
    assert fresh(acme["Web app"]) == "operational"  # confirmed changes do not propagate again
    audit = AuditEvent.objects.filter(action="component.status_changed", object_id=calendars.code).get()
    assert audit.after == {
        "status": "partial_outage",
        "because_of": redis.code,
        "because_of_name": "Redis auth cache",
    }


def test_confirming_is_all_or_nothing(acme, other_page, make_component):
    theirs = make_component(other_page, "Globex DB")
    with pytest.raises(ValidationError):
        confirm_proposals(
            actor=SYSTEM,
            component=acme["Redis auth cache"],
            statuses=[(acme["Calendars API"], "major_outage"), (theirs, "major_outage")],
        )
    with pytest.raises(ValidationError):
        confirm_proposals(
            actor=SYSTEM,
            component=acme["Redis auth cache"],
            statuses=[(acme["Calendars API"], "major_outage"), (acme["Search"], "on_fire")],
        )
    assert fresh(acme["Calendars API"]) == "operational" and fresh(theirs) == "operational"


def test_automatic_propagation_applies_proposals_on_worsen_and_on_recovery(page, acme):
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    redis = acme["Redis auth cache"]
    set_component_status(actor=SYSTEM, component=redis, status="major_outage")
    assert {name: fresh(c) for name, c in acme.items()} == {
        "Redis auth cache": "major_outage",
        "Calendars API": "major_outage",
        "Events API": "major_outage",
        "Search": "degraded_performance",
        "Web app": "major_outage",
        "Database": "operational",
    }
    propagated = AuditEvent.objects.filter(action="component.status_propagated")
    assert propagated.count() == 4
    search = propagated.get(object_id=acme["Search"].code)
    assert search.before == {"status": "operational"}
    assert search.after["status"] == "degraded_performance" and search.after["because_of"] == redis.code
    assert search.after["via"] == ["Redis auth cache", "Events API"] and search.after["kind"] == "soft"
    # Each propagated change is in the status history (uptime counts it) and audited once.
    assert acme["Web app"].status_changes.last().new_status == "major_outage"
    assert not AuditEvent.objects.filter(
        action="component.status_changed", object_id=acme["Web app"].code
    ).exists()

    set_component_status(actor=SYSTEM, component=redis, status="operational")
    assert {fresh(c) for c in acme.values()} == {"operational"}
    assert propagated.count() == 8


def test_propagation_follows_incident_updates_too(page, acme):
    from incidents.services import create_incident

    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    create_incident(
        actor=SYSTEM,
        page=page,
        name="Auth errors",
        body="Looking.",
        components={acme["Redis auth cache"]: "partial_outage"},
    )
    assert fresh(acme["Web app"]) == "partial_outage" and fresh(acme["Search"]) == "degraded_performance"


def test_propagation_is_one_transaction_with_the_change(page, acme):
    from django.db import transaction

    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)

    def change_then_fail():
        with transaction.atomic():
            set_component_status(actor=SYSTEM, component=acme["Redis auth cache"], status="major_outage")
            assert fresh(acme["Web app"]) == "major_outage"
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert {fresh(c) for c in acme.values()} == {"operational"}
    assert not AuditEvent.objects.filter(action="component.status_propagated").exists()


# --- The public side never shows internal components or dependencies ---------------------------------------


@pytest.fixture
def backstage(page, make_component, make_group, smtp, worker):
    """Internal components with dependencies, statuses propagated from them to public ones, and an incident
    touching an internal and a public component, opened and resolved; a subscriber told of it all."""
    from incidents.services import create_incident, post_update
    from subscribers.services import subscribe

    subscribe(page=page, actor=SYSTEM, email="fan@example.com", skip_confirmation=True)
    backstage = make_group(page, "Backstage", is_public=False)
    redis = make_component(page, "Redis auth cache", is_public=False)
    queue = make_component(page, "Token queue", group=backstage)  # public itself, in an internal group
    calendars = make_component(page, "Calendars API")
    events = make_component(page, "Events API")
    add_dependency(actor=SYSTEM, component=queue, depends_on=redis)
    add_dependency(actor=SYSTEM, component=calendars, depends_on=queue)
    add_dependency(actor=SYSTEM, component=events, depends_on=redis, kind="soft")
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    with worker():
        set_component_status(actor=SYSTEM, component=redis, status="major_outage")
        incident = create_incident(
            actor=SYSTEM,
            page=page,
            name="Authentication errors",
            body="Calls to the calendars API fail.",
            components={redis: "major_outage", calendars: "major_outage"},
        )
        post_update(
            actor=SYSTEM,
            incident=incident,
            status="resolved",
            body="Fixed.",
            components={redis: "operational"},
        )
    assert fresh(calendars) == "operational" and fresh(events) == "operational"  # recovered with Redis
    secrets = ["Redis auth cache", "Token queue", "Backstage", redis.code, queue.code, backstage.code]
    return redis, queue, calendars, events, incident, secrets


def test_no_public_output_names_an_internal_component_or_a_dependency(page, backstage, client):
    """Every public document, badge and feed is searched for the internal names and for any word of the
    dependency model."""
    from statuspage import publishing

    redis, queue, calendars, events, incident, secrets = backstage
    publishing.publish_page(page.pk)
    secrets = [*secrets, "depends_on", "dependency", "blast", "propagat", "upstream", "downstream"]
    base = "/pages/acme/"
    paths = [
        "", "live", "history", "history.atom", "history.rss", f"incidents/{incident.code}", "badge.svg",
        "embed/script.js", "subscribe", "api/v2/history.json", f"api/v2/incidents/{incident.code}.json",
        *[f"api/v2/{name}" for name in sorted(publishing_names())],
        *[f"components/{c.code}/badge.svg" for c in (calendars, events)],
    ]  # fmt: skip
    for path in paths:
        response = client.get(base + path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode().lower()
        for secret in secrets:
            assert secret.lower() not in text, (path, secret)
    assert "Calendars API" in client.get(base).content.decode()  # the search is not vacuous
    for internal in (redis, queue):
        assert client.get(f"{base}components/{internal.code}/badge.svg").status_code == 404


def publishing_names():
    from statuspage.views import API_V2_DOCUMENTS

    return API_V2_DOCUMENTS


def test_subscriber_emails_name_no_internal_component(backstage, smtp):
    *_, secrets = backstage
    assert smtp.messages, "subscribers were told of the incident"
    for message in smtp.messages:
        text = message.as_string().lower()
        for secret in secrets[:3]:
            assert secret.lower() not in text
