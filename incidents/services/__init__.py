"""Commands on incidents, maintenances and postmortems (DESIGN.md road 1).

Each command runs in one transaction: it validates, writes the timeline row and the incident's current
state together (the state copies the latest update), sets the statuses of the components the update names,
writes the audit row and, when subscribers must hear of it, the outbox row; publishing follows on commit.

The package keeps one namespace: the commands on scheduled maintenance (incidents.services.maintenance) and
on change review (incidents.services.changes) are imported at the bottom, so every caller writes
`incidents.services.<command>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from components.models import Component, ComponentStatus, ComponentStatusChange
from components.services import set_component_status
from incidents.models import (
    IMPACT_OF_STATUS,
    IMPACT_RANK,
    Impact,
    Incident,
    IncidentStatus,
    IncidentTemplate,
    IncidentUpdate,
    Kind,
    MaintenanceStatus,
    Postmortem,
)
from statuspage.models import Page
from statuspage.services import Actor, record_audit, schedule_publish
from subscribers.models import EventType
from subscribers.services import record_event

ComponentStatuses = Mapping[Component, str]
IMPACT_OVERRIDES = (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL)

# What each status says when the commander has nothing more specific to add (Statuspage's defaults).
DEFAULT_BODIES = {
    IncidentStatus.INVESTIGATING: "We are currently investigating this issue.",
    IncidentStatus.IDENTIFIED: "The issue has been identified and a fix is being implemented.",
    IncidentStatus.MONITORING: "A fix has been implemented and we are monitoring the results.",
    IncidentStatus.RESOLVED: "This incident has been resolved.",
    MaintenanceStatus.SCHEDULED: "The scheduled maintenance has been planned.",
    MaintenanceStatus.IN_PROGRESS: (
        "Scheduled maintenance is currently in progress. We will provide updates as necessary."
    ),
    MaintenanceStatus.VERIFYING: "Verification is currently underway for the maintenance items.",
    MaintenanceStatus.COMPLETED: "The scheduled maintenance has been completed.",
}


def create_incident(
    *,
    actor: Actor,
    page: Page,
    name: str,
    body: str,
    status: str = IncidentStatus.INVESTIGATING,
    components: ComponentStatuses | None = None,
    impact_override: str = "",
    commander=None,
    deliver_notifications: bool = True,
    backfilled: bool = False,
    at: datetime | None = None,
) -> Incident:
    """Open an incident with its first update. One transaction; not idempotent.

    `at` backdates everything (a backfilled incident, or a replayed timeline); a backfilled incident
    notifies nobody.
    """
    at = at or timezone.now()
    errors = {}
    if not name.strip():
        errors["name"] = "Give the incident a title."
    if status not in IncidentStatus.values:
        errors["status"] = f"Choose one of: {', '.join(IncidentStatus.values)}."
    if impact_override and impact_override not in (Impact.NONE, Impact.MINOR, Impact.MAJOR, Impact.CRITICAL):
        errors["impact_override"] = "Choose one of: none, minor, major, critical."
    _check_components(page, components, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident(
            page=page,
            kind=Kind.INCIDENT,
            name=name.strip(),
            status=status,
            impact_override=impact_override,
            commander=commander or actor.user,
            backfilled=backfilled,
            started_at=at,
            created_at=at,
            updated_at=at,
        )
        incident.full_clean()
        incident.save()
        update = _write_update(
            actor=actor,
            incident=incident,
            status=status,
            body=body,
            components=components,
            deliver_notifications=deliver_notifications and not backfilled,
            at=at,
        )
        record_audit(
            page=page,
            actor=actor,
            action="incident.created",
            obj=incident,
            after={"name": incident.name, "status": status, "impact": incident.effective_impact},
        )
        _notify(incident, update, EventType.INCIDENT_CREATED)
        schedule_publish(page)
    return incident


def post_update(
    *,
    actor: Actor,
    incident: Incident,
    status: str,
    body: str = "",
    components: ComponentStatuses | None = None,
    deliver_notifications: bool = True,
    at: datetime | None = None,
    seen_update: str | None = None,
) -> IncidentUpdate:
    """Add an update to the timeline of an incident or maintenance and move it to `status`.

    One transaction; not idempotent (each call is one more update). An empty body takes the status's
    default text. Leaving `resolved` reopens the incident, which is recorded. `seen_update` is the code of
    the latest update the author saw: if someone has posted since, nothing is written and the error says so.
    """
    at = at or timezone.now()
    allowed = MaintenanceStatus.values if incident.is_maintenance else IncidentStatus.values
    errors = {}
    if status not in allowed:
        errors["status"] = f"Choose one of: {', '.join(allowed)}."
    elif incident.is_maintenance and incident.cancelled_at is not None:
        errors["status"] = "This maintenance was cancelled."
    _check_components(incident.page, components, errors)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident.objects.select_for_update(of=("self",)).select_related("page").get(pk=incident.pk)
        if seen_update is not None:
            latest = incident.updates.order_by("-created_at", "-id").values_list("code", flat=True).first()
            if latest != seen_update:
                raise ValidationError(
                    "Someone else posted an update to this incident while you were writing. Your text is "
                    "kept below: read their update, then post yours again."
                )
        was = incident.status
        update = _write_update(
            actor=actor,
            incident=incident,
            status=status,
            body=body,
            components=components,
            deliver_notifications=deliver_notifications and not incident.backfilled,
            at=at,
        )
        reopened = was == IncidentStatus.RESOLVED and status != IncidentStatus.RESOLVED
        action = "incident.reopened" if reopened else "incident.updated"
        record_audit(
            page=incident.page,
            actor=actor,
            action=action,
            obj=incident,
            before={"status": was},
            after={"status": status, "update": update.code},
        )
        _notify(incident, update, _event_type(incident, status))
        schedule_publish(incident.page)
    return update


def save_postmortem(*, actor: Actor, incident: Incident, body: str) -> Postmortem:
    """Write or rewrite the postmortem draft (a published one stays published).

    One transaction; idempotent.
    """
    if not body.strip():
        raise ValidationError({"body": "Write the postmortem before saving it."})
    with transaction.atomic():
        postmortem, created = Postmortem.objects.select_for_update().get_or_create(
            incident=incident, defaults={"body": body, "author": actor.user}
        )
        before = {} if created else {"body": postmortem.body}
        if not created and postmortem.body != body:
            postmortem.body = body
            postmortem.updated_at = timezone.now()
            postmortem.save(update_fields=["body", "updated_at"])
        record_audit(
            page=incident.page,
            actor=actor,
            action="postmortem.saved",
            obj=incident,
            before=before,
            after={"body": body},
        )
        if postmortem.is_published:
            schedule_publish(incident.page)
    return postmortem


def publish_postmortem(
    *, actor: Actor, incident: Incident, notify: bool = False, at: datetime | None = None
) -> Postmortem:
    """Publish the saved postmortem on the public incident page and feeds. One transaction; idempotent."""
    at = at or timezone.now()
    with transaction.atomic():
        try:
            postmortem = Postmortem.objects.select_for_update().get(incident=incident)
        except Postmortem.DoesNotExist:
            raise ValidationError({"body": "Write and save the postmortem before publishing it."}) from None
        if postmortem.published_at is None:
            postmortem.published_at = at
            postmortem.save(update_fields=["published_at"])
            record_audit(page=incident.page, actor=actor, action="postmortem.published", obj=incident)
            if notify:
                record_event(
                    page=incident.page,
                    type=EventType.POSTMORTEM_PUBLISHED,
                    incident=incident,
                    components=incident.components.all(),
                )
            schedule_publish(incident.page)
    return postmortem


def unpublish_postmortem(*, actor: Actor, incident: Incident) -> Postmortem:
    """Take the postmortem off the public side, keeping it as a draft. One transaction; idempotent."""
    with transaction.atomic():
        postmortem = Postmortem.objects.select_for_update().get(incident=incident)
        if postmortem.published_at is not None:
            postmortem.published_at = None
            postmortem.save(update_fields=["published_at"])
            record_audit(page=incident.page, actor=actor, action="postmortem.unpublished", obj=incident)
            schedule_publish(incident.page)
    return postmortem


def update_incident(
    *, actor: Actor, incident: Incident, name: str | None = None, impact_override=None
) -> Incident:
    """Rename an incident or change its impact override ("" returns to the computed impact), without a new
    update on its timeline. One transaction; audited; idempotent."""
    errors = {}
    if name is not None and not name.strip():
        errors["name"] = "Give the incident a title."
    if impact_override is not None and impact_override not in ("", *IMPACT_OVERRIDES):
        errors["impact_override"] = f"Choose one of: {', '.join(IMPACT_OVERRIDES)}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        incident = Incident.objects.select_for_update(of=("self",)).select_related("page").get(pk=incident.pk)
        before, after = {}, {}
        if name is not None and name.strip() != incident.name:
            before["name"], after["name"] = incident.name, name.strip()
            incident.name = name.strip()
        if impact_override is not None and impact_override != incident.impact_override:
            before["impact_override"], after["impact_override"] = incident.impact_override, impact_override
            incident.impact_override = impact_override
        if after:
            incident.updated_at = timezone.now()
            incident.save(update_fields=[*after, "updated_at"])
            record_audit(
                page=incident.page,
                actor=actor,
                action="incident.edited",
                obj=incident,
                before=before,
                after=after,
            )
            schedule_publish(incident.page)
    return incident


def delete_incident(*, actor: Actor, incident: Incident) -> None:
    """Remove an incident and its timeline from the page and its history (a mistaken or test incident).
    Components keep their current status. One transaction; audited."""
    with transaction.atomic():
        record_audit(
            page=incident.page,
            actor=actor,
            action="incident.deleted",
            obj=incident,
            before={"name": incident.name, "status": incident.status},
        )
        page = incident.page
        incident.delete()
        schedule_publish(page)


def delete_postmortem(*, actor: Actor, incident: Incident) -> None:
    """Discard the postmortem, published or not. One transaction; audited; idempotent."""
    with transaction.atomic():
        deleted, _ = Postmortem.objects.filter(incident=incident).delete()
        if deleted:
            record_audit(page=incident.page, actor=actor, action="postmortem.deleted", obj=incident)
            schedule_publish(incident.page)


def _write_update(
    *,
    actor: Actor,
    incident: Incident,
    status: str,
    body: str,
    components: ComponentStatuses | None,
    deliver_notifications: bool,
    at: datetime,
) -> IncidentUpdate:
    update = IncidentUpdate.objects.create(
        incident=incident,
        status=status,
        body=body.strip() or DEFAULT_BODIES[status],
        author=actor.user,
        deliver_notifications=deliver_notifications,
        created_at=at,
        display_at=at,
        updated_at=at,
    )
    for component, new_status in (components or {}).items():
        set_component_status(
            actor=actor, component=component, status=new_status, at=at, incident_update=update
        )
    if components:
        incident.components.add(*components.keys())
    incident.status = status
    incident.updated_at = at
    if status == IncidentStatus.MONITORING and incident.monitoring_at is None:
        incident.monitoring_at = at
    if status in (IncidentStatus.RESOLVED, MaintenanceStatus.COMPLETED):
        incident.resolved_at = at
    elif incident.resolved_at is not None:
        incident.resolved_at = None  # reopened
    if not incident.is_maintenance:
        incident.impact = _peak_impact(incident)
        _set_cadence(incident, at)
    incident.save()
    return update


def _set_cadence(incident: Incident, at: datetime) -> None:
    """The next update is due at the last public update plus the page's cadence (a longer one while
    monitoring); a resolved or backfilled incident is due nothing."""
    from incidents.cadence import next_due

    if incident.last_update_at is None or at >= incident.last_update_at:
        incident.last_update_at = at
    open_now = incident.status != IncidentStatus.RESOLVED and not incident.backfilled
    incident.next_update_due_at = next_due(incident) if open_now else None


def _peak_impact(incident: Incident) -> str:
    """The worst impact the incident's components have had while it ran: incidents keep their peak."""
    statuses = ComponentStatusChange.objects.filter(incident_update__incident=incident).values_list(
        "new_status", flat=True
    )
    impacts = [IMPACT_OF_STATUS[ComponentStatus(s)] for s in set(statuses)] or [Impact.NONE]
    return max([*impacts, incident.impact], key=lambda i: IMPACT_RANK[i])


