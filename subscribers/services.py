"""Commands of the notify road: the outbox row every event writes in its command's transaction, and the
subscriber commands (subscribe, confirm, unsubscribe, choose components, remove, reactivate) shared by the
public page, the console and the API. Fan-out and sending live in subscribers.delivery."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from components.models import Component
from statuspage.models import AuditEvent, Page
from statuspage.services import Actor, record_audit
from subscribers.models import (
    EventType,
    OutboxEvent,
    Subscriber,
    SubscriberKind,
    SubscriberState,
    WebhookFormat,
)


def record_event(
    *,
    page: Page,
    type: EventType,
    incident=None,
    incident_update=None,
    component: Component | None = None,
    components: Iterable[Component] = (),
    data: dict | None = None,
) -> OutboxEvent:
    """Write one outbox row and, on commit, enqueue its fan-out. Runs inside the caller's transaction;
    not idempotent (one call, one event). A lost enqueue is caught by the delivery sweeper."""
    from subscribers.tasks import fan_out_event_task

    event = OutboxEvent.objects.create(
        page=page,
        type=type,
        incident=incident,
        incident_update=incident_update,
        component=component,
        component_ids=sorted({c.pk for c in components} | ({component.pk} if component else set())),
        data=data or {},
    )
    fan_out_event_task.delay_on_commit(event.pk)
    return event


# --- Subscribers ------------------------------------------------------------------------------------------


def _components_of(page: Page, components: Iterable[Component]) -> list[Component]:
    components = list(components)
    if any(c.page_id != page.pk for c in components):
        raise ValidationError({"components": "Choose components of this page."})
    return components


def _check_endpoint(endpoint: str) -> str:
    from subscribers import netguard

    endpoint = endpoint.strip()
    validator = URLValidator(schemes=["http", "https"])
    try:
        validator(endpoint)
    except ValidationError:
        raise ValidationError({"endpoint": "Enter a valid http:// or https:// address."}) from None
    try:
        netguard.check_url(endpoint, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK)
    except netguard.UnsafeURL as exc:
        raise ValidationError({"endpoint": str(exc)}) from None
    return endpoint


def _check_email(email: str, field: str = "email") -> str:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({field: "Enter a valid email address."}) from None
    return email


def _check_private_subscriber(page: Page, *, kind: str, email: str, actor: Actor | None) -> None:
    """A private page's subscribers must be allowed viewers: an email address on its viewer list (or a
    member's), and webhooks only when the team adds them (console or API)."""
    from statuspage.private import is_allowed_viewer

    if kind == SubscriberKind.WEBHOOK:
        if actor is None:
            raise ValidationError(
                {"endpoint": "This page is private: its team adds webhook subscribers in the console."}
            )
        return
    if not is_allowed_viewer(page, email):
        raise ValidationError({"email": "This page only accepts subscribers it has allowed."})


