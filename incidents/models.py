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


class ReviewState(models.TextChoices):
    """The change review of a planned change (a maintenance, a series of them, or a change record).

    `draft` on a maintenance means "not reviewed": the page did not ask for a review when it was scheduled."""

    DRAFT = "draft", "Draft"
    PENDING = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    DONE = "done", "Done"


DEFAULT_REMINDERS = [60]
MAX_REMINDER_MINUTES = 7 * 24 * 60
MAX_REMINDERS = 5


def default_reminders() -> list[int]:
    return list(DEFAULT_REMINDERS)


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
        return self.filter(
            kind=Kind.MAINTENANCE, status=MaintenanceStatus.SCHEDULED, cancelled_at__isnull=True
        )

    def public(self) -> IncidentQuerySet:
        """What readers of the public side may see: every incident, and the maintenances that were
        published (approved when the page asks for approval) and not cancelled."""
        return self.exclude(kind=Kind.MAINTENANCE, published_at__isnull=True).exclude(
            cancelled_at__isnull=False
        )

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
    # --- Maintenance only -----------------------------------------------------------------------------
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Minutes before the start at which subscribers are reminded (Statuspage has one, 60; empty: none).
    reminders = models.JSONField(default=default_reminders, blank=True)
    auto_start = models.BooleanField(default=True, help_text="Start on time by itself.")
    auto_complete = models.BooleanField(
        default=True, help_text="Complete at the end of the window by itself."
    )
    set_components_at_start = models.BooleanField(
        default=True, help_text="Put the affected components under maintenance when it starts."
    )
    restore_components_at_end = models.BooleanField(
        default=True, help_text="Return the components to their previous status when it completes."
    )
    notify_at_start = models.BooleanField(default=True)
    notify_at_end = models.BooleanField(default=True)
    # What each affected component was when the maintenance put it under maintenance: {code: status}.
    restore_statuses = models.JSONField(default=dict, blank=True)
    # Raised by every reschedule, extension or cancellation: the iCalendar SEQUENCE, and part of the key of
    # each reminder, so a rescheduled window re-arms its reminders.
    sequence = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)  # shown publicly from then on
    announced_at = models.DateTimeField(null=True, blank=True)  # subscribers were told of the scheduling
    cancelled_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        "MaintenanceSeries", null=True, blank=True, on_delete=models.SET_NULL, related_name="occurrences"
    )
    series_slot = models.DateTimeField(null=True, blank=True)  # the occurrence's start as the rule made it
    review_state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.DRAFT)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["page", "kind", "status"]),
            models.Index(fields=["page", "-started_at"]),
            # The maintenance sweeper's scans: scheduled ones by start, running ones by end.
            models.Index(fields=["kind", "status", "scheduled_for"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "series_slot"],
                condition=models.Q(series__isnull=False),
                name="maintenance_occurrence_once",
            ),
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
    def impact_label(self) -> str:
        """The impact in words: "Minor impact", "Critical impact", and "No impact" (not "None impact")."""
        impact = self.effective_impact
        return "No impact" if impact == Impact.NONE else f"{impact.capitalize()} impact"

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    @property
    def is_published(self) -> bool:
        return not self.is_maintenance or (self.published_at is not None and self.cancelled_at is None)

    @property
    def author(self):
        return self.created_by


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


class MaintenanceNoticeKind(models.TextChoices):
    REMINDER = "reminder", "Reminder"
    START = "start", "Automatic start"
    COMPLETE = "complete", "Automatic completion"


class MaintenanceNotice(models.Model):
    """One piece of time-driven maintenance work done: a reminder sent, an automatic start or completion.

    The unique key (maintenance, kind, sequence, minutes) is claimed in the same transaction as the work,
    so a retried sweep, two beats or two workers do it once; a reschedule raises the sequence and so
    re-arms the reminders for the new time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="maintenance_notices")
    kind = models.CharField(max_length=16, choices=MaintenanceNoticeKind.choices)
    sequence = models.PositiveIntegerField(default=0)
    minutes = models.PositiveIntegerField(default=0)  # a reminder's lead; 0 for start and completion
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    error = models.TextField(blank=True)  # the work failed for good: shown in the console, not retried

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "kind", "sequence", "minutes"], name="maintenance_notice_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.incident} due {self.due_at:%Y-%m-%d %H:%M}"


class Frequency(models.TextChoices):
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class MaintenanceSeriesQuerySet(models.QuerySet["MaintenanceSeries"]):
    def for_page(self, page: Page) -> MaintenanceSeriesQuerySet:
        return self.filter(page=page)

    def active(self) -> MaintenanceSeriesQuerySet:
        return self.filter(stopped_at__isnull=True)


class MaintenanceSeries(models.Model):
    """A recurring maintenance window ("every Tuesday 02:00-04:00", "the first Sunday of the month"), in
    the page's time zone: expanded into ordinary maintenances (`occurrences`) a bounded horizon ahead, so a
    02:00 local window stays at 02:00 local across daylight-saving changes."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="maintenance_series")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    components = models.ManyToManyField(Component, blank=True, related_name="+")
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    interval = models.PositiveSmallIntegerField(default=1)  # every N weeks or months
    weekdays = models.JSONField(default=list, blank=True)  # weekly: 0 = Monday ... 6 = Sunday
    month_day = models.PositiveSmallIntegerField(null=True, blank=True)  # monthly: the 15th
    month_week = models.SmallIntegerField(null=True, blank=True)  # monthly: 1..4, or -1 for the last
    month_weekday = models.PositiveSmallIntegerField(null=True, blank=True)  # monthly: 0 = Monday
    first_start = models.DateTimeField()  # the first window's start (UTC); its local time is the series'
    duration_minutes = models.PositiveIntegerField()
    until = models.DateField(null=True, blank=True)  # last day (local) a window may start on
    reminders = models.JSONField(default=default_reminders, blank=True)
    auto_start = models.BooleanField(default=True)
    auto_complete = models.BooleanField(default=True)
    announce = models.BooleanField(default=True, help_text="Tell subscribers of each window when it is made.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    generated_until = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    review_state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.DRAFT)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = MaintenanceSeriesQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "maintenance series"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(duration_minutes__gte=1), name="series_duration_positive"
            ),
            models.CheckConstraint(condition=models.Q(interval__gte=1), name="series_interval_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def author(self):
        return self.created_by


class ChangeRecordQuerySet(models.QuerySet["ChangeRecord"]):
    def for_page(self, page: Page) -> ChangeRecordQuerySet:
        return self.filter(page=page)

    def open(self) -> ChangeRecordQuerySet:
        return self.exclude(state__in=[ReviewState.DONE, ReviewState.REJECTED])


class ChangeRecord(models.Model):
    """A planned infrastructure change with no maintenance window (a configuration change, a security
    setting on a cache): reviewed for its potential impact, approved by an owner who is not its author
    when the page asks for that, then marked done."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="change_records")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    components = models.ManyToManyField(Component, blank=True, related_name="change_records")
    state = models.CharField(max_length=16, choices=ReviewState.choices, default=ReviewState.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = ChangeRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=ReviewState.values), name="change_state_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def author(self):
        return self.created_by

    @property
    def review_state(self) -> str:
        return self.state