def _check_components(page: Page, components: ComponentStatuses | None, errors: dict) -> None:
    for component, status in (components or {}).items():
        if component.page_id != page.pk:
            errors["components"] = f"Component {component.code} is not on this page."
        elif status not in ComponentStatus.values:
            errors["components"] = f"{component.name}: choose one of {', '.join(ComponentStatus.values)}."


def _event_type(incident: Incident, status: str) -> EventType:
    if incident.is_maintenance:
        return {
            MaintenanceStatus.IN_PROGRESS: EventType.MAINTENANCE_STARTED,
            MaintenanceStatus.COMPLETED: EventType.MAINTENANCE_COMPLETED,
        }.get(status, EventType.MAINTENANCE_UPDATED)
    return EventType.INCIDENT_RESOLVED if status == IncidentStatus.RESOLVED else EventType.INCIDENT_UPDATED


def _notify(incident: Incident, update: IncidentUpdate, type: EventType) -> None:
    if update.deliver_notifications:
        record_event(
            page=incident.page,
            type=type,
            incident=incident,
            incident_update=update,
            components=incident.components.all(),
        )


def edit_update(
    *, actor: Actor, update: IncidentUpdate, body: str, display_at: datetime | None = None
) -> IncidentUpdate:
    """Correct a past update's text or display time. Recorded in the audit log; the public side shows
    only the corrected text. One transaction; idempotent."""
    if not body.strip():
        raise ValidationError({"body": "An update needs some text."})
    with transaction.atomic():
        update = (
            IncidentUpdate.objects.select_for_update(of=("self",))
            .select_related("incident__page")
            .get(pk=update.pk)
        )
        before = {"body": update.body, "display_at": _utc(update.display_at)}
        update.body = body.strip()
        if display_at is not None:
            update.display_at = display_at
        update.updated_at = timezone.now()
        update.save(update_fields=["body", "display_at", "updated_at"])
        after = {"body": update.body, "display_at": _utc(update.display_at)}
        if before != after:
            record_audit(
                page=update.incident.page,
                actor=actor,
                action="incident.update_edited",
                obj=update.incident,
                before=before,
                after=after | {"update": update.code},
            )
            schedule_publish(update.incident.page)
    return update


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def change_commander(*, actor: Actor, incident: Incident, commander) -> Incident:
    """Hand the incident over to another member of its page, who is told by email after commit.

    One transaction; idempotent for the same commander.
    """
    from incidents.tasks import send_handover_email_task
    from statuspage.models import Membership, Role

    if not Membership.objects.filter(page=incident.page, user=commander).exclude(role=Role.VIEWER).exists():
        raise ValidationError({"commander": "Choose an owner or commander of this page."})
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("page", "commander")
            .get(pk=incident.pk)
        )
        if incident.commander_id == commander.pk:
            return incident
        before = {"commander": incident.commander.get_username() if incident.commander else None}
        incident.commander = commander
        incident.save(update_fields=["commander"])
        record_audit(
            page=incident.page,
            actor=actor,
            action="incident.handover",
            obj=incident,
            before=before,
            after={"commander": commander.get_username()},
        )
        send_handover_email_task.delay_on_commit(incident.pk, commander.pk, actor.label)
    return incident


