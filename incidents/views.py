"""Console views for running incidents: open, update, correct, hand over, postmortem, backfill, templates,
cadence reports; scheduled maintenance and change review; and the public maintenance calendar feeds.
Thin adapters over incidents.services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.http import require_GET, require_POST

from components.models import Component
from incidents import cadence, selectors
from incidents.forms import (
    BackfillForm,
    ChangeRecordForm,
    EditUpdateForm,
    ExtendForm,
    HandoverForm,
    IncidentForm,
    MaintenanceEditForm,
    MaintenanceForm,
    MaintenanceStepForm,
    MaintenanceUpdateForm,
    PostmortemForm,
    RescheduleForm,
    ReviewForm,
    TemplateForm,
    UpdateForm,
)
from incidents.models import (
    ChangeRecord,
    Incident,
    IncidentStatus,
    IncidentTemplate,
    IncidentUpdate,
    MaintenanceSeries,
    MaintenanceStatus,
    Postmortem,
    ReviewState,
)
from incidents.services import (
    DEFAULT_BODIES,
    approve_change,
    cancel_maintenance,
    change_commander,
    complete_change_record,
    complete_maintenance,
    create_change_record,
    create_incident,
    create_maintenance_series,
    delete_template,
    edit_maintenance,
    edit_update,
    extend_maintenance,
    post_update,
    publish_postmortem,
    reject_change,
    render_template_text,
    reschedule_maintenance,
    save_postmortem,
    save_template,
    schedule_maintenance,
    start_maintenance,
    stop_maintenance_series,
    submit_change_record,
    unpublish_postmortem,
    update_change_record,
)
from incidents.services.maintenance import approval_blocks
from statuspage.console_views import apply_errors
from statuspage.models import AuditEvent, Page, Role
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
            "maintenances": qs.filter(kind="maintenance", cancelled_at__isnull=True)
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
    if incident.is_maintenance:
        return redirect(
            "console:maintenance_detail", page_slug=request.page.slug, maintenance_code=incident.code
        )
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


# --- Public: the maintenance calendar feeds -----------------------------------------------------------


@require_GET
def public_calendar(request: HttpRequest, slug: str | None = None, code: str | None = None) -> HttpResponse:
    """/maintenance.ics and /components/<code>/maintenance.ics: rendered once per published version of the
    page and kept in its snapshot beside the other public documents (the next publish, after any write,
    starts a new version), so a calendar app polling it costs no query."""
    from statuspage import views as public_views

    if code is not None and not public_views.IDENTIFIER.match(code):
        return public_views.not_found(request)
    page_code = public_views.resolve_page_code(request, slug)
    doc = _calendar_document(page_code, code) if page_code else None
    if doc is None:
        return public_views.not_found(request)
    if doc.etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(doc.body, content_type=doc.content_type)
    response["ETag"] = doc.etag
    response["Last-Modified"] = http_date(doc.last_modified)
    response["Cache-Control"] = "public, max-age=300, stale-if-error=86400"
    response["Content-Disposition"] = 'inline; filename="maintenance.ics"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _calendar_document(page_code: str, component_code: str | None):
    from incidents import ical
    from statuspage import publishing, snapshots
    from statuspage.snapshots import Document

    manifest = snapshots.read_manifest(page_code)
    if manifest is None:
        page_id = Page.objects.filter(code=page_code).values_list("pk", flat=True).first()
        manifest = publishing.publish_page(page_id) if page_id is not None else None
        if manifest is None:
            return None
    name = "maintenance.ics" if component_code is None else f"components/{component_code}/maintenance.ics"
    version = manifest["version"]
    doc = snapshots.read_document(page_code, version, name)
    if doc is not None:
        return doc
    page = Page.objects.filter(code=page_code).first()
    if page is None:
        return None
    component = None
    if component_code is not None:
        component = Component.objects.for_page(page).public().filter(code=component_code).first()
        if component is None:
            return None
    now = timezone.now()
    body = ical.render(
        page, selectors.calendar_maintenances(page, now=now, component=component), component=component
    )
    published = datetime.fromisoformat(manifest["published_at"]) if manifest.get("published_at") else now
    doc = Document.make(body, ical.CONTENT_TYPE, published.timestamp())
    snapshots.write_document(page_code, version, name, doc)
    return doc


# --- Console: scheduled maintenance ---------------------------------------------------------------------


def _maintenance(request: HttpRequest, code: str) -> Incident:
    incident = selectors.maintenance_detail(request.page, code)
    if incident is None:
        raise Http404("No such maintenance")
    return incident


def _calendar_urls(page) -> dict:
    url = f"{page.public_url}maintenance.ics"
    return {"ics_url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


@member_required(Role.VIEWER)
def maintenance_list(request: HttpRequest) -> HttpResponse:
    page = request.page
    overview = selectors.maintenance_overview(page, now=timezone.now())
    return render(
        request,
        "console/maintenance.html",
        {
            **overview,
            "series": MaintenanceSeries.objects.for_page(page).active().prefetch_related("components"),
            "pending_changes": ChangeRecord.objects.for_page(page).filter(state=ReviewState.PENDING).count(),
            "can_edit": request.membership.role != Role.VIEWER,
            **_calendar_urls(page),
        },
    )


@member_required(Role.COMMANDER)
def maintenance_new(request: HttpRequest) -> HttpResponse:
    page = request.page
    form = MaintenanceForm(request.POST or None, page=page)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = Actor.of(request.user)
        common = {
            "actor": actor,
            "page": page,
            "name": data["name"],
            "body": data["body"],
            "components": list(data["components"]),
            "reminders": data["reminders"],
            "auto_start": data["auto_start"],
            "auto_complete": data["auto_complete"],
        }
        try:
            recurrence = data.get("recurrence")
            if recurrence:
                series = create_maintenance_series(
                    **common,
                    first_start=data["scheduled_for"],
                    first_end=data["scheduled_until"],
                    frequency="weekly" if recurrence == "weekly" else "monthly",
                    interval=data.get("interval") or 1,
                    weekdays=data.get("weekdays") or None,
                    month_week=data.get("month_week") if recurrence == "monthly_weekday" else None,
                    until=data.get("until"),
                    announce=data["deliver_notifications"],
                )
            else:
                incident = schedule_maintenance(
                    **common,
                    scheduled_for=data["scheduled_for"],
                    scheduled_until=data["scheduled_until"],
                    deliver_notifications=data["deliver_notifications"],
                    notify_at_start=data["notify_at_start"],
                    notify_at_end=data["notify_at_end"],
                )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            if recurrence:
                messages.success(request, "Recurring maintenance scheduled.")
                return redirect("console:maintenance_series", page_slug=page.slug, series_code=series.code)
            if incident.published_at is None:
                messages.success(
                    request, "Maintenance scheduled. It goes public once another owner approves it."
                )
            else:
                messages.success(request, "Maintenance scheduled.")
            return redirect("console:maintenance_detail", page_slug=page.slug, maintenance_code=incident.code)
    return render(request, "console/maintenance_new.html", {"form": form})


@member_required(Role.VIEWER)
def maintenance_detail(request: HttpRequest, maintenance_code: str) -> HttpResponse:
    return _render_maintenance(request, _maintenance(request, maintenance_code))


def _render_maintenance(request, incident: Incident, forms: dict | None = None, status: int = 200):
    page = request.page
    forms = forms or {}
    local = {
        "scheduled_for": timezone.localtime(incident.scheduled_for, page.tz).replace(tzinfo=None),
        "scheduled_until": timezone.localtime(incident.scheduled_until, page.tz).replace(tzinfo=None),
    }
    components = list(incident.components.all())
    context = {
        "incident": incident,
        "components": components,
        "impact": selectors.potential_impact(page, components),
        "updates": incident.updates.select_related("author").prefetch_related("component_changes__component"),
        "notices": incident.maintenance_notices.order_by("created_at", "id"),
        "log": AuditEvent.objects.for_page(page).filter(object_id=incident.code).select_related("actor"),
        "approval_required": page.require_change_approval,
        "blocked": approval_blocks(incident),
        "can_edit": request.membership.role != Role.VIEWER,
        "can_review": request.membership.role == Role.OWNER and incident.created_by_id != request.user.pk,
        "reviewable": incident.status == MaintenanceStatus.SCHEDULED and incident.cancelled_at is None,
        "edit_form": forms.get("edit") or MaintenanceEditForm(incident=incident),
        "reschedule_form": forms.get("reschedule") or RescheduleForm(initial=local),
        "extend_form": forms.get("extend")
        or ExtendForm(initial={"scheduled_until": local["scheduled_until"]}),
        "step_form": forms.get("step") or MaintenanceStepForm(),
        "update_form": forms.get("update") or MaintenanceUpdateForm(incident=incident),
        "review_form": forms.get("review") or ReviewForm(),
        **_calendar_urls(page),
    }
    return render(request, "console/maintenance_detail.html", context, status=status)


MAINTENANCE_ACTIONS = ("start", "complete", "cancel", "extend", "reschedule", "edit", "update")


@require_POST
@member_required(Role.COMMANDER)
def maintenance_action(request: HttpRequest, maintenance_code: str, action: str) -> HttpResponse:
    """Start, complete, cancel, extend, reschedule, edit, or post an update; a form error re-renders the
    page with the form's messages (400)."""
    if action not in MAINTENANCE_ACTIONS:
        raise Http404("No such action")
    incident = _maintenance(request, maintenance_code)
    actor = Actor.of(request.user)
    if action in ("start", "complete", "cancel"):
        key, form = "step", MaintenanceStepForm(request.POST)
    elif action == "extend":
        key, form = "extend", ExtendForm(request.POST)
    elif action == "reschedule":
        key, form = "reschedule", RescheduleForm(request.POST)
    elif action == "edit":
        key, form = "edit", MaintenanceEditForm(request.POST, incident=incident)
    else:
        key, form = "update", MaintenanceUpdateForm(request.POST, incident=incident)
    if form.is_valid():
        data = form.cleaned_data
        notify = data.get("deliver_notifications", True)
        try:
            if action == "start":
                start_maintenance(
                    actor=actor, incident=incident, body=data["body"], deliver_notifications=notify
                )
                done = "Maintenance started: its components are under maintenance."
            elif action == "complete":
                complete_maintenance(
                    actor=actor, incident=incident, body=data["body"], deliver_notifications=notify
                )
                done = "Maintenance completed: its components are back to their status before."
            elif action == "cancel":
                cancel_maintenance(actor=actor, incident=incident, body=data["body"])
                done = "Maintenance cancelled. It left the public page."
            elif action == "extend":
                extend_maintenance(
                    actor=actor,
                    incident=incident,
                    scheduled_until=data["scheduled_until"],
                    body=data["body"],
                    deliver_notifications=notify,
                )
                done = "Window extended."
            elif action == "reschedule":
                reschedule_maintenance(
                    actor=actor,
                    incident=incident,
                    scheduled_for=data["scheduled_for"],
                    scheduled_until=data["scheduled_until"],
                    body=data["body"],
                    deliver_notifications=notify,
                )
                done = "Maintenance rescheduled; its reminders are set for the new time."
            elif action == "edit":
                edit_maintenance(
                    actor=actor,
                    incident=incident,
                    name=data["name"],
                    components=list(data["components"]),
                    reminders=data["reminders"],
                    auto_start=data["auto_start"],
                    auto_complete=data["auto_complete"],
                    notify_at_start=data["notify_at_start"],
                    notify_at_end=data["notify_at_end"],
                )
                done = "Maintenance saved."
            else:
                post_update(
                    actor=actor,
                    incident=incident,
                    status=data["status"],
                    body=data["body"],
                    deliver_notifications=notify,
                )
                done = "Update posted."
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect(
                "console:maintenance_detail", page_slug=request.page.slug, maintenance_code=incident.code
            )
    incident = _maintenance(request, maintenance_code)
    return _render_maintenance(request, incident, {key: form}, status=400)


