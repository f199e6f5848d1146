"""The console's own pages: home, dashboard, page settings, team, audit log, Markdown preview, sign-up.
Thin adapters: parse, check the role (statuspage.permissions), call a selector or service, render."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from components.models import Component, ComponentStatus
from components.services import create_component
from incidents import cadence
from incidents.models import Incident
from statuspage import audit
from statuspage.clients import client_address
from statuspage.csv_export import csv_response
from statuspage.markdown import render_markdown
from statuspage.models import APIKey, AuditEvent, Membership, Page, Role
from statuspage.permissions import member_required
from statuspage.services import (
    Actor,
    change_role,
    create_api_key,
    create_page,
    invite_member,
    remove_member,
    revoke_api_key,
    update_page,
)
from subscribers.selectors import delivery_health


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form: field errors on their fields, the rest on top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    pages = list(Page.objects.for_user(request.user).order_by("name"))
    if len(pages) == 1:
        return redirect("console:dashboard", page_slug=pages[0].slug)
    return render(request, "console/home.html", {"pages": pages, "signup": settings.ALLOW_SIGNUP})


@member_required(Role.VIEWER)
def dashboard(request: HttpRequest) -> HttpResponse:
    page = request.page
    now = timezone.now()
    incidents = list(
        Incident.objects.for_page(page)
        .open()
        .select_related("commander", "page")
        .order_by("next_update_due_at")
    )
    for incident in incidents:
        incident.due = cadence.due_state(incident, now)
    components = list(
        Component.objects.for_page(page).select_related("group").order_by("group__position", "position")
    )
    context = {
        "incidents": incidents,
        "components": components,
        "statuses": ComponentStatus.choices,
        "maintenances": Incident.objects.for_page(page).upcoming().order_by("scheduled_for")[:5],
        "active_maintenances": Incident.objects.for_page(page).active_maintenances(),
        "activity": AuditEvent.objects.for_page(page).select_related("actor")[:12],
        "open_incidents": incidents,
        "now": now,
        "delivery": delivery_health(page, since=now - timedelta(hours=24)),
    }
    if request.htmx and request.GET.get("fragment") == "incidents":
        return render(request, "console/dashboard.html#open-incidents", context)
    return render(request, "console/dashboard.html", context)


def _https_urls(field, **kwargs):
    """Addresses typed without a scheme are taken as https:// (Django 6's default, chosen now)."""
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


class PageSettingsForm(forms.ModelForm):
    class Meta:
        model = Page
        formfield_callback = _https_urls
        fields = [
            "name",
            "slug",
            "headline",
            "time_zone",
            "custom_domain",
            "brand_colour",
            "support_url",
            "homepage_url",
            "update_cadence_minutes",
            "monitoring_cadence_minutes",
            "reminder_lead_minutes",
            "show_next_update",
            "escalation_webhook_url",
            "incidents_raise_indicator",
            "propagate_dependencies",
            "require_change_approval",
            "require_two_factor",
            "visibility",
            "allowed_ip_ranges",
            "allowed_viewer_emails",
        ]
        widgets = {
            "allowed_ip_ranges": forms.Textarea(attrs={"rows": 3}),
            "allowed_viewer_emails": forms.Textarea(attrs={"rows": 3}),
        }


@member_required(Role.OWNER)
def page_settings(request: HttpRequest) -> HttpResponse:
    page = request.page
    form = PageSettingsForm(request.POST or None, instance=Page.objects.get(pk=page.pk))
    if request.method == "POST" and form.is_valid():
        try:
            fields = {k: v for k, v in form.cleaned_data.items()}
            fields["custom_domain"] = fields["custom_domain"] or None
            page = update_page(actor=Actor.of(request.user), page=page, **fields)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("console:settings", page_slug=page.slug)
    return render(request, "console/settings.html", {"form": form})


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.COMMANDER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


