"""Incidents and scheduled maintenances, their timelines of updates, and postmortems.

A maintenance is an incident of kind `maintenance` with a window, as in Statuspage's API, where both share
one id space, one document shape and one endpoint; the status sets differ and a constraint keeps them apart.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from components.models import Component, ComponentStatus
from statuspage.ids import new_public_id
from statuspage.models import Page


class Kind(models.TextChoices):
    INCIDENT = "incident", "Incident"
    MAINTENANCE = "maintenance", "Scheduled maintenance"


class IncidentStatus(models.TextChoices):
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"


class MaintenanceStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


STATUS_CHOICES = IncidentStatus.choices + MaintenanceStatus.choices
STATUS_LABELS = dict(STATUS_CHOICES)
OPEN_INCIDENT_STATUSES = [IncidentStatus.INVESTIGATING, IncidentStatus.IDENTIFIED, IncidentStatus.MONITORING]
ACTIVE_MAINTENANCE_STATUSES = [MaintenanceStatus.IN_PROGRESS, MaintenanceStatus.VERIFYING]
CLOSED_STATUSES = [IncidentStatus.RESOLVED, MaintenanceStatus.COMPLETED]


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"
    MAINTENANCE = "maintenance", "Maintenance"


IMPACT_RANK = {Impact.NONE: 0, Impact.MAINTENANCE: 0, Impact.MINOR: 1, Impact.MAJOR: 2, Impact.CRITICAL: 3}

# What a component status says about an incident's impact (Statuspage: impact follows the components).
IMPACT_OF_STATUS = {
    ComponentStatus.OPERATIONAL: Impact.NONE,
    ComponentStatus.UNDER_MAINTENANCE: Impact.NONE,
    ComponentStatus.DEGRADED_PERFORMANCE: Impact.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Impact.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Impact.CRITICAL,
}


class IncidentQuerySet(models.QuerySet["Incident"]):
    def for_page(self, page: Page) -> IncidentQuerySet:
        return self.filter(page=page)

    def incidents(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.INCIDENT)

    def maintenances(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.MAINTENANCE)

    def open(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.INCIDENT, status__in=OPEN_INCIDENT_STATUSES)

    def upcoming(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.MAINTENANCE, status=MaintenanceStatus.SCHEDULED)

    def active_maintenances(self) -> IncidentQuerySet:
        return self.filter(kind=Kind.MAINTENANCE, status__in=ACTIVE_MAINTENANCE_STATUSES)


class Incident(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="incidents")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INCIDENT)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, default=IncidentStatus.INVESTIGATING)
    impact = models.CharField(max_length=16, choices=Impact.choices, default=Impact.NONE)
    impact_override = models.CharField(max_length=16, choices=Impact.choices, blank=True)
    components = models.ManyToManyField(Component, blank=True, related_name="incidents")
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="commanded_incidents",
    )
    backfilled = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_until = models.DateTimeField(null=True, blank=True)
    # The update cadence (road 4): when the next public update is due; null once resolved.
    last_update_at = models.DateTimeField(null=True, blank=True)
    next_update_due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["page", "kind", "status"]),
            models.Index(fields=["page", "-started_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(kind=Kind.INCIDENT, status__in=IncidentStatus.values)
                    | models.Q(kind=Kind.MAINTENANCE, status__in=MaintenanceStatus.values)
                ),
                name="incident_status_matches_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(kind=Kind.INCIDENT)
                | models.Q(scheduled_for__isnull=False, scheduled_until__isnull=False),
                name="maintenance_has_window",
            ),
            models.CheckConstraint(
                condition=models.Q(scheduled_until__isnull=True)
                | models.Q(scheduled_until__gt=models.F("scheduled_for")),
                name="maintenance_window_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_maintenance(self) -> bool:
        return self.kind == Kind.MAINTENANCE

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def effective_impact(self) -> str:
        if self.is_maintenance:
            return Impact.MAINTENANCE
        return self.impact_override or self.impact

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


class IncidentUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    status = models.CharField(max_length=16, choices=STATUS_CHOICES)
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    deliver_notifications = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    display_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-display_at", "-id"]
        indexes = [models.Index(fields=["incident", "-display_at"])]

    def __str__(self) -> str:
        return f"{self.incident}: {self.status}"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


class Postmortem(models.Model):
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Postmortem: {self.incident}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class IncidentTemplate(models.Model):
    """A prepared incident: title, text, status and components. Placeholders such as {component} are plain
    substitutions (string.Template), never a template engine run on user text."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="incident_templates")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    title = models.CharField(max_length=200)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.INVESTIGATING
    )
    components = models.ManyToManyField(Component, blank=True, related_name="+")
    component_status = models.CharField(
        max_length=32, choices=ComponentStatus.choices, default=ComponentStatus.PARTIAL_OUTAGE
    )
    deliver_notifications = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["page", "name"], name="incident_template_name_unique")]

    def __str__(self) -> str:
        return self.name


class NoticeKind(models.TextChoices):
    REMINDER = "reminder", "Reminder"
    ESCALATION = "escalation", "Escalation"


class CadenceNotice(models.Model):
    """One reminder or escalation about an update that is due. The unique key (incident, kind, due time)
    makes a retried sweep, a second beat or a second worker unable to send it twice."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="cadence_notices")
    kind = models.CharField(max_length=16, choices=NoticeKind.choices)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "kind", "due_at"], name="cadence_notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.incident} due {self.due_at:%Y-%m-%d %H:%M}"
