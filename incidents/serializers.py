"""Statuspage's incident as its management API and its webhooks carry it: the public v2 document plus
`impact_override`, `metadata`, `backfilled`, the `scheduled_*` and `auto_transition_*` fields,
`reminder_intervals` and `postmortem_*`. Only facts the public may know: the management API adds ours
(commander, cadence, change review) in incidents/api.py."""

from __future__ import annotations

from incidents.models import Incident, MaintenanceNoticeKind
from statuspage.serializers import incident_v2, timestamp


def statuspage_incident(incident: Incident) -> dict:
    page = incident.page
    tz = page.tz
    out = incident_v2(incident, page)
    postmortem = getattr(incident, "postmortem", None)
    published = postmortem is not None and postmortem.published_at is not None
    out.update(
        {
            "impact_override": incident.impact_override or None,
            "metadata": {},
            "backfilled": incident.backfilled,
            "scheduled_for": timestamp(incident.scheduled_for, tz),
            "scheduled_until": timestamp(incident.scheduled_until, tz),
            **_scheduled(incident, tz),
            "reminder_intervals": None,
            "postmortem_body": postmortem.body if published else None,
            "postmortem_body_last_updated_at": timestamp(postmortem.updated_at, tz) if published else None,
            "postmortem_published_at": timestamp(postmortem.published_at, tz) if published else None,
            "postmortem_ignored": False,
            "postmortem_notified_subscribers": False,
            "postmortem_notified_twitter": False,
        }
    )
    return out


def _scheduled(incident: Incident, tz) -> dict:
    """Statuspage's scheduled_* and auto_transition_* fields (false for incidents)."""
    if not incident.is_maintenance:
        return {
            "scheduled_remind_prior": False,
            "scheduled_reminded_at": None,
            "scheduled_auto_in_progress": False,
            "scheduled_auto_transition": False,
            "scheduled_auto_completed": False,
            "auto_transition_to_maintenance_state": False,
            "auto_transition_to_operational_state": False,
            "auto_transition_deliver_notifications_at_start": False,
            "auto_transition_deliver_notifications_at_end": False,
        }
    reminded = [
        n.created_at
        for n in incident.maintenance_notices.all()
        if n.kind == MaintenanceNoticeKind.REMINDER and not n.error
    ]
    return {
        "scheduled_remind_prior": bool(incident.reminders),
        "scheduled_reminded_at": timestamp(max(reminded), tz) if reminded else None,
        "scheduled_auto_in_progress": incident.auto_start,
        "scheduled_auto_transition": incident.auto_start,
        "scheduled_auto_completed": incident.auto_complete,
        "auto_transition_to_maintenance_state": incident.set_components_at_start,
        "auto_transition_to_operational_state": incident.restore_components_at_end,
        "auto_transition_deliver_notifications_at_start": incident.notify_at_start,
        "auto_transition_deliver_notifications_at_end": incident.notify_at_end,
    }
