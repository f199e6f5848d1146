"""Components, their groups, and the append-only history of their statuses (uptime is computed from it)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from statuspage.ids import new_public_id
from statuspage.models import Page


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded Performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial Outage"
    MAJOR_OUTAGE = "major_outage", "Major Outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under Maintenance"


# How bad each status is, for "worst of" rollups. Maintenance is planned, so it ranks below degraded.
SEVERITY = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}


def worst_status(statuses) -> str:
    return max(statuses, key=lambda s: SEVERITY[s], default=ComponentStatus.OPERATIONAL)


class ComponentGroupQuerySet(models.QuerySet["ComponentGroup"]):
    def for_page(self, page: Page) -> ComponentGroupQuerySet:
        return self.filter(page=page)


class ComponentGroup(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="component_groups")
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    is_public = models.BooleanField(
        default=True, help_text="Internal groups never appear on the public page."
    )
    collapsed = models.BooleanField(
        default=False, help_text="Shown collapsed on the public page unless degraded."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComponentGroupQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ComponentQuerySet(models.QuerySet["Component"]):
    def for_page(self, page: Page) -> ComponentQuerySet:
        return self.filter(page=page)

    def public(self) -> ComponentQuerySet:
        return self.filter(is_public=True).filter(
            models.Q(group__isnull=True) | models.Q(group__is_public=True)
        )


class Component(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="components")
    group = models.ForeignKey(
        ComponentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="components"
    )
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(
        max_length=32, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL
    )
    is_public = models.BooleanField(
        default=True,
        help_text="Internal components (a cache, a queue) are known to the team, never shown publicly.",
    )
    showcase = models.BooleanField(default=True, help_text="Show 90-day uptime bars on the public page.")
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True, help_text="Uptime is counted from this day.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ComponentQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ComponentStatus.values), name="component_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shown(self) -> bool:
        """Shown to the public: itself public and not in an internal group (ComponentQuerySet.public)."""
        return self.is_public and (self.group_id is None or self.group.is_public)


class ComponentStatusChange(models.Model):
    """One row per status a component was put in, with the time; written with the status itself.

    An incident update that touches a component writes a row even when the status stays the same, so the
    update's affected components (Statuspage's `affected_components`) are these rows.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="status_changes")
    incident_update = models.ForeignKey(
        "incidents.IncidentUpdate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="component_changes",
    )
    old_status = models.CharField(max_length=32, choices=ComponentStatus.choices)
    new_status = models.CharField(max_length=32, choices=ComponentStatus.choices)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["component", "created_at"])]

    def __str__(self) -> str:
        return f"{self.component}: {self.old_status} → {self.new_status}"


class DependencyKind(models.TextChoices):
    HARD = "hard", "Hard (goes down with it)"
    SOFT = "soft", "Soft (degrades)"


class ComponentDependencyQuerySet(models.QuerySet["ComponentDependency"]):
    def for_page(self, page: Page) -> ComponentDependencyQuerySet:
        return self.filter(page=page)


class ComponentDependency(models.Model):
    """`component` depends on `depends_on`: a hard dependency takes the component down with it, a soft one
    degrades it. Both ends are on `page` (the services check it; the page column lets a whole page's graph
    load in one query). Cycles are refused by components.services, which holds the graph in memory."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="component_dependencies")
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="upstream_links")
    depends_on = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="downstream_links")
    kind = models.CharField(max_length=8, choices=DependencyKind.choices, default=DependencyKind.HARD)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ComponentDependencyQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["component", "depends_on"], name="dependency_unique_edge"),
            models.CheckConstraint(
                condition=~models.Q(component=models.F("depends_on")), name="dependency_not_self"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=DependencyKind.values), name="dependency_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} depends on {self.depends_on_id} ({self.kind})"
