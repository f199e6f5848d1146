"""Subscribers and the outbox: every event subscribers must hear of is a row, written in the command's
transaction, and expanded into deliveries after commit (DESIGN.md road 3)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from statuspage.ids import new_public_id
from statuspage.models import Page


class EventType(models.TextChoices):
    INCIDENT_CREATED = "incident.created", "Incident created"
    INCIDENT_UPDATED = "incident.updated", "Incident updated"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    POSTMORTEM_PUBLISHED = "postmortem.published", "Postmortem published"
    MAINTENANCE_SCHEDULED = "maintenance.scheduled", "Maintenance scheduled"
    MAINTENANCE_REMINDER = "maintenance.reminder", "Maintenance reminder"
    MAINTENANCE_STARTED = "maintenance.started", "Maintenance started"
    MAINTENANCE_UPDATED = "maintenance.updated", "Maintenance updated"
    MAINTENANCE_COMPLETED = "maintenance.completed", "Maintenance completed"
    COMPONENT_UPDATED = "component.updated", "Component status changed"


class OutboxEventQuerySet(models.QuerySet["OutboxEvent"]):
    def for_page(self, page: Page) -> OutboxEventQuerySet:
        return self.filter(page=page)

    def pending(self) -> OutboxEventQuerySet:
        return self.filter(fanned_out_at__isnull=True)


class OutboxEvent(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="outbox_events")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices)
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.CASCADE)
    incident_update = models.ForeignKey(
        "incidents.IncidentUpdate", null=True, blank=True, on_delete=models.CASCADE
    )
    component = models.ForeignKey("components.Component", null=True, blank=True, on_delete=models.CASCADE)
    # The components the event touches: component subscribers hear only of events that touch theirs.
    component_ids = models.JSONField(default=list, blank=True)
    # What the event carries beyond its rows, e.g. a component change's old and new status.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["fanned_out_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} on {self.page}"


class SubscriberKind(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Webhook"


class SubscriberState(models.TextChoices):
    # Statuspage's states, plus `unsubscribed` kept as a row so an address that left is never mailed again
    # by an import or a retry, and so the console can show who left.
    UNCONFIRMED = "unconfirmed", "Unconfirmed"
    ACTIVE = "active", "Active"
    QUARANTINED = "quarantined", "Quarantined"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class WebhookFormat(models.TextChoices):
    STATUSPAGE = "statuspage", "Statuspage JSON"
    SLACK = "slack", "Slack incoming webhook"
    TEAMS = "teams", "Microsoft Teams incoming webhook"
    DISCORD = "discord", "Discord webhook"


def new_secret() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class SubscriberQuerySet(models.QuerySet["Subscriber"]):
    def for_page(self, page: Page) -> SubscriberQuerySet:
        return self.filter(page=page)

    def active(self) -> SubscriberQuerySet:
        return self.filter(state=SubscriberState.ACTIVE)


class Subscriber(models.Model):
    """One address told of a page's events: an email (double opt-in) or a webhook endpoint. No components
    chosen means the whole page."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="subscribers")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    kind = models.CharField(max_length=16, choices=SubscriberKind.choices)
    state = models.CharField(
        max_length=16, choices=SubscriberState.choices, default=SubscriberState.UNCONFIRMED
    )
    email = models.EmailField(
        blank=True, help_text="The address mailed; for a webhook, where failures are reported."
    )
    endpoint = models.URLField(max_length=2000, blank=True)
    webhook_format = models.CharField(
        max_length=16, choices=WebhookFormat.choices, default=WebhookFormat.STATUSPAGE, blank=True
    )
    secret = models.CharField(max_length=64, default=new_secret, editable=False)
    components = models.ManyToManyField("components.Component", blank=True, related_name="subscribers")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(null=True, blank=True)
    # Webhook health: consecutive failed deliveries; reset by a success.
    failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = SubscriberQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["page", "email"],
                condition=models.Q(kind="email"),
                name="subscriber_email_unique_per_page",
            ),
            models.UniqueConstraint(
                fields=["page", "endpoint"],
                condition=models.Q(kind="webhook"),
                name="subscriber_endpoint_unique_per_page",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="email") & ~models.Q(email=""))
                | (models.Q(kind="webhook") & ~models.Q(endpoint="")),
                name="subscriber_has_an_address",
            ),
        ]
        indexes = [models.Index(fields=["page", "state", "id"])]

    def __str__(self) -> str:
        return self.endpoint if self.kind == SubscriberKind.WEBHOOK else self.email

    @property
    def address(self) -> str:
        return str(self)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    DEAD = "dead", "Dead"
    # The subscriber left (or was removed) before the delivery went out: nothing is sent.
    CANCELLED = "cancelled", "Cancelled"


class DeliveryQuerySet(models.QuerySet["Delivery"]):
    def for_page(self, page: Page) -> DeliveryQuerySet:
        return self.filter(event__page=page)


class Delivery(models.Model):
    """One event to one subscriber; unique, so fanning out twice never sends twice. The row is the state:
    a worker claims it with a conditional UPDATE (pending/retrying → sending), sends outside any
    transaction, and records the outcome; a sweeper resumes rows left `sending` by a worker that died."""

    # No index of its own: the unique (event, subscriber) and (event, state) indexes lead with it.
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = DeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_once_per_event_subscriber")
        ]
        # Every delivery changes state twice or more, and each change writes a new entry in every index:
        # the sweeper's index covers only rows still in flight, so the millions of sent rows stay out of it.
        indexes = [
            models.Index(
                fields=["state", "next_attempt_at"],
                name="delivery_in_flight",
                condition=models.Q(state__in=["pending", "retrying", "sending"]),
            ),
            models.Index(fields=["event", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscriber}"
