"""Our additions to the management API, under `/pages/{page_id}/ext/` where no Statuspage path can ever
collide: the update-cadence reports, the outbox events and their deliveries, and the audit log.

Who may read what follows the console: cadence reports and events (counts only) for every key; deliveries
(they name subscribers and carry the errors their servers gave) for commander keys; the audit log (it holds
addresses and settings before and after) for owner keys."""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

from django.db.models import Count, Q
from django.utils import dateparse, timezone
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from components.models import Component
from incidents import cadence
from incidents.models import Incident
from statuspage.api.base import Moment, PageAPIView, paginate
from statuspage.models import AuditEvent, Page, Role
from statuspage.serializers import timestamp
from subscribers.models import Delivery, DeliveryState, EventType, OutboxEvent

# Page reports read every incident in the window (three queries each): a year at most per request.
MAX_REPORT_DAYS = 366
# What of an event's `data` is public: a component change's statuses (the rest are internal row ids).
EVENT_DATA_KEYS = ("old_status", "new_status")
SETTLED = (DeliveryState.SENT, DeliveryState.DEAD, DeliveryState.CANCELLED)


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _moment(value: str, field: str, tz: tzinfo, *, end: bool) -> datetime:
    """An ISO date (a whole day in the page's time zone; as `until`, that day is included) or an ISO
    date-time (without an offset, read in the page's time zone)."""
    value = value.strip()
    try:
        # The date first: Python reads "2026-03-01" as a date-time too (midnight), losing "the whole day".
        day = dateparse.parse_date(value)
        moment = None if day is not None else dateparse.parse_datetime(value)
    except ValueError:  # well formed but impossible, like 2026-02-30
        day = moment = None
    if day is not None and Moment.EARLIEST.year <= day.year < Moment.LATEST.year:
        return datetime.combine(day + timedelta(days=1) if end else day, time.min, tzinfo=tz)
    if moment is not None:
        moment = moment if timezone.is_aware(moment) else moment.replace(tzinfo=tz)
        if Moment.EARLIEST <= moment < Moment.LATEST:
            return moment
    raise serializers.ValidationError(
        {field: ["An ISO date (2026-03-01) or date-time (2026-03-01T12:00Z), from 1970 to 2100."]}
    )


def _window(request, tz: tzinfo, *, default_days: int | None) -> tuple[datetime | None, datetime | None]:
    since, until = (request.query_params.get(k, "").strip() for k in ("since", "until"))
    start = _moment(since, "since", tz, end=False) if since else None
    end = _moment(until, "until", tz, end=True) if until else None
    if default_days is not None:
        end = end or timezone.now()
        start = start or end - timedelta(days=default_days)
    if start is not None and end is not None and start >= end:
        field = "until" if until else "since"  # with `until` left out, it is now
        raise serializers.ValidationError({field: ["since must come before until."]})
    return start, end


def _choice(request, field: str, choices: list[str]) -> str | None:
    value = request.query_params.get(field, "").strip()
    if value and value not in choices:
        raise serializers.ValidationError({field: [f"Choose one of: {', '.join(choices)}."]})
    return value or None


def _incident(page: Page, incident_id: str) -> Incident:
    incident = (
        Incident.objects.for_page(page).select_related("page", "commander").filter(code=incident_id).first()
    )
    if incident is None:
        raise NotFound("No such incident.")
    return incident


# --- Cadence --------------------------------------------------------------------------------------------


def report_json(report: cadence.CadenceReport) -> dict:
    """One incident's communication discipline; durations in seconds."""
    return {
        "updates": report.updates,
        "longest_gap_seconds": _seconds(report.longest_gap),
        "on_time_share": report.on_time_share,
        "reminders": report.reminders,
        "escalations": report.escalations,
        "time_to_first_update_seconds": _seconds(report.time_to_first_update),
        "time_to_resolve_seconds": _seconds(report.time_to_resolve),
    }


def incident_ref(incident: Incident) -> dict:
    tz = incident.page.tz
    return {
        "id": incident.code,
        "name": incident.name,
        "status": incident.status,
        "impact": incident.impact,
        "started_at": timestamp(incident.started_at, tz),
        "resolved_at": timestamp(incident.resolved_at, tz),
    }


class PageCadence(PageAPIView):
    """GET ext/cadence?since=&until=: the cadence report of the incidents that started in the window
    (default: the last 30 days)."""

    def get(self, request, page_id):
        tz = self.page.tz
        since, until = _window(request, tz, default_days=30)
        if until - since > timedelta(days=MAX_REPORT_DAYS):
            raise serializers.ValidationError({"since": [f"At most {MAX_REPORT_DAYS} days per report."]})
        now = timezone.now()
        report = cadence.page_report(self.page, since=since, until=until, now=now)
        return Response(
            {
                "since": timestamp(since, tz),
                "until": timestamp(until, tz),
                "incidents": report["incidents"],
                "updates": report["updates"],
                "on_time_share": report["on_time_share"],
                "longest_gap_seconds": _seconds(report["longest_gap"]),
                "reminders": report["reminders"],
                "escalations": report["escalations"],
                "median_time_to_resolve_seconds": _seconds(report["median_time_to_resolve"]),
                "rows": [
                    {"incident": incident_ref(incident), **report_json(row)}
                    for incident, row in report["rows"]
                ],
            }
        )


