"""The maintenance calendar (the "deployment calendar"): an iCalendar feed per page and per public
component that Google Calendar, Outlook and Apple Calendar subscribe to.

Each maintenance is one VEVENT whose UID (`<maintenance code>@<page host>`) never changes, so a calendar
updates the event in place; its SEQUENCE grows with every reschedule, extension or cancellation; a
cancelled maintenance stays in the feed with STATUS:CANCELLED so calendars drop it. Times are in UTC.
Only published maintenances and public components appear: internal components are never named.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from icalendar import Calendar, Event

from components.models import Component
from incidents.models import Incident
from statuspage.models import Page

PRODID = "-//Open Status//Maintenance calendar//EN"
CONTENT_TYPE = "text/calendar; charset=utf-8"
REFRESH = timedelta(hours=1)


def page_host(page: Page) -> str:
    return urlsplit(page.public_url).hostname or "localhost"


def uid(incident: Incident, page: Page) -> str:
    return f"{incident.code}@{page_host(page)}"


def _public_components(incident: Incident) -> list[Component]:
    return [c for c in incident.components.all() if c.is_public and (c.group_id is None or c.group.is_public)]


def _description(incident: Incident, url: str) -> str:
    updates = list(incident.updates.all())  # newest first (the selector's prefetch)
    parts = []
    if updates:
        parts.append(updates[0].body)
    names = [c.name for c in _public_components(incident)]
    if names:
        parts.append("Affected: " + ", ".join(names))
    parts.append(url)
    return "\n\n".join(parts)


def _status(incident: Incident) -> str:
    if incident.cancelled_at is not None:
        return "CANCELLED"
    return "CONFIRMED"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def render(page: Page, maintenances: list[Incident], *, component: Component | None = None) -> bytes:
    """The feed for `page` (or one of its public components) from maintenances the selector chose."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    title = f"{page.name} maintenance" if component is None else f"{page.name} maintenance: {component.name}"
    cal.add("x-wr-calname", title)
    cal.add("x-wr-caldesc", f"Scheduled maintenance of {page.name}, from {page.public_url}")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    for incident in maintenances:
        url = f"{page.public_url}incidents/{incident.code}"
        event = Event()
        event.add("uid", uid(incident, page))
        event.add("dtstamp", _utc(incident.updated_at))
        event.add("created", _utc(incident.created_at))
        event.add("last-modified", _utc(incident.updated_at))
        event.add("sequence", incident.sequence)
        event.add("dtstart", _utc(incident.scheduled_for))
        event.add("dtend", _utc(incident.scheduled_until))
        event.add("summary", incident.name)
        event.add("description", _description(incident, url))
        event.add("url", url)
        event.add("status", _status(incident))
        event.add("transp", "OPAQUE")
        event.add("categories", ["Maintenance"])
        cal.add_component(event)
    return cal.to_ical()
