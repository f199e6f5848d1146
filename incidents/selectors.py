"""Reads over incidents and maintenances, each starting from the page. Prefetching is decided here so a
render costs the same number of queries whatever the length of history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, Q, QuerySet

from components.models import Component, ComponentStatusChange
from incidents.models import Incident, IncidentUpdate, Kind
from statuspage.models import Page


def _with_timeline(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    changes = ComponentStatusChange.objects.select_related("component__group").order_by("component__position")
    return qs.select_related("postmortem").prefetch_related(
        Prefetch(
            "updates",
            queryset=IncidentUpdate.objects.order_by("-display_at", "-id").prefetch_related(
                Prefetch("component_changes", queryset=changes)
            ),
        ),
        Prefetch("components", queryset=Component.objects.select_related("group").order_by("position", "id")),
    )


def with_timeline(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    """`qs` with each incident's postmortem, updates (newest first) with their component changes, and
    components prefetched: a list costs the same few queries however long it is."""
    return _with_timeline(qs)


def open_incidents(page: Page) -> list[Incident]:
    return list(_with_timeline(Incident.objects.for_page(page).open().order_by("-started_at")))


def active_maintenances(page: Page) -> list[Incident]:
    return list(
        _with_timeline(
            Incident.objects.for_page(page).public().active_maintenances().order_by("scheduled_for")
        )
    )


def upcoming_maintenances(page: Page, *, limit: int = 10) -> list[Incident]:
    """Published maintenances not started yet (none held back by the change review, none cancelled)."""
    return list(
        _with_timeline(Incident.objects.for_page(page).public().upcoming().order_by("scheduled_for"))[:limit]
    )


def incident_detail(page: Page, code: str) -> Incident | None:
    """An incident's public page: never a maintenance that was not published; a cancelled one keeps its
    page (its last update says it was cancelled) though it left every list."""
    qs = Incident.objects.for_page(page).exclude(kind=Kind.MAINTENANCE, published_at__isnull=True)
    return _with_timeline(qs.filter(code=code)).first()


def recent_incidents(page: Page, *, since: datetime, until: datetime | None = None) -> list[Incident]:
    """Incidents and finished maintenances that started in [since, until), newest first."""
    qs = (
        Incident.objects.for_page(page)
        .public()
        .filter(Q(kind=Kind.INCIDENT) | Q(kind=Kind.MAINTENANCE, status="completed"), started_at__gte=since)
    )
    if until is not None:
        qs = qs.filter(started_at__lt=until)
    return list(_with_timeline(qs.order_by("-started_at", "-id")))


def incidents_by_day(
    incidents: list[Incident], *, tz: ZoneInfo, today: date, days: int
) -> list[tuple[date, list]]:
    """The last `days` days (today first), each with the incidents that started on it in `tz`."""
    buckets: dict[date, list[Incident]] = defaultdict(list)
    for incident in incidents:
        buckets[incident.started_at.astimezone(tz).date()].append(incident)
    return [(d, buckets.get(d, [])) for d in (today - timedelta(days=i) for i in range(days))]


def incidents_overlapping(page: Page, *, since: datetime, now: datetime) -> list[Incident]:
    """Incidents (not maintenances) that were open at some time in [since, now], with their components."""
    return list(
        Incident.objects.for_page(page)
        .incidents()
        .filter(started_at__lte=now)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=since))
        .prefetch_related("components")
        .order_by("started_at")
    )


def history_months(page: Page, *, months: list[tuple[int, int]], tz: ZoneInfo) -> dict[tuple[int, int], list]:
    """Incidents of the given (year, month)s in the page's zone, newest first within each month."""
    if not months:
        return {}
    first_year, first_month = min(months)
    last_year, last_month = max(months)
    start = datetime(first_year, first_month, 1, tzinfo=tz)
    end = datetime(last_year + (last_month // 12), last_month % 12 + 1, 1, tzinfo=tz)
    result: dict[tuple[int, int], list] = {m: [] for m in months}
    qs = (
        Incident.objects.for_page(page)
        .public()
        .filter(
            Q(kind=Kind.INCIDENT) | Q(kind=Kind.MAINTENANCE, status="completed"),
            started_at__gte=start,
            started_at__lt=end,
        )
    )
    for incident in _with_timeline(qs.order_by("-started_at", "-id")):
        local = incident.started_at.astimezone(tz)
        key = (local.year, local.month)
        if key in result:
            result[key].append(incident)
    return result


def latest_feed_incidents(page: Page, *, limit: int = 25) -> list[Incident]:
    return list(
        _with_timeline(Incident.objects.for_page(page).public().order_by("-updated_at", "-id"))[:limit]
    )


def most_recent(page: Page, *, kind: str, limit: int = 50) -> list[Incident]:
    """The `limit` most recent incidents or maintenances, as Statuspage's list documents cap them."""
    return list(
        _with_timeline(
            Incident.objects.for_page(page).public().filter(kind=kind).order_by("-created_at", "-id")
        )[:limit]
    )


# --- Maintenance in the console, the calendar feeds, and change review ---------------------------------

CALENDAR_PAST = timedelta(days=90)
CALENDAR_LIMIT = 500


def calendar_maintenances(page: Page, *, now: datetime, component: Component | None = None) -> list[Incident]:
    """What a page's (or one public component's) iCalendar feed lists: published maintenances that end
    after 90 days ago, cancelled ones included (calendars must see them cancelled), with their public
    components and latest update."""
    qs = (
        Incident.objects.for_page(page)
        .maintenances()
        .filter(published_at__isnull=False, scheduled_until__gte=now - CALENDAR_PAST)
    )
    if component is not None:
        qs = qs.filter(components=component)
    return list(_with_timeline(qs.order_by("scheduled_for", "id"))[:CALENDAR_LIMIT])


def maintenance_overview(page: Page, *, now: datetime, past: int = 30) -> dict[str, list[Incident]]:
    """The console's maintenance list: in progress, upcoming (with those held back by the review and
    cancelled ones still ahead), and the `past` most recent finished or cancelled ones."""
    base = (
        Incident.objects.for_page(page)
        .maintenances()
        .select_related("series", "created_by")
        .prefetch_related("components")
    )
    return {
        "active": list(base.active_maintenances().order_by("scheduled_for")),
        "upcoming": list(base.upcoming().order_by("scheduled_for", "id")),
        "past": list(
            base.filter(Q(status="completed") | Q(cancelled_at__isnull=False)).order_by(
                "-scheduled_for", "-id"
            )[:past]
        ),
    }


def maintenance_detail(page: Page, code: str) -> Incident | None:
    return (
        Incident.objects.for_page(page)
        .maintenances()
        .filter(code=code)
        .select_related("page", "series", "created_by", "reviewed_by", "commander")
        .prefetch_related(
            Prefetch(
                "components", queryset=Component.objects.select_related("group").order_by("position", "id")
            )
        )
        .first()
    )


@dataclass(frozen=True)
class ImpactItem:
    """One component a change may affect: one it touches (depth 0), or a dependent of those (depth >= 1,
    reached `via` the listed components, `kind` "hard" when every dependency on that path is hard)."""

    component: Component
    depth: int
    via: tuple[Component, ...]
    kind: str
    public: bool

    @property
    def internal(self) -> bool:
        return not self.public


def potential_impact(page: Page, components) -> list[ImpactItem]:
    """The potential impact of a change to `components`: the components themselves, then every component
    that depends on them, directly or through others, public and internal, each marked
    (components.dependencies.blast_radius). A fixed number of queries."""
    from components import dependencies

    components = list(components)
    if not components:
        return []
    public = set(Component.objects.for_page(page).public().values_list("pk", flat=True))
    items = [ImpactItem(c, 0, (), "", c.pk in public) for c in components]
    for affected in dependencies.blast_radius(page, components):
        items.append(
            ImpactItem(
                affected.component,
                affected.depth,
                tuple(affected.via),
                affected.kind,
                affected.component.pk in public,
            )
        )
    return items