def _review(request: HttpRequest, target) -> tuple[ReviewForm, bool]:
    """Approve or reject `target` from a ReviewForm; returns the form and whether it was done."""
    form = ReviewForm(request.POST)
    if not form.is_valid():
        return form, False
    data = form.cleaned_data
    actor = Actor.of(request.user)
    try:
        if data["decision"] == "approve":
            approve_change(actor=actor, target=target, comment=data["comment"])
            messages.success(request, "Approved.")
        else:
            reject_change(actor=actor, target=target, comment=data["comment"])
            messages.success(request, "Rejected.")
    except PermissionDenied as exc:
        form.add_error(None, str(exc))
        return form, False
    except ValidationError as exc:
        apply_errors(form, exc)
        return form, False
    return form, True


@require_POST
@member_required(Role.OWNER)
def maintenance_review(request: HttpRequest, maintenance_code: str) -> HttpResponse:
    incident = _maintenance(request, maintenance_code)
    form, done = _review(request, incident)
    if done:
        return redirect(
            "console:maintenance_detail", page_slug=request.page.slug, maintenance_code=incident.code
        )
    return _render_maintenance(request, _maintenance(request, maintenance_code), {"review": form}, status=400)


def _series(request: HttpRequest, code: str) -> MaintenanceSeries:
    return get_object_or_404(
        MaintenanceSeries.objects.for_page(request.page).select_related("page", "created_by", "reviewed_by"),
        code=code,
    )