def subscribe(
    *,
    page: Page,
    email: str = "",
    endpoint: str = "",
    webhook_format: str = WebhookFormat.STATUSPAGE,
    components: Iterable[Component] = (),
    actor: Actor | None = None,
    skip_confirmation: bool = False,
) -> Subscriber:
    """Subscribe an email address (double opt-in unless `skip_confirmation`, which only a team member or
    an API key may ask for) or a webhook endpoint (with an optional email for failure notices).

    One transaction; the confirmation email leaves after commit. Subscribing an address already known
    changes nothing visible to the caller: an unconfirmed address gets its link again, a confirmed one an
    email with its manage link, so the answer never reveals who is subscribed.
    """
    from subscribers.tasks import send_confirmation_task

    components = _components_of(page, components)
    if endpoint and page.is_private:  # before the endpoint is resolved: refused whatever it is
        _check_private_subscriber(page, kind=SubscriberKind.WEBHOOK, email="", actor=actor)
    if endpoint:
        endpoint = _check_endpoint(endpoint)
        if webhook_format not in WebhookFormat.values:
            raise ValidationError({"webhook_format": f"Choose one of: {', '.join(WebhookFormat.values)}."})
        email = _check_email(email) if email.strip() else ""
        kind, lookup = SubscriberKind.WEBHOOK, {"endpoint": endpoint}
    elif email:
        email = _check_email(email)
        kind, lookup = SubscriberKind.EMAIL, {"email": email}
    else:
        raise ValidationError({"email": "Enter an email address or a webhook URL."})
    if page.is_private and kind == SubscriberKind.EMAIL:
        _check_private_subscriber(page, kind=kind, email=email, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().filter(page=page, kind=kind, **lookup).first()
        created = subscriber is None
        if created:
            subscriber = Subscriber(page=page, kind=kind, **lookup)
        before = {"state": subscriber.state} if not created else {}
        if kind == SubscriberKind.WEBHOOK:
            subscriber.email = email
            subscriber.webhook_format = webhook_format
            # A webhook needs no opt-in: its owner typed it, and its URL is checked at every send.
            if subscriber.state != SubscriberState.ACTIVE:
                subscriber.state = SubscriberState.ACTIVE
                subscriber.confirmed_at = now
                subscriber.failures = 0
        elif skip_confirmation:
            if subscriber.state != SubscriberState.ACTIVE:
                subscriber.state, subscriber.confirmed_at = SubscriberState.ACTIVE, now
        elif subscriber.state in (SubscriberState.UNSUBSCRIBED, SubscriberState.QUARANTINED):
            subscriber.state = SubscriberState.UNCONFIRMED
        subscriber.unsubscribed_at = (
            None if subscriber.state != SubscriberState.UNSUBSCRIBED else subscriber.unsubscribed_at
        )
        subscriber.save()
        if created or actor is not None:
            subscriber.components.set(components)
        if actor is not None:
            record_audit(
                page=page,
                actor=actor,
                action="subscriber.added",
                obj=subscriber,
                before=before,
                after={
                    "address": subscriber.address,
                    "state": subscriber.state,
                    "skip_confirmation": skip_confirmation,
                    "components": [c.code for c in components],
                },
            )
        if kind == SubscriberKind.EMAIL and not skip_confirmation:
            send_confirmation_task.delay_on_commit(subscriber.pk)
    return subscriber


def confirm(*, subscriber: Subscriber) -> Subscriber:
    """Double opt-in: the address answered. Idempotent; an unsubscribed address stays unsubscribed."""
    with transaction.atomic():
        Subscriber.objects.filter(pk=subscriber.pk, state=SubscriberState.UNCONFIRMED).update(
            state=SubscriberState.ACTIVE, confirmed_at=timezone.now()
        )
    subscriber.refresh_from_db()
    return subscriber


def unsubscribe(*, subscriber: Subscriber, actor: Actor | None = None) -> Subscriber:
    """Stop everything to this subscriber, at once: deliveries not yet sent are cancelled at send time.
    Idempotent. The row stays (state `unsubscribed`) so no import or retry mails the address again."""
    with transaction.atomic():
        Subscriber.objects.filter(pk=subscriber.pk).exclude(state=SubscriberState.UNSUBSCRIBED).update(
            state=SubscriberState.UNSUBSCRIBED, unsubscribed_at=timezone.now()
        )
        if actor is not None:
            record_audit(
                page=subscriber.page,
                actor=actor,
                action="subscriber.unsubscribed",
                obj=subscriber,
                before={"state": subscriber.state},
                after={"state": SubscriberState.UNSUBSCRIBED},
            )
    subscriber.refresh_from_db()
    return subscriber


def set_components(*, subscriber: Subscriber, components: Iterable[Component], actor: Actor | None = None):
    """Choose what a subscriber hears of: no components means the whole page. One transaction."""
    components = _components_of(subscriber.page, components)
    with transaction.atomic():
        before = sorted(subscriber.components.values_list("code", flat=True))
        subscriber.components.set(components)
        if actor is not None:
            record_audit(
                page=subscriber.page,
                actor=actor,
                action="subscriber.components_set",
                obj=subscriber,
                before={"components": before},
                after={"components": sorted(c.code for c in components)},
            )
    return subscriber


def remove_subscriber(*, subscriber: Subscriber, actor: Actor) -> None:
    """Delete a subscriber and its delivery history (console). One transaction; audited."""
    with transaction.atomic():
        record_audit(
            page=subscriber.page,
            actor=actor,
            action="subscriber.removed",
            obj=subscriber,
            before={"address": subscriber.address, "state": subscriber.state},
        )
        subscriber.delete()


def reactivate(*, subscriber: Subscriber, actor: Actor) -> Subscriber:
    """Put a quarantined webhook back to work. One transaction; audited; idempotent."""
    if subscriber.state != SubscriberState.QUARANTINED:
        raise ValidationError("Only a quarantined subscriber can be reactivated.")
    with transaction.atomic():
        Subscriber.objects.filter(pk=subscriber.pk, state=SubscriberState.QUARANTINED).update(
            state=SubscriberState.ACTIVE, quarantined_at=None, failures=0, last_error=""
        )
        record_audit(
            page=subscriber.page,
            actor=actor,
            action="subscriber.reactivated",
            obj=subscriber,
            before={"state": SubscriberState.QUARANTINED},
            after={"state": SubscriberState.ACTIVE},
        )
    subscriber.refresh_from_db()
    return subscriber


# --- Bulk commands (the API's /subscribers/unsubscribe, /reactivate and /resend_confirmation) ---------------

# However often a team member asks, an address gets a confirmation email at most this often.
RESEND_CONFIRMATION_AFTER = timedelta(minutes=10)
_BATCH = 500


def _locked_rows(subscribers: QuerySet[Subscriber], page: Page) -> list[tuple[int, str, str]]:
    """(pk, code, state) of the page's subscribers in `subscribers`, locked until the transaction ends."""
    return list(
        subscribers.filter(page=page).select_for_update().order_by("id").values_list("pk", "code", "state")
    )


def _update_each(rows: list[tuple[int, str, str]], **values) -> None:
    pks = [pk for pk, _, _ in rows]
    for start in range(0, len(pks), _BATCH):  # SQLite caps the parameters of one statement
        Subscriber.objects.filter(pk__in=pks[start : start + _BATCH]).update(**values)


def _audit_each(*, page: Page, actor: Actor, action: str, rows: list[tuple[int, str, str]], after: dict):
    """One audit row per subscriber, as record_audit writes it, inserted in batches: a bulk command over
    every subscriber of a large page must not make one INSERT per row."""
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                page=page,
                actor=actor.user,
                actor_label=actor.label,
                action=action,
                object_type="subscriber",
                object_id=code,
                before={"state": state},
                after=after,
            )
            for _, code, state in rows
        ],
        batch_size=_BATCH,
    )