TEMPLATE_FIELDS = ("name", "title", "body", "status", "component_status", "deliver_notifications")


def save_template(
    *, actor: Actor, page: Page, template: IncidentTemplate | None = None, components=(), **fields
) -> IncidentTemplate:
    """Create or change an incident template. One transaction; idempotent for the same values."""
    unknown = set(fields) - set(TEMPLATE_FIELDS)
    if unknown:
        raise TypeError(f"unknown template fields: {sorted(unknown)}")
    if any(c.page_id != page.pk for c in components):
        raise ValidationError({"components": "A component of another page cannot be part of this template."})
    with transaction.atomic():
        created = template is None
        template = template or IncidentTemplate(page=page)
        for key, value in fields.items():
            setattr(template, key, value)
        template.full_clean()
        template.save()
        template.components.set(components)
        record_audit(
            page=page,
            actor=actor,
            action="template.created" if created else "template.updated",
            obj=template,
            after={k: str(v) for k, v in fields.items()},
        )
    return template


def delete_template(*, actor: Actor, template: IncidentTemplate) -> None:
    with transaction.atomic():
        record_audit(
            page=template.page,
            actor=actor,
            action="template.deleted",
            obj=template,
            before={"name": template.name},
        )
        template.delete()


def render_template_text(text: str, *, page: Page) -> str:
    """Fill a template's placeholders by plain substitution: no template engine ever runs on user text."""
    from string import Template

    return Template(text).safe_substitute(page=page.name)


