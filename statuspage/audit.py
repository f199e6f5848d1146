"""Reading the audit log: the console's filters and the CSV export. (Writing is `services.record_audit`;
the model refuses every change and deletion.)"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from statuspage.models import AuditEvent, AuditEventQuerySet, Page

EXPORT_COLUMNS = (
    "time_utc",
    "time_local",
    "time_zone",
    "actor",
    "action",
    "description",
    "object_type",
    "object_id",
    "before",
    "after",
)
BATCH = 2000


def filtered(page: Page, params: Mapping[str, str]) -> AuditEventQuerySet:
    """The page's events matching the console's filters: person, type, object, and from/to (days in the
    page's zone, both included). Filters that cannot be read are ignored, as the form shows them."""
    events = AuditEvent.objects.for_page(page)
    for param, field in (("person", "actor_label"), ("type", "object_type"), ("object", "object_id")):
        value = params.get(param, "")
        if value:
            events = events.filter(**{field: value})
    day_from, day_to = _day(params.get("from")), _day(params.get("to"))
    if day_from:
        events = events.filter(created_at__gte=datetime.combine(day_from, time.min, tzinfo=page.tz))
    if day_to:
        events = events.filter(
            created_at__lt=datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=page.tz)
        )
    return events


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        return None


def export_rows(page: Page, params: Mapping[str, str]) -> Iterator[tuple[str, ...]]:
    """CSV rows (header first), oldest first, read in keyset batches so an export of any length streams in
    bounded memory. Times in UTC (ISO 8601) and in the page's zone, which is named in its own column."""
    yield EXPORT_COLUMNS
    tz, zone = page.tz, page.time_zone
    descriptions: dict[str, str] = {}  # the model's wording, worked out once per action
    events = filtered(page, params).order_by("created_at", "id")
    fields = (
        "created_at",
        "id",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "before_text",
        "after_text",
    )
    # The JSON columns as the database's own text: no decoding and re-encoding per row.
    events = events.annotate(before_text=Cast("before", TextField()), after_text=Cast("after", TextField()))
    after: tuple[datetime, int] | None = None
    while True:
        batch = events
        if after is not None:
            # The plain range lets the (page, created_at) index bound the scan; the OR breaks ties by id.
            batch = batch.filter(created_at__gte=after[0]).filter(
                Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1])
            )
        rows = list(batch.values_list(*fields)[:BATCH])  # tuples: no model instances on the hot path
        if not rows:
            return
        for created_at, _, actor, action, object_type, object_id, before, after_values in rows:
            yield (
                created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                created_at.astimezone(tz).isoformat(),
                zone,
                actor,
                action,
                descriptions.get(action)
                or descriptions.setdefault(action, AuditEvent(action=action).description),
                object_type,
                object_id,
                before,
                after_values,
            )
        after = (rows[-1][0], rows[-1][1])