def unsubscribe_many(*, page: Page, subscribers: QuerySet[Subscriber], actor: Actor) -> int:
    """Unsubscribe the page's subscribers in `subscribers` that have not left yet: one transaction, each
    audited; deliveries not yet sent are cancelled at send time. Returns how many changed (idempotent)."""
    with transaction.atomic():
        rows = _locked_rows(subscribers.exclude(state=SubscriberState.UNSUBSCRIBED), page)
        _update_each(rows, state=SubscriberState.UNSUBSCRIBED, unsubscribed_at=timezone.now())
        _audit_each(
            page=page,
            actor=actor,
            action="subscriber.unsubscribed",
            rows=rows,
            after={"state": SubscriberState.UNSUBSCRIBED},
        )
    return len(rows)


def reactivate_many(*, page: Page, subscribers: QuerySet[Subscriber], actor: Actor) -> int:
    """Put the page's quarantined subscribers in `subscribers` back to work (others are left alone): one
    transaction, each audited. Returns how many changed (idempotent)."""
    with transaction.atomic():
        rows = _locked_rows(subscribers.filter(state=SubscriberState.QUARANTINED), page)
        _update_each(rows, state=SubscriberState.ACTIVE, quarantined_at=None, failures=0, last_error="")
        _audit_each(
            page=page,
            actor=actor,
            action="subscriber.reactivated",
            rows=rows,
            after={"state": SubscriberState.ACTIVE},
        )
    return len(rows)


def resend_confirmations(
    *, page: Page, subscribers: QuerySet[Subscriber], actor: Actor, now: datetime | None = None
) -> int:
    """Email the opt-in link again to the page's unconfirmed email subscribers in `subscribers`, except
    those sent one less than RESEND_CONFIRMATION_AFTER ago. One transaction, each audited; the emails leave
    after commit. Returns how many were asked."""
    from subscribers.tasks import send_confirmation_task

    now = now or timezone.now()
    eligible = subscribers.filter(kind=SubscriberKind.EMAIL, state=SubscriberState.UNCONFIRMED).filter(
        Q(confirmation_sent_at__isnull=True) | Q(confirmation_sent_at__lte=now - RESEND_CONFIRMATION_AFTER)
    )
    with transaction.atomic():
        rows = _locked_rows(eligible, page)
        # Stamped now, not when the mail leaves: a second request before the worker runs asks nobody twice.
        _update_each(rows, confirmation_sent_at=now)
        _audit_each(page=page, actor=actor, action="subscriber.confirmation_resent", rows=rows, after={})
        for pk, _, _ in rows:
            send_confirmation_task.delay_on_commit(pk)
    return len(rows)


