"""Reads over components: the page's rollup status and uptime computed from status history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, QuerySet, Subquery

from components.models import Component, ComponentGroup, ComponentStatus, ComponentStatusChange, worst_status
from statuspage.models import Page

S = ComponentStatus

# Statuspage's top-level descriptions (STATUSPAGE.md 1.3), first matching rule wins.
ALL_OPERATIONAL = ("none", "All Systems Operational")


def rollup(statuses: list[str]) -> tuple[str, str]:
    """The page indicator and description from its components' statuses, with Statuspage's rules."""
    if not statuses:
        return ALL_OPERATIONAL
    present = set(statuses)
    if present == {S.MAJOR_OUTAGE}:
        return "critical", "Major System Outage"
    if S.MAJOR_OUTAGE in present or present == {S.PARTIAL_OUTAGE}:
        return "major", "Partial System Outage"
    if S.PARTIAL_OUTAGE in present:
        return "minor", "Minor Service Outage"
    if present == {S.DEGRADED_PERFORMANCE}:
        return "minor", "Degraded System Service"
    if S.DEGRADED_PERFORMANCE in present:
        return "minor", "Partially Degraded Service"
    if S.UNDER_MAINTENANCE in present:
        return "maintenance", "Service Under Maintenance"
    return ALL_OPERATIONAL


def public_components(page: Page) -> QuerySet[Component]:
    return Component.objects.for_page(page).public().select_related("group").order_by("position", "id")


def public_groups(page: Page) -> QuerySet[ComponentGroup]:
    return ComponentGroup.objects.for_page(page).filter(is_public=True).order_by("position", "id")


@dataclass
class Section:
    """One block of the public component list: a group with its components, or a lone component."""

    group: ComponentGroup | None
    components: list[Component]

    @property
    def status(self) -> str:
        return worst_status([c.status for c in self.components])

    @property
    def open(self) -> bool:
        """Groups start expanded unless marked collapsed, and always when something in them is wrong."""
        return self.group is None or not self.group.collapsed or self.status != S.OPERATIONAL


def sections(page: Page, components: list[Component] | None = None) -> list[Section]:
    """Public components in display order: groups and ungrouped components interleaved by position."""
    components = list(public_components(page)) if components is None else components
    visible = [c for c in components if not c.only_show_if_degraded or c.status != S.OPERATIONAL]
    by_group: dict[int, list[Component]] = defaultdict(list)
    lone: list[Component] = []
    for c in visible:
        (by_group[c.group_id] if c.group_id else lone).append(c)
    blocks: list[tuple[int, Section]] = [(c.position, Section(None, [c])) for c in lone]
    for g in public_groups(page):
        if by_group.get(g.pk):
            blocks.append((g.position, Section(g, by_group[g.pk])))
    blocks.sort(key=lambda b: (b[0], b[1].group is None))
    return [b[1] for b in blocks]


# --- Uptime ---------------------------------------------------------------------------------------
# A day's downtime counts major outage fully and partial outage at 30% (Statuspage's and Instatus's rule);
# degraded performance and maintenance are not downtime.
PARTIAL_WEIGHT = 0.3


@dataclass
class Day:
    date: date
    seconds: dict[str, float] = field(default_factory=dict)  # per status, within the counted part of the day
    counted: float = 0.0  # seconds of the day that fall inside the component's life and before now
    incidents: list = field(default_factory=list)

    @property
    def downtime(self) -> float:
        return self.seconds.get(S.MAJOR_OUTAGE, 0.0) + PARTIAL_WEIGHT * self.seconds.get(
            S.PARTIAL_OUTAGE, 0.0
        )

    @property
    def has_data(self) -> bool:
        return self.counted > 0

    @property
    def uptime(self) -> float | None:
        if not self.counted:
            return None
        return 100.0 * (1 - self.downtime / self.counted)

    @property
    def worst(self) -> str | None:
        """The worst status the component was in this day, which colours the day's bar."""
        if not self.counted:
            return None
        return worst_status([s for s, secs in self.seconds.items() if secs > 0])


@dataclass
class Uptime:
    days: list[Day]

    @property
    def percent(self) -> float | None:
        counted = sum(d.counted for d in self.days)
        if not counted:
            return None
        return 100.0 * (1 - sum(d.downtime for d in self.days) / counted)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end of a calendar day in `tz` (23 or 25 hours long across a daylight-saving change)."""
    # In UTC: Python subtracts two datetimes of the same zone by wall clock, which would hide the change.
    start = datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)
    return start, end


def uptime_for_components(
    components: list[Component], *, tz: ZoneInfo, now: datetime, days: int = 90
) -> dict[int, Uptime]:
    """Per-day uptime of each component over the last `days` days in `tz`, today included.

    Two queries whatever the number of components and the length of history: the status each component
    had when the window opened, and the changes inside the window.
    """
    if not components:
        return {}
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    window_start, _ = day_bounds(first, tz)
    ids = [c.pk for c in components]
    before = ComponentStatusChange.objects.filter(
        component=OuterRef("pk"), created_at__lt=window_start
    ).order_by("-created_at", "-id")
    at_start = dict(
        Component.objects.filter(pk__in=ids)
        .annotate(s=Subquery(before.values("new_status")[:1]))
        .values_list("pk", "s")
    )
    changes: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for cid, created_at, new_status in (
        ComponentStatusChange.objects.filter(
            component_id__in=ids, created_at__gte=window_start, created_at__lte=now
        )
        .order_by("created_at", "id")
        .values_list("component_id", "created_at", "new_status")
    ):
        changes[cid].append((created_at, new_status))

    # The same days for every component: their bounds are worked out once (at 500 components, 45,000
    # zone conversions fewer).
    calendar = [(d, *day_bounds(d, tz)) for d in (first + timedelta(days=i) for i in range(days))]
    result = {}
    for c in components:
        # The component's life starts at its start date (if set) or its creation.
        life_start = c.created_at
        if c.start_date:
            life_start = day_bounds(c.start_date, tz)[0]
        intervals = _intervals(at_start.get(c.pk), changes.get(c.pk, []), window_start, now)
        day_list = []
        for d, start, end in calendar:
            start, end = max(start, life_start, window_start), min(end, now)
            day = Day(date=d)
            if end > start:
                day.counted = (end - start).total_seconds()
                for s_from, s_to, status in intervals:
                    overlap = (min(end, s_to) - max(start, s_from)).total_seconds()
                    if overlap > 0:
                        day.seconds[status] = day.seconds.get(status, 0.0) + overlap
            day_list.append(day)
        result[c.pk] = Uptime(day_list)
    return result


def _intervals(
    initial: str | None, changes: list[tuple[datetime, str]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    """Turn a status at `start` plus ordered changes into [from, to, status) intervals up to `end`."""
    out = []
    cursor, status = start, initial
    for at, new_status in changes:
        if status is not None and at > cursor:
            out.append((cursor, at, status))
        cursor, status = max(cursor, at), new_status
    if status is not None and end > cursor:
        out.append((cursor, end, status))
    return out
