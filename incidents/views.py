"""Console views for running incidents: open, update, correct, hand over, postmortem, backfill, templates,
cadence reports. Thin adapters over incidents.services."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from incidents import cadence
from incidents.forms import (
    BackfillForm,
    EditUpdateForm,
    HandoverForm,
    IncidentForm,
    PostmortemForm,
    TemplateForm,
    UpdateForm,
)
from incidents.models import Incident, IncidentStatus, IncidentTemplate, IncidentUpdate, Postmortem
from incidents.services import (
    DEFAULT_BODIES,
    change_commander,
    create_incident,
    delete_template,
    edit_update,
    post_update,
    publish_postmortem,
    render_template_text,
    save_postmortem,
    save_template,
    unpublish_postmortem,
)
from statuspage.console_views import apply_errors
from statuspage.models import AuditEvent, Role
from statuspage.permissions import member_required
from statuspage.services import Actor


def _incident(request: HttpRequest, code: str) -> Incident:
    return get_object_or_404(
        Incident.objects.for_page(request.page).select_related("commander", "page"), code=code
    )


@member_required(Role.VIEWER)
def incident_list(request: HttpRequest) -> HttpResponse:
    qs = Incident.objects.for_page(request.page).select_related("commander")
    return render(
        request,
        "console/incidents.html",
        {
            "open": qs.open().order_by("-started_at"),
            "maintenances": qs.filter(kind="maintenance")
            .exclude(status="completed")
            .order_by("scheduled_for"),
            "recent": qs.incidents().filter(status=IncidentStatus.RESOLVED).order_by("-started_at")[:50],
            "templates": IncidentTemplate.objects.filter(page=request.page),
        },
    )


@member_required(Role.COMMANDER)
def incident_new(request: HttpRequest) -> HttpResponse:
    page = request.page
    template = None
    if code := request.GET.get("template"):
        template = get_object_or_404(IncidentTemplate, page=page, code=code)
    form = IncidentForm(request.POST or None, page=page, user=request.user, template=template)
    if template is not None and request.method != "POST":
        form.initial.update(
            name=render_template_text(template.title, page=page),
            body=render_template_text(template.body, page=page),
        )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = create_incident(
                actor=Actor.of(request.user),
                page=page,
                name=data["name"],
                body=data["body"],
                status=data["status"],
                components=form.component_statuses(),
                impact_override=data["impact_override"],
                commander=form.commander_user(),
                deliver_notifications=data["deliver_notifications"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(
                request, f"Incident opened. The next update is due in {page.update_cadence_minutes} minutes."
            )
            return redirect("console:incident", page_slug=page.slug, code=incident.code)
    return render(
        request,
        "console/incident_new.html",
        {
            "form": form,
            "template": template,
            "templates": IncidentTemplate.objects.filter(page=page),
            "defaults": DEFAULT_BODIES,
        },
    )


@member_required(Role.COMMANDER)
def incident_backfill(request: HttpRequest) -> HttpResponse:
    page = request.page
    form = BackfillForm(request.POST or None, page=page)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = Actor.of(request.user)
        try:
            from django.db import transaction

            with transaction.atomic():
                incident = create_incident(
                    actor=actor,
                    page=page,
                    name=data["name"],
                    body=data["body"],
                    status="investigating",
                    components=form.component_statuses(),
                    backfilled=True,
                    deliver_notifications=False,
                    at=data["started_at"],
                )
                post_update(
                    actor=actor,
                    incident=incident,
                    status="resolved",
                    deliver_notifications=False,
                    components={c: "operational" for c in form.component_statuses()},
                    at=data["resolved_at"],
                )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Backfilled. Nobody was notified.")
            return redirect("console:incident", page_slug=page.slug, code=incident.code)
    return render(request, "console/incident_backfill.html", {"form": form})


@member_required(Role.VIEWER)
def incident_detail(request: HttpRequest, code: str) -> HttpResponse:
    incident = _incident(request, code)
    form = UpdateForm(incident=incident)
    return _render_detail(request, incident, form)


def _render_detail(request, incident, form, status=200):
    page = request.page
    updates = incident.updates.select_related("author").prefetch_related("component_changes__component")
    log = AuditEvent.objects.for_page(page).filter(object_id=incident.code).select_related("actor")
    return render(
        request,
        "console/incident.html",
        {
            "incident": incident,
            "updates": updates,
            "form": form,
            "handover": HandoverForm(page=page, initial={"commander": incident.commander_id}),
            "log": log,
            "report": cadence.report(incident),
            "due": cadence.due_state(incident, timezone.now()),
            "defaults": DEFAULT_BODIES,
            "can_edit": request.membership.role in (Role.OWNER, Role.COMMANDER),
        },
        status=status,
    )


@require_POST
@member_required(Role.COMMANDER)
def incident_update(request: HttpRequest, code: str) -> HttpResponse:
    incident = _incident(request, code)
    form = UpdateForm(request.POST, incident=incident)
    if form.is_valid():
        data = form.cleaned_data
        try:
            post_update(
                actor=Actor.of(request.user),
                incident=incident,
                status=data["status"],
                body=data["body"],
                components=form.component_statuses(),
                deliver_notifications=data["deliver_notifications"],
                seen_update=data["seen_update"] or None,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            incident.refresh_from_db()
            if request.htmx:
                response = _render_detail(request, incident, UpdateForm(incident=incident))
                response["HX-Trigger"] = "update-posted"
                return response
            messages.success(request, "Update posted.")
            return redirect("console:incident", page_slug=request.page.slug, code=incident.code)
    return _render_detail(request, incident, form, status=400)


@member_required(Role.COMMANDER)
def update_edit(request: HttpRequest, code: str, update_code: str) -> HttpResponse:
    incident = _incident(request, code)
    update = get_object_or_404(IncidentUpdate, incident=incident, code=update_code)
    local = timezone.localtime(update.display_at, request.page.tz).replace(tzinfo=None)
    form = EditUpdateForm(request.POST or None, initial={"body": update.body, "display_at": local})
    if request.method == "POST" and form.is_valid():
        display_at = timezone.make_aware(
            form.cleaned_data["display_at"].replace(tzinfo=None), request.page.tz
        )
        try:
            edit_update(
                actor=Actor.of(request.user),
                update=update,
                body=form.cleaned_data["body"],
                display_at=display_at,
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Update corrected.")
            return redirect("console:incident", page_slug=request.page.slug, code=incident.code)
    return render(request, "console/update_edit.html", {"incident": incident, "update": update, "form": form})


@require_POST
@member_required(Role.COMMANDER)
def incident_handover(request: HttpRequest, code: str) -> HttpResponse:
    incident = _incident(request, code)
    form = HandoverForm(request.POST, page=request.page)
    try:
        if not form.is_valid():
            raise ValidationError("Choose an owner or commander of this page.")
        change_commander(actor=Actor.of(request.user), incident=incident, commander=form.commander_user())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{form.commander_user().get_username()} is now the incident commander.")
    return redirect("console:incident", page_slug=request.page.slug, code=incident.code)


@member_required(Role.COMMANDER)
def postmortem(request: HttpRequest, code: str) -> HttpResponse:
    incident = _incident(request, code)
    existing = Postmortem.objects.filter(incident=incident).first()
    form = PostmortemForm(request.POST or None, initial={"body": existing.body if existing else ""})
    actor = Actor.of(request.user)
    if request.method == "POST":
        action = request.POST.get("action", "save")
        try:
            if action == "unpublish":
                unpublish_postmortem(actor=actor, incident=incident)
                messages.success(request, "Postmortem taken off the public page; it is a draft again.")
                return redirect("console:postmortem", page_slug=request.page.slug, code=incident.code)
            if form.is_valid():
                save_postmortem(actor=actor, incident=incident, body=form.cleaned_data["body"])
                if action == "publish":
                    publish_postmortem(actor=actor, incident=incident, notify=form.cleaned_data["notify"])
                    messages.success(request, "Postmortem published.")
                else:
                    messages.success(request, "Draft saved.")
                return redirect("console:postmortem", page_slug=request.page.slug, code=incident.code)
        except ValidationError as exc:
            apply_errors(form, exc)
    return render(
        request, "console/postmortem.html", {"incident": incident, "form": form, "postmortem": existing}
    )


@member_required(Role.VIEWER)
def templates_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/templates.html",
        {
            "templates": IncidentTemplate.objects.filter(page=request.page).prefetch_related("components"),
        },
    )


@member_required(Role.COMMANDER)
def template_edit(request: HttpRequest, template_code: str | None = None) -> HttpResponse:
    template = None
    if template_code:
        template = get_object_or_404(IncidentTemplate, page=request.page, code=template_code)
    form = TemplateForm(request.POST or None, instance=template, page=request.page)
    if request.method == "POST":
        if request.POST.get("delete") and template is not None:
            delete_template(actor=Actor.of(request.user), template=template)
            messages.success(request, "Template deleted.")
            return redirect("console:templates", page_slug=request.page.slug)
        if form.is_valid():
            data = dict(form.cleaned_data)
            components = data.pop("components")
            try:
                save_template(
                    actor=Actor.of(request.user),
                    page=request.page,
                    template=template,
                    components=list(components),
                    **data,
                )
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, "Template saved.")
                return redirect("console:templates", page_slug=request.page.slug)
    return render(request, "console/template_edit.html", {"form": form, "template": template})


@member_required(Role.VIEWER)
def cadence_report(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        days = max(1, min(366, int(request.GET.get("days", "30"))))
    except ValueError:
        days = 30
    report = cadence.page_report(request.page, since=now - timedelta(days=days), until=now, now=now)
    return render(request, "console/cadence_report.html", {"report": report, "days": days})