@member_required(Role.OWNER)
def team(request: HttpRequest) -> HttpResponse:
    page = request.page
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invite_member(actor=Actor.of(request.user), page=page, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Invited {form.cleaned_data['email']}.")
            return redirect("console:team", page_slug=page.slug)
    members = Membership.objects.filter(page=page).select_related("user").order_by("user__username")
    return render(request, "console/team.html", {"form": form, "members": members, "roles": Role.choices})


@require_POST
@member_required(Role.OWNER)
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=member_id, page=request.page)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Choose a role.")
        if request.POST.get("remove"):
            remove_member(actor=Actor.of(request.user), membership=membership)
            messages.success(request, f"Removed {membership.user.get_username()}.")
        else:
            change_role(actor=Actor.of(request.user), membership=membership, role=form.cleaned_data["role"])
            messages.success(request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("console:team", page_slug=request.page.slug)


@member_required(Role.VIEWER)
def audit_log(request: HttpRequest) -> HttpResponse:
    events = audit.filtered(request.page, request.GET).select_related("actor")
    person, kind, obj = (
        request.GET.get("person", ""),
        request.GET.get("type", ""),
        request.GET.get("object", ""),
    )
    paginator = Paginator(events, 50)
    page_obj = paginator.get_page(request.GET.get("page"))
    base = AuditEvent.objects.for_page(request.page)
    return render(
        request,
        "console/audit.html",
        {
            "events": page_obj,
            "people": base.values_list("actor_label", flat=True).distinct().order_by("actor_label"),
            "types": base.values_list("object_type", flat=True).distinct().order_by("object_type"),
            "filters": {
                "person": person,
                "type": kind,
                "object": obj,
                "from": request.GET.get("from", ""),
                "to": request.GET.get("to", ""),
            },
        },
    )


@member_required(Role.OWNER)
def audit_export(request: HttpRequest) -> HttpResponse:
    """The audit log as CSV, with the page's filters, streamed (owners only: it names everyone's actions)."""
    stamp = timezone.now().strftime("%Y%m%dT%H%MZ")
    rows = audit.export_rows(request.page, request.GET.dict())
    return csv_response(rows, f"{request.page.slug}-audit-{stamp}.csv")


@require_POST
@member_required(Role.VIEWER)
def preview(request: HttpRequest) -> HttpResponse:
    """Live Markdown preview for the console's text areas (htmx)."""
    field = request.POST.get("body_field", "body")
    text = request.POST.get(field, "")[:100_000]
    return HttpResponse(render_markdown(text) or "<p class='muted'>Nothing to preview.</p>")


class SignupForm(UserCreationForm):
    email = forms.EmailField()
    page_name = forms.CharField(label="Status page name", max_length=100)
    page_slug = forms.SlugField(
        label="Address", max_length=63, help_text="Lowercase letters, digits and hyphens."
    )
    time_zone = forms.CharField(initial="Etc/UTC", max_length=64)
    components = forms.CharField(
        label="First components",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, e.g. API, Dashboard, Website.",
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


def signup(request: HttpRequest) -> HttpResponse:
    """Open sign-up (ALLOW_SIGNUP): an account and a page in one step."""
    if not settings.ALLOW_SIGNUP:
        raise Http404("Sign-up is closed on this installation.")
    from subscribers import ratelimit

    form = SignupForm(request.POST or None, initial={"time_zone": settings.DEFAULT_PAGE_TIME_ZONE})
    if request.method == "POST":
        try:
            ratelimit.check_account_sign_up(ip=client_address(request))
            if form.is_valid():
                ratelimit.check_account_sign_up(ip=client_address(request), email=form.cleaned_data["email"])
        except ratelimit.RateLimited as exc:
            form.add_error(None, str(exc))
            return render(request, "console/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
                actor = Actor.of(user)
                page = create_page(
                    actor=actor,
                    name=form.cleaned_data["page_name"],
                    slug=form.cleaned_data["page_slug"],
                    time_zone=form.cleaned_data["time_zone"],
                    owner=user,
                )
                for line in form.cleaned_data["components"].splitlines():
                    if line.strip():
                        create_component(actor=actor, page=page, name=line.strip()[:100])
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
            mapping = {"name": "page_name", "slug": "page_slug", "time_zone": "time_zone"}
            for field, msgs in errors.items():
                form.add_error(mapping.get(field), msgs)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"{page.name} is ready. Open your first incident when you need to.")
            return redirect("console:dashboard", page_slug=page.slug)
    return render(request, "console/signup.html", {"form": form})


class APIKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “deploy pipeline”.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.COMMANDER)
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        help_text="Optional, in the page's time zone (YYYY-MM-DD HH:MM).",
    )


@member_required(Role.OWNER)
def api_keys(request: HttpRequest) -> HttpResponse:
    """Keys for the management API: made here with a role, shown once, revocable."""
    page = request.page
    form = APIKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            key, new_key = create_api_key(actor=Actor.of(request.user), page=page, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Key “{key.name}” created. Copy it now: it is not shown again.")
            form = APIKeyForm()
    keys = APIKey.objects.for_page(page).select_related("created_by")
    return render(
        request,
        "console/api_keys.html",
        {
            "form": form,
            "keys": keys,
            "new_key": new_key,
            "api_base": f"{settings.SITE_URL}/api/v1/pages/{page.code}",
        },
    )


@require_POST
@member_required(Role.OWNER)
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = get_object_or_404(APIKey, pk=key_id, page=request.page)
    revoke_api_key(actor=Actor.of(request.user), key=key)
    messages.success(request, f"Key “{key.name}” ({key.prefix}…) revoked.")
    return redirect("console:api_keys", page_slug=request.page.slug)
