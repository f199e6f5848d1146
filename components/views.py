"""Console views for components: the list and inline status changes (htmx)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from components.models import Component, ComponentStatus
from components.services import set_component_status
from incidents.models import Incident
from incidents.services import set_status_for_incident
from statuspage.models import Role
from statuspage.permissions import member_required
from statuspage.services import Actor


@member_required(Role.VIEWER)
def component_list(request: HttpRequest) -> HttpResponse:
    components = (
        Component.objects.for_page(request.page)
        .select_related("group")
        .order_by("group__position", "position")
    )
    return render(
        request,
        "console/components.html",
        {
            "components": components,
            "statuses": ComponentStatus.choices,
            "open_incidents": Incident.objects.for_page(request.page).open(),
        },
    )


@require_POST
@member_required(Role.COMMANDER)
def component_status(request: HttpRequest, component_code: str) -> HttpResponse:
    component = get_object_or_404(Component.objects.for_page(request.page), code=component_code)
    status = request.POST.get("status", "")
    incident_code = request.POST.get("incident", "")
    error = None
    try:
        if status not in ComponentStatus.values:
            raise ValidationError({"status": "Choose a status."})
        if incident_code:
            incident = get_object_or_404(Incident.objects.for_page(request.page), code=incident_code)
            set_status_for_incident(
                actor=Actor.of(request.user), incident=incident, component=component, status=status
            )
        else:
            set_component_status(actor=Actor.of(request.user), component=component, status=status)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    component.refresh_from_db()
    if request.htmx:
        return render(
            request,
            "console/components.html#component-row",
            {
                "c": component,
                "statuses": ComponentStatus.choices,
                "error": error,
                "open_incidents": Incident.objects.for_page(request.page).open(),
            },
            status=400 if error else 200,
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{component.name} is now {component.get_status_display()}.")
    home = f"/console/{request.page.slug}/"
    back = request.POST.get("next", "")
    return redirect(back if back.startswith(home) else home + "components/")
