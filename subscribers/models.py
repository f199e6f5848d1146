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
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    fanned_out_at = models.DateTimeField(null=True, blank=True)

    objects = OutboxEventQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["fanned_out_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} on {self.page}"
