"""Public subscription pages: subscribe, confirm, manage, unsubscribe (with RFC 8058 one-click). Thin
adapters over subscribers.services; unlike the status page itself these read the database, which is fine:
they are rare, and a subscriber can wait for a database that is back."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from statuspage.clients import client_address
from statuspage.console_views import apply_errors
from statuspage.csv_export import csv_response
from statuspage.models import Page, Role
from statuspage.permissions import member_required
from statuspage.services import Actor
from statuspage.views import resolve_page_code
from subscribers import delivery as delivery_service
from subscribers import links, ratelimit
from subscribers.forms import ManageForm, SubscribeForm
from subscribers.models import (
    Delivery,
    DeliveryState,
    OutboxEvent,
    Subscriber,
    SubscriberKind,
    SubscriberState,
    WebhookFormat,
)
from subscribers.services import (
    export_rows,
    import_subscribers,
    reactivate,
    remove_subscriber,
    set_components,
    subscribe,
    unsubscribe,
)


def _page(request: HttpRequest, slug: str | None) -> Page:
    code = resolve_page_code(request, slug)
    page = Page.objects.filter(code=code).first() if code else None
    if page is None:
        raise Http404("No such page")
    return page


def _context(page: Page, root: str, **extra) -> dict:
    now = timezone.now()
    return {"page": page, "root": root, "published_at": now, "tz_name": page.time_zone, **extra}


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def subscribe_view(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    page = _page(request, slug)
    form = SubscribeForm(request.POST or None, page=page)
    done = None
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            form.sign_up(ip=client_address(request))
        except ratelimit.RateLimited as exc:
            form.add_error(None, str(exc))
            status = 429
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            done = "webhook" if form.is_webhook else "email"
    if request.method == "POST" and not done and status == 200:
        status = 400
    return _no_store(
        render(request, "public/subscribe.html", _context(page, "", form=form, done=done), status=status)
    )


def _subscriber(page: Page, token: str, purpose: str) -> tuple[Subscriber | None, str]:
    try:
        code = links.read_token(token, purpose)
    except links.BadLink as exc:
        return None, str(exc)
    subscriber = Subscriber.objects.filter(page=page, code=code).first()
    if subscriber is None:
        return None, "This subscription no longer exists."
    return subscriber, ""


def confirm_view(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    from subscribers.services import confirm

    page = _page(request, slug)
    subscriber, error = _subscriber(page, token, "confirm")
    if subscriber is not None:
        subscriber = confirm(subscriber=subscriber)
    context = _context(
        page,
        "../../",
        subscriber=subscriber,
        error=error,
        manage_url=links.url(subscriber, "manage") if subscriber else "",
    )
    return _no_store(
        render(request, "public/subscription_confirmed.html", context, status=400 if error else 200)
    )


@require_http_methods(["GET", "POST"])
def manage_view(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    page = _page(request, slug)
    subscriber, error = _subscriber(page, token, "manage")
    if subscriber is None:
        return _no_store(
            render(
                request, "public/subscription_manage.html", _context(page, "../../", error=error), status=400
            )
        )
    initial = {"components": list(subscriber.components.all())}
    form = ManageForm(request.POST or None, page=page, initial=initial)
    saved = False
    if request.method == "POST":
        if request.POST.get("action") == "unsubscribe":
            subscriber = unsubscribe(subscriber=subscriber)
        elif form.is_valid():
            set_components(subscriber=subscriber, components=form.cleaned_data["components"])
            saved = True
    context = _context(
        page,
        "../../",
        subscriber=subscriber,
        form=form,
        saved=saved,
        unsubscribed=subscriber.state == SubscriberState.UNSUBSCRIBED,
        is_webhook=subscriber.kind == SubscriberKind.WEBHOOK,
    )
    return _no_store(render(request, "public/subscription_manage.html", context))


@csrf_exempt  # RFC 8058: mail clients POST without cookies; the signed token is the credential.
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    page = _page(request, slug)
    subscriber, error = _subscriber(page, token, "unsubscribe")
    if request.method == "POST" and subscriber is not None:
        subscriber = unsubscribe(subscriber=subscriber)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return _no_store(HttpResponse("Unsubscribed.", content_type="text/plain"))
    context = _context(
        page,
        "../../",
        subscriber=subscriber,
        error=error,
        unsubscribed=bool(subscriber and subscriber.state == SubscriberState.UNSUBSCRIBED),
    )
    return _no_store(render(request, "public/unsubscribe.html", context, status=400 if error else 200))


# --- Console ----------------------------------------------------------------------------------------------
# Subscribers are people's addresses: listing and changing them is for commanders and owners.


class AddSubscriberForm(SubscribeForm):
    skip_confirmation = forms.BooleanField(
        required=False,
        label="They already agreed: skip the confirmation email",
        help_text="Recorded in the audit log.",
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="Columns: email or endpoint, components (names or ids, ; between)."
    )
    skip_confirmation = forms.BooleanField(
        required=False, label="They already agreed: skip confirmation emails"
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > 10 * 1024 * 1024:
            raise forms.ValidationError("Files up to 10 MB, please.")
        try:
            return f.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file must be UTF-8 text (CSV).") from None


@member_required(Role.COMMANDER)
def subscriber_list(request: HttpRequest) -> HttpResponse:
    page = request.page
    qs = Subscriber.objects.for_page(page).prefetch_related("components").order_by("-created_at", "-id")
    q, kind, state, component = (request.GET.get(k, "").strip() for k in ("q", "type", "state", "component"))
    if q:
        qs = qs.filter(Q(email__icontains=q) | Q(endpoint__icontains=q))
    if kind in SubscriberKind.values:
        qs = qs.filter(kind=kind)
    if state in SubscriberState.values:
        qs = qs.filter(state=state)
    if component == "all":
        qs = qs.filter(components__isnull=True)
    elif component:
        qs = qs.filter(components__code=component)
    counts = dict(
        Subscriber.objects.for_page(page)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    add_form = AddSubscriberForm(page=page, prefix="add")
    return render(
        request,
        "console/subscribers.html",
        {
            "subscribers": Paginator(qs, 50).get_page(request.GET.get("page")),
            "counts": counts,
            "filters": {"q": q, "type": kind, "state": state, "component": component},
            "components": add_form.fields["components"].queryset,
            "states": SubscriberState.choices,
            "add_form": add_form,
            "import_form": ImportForm(prefix="import"),
        },
    )


@require_POST
@member_required(Role.COMMANDER)
def subscriber_add(request: HttpRequest) -> HttpResponse:
    page = request.page
    form = AddSubscriberForm(request.POST, page=page, prefix="add")
    if form.is_valid():
        data = form.cleaned_data
        webhook = data["kind"] == "webhook"
        try:
            sub = subscribe(
                page=page,
                actor=Actor.of(request.user),
                email=data["failure_email"] if webhook else data["email"],
                endpoint=data["endpoint"] if webhook else "",
                webhook_format=data["webhook_format"] or WebhookFormat.STATUSPAGE,
                components=data["components"],
                skip_confirmation=data["skip_confirmation"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            state = "active" if sub.state == SubscriberState.ACTIVE else "asked to confirm by email"
            messages.success(request, f"{sub.address} added ({state}).")
            return redirect("console:subscribers", page_slug=page.slug)
    for field, errors in form.errors.items():
        messages.error(request, f"{field if field != '__all__' else 'Subscriber'}: {' '.join(errors)}")
    return redirect("console:subscribers", page_slug=page.slug)


@require_POST
@member_required(Role.COMMANDER)
def subscriber_action(request: HttpRequest, subscriber_code: str) -> HttpResponse:
    sub = get_object_or_404(Subscriber.objects.for_page(request.page), code=subscriber_code)
    actor = Actor.of(request.user)
    action = request.POST.get("action")
    try:
        if action == "remove":
            remove_subscriber(subscriber=sub, actor=actor)
            messages.success(request, f"{sub.address} removed.")
        elif action == "reactivate":
            reactivate(subscriber=sub, actor=actor)
            messages.success(request, f"{sub.address} reactivated.")
        else:
            messages.error(request, "Choose remove or reactivate.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("console:subscribers", page_slug=request.page.slug)


@member_required(Role.COMMANDER)
def subscriber_export(request: HttpRequest) -> HttpResponse:
    return csv_response(export_rows(request.page), f"{request.page.slug}-subscribers.csv")


@member_required(Role.COMMANDER)
def subscriber_import(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None, prefix="import")
    report = None
    if request.method == "POST" and form.is_valid():
        report = import_subscribers(
            page=request.page,
            actor=Actor.of(request.user),
            text=form.cleaned_data["file"],
            skip_confirmation=form.cleaned_data["skip_confirmation"],
        )
    return render(
        request,
        "console/subscriber_import.html",
        {"form": form, "report": report},
        status=400 if request.method == "POST" and not form.is_valid() else 200,
    )


@member_required(Role.VIEWER)
def notifications(request: HttpRequest) -> HttpResponse:
    """Per event: how many deliveries are sent, pending, retrying and dead, with the latest errors."""
    events = (
        OutboxEvent.objects.for_page(request.page)
        .select_related("incident", "component")
        .annotate(
            sent=Count("deliveries", filter=Q(deliveries__state=DeliveryState.SENT)),
            pending=Count(
                "deliveries", filter=Q(deliveries__state__in=[DeliveryState.PENDING, DeliveryState.SENDING])
            ),
            retrying=Count("deliveries", filter=Q(deliveries__state=DeliveryState.RETRYING)),
            dead=Count("deliveries", filter=Q(deliveries__state=DeliveryState.DEAD)),
            cancelled=Count("deliveries", filter=Q(deliveries__state=DeliveryState.CANCELLED)),
        )
        .order_by("-created_at", "-id")
    )
    page_obj = Paginator(events, 25).get_page(request.GET.get("page"))
    # Subscriber addresses are personal data, and delivery errors quote them: commanders and owners see
    # them (to act on them); a viewer sees the counts.
    can_act = request.membership.role in (Role.OWNER, Role.COMMANDER)
    errors = {}
    for event in page_obj:
        if can_act and (event.dead or event.retrying):
            errors[event.pk] = list(
                Delivery.objects.filter(event=event, state__in=[DeliveryState.DEAD, DeliveryState.RETRYING])
                .select_related("subscriber")
                .order_by("-id")[:5]
            )
        event.errors = errors.get(event.pk, [])
    return render(
        request,
        "console/notifications.html",
        {"events": page_obj, "can_retry": can_act},
    )


@require_POST
@member_required(Role.COMMANDER)
def notification_retry(request: HttpRequest, event_code: str) -> HttpResponse:
    event = get_object_or_404(OutboxEvent.objects.for_page(request.page), code=event_code)
    n = delivery_service.retry_dead(event=event)
    messages.success(request, f"Retrying {n} dead deliver{'y' if n == 1 else 'ies'}.")
    return redirect("console:notifications", page_slug=request.page.slug)