def resend_confirmation(*, subscriber: Subscriber, actor: Actor, now: datetime | None = None) -> Subscriber:
    """One subscriber's opt-in link again; a field error says why when it cannot be sent."""
    now = now or timezone.now()
    if subscriber.kind != SubscriberKind.EMAIL:
        raise ValidationError("A webhook needs no confirmation.")
    if subscriber.state != SubscriberState.UNCONFIRMED:
        raise ValidationError(f"This subscriber is {subscriber.state}: only an unconfirmed address confirms.")
    sent = subscriber.confirmation_sent_at
    if sent is not None and sent > now - RESEND_CONFIRMATION_AFTER:
        minutes = int(RESEND_CONFIRMATION_AFTER.total_seconds() // 60)
        raise ValidationError(f"A confirmation was sent less than {minutes} minutes ago.")
    resend_confirmations(
        page=subscriber.page, subscribers=Subscriber.objects.filter(pk=subscriber.pk), actor=actor, now=now
    )
    subscriber.refresh_from_db()
    return subscriber


# --- Import -----------------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("email", "endpoint", "components", "webhook_format")


@dataclass
class ImportReport:
    added: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_subscribers(
    *, page: Page, actor: Actor, text: str, skip_confirmation: bool = False, max_rows: int = 50_000
) -> ImportReport:
    """Import subscribers from CSV text with a header row naming some of IMPORT_COLUMNS (`components` holds
    component ids or names separated by `;`). Each good row is kept in its own transaction, each bad row
    reported by its line number; an address that unsubscribed is never subscribed again by an import."""
    import csv
    import io

    from statuspage.csv_export import restore

    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not {"email", "endpoint"} & set(header):
        report.errors.append((1, "The first line must name the columns: email and/or endpoint, components."))
        return report
    reader.fieldnames = header
    by_key = {}
    for c in Component.objects.for_page(page):
        by_key[c.code] = c
        by_key.setdefault(c.name.strip().lower(), c)
    for number, row in enumerate(reader, start=2):
        row = {key: restore(value) for key, value in row.items()}  # our own export, read back unchanged
        if number - 1 > max_rows:
            report.errors.append((number, f"Stopped: at most {max_rows} rows per import."))
            break
        email = (row.get("email") or "").strip()
        endpoint = (row.get("endpoint") or "").strip()
        if not email and not endpoint:
            if any((v or "").strip() for v in row.values() if isinstance(v, str)):
                report.errors.append((number, "Neither an email nor an endpoint."))
            continue
        wanted = [p.strip() for p in (row.get("components") or "").split(";") if p.strip()]
        unknown = [p for p in wanted if p.lower() not in by_key and p not in by_key]
        if unknown:
            report.errors.append((number, f"Unknown component: {', '.join(unknown)}."))
            continue
        components = [by_key.get(p) or by_key[p.lower()] for p in wanted]
        kind, lookup = (
            (SubscriberKind.WEBHOOK, {"endpoint": endpoint})
            if endpoint
            else (SubscriberKind.EMAIL, {"email": email.lower()})
        )
        existing = Subscriber.objects.filter(page=page, kind=kind, **lookup).first()
        if existing is not None:
            if existing.state == SubscriberState.UNSUBSCRIBED:
                report.errors.append(
                    (number, f"{existing.address} unsubscribed; an import does not add it back.")
                )
            else:
                report.unchanged += 1
            continue
        try:
            subscribe(
                page=page,
                actor=actor,
                email=email,
                endpoint=endpoint,
                webhook_format=(row.get("webhook_format") or "").strip() or WebhookFormat.STATUSPAGE,
                components=components,
                skip_confirmation=skip_confirmation,
            )
        except ValidationError as exc:
            messages = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            report.errors.append((number, " ".join(m for ms in messages.values() for m in ms)))
        else:
            report.added += 1
    return report


EXPORT_COLUMNS = (
    "id",
    "type",
    "email",
    "endpoint",
    "webhook_format",
    "state",
    "components",
    "created_at",
    "confirmed_at",
)


def export_rows(page: Page):
    """The page's subscribers as CSV rows (header first), in id order; streams in batches."""
    yield EXPORT_COLUMNS
    qs = Subscriber.objects.for_page(page).prefetch_related("components").order_by("id")
    last = 0
    while True:
        batch = list(qs.filter(id__gt=last)[:1000])
        if not batch:
            return
        for s in batch:
            yield (
                s.code,
                s.kind,
                s.email,
                s.endpoint,
                s.webhook_format if s.kind == SubscriberKind.WEBHOOK else "",
                s.state,
                ";".join(c.name for c in s.components.all()),
                s.created_at.isoformat(),
                s.confirmed_at.isoformat() if s.confirmed_at else "",
            )
        last = batch[-1].id
