"""Commands of the notify road. Fan-out and delivery arrive with the subscribers issue; today the outbox
row is written in the caller's transaction so no event is lost meanwhile."""

from __future__ import annotations

from collections.abc import Iterable

from components.models import Component
from statuspage.models import Page
from subscribers.models import EventType, OutboxEvent


def record_event(
    *,
    page: Page,
    type: EventType,
    incident=None,
    incident_update=None,
    component: Component | None = None,
    components: Iterable[Component] = (),
) -> OutboxEvent:
    """Write one outbox row. Runs inside the caller's transaction; not idempotent (one call, one event)."""
    return OutboxEvent.objects.create(
        page=page,
        type=type,
        incident=incident,
        incident_update=incident_update,
        component=component,
        component_ids=sorted({c.pk for c in components} | ({component.pk} if component else set())),
    )