def set_status_for_incident(
    *, actor: Actor, incident: Incident, component: Component, status: str
) -> Incident:
    """Change a component's status as part of an open incident (from the dashboard), without a public update:
    the component joins the incident's affected components and its impact follows. One transaction."""
    if component.page_id != incident.page_id:
        raise ValidationError({"incident": "That incident belongs to another page."})
    if not incident.is_open:
        raise ValidationError({"incident": "That incident is closed."})
    with transaction.atomic():
        set_component_status(actor=actor, component=component, status=status)
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        incident.components.add(component)
        if not incident.is_maintenance:
            from components.models import SEVERITY

            statuses = [c.status for c in incident.components.all()]
            peak = max(statuses, key=lambda s: SEVERITY[s])
            impact = IMPACT_OF_STATUS[ComponentStatus(peak)]
            if IMPACT_RANK[impact] > IMPACT_RANK[incident.impact]:
                incident.impact = impact
        incident.updated_at = timezone.now()
        incident.save(update_fields=["impact", "updated_at"])
        schedule_publish(incident.page)
    return incident


# The rest of the package's commands, in the same namespace (see the module docstring). Imported last:
# those modules use the helpers above.
from incidents.services.changes import (  # noqa: E402
    approve_change,
    complete_change_record,
    create_change_record,
    reject_change,
    submit_change_record,
    update_change_record,
)
from incidents.services.maintenance import (  # noqa: E402
    cancel_maintenance,
    complete_maintenance,
    create_maintenance_series,
    edit_maintenance,
    extend_maintenance,
    generate_occurrences,
    publish_maintenance,
    remind_maintenance,
    reschedule_maintenance,
    schedule_maintenance,
    start_maintenance,
    stop_maintenance_series,
)

__all__ = [
    "approve_change",
    "cancel_maintenance",
    "change_commander",
    "complete_change_record",
    "complete_maintenance",
    "create_change_record",
    "create_incident",
    "create_maintenance_series",
    "delete_incident",
    "delete_postmortem",
    "delete_template",
    "edit_maintenance",
    "edit_update",
    "extend_maintenance",
    "generate_occurrences",
    "post_update",
    "publish_maintenance",
    "publish_postmortem",
    "reject_change",
    "remind_maintenance",
    "render_template_text",
    "reschedule_maintenance",
    "save_postmortem",
    "save_template",
    "schedule_maintenance",
    "set_status_for_incident",
    "start_maintenance",
    "stop_maintenance_series",
    "submit_change_record",
    "unpublish_postmortem",
    "update_change_record",
    "update_incident",
]