@member_required(Role.VIEWER)
def series_detail(request: HttpRequest, series_code: str) -> HttpResponse:
    return _render_series(request, _series(request, series_code))


def _render_series(request, series: MaintenanceSeries, review_form=None, status: int = 200):
    from incidents import recurrence

    components = list(series.components.select_related("group"))
    return render(
        request,
        "console/maintenance_series.html",
        {
            "series": series,
            "rule": recurrence.describe(series),
            "components": components,
            "impact": selectors.potential_impact(request.page, components),
            "occurrences": series.occurrences.order_by("scheduled_for")[:60],
            "blocked": approval_blocks(series),
            "approval_required": request.page.require_change_approval,
            "can_edit": request.membership.role != Role.VIEWER,
            "can_review": request.membership.role == Role.OWNER and series.created_by_id != request.user.pk,
            "reviewable": series.stopped_at is None,
            "review_form": review_form or ReviewForm(),
            "log": AuditEvent.objects.for_page(request.page)
            .filter(object_id=series.code)
            .select_related("actor"),
        },
        status=status,
    )


@require_POST
@member_required(Role.COMMANDER)
def series_stop(request: HttpRequest, series_code: str) -> HttpResponse:
    series = _series(request, series_code)
    cancelled = stop_maintenance_series(actor=Actor.of(request.user), series=series)
    messages.success(
        request, f"Series stopped; {cancelled} upcoming window{'s' if cancelled != 1 else ''} cancelled."
    )
    return redirect("console:maintenance_series", page_slug=request.page.slug, series_code=series.code)