class IncidentCadence(PageAPIView):
    """GET ext/incidents/{id}/cadence: one incident's report, and where its next update stands."""

    def get(self, request, page_id, incident_id):
        incident = _incident(self.page, incident_id)
        now = timezone.now()
        due = cadence.due_state(incident, now)
        return Response(
            {
                "incident": incident_ref(incident),
                "commander": incident.commander.get_username() if incident.commander else None,
                "cadence_minutes": int(cadence.cadence_for(incident).total_seconds() // 60),
                "next_update_due_at": timestamp(incident.next_update_due_at, self.page.tz),
                "due_state": due.state,
                **report_json(cadence.report(incident, now=now)),
            }
        )


# --- Events and deliveries --------------------------------------------------------------------------------


def _state_counts(deliveries) -> dict[str, int]:
    rows = dict(deliveries.order_by().values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    return {state: rows.get(state, 0) for state in DeliveryState.values}


def event_json(event: OutboxEvent, codes: dict[int, str]) -> dict:
    tz = event.page.tz
    return {
        "id": event.code,
        "type": event.type,
        "created_at": timestamp(event.created_at, tz),
        "fanned_out_at": timestamp(event.fanned_out_at, tz),
        "incident_id": event.incident.code if event.incident_id else None,
        "incident_update_id": event.incident_update.code if event.incident_update_id else None,
        "component_id": event.component.code if event.component_id else None,
        "component_ids": [codes[pk] for pk in event.component_ids or [] if pk in codes],
        "data": {k: v for k, v in (event.data or {}).items() if k in EVENT_DATA_KEYS},
        "deliveries": {state: getattr(event, f"n_{state}") for state in DeliveryState.values},
    }


def delivery_json(delivery: Delivery) -> dict:
    """A delivery has no public id of its own: `id` is its row id, meaningful only with this page's key."""
    tz = delivery.event.page.tz
    return {
        "id": delivery.pk,
        "event_id": delivery.event.code,
        "event_type": delivery.event.type,
        "subscriber_id": delivery.subscriber.code,
        "channel": delivery.subscriber.kind,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "next_attempt_at": None if delivery.state in SETTLED else timestamp(delivery.next_attempt_at, tz),
        "last_error": delivery.last_error or None,
        "sent_at": timestamp(delivery.sent_at, tz),
        "created_at": timestamp(delivery.created_at, tz),
    }


class EventList(PageAPIView):
    """GET ext/events?type=: the page's outbox events, newest first, each with its deliveries by state."""

    def get(self, request, page_id):
        kind = _choice(request, "type", EventType.values)
        qs = OutboxEvent.objects.for_page(self.page).select_related(
            "page", "incident", "incident_update", "component"
        )
        if kind:
            qs = qs.filter(type=kind)
        qs = qs.annotate(
            **{
                f"n_{state}": Count("deliveries", filter=Q(deliveries__state=state))
                for state in DeliveryState.values
            }
        ).order_by("-created_at", "-id")
        events = paginate(request, qs)
        pks = {pk for event in events for pk in event.component_ids or []}
        codes = dict(Component.objects.for_page(self.page).filter(pk__in=pks).values_list("pk", "code"))
        return Response([event_json(event, codes) for event in events])


def _deliveries(request, qs):
    state = _choice(request, "state", DeliveryState.values)
    qs = qs.select_related("event__page", "subscriber")
    return qs.filter(state=state) if state else qs


class EventDeliveries(PageAPIView):
    """GET ext/events/{id}/deliveries?state=: one event's deliveries, in the order they were made."""

    read_role = Role.COMMANDER

    def get(self, request, page_id, event_id):
        event = OutboxEvent.objects.for_page(self.page).filter(code=event_id).first()
        if event is None:
            raise NotFound("No such event.")
        qs = _deliveries(request, Delivery.objects.for_page(self.page).filter(event=event)).order_by("id")
        return Response([delivery_json(d) for d in paginate(request, qs)])


class IncidentDeliveries(PageAPIView):
    """GET ext/incidents/{id}/deliveries?state=: the deliveries of every event of one incident, with the
    counts per state of them all (before the `state` filter and pagination)."""

    read_role = Role.COMMANDER

    def get(self, request, page_id, incident_id):
        incident = _incident(self.page, incident_id)
        every = Delivery.objects.for_page(self.page).filter(event__incident=incident)
        qs = _deliveries(request, every).order_by("event__created_at", "event_id", "id")
        rows = paginate(request, qs)
        return Response(
            {
                "incident_id": incident.code,
                "counts": _state_counts(every),
                "deliveries": [delivery_json(d) for d in rows],
            }
        )


# --- Audit log --------------------------------------------------------------------------------------------


def audit_json(event: AuditEvent) -> dict:
    """An audit event has no public id: `id` is its row id."""
    return {
        "id": event.pk,
        "action": event.action,
        "description": event.description,
        "actor": event.actor_label,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "before": event.before,
        "after": event.after,
        "created_at": timestamp(event.created_at, event.page.tz),
    }


class AuditEventList(PageAPIView):
    """GET ext/audit-events?action=&object_type=&object_id=&since=&until=: the audit log, newest first."""

    read_role = Role.OWNER

    def get(self, request, page_id):
        qs = AuditEvent.objects.for_page(self.page).select_related("page")
        text = serializers.CharField(max_length=64, allow_blank=True)  # NUL and the like: 400, not a 500
        for field in ("action", "object_type", "object_id"):
            try:
                value = text.run_validation(request.query_params.get(field, "")).strip()
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({field: exc.detail}) from None
            if value:
                qs = qs.filter(**{field: value})
        since, until = _window(request, self.page.tz, default_days=None)
        if since is not None:
            qs = qs.filter(created_at__gte=since)
        if until is not None:
            qs = qs.filter(created_at__lt=until)
        return Response([audit_json(e) for e in paginate(request, qs.order_by("-created_at", "-id"))])
