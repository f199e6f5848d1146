"""Statuspage's public v2 documents (STATUSPAGE.md section 1), built field by field.

These shapes are a public contract that existing clients parse, so every field is named here explicitly;
a model rename cannot change them. Times carry milliseconds and the page's UTC offset ("Z" for UTC pages).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from components.models import Component, ComponentGroup, worst_status
from incidents.models import Incident, IncidentUpdate
from statuspage.models import Page


def timestamp(value: datetime | None, tz: tzinfo) -> str | None:
    if value is None:
        return None
    local = value.astimezone(tz)
    text = local.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") and local.utcoffset().total_seconds() == 0 else text


def page_v2(page: Page, updated_at: datetime) -> dict:
    return {
        "id": page.code,
        "name": page.name,
        "url": page.public_url.rstrip("/"),
        "time_zone": page.time_zone,
        "updated_at": timestamp(updated_at, page.tz),
    }


def component_v2(component: Component, page: Page) -> dict:
    tz = page.tz
    return {
        "id": component.code,
        "name": component.name,
        "status": component.status,
        "created_at": timestamp(component.created_at, tz),
        "updated_at": timestamp(component.updated_at, tz),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": _date(component.start_date),
        "group_id": component.group.code if component.group_id else None,
        "page_id": page.code,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def group_v2(group: ComponentGroup, children: list[Component], page: Page) -> dict:
    tz = page.tz
    return {
        "id": group.code,
        "name": group.name,
        "status": worst_status([c.status for c in children]),
        "created_at": timestamp(group.created_at, tz),
        "updated_at": timestamp(group.updated_at, tz),
        "position": group.position,
        "description": group.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": page.code,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.code for c in children],
    }


def components_v2(components: list[Component], page: Page) -> list[dict]:
    """Groups as flat entries beside their children, in display order (Statuspage's components array)."""
    out: list[dict] = []
    seen_groups: set[int] = set()
    for component in components:
        group = component.group
        if group is not None and group.pk not in seen_groups and group.is_public:
            seen_groups.add(group.pk)
            children = [c for c in components if c.group_id == group.pk]
            out.append(group_v2(group, children, page))
            out.extend(component_v2(c, page) for c in children)
        elif group is None:
            out.append(component_v2(component, page))
    return out


def incident_update_v2(update: IncidentUpdate, incident: Incident, page: Page) -> dict:
    tz = page.tz
    changes = [ch for ch in update.component_changes.all() if ch.component.is_shown]
    return {
        "id": update.code,
        "status": update.status,
        "body": update.body,
        "incident_id": incident.code,
        "created_at": timestamp(update.created_at, tz),
        "updated_at": timestamp(update.updated_at, tz),
        "display_at": timestamp(update.display_at, tz),
        "affected_components": [
            {
                "code": ch.component.code,
                "name": ch.component.name,
                "old_status": ch.old_status,
                "new_status": ch.new_status,
            }
            for ch in changes
        ]
        or None,
        "deliver_notifications": update.deliver_notifications,
        "custom_tweet": None,
        "tweet_id": None,
    }


def incident_v2(incident: Incident, page: Page) -> dict:
    tz = page.tz
    components = [c for c in incident.components.all() if c.is_shown]
    doc = {
        "id": incident.code,
        "name": incident.name,
        "status": incident.status,
        "created_at": timestamp(incident.created_at, tz),
        "updated_at": timestamp(incident.updated_at, tz),
        "monitoring_at": timestamp(incident.monitoring_at, tz),
        "resolved_at": timestamp(incident.resolved_at, tz),
        "impact": incident.effective_impact,
        "shortlink": f"{page.public_url}incidents/{incident.code}",
        "started_at": timestamp(incident.started_at, tz),
        "page_id": page.code,
        "incident_updates": [incident_update_v2(u, incident, page) for u in incident.updates.all()],
        "components": [component_v2(c, page) for c in components],
    }
    if incident.is_maintenance:
        doc["scheduled_for"] = timestamp(incident.scheduled_for, tz)
        doc["scheduled_until"] = timestamp(incident.scheduled_until, tz)
    return doc


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None