@require_POST
@member_required(Role.OWNER)
def series_review(request: HttpRequest, series_code: str) -> HttpResponse:
    series = _series(request, series_code)
    form, done = _review(request, series)
    if done:
        return redirect("console:maintenance_series", page_slug=request.page.slug, series_code=series.code)
    return _render_series(request, _series(request, series_code), form, status=400)


# --- Console: change records ------------------------------------------------------------------------------


def _change(request: HttpRequest, code: str) -> ChangeRecord:
    return get_object_or_404(
        ChangeRecord.objects.for_page(request.page).select_related("page", "created_by", "reviewed_by"),
        code=code,
    )


@member_required(Role.VIEWER)
def change_list(request: HttpRequest) -> HttpResponse:
    changes = (
        ChangeRecord.objects.for_page(request.page)
        .select_related("created_by")
        .prefetch_related("components")
    )
    return render(
        request,
        "console/changes.html",
        {
            "open": [c for c in changes if c.state not in (ReviewState.DONE, ReviewState.REJECTED)],
            "closed": [c for c in changes if c.state in (ReviewState.DONE, ReviewState.REJECTED)][:50],
            "can_edit": request.membership.role != Role.VIEWER,
        },
    )


@member_required(Role.COMMANDER)
def change_new(request: HttpRequest) -> HttpResponse:
    form = ChangeRecordForm(request.POST or None, page=request.page)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            change = create_change_record(
                actor=Actor.of(request.user),
                page=request.page,
                title=data["title"],
                description=data["description"],
                components=list(data["components"]),
                submit=data["submit"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Change recorded.")
            return redirect("console:change_detail", page_slug=request.page.slug, change_code=change.code)
    return render(request, "console/change_new.html", {"form": form})


@member_required(Role.VIEWER)
def change_detail(request: HttpRequest, change_code: str) -> HttpResponse:
    return _render_change(request, _change(request, change_code))


def _render_change(request, change: ChangeRecord, forms: dict | None = None, status: int = 200):
    forms = forms or {}
    components = list(change.components.select_related("group").order_by("position", "id"))
    return render(
        request,
        "console/change_detail.html",
        {
            "change": change,
            "components": components,
            "impact": selectors.potential_impact(request.page, components),
            "blocked": approval_blocks(change),
            "approval_required": request.page.require_change_approval,
            "can_edit": request.membership.role != Role.VIEWER and change.state != ReviewState.DONE,
            "can_review": request.membership.role == Role.OWNER and change.created_by_id != request.user.pk,
            "reviewable": change.state != ReviewState.DONE,
            "edit_form": forms.get("edit") or ChangeRecordForm(page=request.page, change=change),
            "review_form": forms.get("review") or ReviewForm(),
            "log": AuditEvent.objects.for_page(request.page)
            .filter(object_id=change.code)
            .select_related("actor"),
        },
        status=status,
    )


@require_POST
@member_required(Role.COMMANDER)
def change_action(request: HttpRequest, change_code: str, action: str) -> HttpResponse:
    """Edit, submit for approval, or mark done."""
    if action not in ("edit", "submit", "done"):
        raise Http404("No such action")
    change = _change(request, change_code)
    actor = Actor.of(request.user)
    form = ChangeRecordForm(request.POST, page=request.page, change=change) if action == "edit" else None
    try:
        if action == "edit":
            if not form.is_valid():
                return _render_change(request, change, {"edit": form}, status=400)
            data = form.cleaned_data
            update_change_record(
                actor=actor,
                change=change,
                title=data["title"],
                description=data["description"],
                components=list(data["components"]),
            )
            messages.success(request, "Change saved.")
        elif action == "submit":
            submit_change_record(actor=actor, change=change)
            messages.success(request, "Approval requested.")
        else:
            complete_change_record(actor=actor, change=change)
            messages.success(request, "Change marked as done.")
    except ValidationError as exc:
        if form is not None:
            apply_errors(form, exc)
            return _render_change(request, _change(request, change_code), {"edit": form}, status=400)
        messages.error(request, " ".join(exc.messages))
        return _render_change(request, _change(request, change_code), status=400)
    return redirect("console:change_detail", page_slug=request.page.slug, change_code=change.code)


@require_POST
@member_required(Role.OWNER)
def change_review(request: HttpRequest, change_code: str) -> HttpResponse:
    change = _change(request, change_code)
    form, done = _review(request, change)
    if done:
        return redirect("console:change_detail", page_slug=request.page.slug, change_code=change.code)
    return _render_change(request, _change(request, change_code), {"review": form}, status=400)
