"""Commands on scheduled maintenance: schedule, publish, remind, start, complete, extend, reschedule,
cancel, edit, and recurring series (DESIGN.md road 1; the clock that calls some of them is
incidents.scheduler).

A maintenance is an Incident of kind `maintenance`. It is public once `published_at` is set: at scheduling,
or, when the page asks for change approval, once an owner other than its author approves it
(incidents.services.changes). Starting remembers each affected component's status and puts it under
maintenance; completing restores each one, unless someone changed it during the window. Every status change
goes through components.services.set_component_status, so status history and uptime stay right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from components.models import Component, ComponentStatus
from incidents.models import (
    ACTIVE_MAINTENANCE_STATUSES,
    DEFAULT_REMINDERS,
    MAX_REMINDER_MINUTES,
    MAX_REMINDERS,
    Frequency,
    Impact,
    Incident,
    IncidentUpdate,
    Kind,
    MaintenanceSeries,
    MaintenanceStatus,
    ReviewState,
)
from incidents.services import DEFAULT_BODIES, _check_components, _notify, _write_update
from statuspage.models import Page
from statuspage.services import Actor, record_audit, schedule_publish
from subscribers.models import EventType
from subscribers.services import record_event

# How far ahead a recurring series is expanded into concrete maintenances.
SERIES_HORIZON = timedelta(days=60)
SETTINGS = (
    "auto_start",
    "auto_complete",
    "set_components_at_start",
    "restore_components_at_end",
    "notify_at_start",
    "notify_at_end",
)


# --- Rules shared by the commands -------------------------------------------------------------------


def clean_reminders(value, errors: dict, field: str = "reminders") -> list[int]:
    """A list of whole minutes before the start, largest first, without repeats. Puts a message on `field`
    in `errors` (and returns []) when it is not one."""
    if value is None:
        return list(DEFAULT_REMINDERS)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        errors[field] = "Give the reminders as a list of minutes before the start, e.g. 60, 15."
        return []
    out: set[int] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int):
            errors[field] = "Each reminder is a whole number of minutes before the start, e.g. 60, 15."
            return []
        if not 1 <= item <= MAX_REMINDER_MINUTES:
            errors[field] = f"Each reminder is 1 to {MAX_REMINDER_MINUTES} minutes (7 days) before the start."
            return []
        out.add(item)
    if len(out) > MAX_REMINDERS:
        errors[field] = f"At most {MAX_REMINDERS} reminders."
        return []
    return sorted(out, reverse=True)


def approval_blocks(obj) -> bool:
    """Whether the change review holds `obj` (a maintenance, series or change record) back: it was
    rejected, or the page asks for approval and nobody has approved it (or its components changed since)."""
    if obj.review_state == ReviewState.REJECTED:
        return True
    return obj.page.require_change_approval and obj.review_state != ReviewState.APPROVED


def _initial_review_state(page: Page, series: MaintenanceSeries | None = None) -> str:
    if series is not None and series.review_state == ReviewState.APPROVED:
        return ReviewState.APPROVED
    return ReviewState.PENDING if page.require_change_approval else ReviewState.DRAFT


def _lock(incident: Incident) -> Incident:
    incident = Incident.objects.select_for_update(of=("self",)).select_related("page").get(pk=incident.pk)
    if not incident.is_maintenance:
        raise ValidationError({"kind": "This is an incident, not a scheduled maintenance."})
    return incident


def _local(moment: datetime, page: Page) -> str:
    return timezone.localtime(moment, page.tz).strftime("%b %d, %H:%M %Z")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _check_window(scheduled_for: datetime | None, scheduled_until: datetime | None, errors: dict) -> None:
    if scheduled_for is None:
        errors["scheduled_for"] = "Give the start of the window."
    if scheduled_until is None:
        errors["scheduled_until"] = "Give the end of the window."
    elif scheduled_for is not None and scheduled_until <= scheduled_for:
        errors["scheduled_until"] = "The window must end after it starts."


def _public(component: Component) -> bool:
    return component.is_public and (component.group_id is None or component.group.is_public)


def _first_update(incident: Incident) -> IncidentUpdate | None:
    return incident.updates.order_by("created_at", "id").first()


# --- Scheduling and publishing ------------------------------------------------------------------------


def schedule_maintenance(
    *,
    actor: Actor,
    page: Page,
    name: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    body: str = "",
    components: Sequence[Component] = (),
    deliver_notifications: bool = True,
    reminders: Sequence[int] | None = None,
    auto_start: bool = True,
    auto_complete: bool = True,
    set_components_at_start: bool = True,
    restore_components_at_end: bool = True,
    notify_at_start: bool = True,
    notify_at_end: bool = True,
    author=None,
    series: MaintenanceSeries | None = None,
    series_slot: datetime | None = None,
    at: datetime | None = None,
) -> Incident:
    """Schedule a maintenance window with its first update. One transaction; not idempotent (a series'
    occurrence is: its (series, slot) is unique).

    `deliver_notifications` tells subscribers of the scheduling, when it is published: at once, or when an
    owner approves it if the page asks for approval. `reminders` are minutes before the start (default
    [60]; [] for none). `author` is who wrote it when the actor is not a person (an API key's maker).
    """
    at = at or timezone.now()
    errors: dict = {}
    if not name.strip():
        errors["name"] = "Give the maintenance a title."
    _check_window(scheduled_for, scheduled_until, errors)
    _check_components(page, {c: c.status for c in components}, errors)
    reminders = clean_reminders(reminders, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident(
            page=page,
            kind=Kind.MAINTENANCE,
            name=name.strip(),
            status=MaintenanceStatus.SCHEDULED,
            impact=Impact.MAINTENANCE,
            commander=actor.user or author,
            created_by=actor.user or author,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            started_at=scheduled_for,
            reminders=reminders,
            auto_start=auto_start,
            auto_complete=auto_complete,
            set_components_at_start=set_components_at_start,
            restore_components_at_end=restore_components_at_end,
            notify_at_start=notify_at_start,
            notify_at_end=notify_at_end,
            series=series,
            series_slot=series_slot,
            review_state=_initial_review_state(page, series),
            created_at=at,
            updated_at=at,
        )
        incident.full_clean(exclude=["series"] if series is not None else None)
        incident.save()
        incident.components.set(components)
        IncidentUpdate.objects.create(
            incident=incident,
            status=MaintenanceStatus.SCHEDULED,
            body=body.strip() or DEFAULT_BODIES[MaintenanceStatus.SCHEDULED],
            author=actor.user,
            deliver_notifications=deliver_notifications,
            created_at=at,
            display_at=at,
            updated_at=at,
        )
        record_audit(
            page=page,
            actor=actor,
            action="maintenance.scheduled",
            obj=incident,
            after={
                "name": incident.name,
                "scheduled_for": _iso(scheduled_for),
                "scheduled_until": _iso(scheduled_until),
                "components": [c.code for c in components],
                "reminders": reminders,
                "auto_start": auto_start,
                "auto_complete": auto_complete,
                "review_state": incident.review_state,
                **({"series": series.code} if series is not None else {}),
            },
        )
        if not approval_blocks(incident):
            _publish(incident, at=at)
        schedule_publish(page)
    return incident


def _publish(incident: Incident, *, at: datetime) -> bool:
    """Make a maintenance public and, if its first update asked for it, tell subscribers of the scheduling.
    Runs in the caller's transaction; idempotent (a conditional UPDATE claims it)."""
    claimed = Incident.objects.filter(pk=incident.pk, published_at__isnull=True).update(published_at=at)
    if not claimed:
        return False
    incident.published_at = at
    first = _first_update(incident)
    ended = incident.status in ACTIVE_MAINTENANCE_STATUSES or incident.status == MaintenanceStatus.COMPLETED
    if first is not None and first.deliver_notifications and not ended and incident.cancelled_at is None:
        Incident.objects.filter(pk=incident.pk).update(announced_at=at)
        incident.announced_at = at
        record_event(
            page=incident.page,
            type=EventType.MAINTENANCE_SCHEDULED,
            incident=incident,
            incident_update=first,
            components=incident.components.all(),
        )
    schedule_publish(incident.page)
    return True


def publish_maintenance(*, actor: Actor, incident: Incident, at: datetime | None = None) -> Incident:
    """Publish a maintenance the page's review no longer holds back (approved, or the page stopped asking
    for approval). One transaction; idempotent."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = _lock(incident)
        if approval_blocks(incident):
            raise ValidationError({"approval": "An owner other than its author must approve it first."})
        if incident.cancelled_at is None and _publish(incident, at=at):
            record_audit(page=incident.page, actor=actor, action="maintenance.published", obj=incident)
    return incident


def remind_maintenance(*, actor: Actor, incident: Incident, minutes: int, sequence: int) -> bool:
    """Tell subscribers the maintenance starts in `minutes`. Runs in the caller's transaction (the
    scheduler's claim of the reminder); returns False, doing nothing, when the maintenance changed since
    the reminder fell due (rescheduled, cancelled, started, or held back by the change review)."""
    incident = _lock(incident)
    if (
        incident.sequence != sequence
        or incident.status != MaintenanceStatus.SCHEDULED
        or incident.cancelled_at is not None
        or incident.published_at is None
        or approval_blocks(incident)
    ):
        return False
    record_event(
        page=incident.page,
        type=EventType.MAINTENANCE_REMINDER,
        incident=incident,
        components=incident.components.all(),
        data={"minutes": minutes, "scheduled_for": _iso(incident.scheduled_for)},
    )
    record_audit(
        page=incident.page,
        actor=actor,
        action="maintenance.reminded",
        obj=incident,
        after={"minutes": minutes},
    )
    return True


# --- Start and completion --------------------------------------------------------------------------


def start_maintenance(
    *,
    actor: Actor,
    incident: Incident,
    body: str = "",
    deliver_notifications: bool | None = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Start a scheduled maintenance (by hand, or on time by the scheduler): remember each affected
    component's status, put it under maintenance, and post the in-progress update. One transaction; not
    repeatable (a started maintenance cannot start again).

    Refused while the page's change review holds it back. `deliver_notifications` defaults to the
    maintenance's `notify_at_start`.
    """
    at = at or timezone.now()
    with transaction.atomic():
        incident = _lock(incident)
        if incident.cancelled_at is not None:
            raise ValidationError({"status": "This maintenance was cancelled."})
        if incident.status != MaintenanceStatus.SCHEDULED:
            raise ValidationError({"status": "This maintenance has already started."})
        if approval_blocks(incident):
            raise ValidationError(
                {"approval": "It cannot start before an owner other than its author approves it."}
            )
        restore: dict[str, str] = {}
        statuses: dict[Component, str] = {}
        if incident.set_components_at_start:
            for component in incident.components.select_related("group").order_by("position", "id"):
                restore[component.code] = component.status
                statuses[component] = ComponentStatus.UNDER_MAINTENANCE
        was_published = incident.published_at is not None
        if not was_published:  # the page stopped asking for approval: it goes public as it starts
            incident.published_at = at
        incident.restore_statuses = restore
        incident.started_at = at
        notify = incident.notify_at_start if deliver_notifications is None else deliver_notifications
        update = _write_update(
            actor=actor,
            incident=incident,
            status=MaintenanceStatus.IN_PROGRESS,
            body=body,
            components=statuses or None,
            deliver_notifications=notify,
            at=at,
        )
        record_audit(
            page=incident.page,
            actor=actor,
            action="maintenance.started",
            obj=incident,
            before={"status": MaintenanceStatus.SCHEDULED},
            after={
                "status": MaintenanceStatus.IN_PROGRESS,
                "previous_statuses": restore,
                "update": update.code,
            },
        )
        _notify(incident, update, EventType.MAINTENANCE_STARTED)
        schedule_publish(incident.page)
    return update


def complete_maintenance(
    *,
    actor: Actor,
    incident: Incident,
    body: str = "",
    deliver_notifications: bool | None = None,
    at: datetime | None = None,
) -> IncidentUpdate:
    """Complete a maintenance in progress (by hand, or at the end of its window by the scheduler): return
    each component it put under maintenance to the status it had before, and post the completed update.

    A component whose status someone changed during the window is left as it is, and the update says so
    (naming public components only; internal ones are named in the audit row). A component another running
    maintenance also holds stays under maintenance, and that maintenance will restore it. One transaction;
    not repeatable.
    """
    at = at or timezone.now()
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status not in ACTIVE_MAINTENANCE_STATUSES:
            raise ValidationError(
                {"status": "Only a maintenance in progress can be completed; cancel one not started."}
            )
        restore, left, handed = _restorations(incident)
        text = body.strip() or DEFAULT_BODIES[MaintenanceStatus.COMPLETED]
        named = [c for c in left if _public(c)]
        if named:
            labels = dict(ComponentStatus.choices)
            listed = ", ".join(f"{c.name} ({labels[c.status]})" for c in named)
            text += (
                f"\n\n{'It was' if len(named) == 1 else 'They were'} changed during the maintenance and "
                f"{'is' if len(named) == 1 else 'are'} left as {'it is' if len(named) == 1 else 'they are'}: "
                f"{listed}."
            )
        notify = incident.notify_at_end if deliver_notifications is None else deliver_notifications
        update = _write_update(
            actor=actor,
            incident=incident,
            status=MaintenanceStatus.COMPLETED,
            body=text,
            components=restore or None,
            deliver_notifications=notify,
            at=at,
        )
        record_audit(
            page=incident.page,
            actor=actor,
            action="maintenance.completed",
            obj=incident,
            before={"status": MaintenanceStatus.IN_PROGRESS},
            after={
                "status": MaintenanceStatus.COMPLETED,
                "restored": {c.code: s for c, s in restore.items()},
                "left_as_changed": {c.code: c.status for c in left},
                "still_held_by": handed,
                "update": update.code,
            },
        )
        _notify(incident, update, EventType.MAINTENANCE_COMPLETED)
        schedule_publish(incident.page)
    return update


def _restorations(incident: Incident) -> tuple[dict[Component, str], list[Component], dict[str, str]]:
    """What completing `incident` does to each component it put under maintenance: (statuses to restore,
    components changed by someone during the window, {component code: code of the running maintenance
    that still holds it})."""
    if not incident.restore_components_at_end or not incident.restore_statuses:
        return {}, [], {}
    remembered = incident.restore_statuses
    components = {
        c.code: c
        for c in Component.objects.filter(page=incident.page, code__in=list(remembered)).select_related(
            "group"
        )
    }
    others = list(
        Incident.objects.for_page(incident.page)
        .active_maintenances()
        .exclude(pk=incident.pk)
        .select_for_update(of=("self",))
        .order_by("started_at", "id")
    )
    restore: dict[Component, str] = {}
    left: list[Component] = []
    handed: dict[str, str] = {}
    for code, previous in remembered.items():
        component = components.get(code)
        if component is None:  # deleted during the window
            continue
        if component.status != ComponentStatus.UNDER_MAINTENANCE:
            left.append(component)
            continue
        holder = next((o for o in others if code in o.restore_statuses), None)
        if holder is not None:
            # The other maintenance put it under maintenance after us and remembered "under maintenance";
            # hand it what the component was before either began, for when it completes.
            if holder.restore_statuses[code] == ComponentStatus.UNDER_MAINTENANCE:
                holder.restore_statuses[code] = previous
                holder.save(update_fields=["restore_statuses"])
            handed[code] = holder.code
            continue
        restore[component] = previous
    return restore, left, handed


# --- Changing the window ----------------------------------------------------------------------------


def extend_maintenance(
    *,
    actor: Actor,
    incident: Incident,
    scheduled_until: datetime,
    body: str = "",
    deliver_notifications: bool = True,
    at: datetime | None = None,
) -> Incident:
    """Move the end of a scheduled or running maintenance's window, posting an update that says so.
    Raises the iCalendar sequence. One transaction; not idempotent."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = _lock(incident)
        if incident.cancelled_at is not None or incident.status == MaintenanceStatus.COMPLETED:
            raise ValidationError({"status": "This maintenance is over; its window cannot change."})
        if scheduled_until is None or scheduled_until <= incident.scheduled_for:
            raise ValidationError({"scheduled_until": "The window must end after it starts."})
        if scheduled_until <= at:
            raise ValidationError({"scheduled_until": "The new end must be in the future."})
        before = incident.scheduled_until
        if scheduled_until == before:
            return incident
        incident.scheduled_until = scheduled_until
        incident.sequence += 1
        text = body.strip() or f"The maintenance window now ends at {_local(scheduled_until, incident.page)}."
        update = _write_update(
            actor=actor,
            incident=incident,
            status=incident.status,
            body=text,
            components=None,
            deliver_notifications=deliver_notifications and incident.published_at is not None,
            at=at,
        )
        record_audit(
            page=incident.page,
            actor=actor,
            action="maintenance.extended",
            obj=incident,
            before={"scheduled_until": _iso(before)},
            after={"scheduled_until": _iso(scheduled_until), "sequence": incident.sequence},
        )
        _notify(incident, update, EventType.MAINTENANCE_UPDATED)
        schedule_publish(incident.page)
    return incident


def reschedule_maintenance(
    *,
    actor: Actor,
    incident: Incident,
    scheduled_for: datetime,
    scheduled_until: datetime,
    body: str = "",
    deliver_notifications: bool = True,
    at: datetime | None = None,
) -> Incident:
    """Move a maintenance that has not started to a new window in the future, posting an update that says
    so. Its reminders are armed again for the new start (the sequence is part of their key). One
    transaction; not idempotent."""
    at = at or timezone.now()
    errors: dict = {}
    _check_window(scheduled_for, scheduled_until, errors)
    if "scheduled_for" not in errors and scheduled_for <= at:
        errors["scheduled_for"] = "The new window must start in the future."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.cancelled_at is not None:
            raise ValidationError({"status": "This maintenance was cancelled."})
        if incident.status != MaintenanceStatus.SCHEDULED:
            raise ValidationError({"status": "Only a maintenance that has not started can be rescheduled."})
        before = {
            "scheduled_for": _iso(incident.scheduled_for),
            "scheduled_until": _iso(incident.scheduled_until),
        }
        if (scheduled_for, scheduled_until) == (incident.scheduled_for, incident.scheduled_until):
            return incident
        incident.scheduled_for = incident.started_at = scheduled_for
        incident.scheduled_until = scheduled_until
        incident.sequence += 1
        page = incident.page
        text = body.strip() or (
            f"The maintenance has been rescheduled to {_local(scheduled_for, page)} to "
            f"{_local(scheduled_until, page)}."
        )
        update = _write_update(
            actor=actor,
            incident=incident,
            status=MaintenanceStatus.SCHEDULED,
            body=text,
            components=None,
            deliver_notifications=deliver_notifications and incident.published_at is not None,
            at=at,
        )
        record_audit(
            page=page,
            actor=actor,
            action="maintenance.rescheduled",
            obj=incident,
            before=before,
            after={
                "scheduled_for": _iso(scheduled_for),
                "scheduled_until": _iso(scheduled_until),
                "sequence": incident.sequence,
            },
        )
        _notify(incident, update, EventType.MAINTENANCE_UPDATED)
        schedule_publish(page)
    return incident


def cancel_maintenance(
    *, actor: Actor, incident: Incident, body: str = "", at: datetime | None = None
) -> Incident:
    """Call off a maintenance that has not started. It leaves the public page and its lists (its own page
    stays, saying it was cancelled); subscribers who were told of it are told it is cancelled; calendars see
    it as cancelled. One transaction; idempotent for a cancelled one."""
    at = at or timezone.now()
    with transaction.atomic():
        incident = _lock(incident)
        if incident.cancelled_at is not None:
            return incident
        if incident.status != MaintenanceStatus.SCHEDULED:
            raise ValidationError(
                {"status": "This maintenance has started: complete it instead of cancelling it."}
            )
        incident.cancelled_at = at
        incident.sequence += 1
        update = _write_update(
            actor=actor,
            incident=incident,
            status=MaintenanceStatus.SCHEDULED,
            body=body.strip() or "This scheduled maintenance has been cancelled.",
            components=None,
            deliver_notifications=incident.announced_at is not None,
            at=at,
        )
        record_audit(
            page=incident.page,
            actor=actor,
            action="maintenance.cancelled",
            obj=incident,
            after={"told_subscribers": incident.announced_at is not None, "update": update.code},
        )
        _notify(incident, update, EventType.MAINTENANCE_UPDATED)
        schedule_publish(incident.page)
    return incident


def edit_maintenance(
    *,
    actor: Actor,
    incident: Incident,
    name: str | None = None,
    components: Sequence[Component] | None = None,
    reminders: Sequence[int] | None = None,
    **settings: bool,
) -> Incident:
    """Change a maintenance's title, affected components, reminders or automation settings (`SETTINGS`),
    without an update on its timeline. Components can change only before it starts; changing them after an
    approval asks for approval again. One transaction; audited; idempotent."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise TypeError(f"unknown maintenance settings: {sorted(unknown)}")
    errors: dict = {}
    if name is not None and not name.strip():
        errors["name"] = "Give the maintenance a title."
    if components is not None:
        _check_components(incident.page, {c: c.status for c in components}, errors)
    if reminders is not None:
        reminders = clean_reminders(reminders, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = _lock(incident)
        before: dict = {}
        after: dict = {}
        if name is not None and name.strip() != incident.name:
            before["name"], after["name"] = incident.name, name.strip()
            incident.name = name.strip()
        if reminders is not None and reminders != incident.reminders:
            before["reminders"], after["reminders"] = incident.reminders, reminders
            incident.reminders = reminders
        for key, value in settings.items():
            if value is not None and bool(value) != getattr(incident, key):
                before[key], after[key] = getattr(incident, key), bool(value)
                setattr(incident, key, bool(value))
        reset = False
        if components is not None:
            old = sorted(incident.components.values_list("code", flat=True))
            new = sorted(c.code for c in components)
            if old != new:
                if incident.status != MaintenanceStatus.SCHEDULED or incident.cancelled_at is not None:
                    raise ValidationError(
                        {"components": "The affected components can change only before it starts."}
                    )
                incident.components.set(components)
                before["components"], after["components"] = old, new
                reset = incident.review_state == ReviewState.APPROVED or (
                    incident.page.require_change_approval and incident.review_state != ReviewState.PENDING
                )
        if not after:
            return incident
        if reset:
            before["review_state"] = incident.review_state
            incident.review_state = after["review_state"] = ReviewState.PENDING
        incident.updated_at = timezone.now()
        incident.save()
        record_audit(
            page=incident.page,
            actor=actor,
            action="maintenance.edited",
            obj=incident,
            before=before,
            after=after,
        )
        if reset:
            record_audit(
                page=incident.page,
                actor=actor,
                action="maintenance.approval_reset",
                obj=incident,
                before={"review_state": before["review_state"]},
                after={"review_state": ReviewState.PENDING, "reason": "components changed"},
            )
        schedule_publish(incident.page)
    return incident


# --- Recurring windows ------------------------------------------------------------------------------


def create_maintenance_series(
    *,
    actor: Actor,
    page: Page,
    name: str,
    first_start: datetime,
    first_end: datetime,
    frequency: str,
    body: str = "",
    components: Sequence[Component] = (),
    interval: int = 1,
    weekdays: Sequence[int] | None = None,
    month_day: int | None = None,
    month_week: int | None = None,
    month_weekday: int | None = None,
    until=None,
    reminders: Sequence[int] | None = None,
    auto_start: bool = True,
    auto_complete: bool = True,
    announce: bool = True,
    at: datetime | None = None,
) -> MaintenanceSeries:
    """Create a recurring maintenance window and expand its first `SERIES_HORIZON` of occurrences (each an
    ordinary maintenance). The window's local start time and length come from the first window, in the
    page's time zone. Weekly: on `weekdays` (default: the first window's weekday). Monthly: on `month_day`,
    or on the `month_week`-th (1-4, -1 for the last) `month_weekday` (default: the first window's day of
    the month). One transaction; not idempotent."""
    from incidents import recurrence

    at = at or timezone.now()
    errors: dict = {}
    if not name.strip():
        errors["name"] = "Give the maintenance a title."
    _check_window(first_start, first_end, errors)
    _check_components(page, {c: c.status for c in components}, errors)
    reminders = clean_reminders(reminders, errors)
    if frequency not in Frequency.values:
        errors["recurrence"] = f"Choose one of: {', '.join(Frequency.values)}."
    if not isinstance(interval, int) or not 1 <= interval <= 12:
        errors["interval"] = "Repeat every 1 to 12 weeks or months."
    if errors:
        raise ValidationError(errors)
    local_start = first_start.astimezone(page.tz)
    duration = int((first_end - first_start).total_seconds() // 60)
    if duration < 1 or duration > 7 * 24 * 60:
        errors["scheduled_until"] = "A recurring window lasts between a minute and a week."
    if until is not None and until < local_start.date():
        errors["until"] = "The series must end after its first window."
    if frequency == Frequency.WEEKLY:
        weekdays = sorted(set(weekdays or [local_start.weekday()]))
        if any(not isinstance(d, int) or not 0 <= d <= 6 for d in weekdays):
            errors["weekdays"] = "Days of the week are 0 (Monday) to 6 (Sunday)."
        month_day = month_week = month_weekday = None
    else:
        weekdays = []
        if month_week is not None:
            month_weekday = local_start.weekday() if month_weekday is None else month_weekday
            if month_week not in (1, 2, 3, 4, -1):
                errors["month_week"] = "Choose the first, second, third, fourth or last one."
            if not 0 <= month_weekday <= 6:
                errors["month_weekday"] = "Days of the week are 0 (Monday) to 6 (Sunday)."
            month_day = None
        else:
            month_day = month_day or local_start.day
            if not 1 <= month_day <= 28:
                errors["month_day"] = "Choose a day from 1 to 28, which every month has."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        series = MaintenanceSeries(
            page=page,
            name=name.strip(),
            body=body.strip(),
            frequency=frequency,
            interval=interval,
            weekdays=weekdays,
            month_day=month_day,
            month_week=month_week,
            month_weekday=month_weekday,
            first_start=first_start,
            duration_minutes=duration,
            until=until,
            reminders=reminders,
            auto_start=auto_start,
            auto_complete=auto_complete,
            announce=announce,
            created_by=actor.user,
            review_state=_initial_review_state(page),
            created_at=at,
            updated_at=at,
        )
        series.full_clean()
        series.save()
        series.components.set(components)
        record_audit(
            page=page,
            actor=actor,
            action="maintenance_series.created",
            obj=series,
            after={
                "name": series.name,
                "rule": recurrence.describe(series),
                "components": [c.code for c in components],
                "review_state": series.review_state,
            },
        )
        generate_occurrences(actor=actor, series=series, now=at)
    return series


def generate_occurrences(*, actor: Actor, series: MaintenanceSeries, now: datetime | None = None) -> int:
    """Make the series' maintenances that start in (now, now + SERIES_HORIZON] and do not exist yet.
    Idempotent: an occurrence is unique by (series, slot), so a second run, a second beat or a reschedule of
    one occurrence never makes another. Windows that started while nobody ran this are not made. Each
    occurrence is its own transaction (savepoint); returns how many this call made."""
    from incidents import recurrence

    now = now or timezone.now()
    series = MaintenanceSeries.objects.select_related("page").get(pk=series.pk)
    if series.stopped_at is not None:
        return 0
    horizon = now + SERIES_HORIZON
    components = list(series.components.all())
    windows = recurrence.windows(series, after=now, until=horizon)
    made_before = set(
        series.occurrences.filter(series_slot__in=[start for start, _ in windows]).values_list(
            "series_slot", flat=True
        )
    )
    made = 0
    for start, end in windows:
        if start in made_before:
            continue
        try:
            with transaction.atomic():
                schedule_maintenance(
                    actor=actor,
                    page=series.page,
                    name=series.name,
                    scheduled_for=start,
                    scheduled_until=end,
                    body=series.body,
                    components=components,
                    deliver_notifications=series.announce,
                    reminders=series.reminders,
                    auto_start=series.auto_start,
                    auto_complete=series.auto_complete,
                    author=series.created_by,
                    series=series,
                    series_slot=start,
                    at=now,
                )
        except IntegrityError:  # made by a concurrent run
            continue
        made += 1
    MaintenanceSeries.objects.filter(pk=series.pk).update(generated_until=horizon)
    return made


def stop_maintenance_series(*, actor: Actor, series: MaintenanceSeries, at: datetime | None = None) -> int:
    """End a series: no more windows are made, and those not started yet are cancelled (subscribers told
    of them are told). One transaction; idempotent. Returns how many windows were cancelled."""
    at = at or timezone.now()
    with transaction.atomic():
        series = MaintenanceSeries.objects.select_for_update().select_related("page").get(pk=series.pk)
        if series.stopped_at is not None:
            return 0
        series.stopped_at = at
        series.save(update_fields=["stopped_at"])
        cancelled = 0
        for occurrence in Incident.objects.filter(series=series).upcoming():
            cancel_maintenance(actor=actor, incident=occurrence, at=at)
            cancelled += 1
        record_audit(
            page=series.page,
            actor=actor,
            action="maintenance_series.stopped",
            obj=series,
            after={"cancelled": cancelled},
        )
        schedule_publish(series.page)
    return cancelled
