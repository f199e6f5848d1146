"""Console views for components: the list with inline status changes (htmx) and the proposals a change
makes for dependents, each component's dependencies and blast radius, and the page's whole dependency
graph. Thin adapters over components.services and components.dependencies."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from components import diagram
from components.dependencies import Graph, propose
from components.forms import DependencyForm
from components.models import Component, ComponentStatus, DependencyKind
from components.services import add_dependency, confirm_proposals, remove_dependency, set_component_status
from incidents.models import Incident
from incidents.services import set_status_for_incident
from statuspage.models import Role
from statuspage.permissions import member_required
from statuspage.services import Actor


def _list_context(request: HttpRequest) -> dict:
    return {
        "statuses": ComponentStatus.choices,
        "open_incidents": Incident.objects.for_page(request.page).open(),
    }


@member_required(Role.VIEWER)
def component_list(request: HttpRequest) -> HttpResponse:
    components = (
        Component.objects.for_page(request.page)
        .select_related("group")
        .order_by("group__position", "position")
    )
    return render(request, "console/components.html", {"components": components, **_list_context(request)})


@require_POST
@member_required(Role.COMMANDER)
def component_status(request: HttpRequest, component_code: str) -> HttpResponse:
    """Set a status. What it proposes for the dependents comes back with the row (or, when the page
    propagates, what was changed automatically), computed before the change from the same state the
    service then reads."""
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    status = request.POST.get("status", "")
    incident_code = request.POST.get("incident", "")
    error = None
    proposals: list = []
    try:
        if status not in ComponentStatus.values:
            raise ValidationError({"status": "Choose a status."})
        proposals = propose(component, status)
        if incident_code:
            incident = get_object_or_404(Incident.objects.for_page(request.page), code=incident_code)
            set_status_for_incident(
                actor=Actor.of(request.user), incident=incident, component=component, status=status
            )
        else:
            set_component_status(actor=Actor.of(request.user), component=component, status=status)
    except ValidationError as exc:
        error = " ".join(exc.messages)
        proposals = []
    component.refresh_from_db()
    automatic = request.page.propagate_dependencies
    propagated = (
        list(
            Component.objects.for_page(request.page)
            .select_related("group")
            .filter(pk__in=[p.component.pk for p in proposals])
            .order_by("group__position", "position")
        )
        if automatic and proposals
        else []
    )
    context = {
        "c": component,
        "error": error,
        "proposals_for": component.code,
        "proposals": [] if automatic else proposals,
        "propagated": propagated,
        **_list_context(request),
    }
    if request.htmx:
        response = render(
            request,
            "console/components.html#component-row",
            {**context, "proposals_oob": True},
            status=400 if error else 200,
        )
        response["Vary"] = "HX-Request"
        return response
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{component.name} is now {component.get_status_display()}.")
    if proposals and not error:
        # Without JavaScript the proposals need a page to sit on: the component list, with them under the row.
        return _list_with_proposals(request, context)
    home = f"/console/{request.page.slug}/"
    back = request.POST.get("next", "")
    return redirect(back if back.startswith(home) else home + "components/")


def _list_with_proposals(request: HttpRequest, context: dict) -> HttpResponse:
    components = (
        Component.objects.for_page(request.page)
        .select_related("group")
        .order_by("group__position", "position")
    )
    context = {k: v for k, v in context.items() if k != "c"}
    return render(request, "console/components.html", {"components": components, **context})


@require_POST
@member_required(Role.COMMANDER)
def proposals_apply(request: HttpRequest, component_code: str) -> HttpResponse:
    """Confirm (as suggested or edited) or skip the proposals a status change made. Each dependent comes as
    `dependent=<code>` with `status-<code>` (empty: leave it); `action=skip` skips them all."""
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    codes = list(dict.fromkeys(request.POST.getlist("dependent")))
    chosen = [] if request.POST.get("action") == "skip" else codes
    found = {c.code: c for c in Component.objects.for_page(request.page).filter(code__in=codes)}
    error = None
    changed: list[Component] = []
    try:
        if any(code not in found for code in codes):
            raise ValidationError("A component is no longer on this page; reload and try again.")
        statuses = [
            (found[code], request.POST.get(f"status-{code}", ""))
            for code in chosen
            if request.POST.get(f"status-{code}", "")
        ]
        confirm_proposals(actor=Actor.of(request.user), component=component, statuses=statuses)
        changed = [c for c, _ in statuses]
    except ValidationError as exc:
        error = " ".join(exc.messages)
    changed = list(
        Component.objects.for_page(request.page)
        .select_related("group")
        .filter(pk__in=[c.pk for c in changed])
        .order_by("group__position", "position")
    )
    if request.htmx:
        response = render(
            request,
            "console/components.html#proposals-result",
            {
                "c": component,
                "changed": changed,
                "error": error,
                "skipped": not changed and not error,
                **_list_context(request),
            },
            status=400 if error else 200,
        )
        response["Vary"] = "HX-Request"
        return response
    if error:
        messages.error(request, error)
    elif changed:
        messages.success(
            request, "Changed: " + ", ".join(f"{c.name} ({c.get_status_display()})" for c in changed)
        )
    else:
        messages.info(request, "Dependents left as they are.")
    return redirect("console:components", page_slug=request.page.slug)


# --- One component: its dependencies and blast radius --------------------------------------------------


@member_required(Role.VIEWER)
def component_detail(request: HttpRequest, component_code: str) -> HttpResponse:
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    return _detail(request, component)


def _detail(request: HttpRequest, component: Component, form: DependencyForm | None = None, status=200):
    graph = Graph.load(request.page)
    component = graph.nodes[component.pk]
    radius = graph.blast_radius([component.pk])
    columns: list[list[int]] = [[component.pk]]
    for affected in radius:
        if affected.depth == len(columns):
            columns.append([])
        columns[affected.depth].append(affected.component.pk)
    base = reverse("console:components", kwargs={"page_slug": request.page.slug})
    svg = diagram.draw(
        graph,
        columns,
        href=lambda c: f"{base}{c.code}/",
        title=f"Blast radius of {component.name}",
        highlight=component.pk,
    )
    candidates = list(graph.nodes.values())
    context = {
        "component": component,
        "upstream": graph.upstream(component.pk),
        "downstream": graph.downstream(component.pk),
        "radius": radius,
        "svg": svg,
        "form": form or DependencyForm(component=component, candidates=candidates),
        "can_edit": request.membership.role != Role.VIEWER,
    }
    return render(request, "console/component_detail.html", context, status=status)


@require_POST
@member_required(Role.COMMANDER)
def dependency_add(request: HttpRequest, component_code: str) -> HttpResponse:
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    candidates = list(Component.objects.for_page(request.page).order_by("position", "id"))
    form = DependencyForm(request.POST, component=component, candidates=candidates)
    if form.is_valid():
        dependent, upstream = form.edge()
        try:
            add_dependency(
                actor=Actor.of(request.user),
                component=dependent,
                depends_on=upstream,
                kind=form.cleaned_data["kind"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error("kind" if field == "kind" else "other", errors)
        else:
            messages.success(request, f"{dependent.name} now depends on {upstream.name}.")
            return redirect("console:component", page_slug=request.page.slug, component_code=component.code)
    return _detail(request, component, form=form, status=400)


@require_POST
@member_required(Role.COMMANDER)
def dependency_remove(request: HttpRequest, component_code: str) -> HttpResponse:
    """Remove the dependency on (`direction=upstream`) or of (`downstream`) the component `other`."""
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    other = Component.objects.for_page(request.page).filter(code=request.POST.get("other", "")).first()
    if other is None:
        messages.error(request, "Choose a dependency to remove.")
        return _detail(request, component, status=400)
    if request.POST.get("direction") == DependencyForm.DOWNSTREAM:
        dependent, upstream = other, component
    else:
        dependent, upstream = component, other
    if remove_dependency(actor=Actor.of(request.user), component=dependent, depends_on=upstream):
        messages.success(request, f"{dependent.name} no longer depends on {upstream.name}.")
    return redirect("console:component", page_slug=request.page.slug, component_code=component.code)


# --- The whole page ----------------------------------------------------------------------------------------


@member_required(Role.VIEWER)
def dependency_graph(request: HttpRequest) -> HttpResponse:
    """Every component and dependency of the page in one drawing and one table: a fixed number of queries
    (the graph loads in two) whatever the page's size."""
    graph = Graph.load(request.page)
    base = reverse("console:components", kwargs={"page_slug": request.page.slug})
    svg = diagram.draw(
        graph,
        graph.layers(),
        href=lambda c: f"{base}{c.code}/",
        title=f"Dependencies of {request.page.name}",
    )
    # Each row's upstreams are joined here (names escaped once), not in a template loop: 10,000 on a big page.
    names = {pk: escape(c.name) for pk, c in graph.nodes.items()}
    soft = {DependencyKind.HARD: "", DependencyKind.SOFT: " (soft)"}
    rows = [
        (c, mark_safe(", ".join(names[u] + soft[k] for u, k in graph.up[c.pk])), len(graph.down[c.pk]))  # noqa: S308
        for c in sorted(graph.nodes.values(), key=lambda c: graph.rank[c.pk])
    ]
    edges = sum(len(links) for links in graph.up.values())
    return render(
        request,
        "console/dependencies.html",
        {"svg": svg, "rows": rows, "edge_count": edges, "component_count": len(graph.nodes)},
    )
