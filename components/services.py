"""Commands on components and their groups. Each status change writes a ComponentStatusChange row in the
same transaction as the status itself, so uptime is always computable from the history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from components.models import Component, ComponentGroup, ComponentStatus, ComponentStatusChange
from statuspage.models import Page
from statuspage.services import Actor, record_audit, schedule_publish

GROUP_FIELDS = ("name", "description", "position", "is_public", "collapsed")
COMPONENT_FIELDS = (
    "name",
    "description",
    "position",
    "is_public",
    "showcase",
    "only_show_if_degraded",
    "start_date",
    "group",
)


def create_group(*, actor: Actor, page: Page, name: str, **fields) -> ComponentGroup:
    """Create a component group on `page`. One transaction; not idempotent."""
    _check_fields(fields, GROUP_FIELDS)
    with transaction.atomic():
        if "position" not in fields:
            fields["position"] = ComponentGroup.objects.for_page(page).count() + 1
        group = ComponentGroup(page=page, name=name, **fields)
        group.full_clean()
        group.save()
        record_audit(page=page, actor=actor, action="group.created", obj=group, after={"name": name})
        schedule_publish(page)
    return group


def create_component(
    *,
    actor: Actor,
    page: Page,
    name: str,
    status: str = ComponentStatus.OPERATIONAL,
    at: datetime | None = None,
    **fields,
) -> Component:
    """Create a component on `page` with its first status-history row. One transaction; not idempotent."""
    _check_fields(fields, COMPONENT_FIELDS)
    group = fields.get("group")
    if group is not None and group.page_id != page.pk:
        raise ValidationError({"group": "That group belongs to another page."})
    at = at or timezone.now()
    with transaction.atomic():
        if "position" not in fields:
            fields["position"] = Component.objects.for_page(page).filter(group=group).count() + 1
        component = Component(page=page, name=name, status=status, created_at=at, **fields)
        component.full_clean()
        component.save()
        ComponentStatusChange.objects.create(
            component=component, old_status=status, new_status=status, created_at=at
        )
        record_audit(
            page=page,
            actor=actor,
            action="component.created",
            obj=component,
            after={"name": name, "status": status},
        )
        schedule_publish(page)
    return component


def update_component(*, actor: Actor, component: Component, **fields) -> Component:
    """Change a component's description fields (not its status). One transaction; idempotent."""
    _check_fields(fields, COMPONENT_FIELDS)
    group = fields.get("group")
    if group is not None and group.page_id != component.page_id:
        raise ValidationError({"group": "That group belongs to another page."})
    with transaction.atomic():
        component = Component.objects.select_for_update().get(pk=component.pk)
        before = {k: _plain(getattr(component, k)) for k in fields}
        for key, value in fields.items():
            setattr(component, key, value)
        component.full_clean()
        component.save()
        after = {k: _plain(getattr(component, k)) for k in fields}
        if before != after:
            record_audit(
                page=component.page,
                actor=actor,
                action="component.updated",
                obj=component,
                before=before,
                after=after,
            )
            schedule_publish(component.page)
    return component


def set_component_status(
    *,
    actor: Actor,
    component: Component,
    status: str,
    at: datetime | None = None,
    incident_update=None,
    audit: bool = True,
) -> ComponentStatusChange:
    """Put `component` in `status` and record the change with its time.

    Runs in its own transaction, or joins the caller's (incident commands pass their update so the change
    is part of it). With an incident update a row is written even when the status stays the same: the
    update then names the component as affected. Without one, setting the same status is a no-op returning
    the latest change.
    """
    if status not in ComponentStatus.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(ComponentStatus.values)}."})
    at = at or timezone.now()
    with transaction.atomic():
        component = Component.objects.select_for_update().get(pk=component.pk)
        old = component.status
        if old == status and incident_update is None:
            latest = component.status_changes.order_by("-created_at", "-id").first()
            if latest is not None:
                return latest
        change = ComponentStatusChange.objects.create(
            component=component,
            old_status=old,
            new_status=status,
            created_at=at,
            incident_update=incident_update,
        )
        if old != status:
            Component.objects.filter(pk=component.pk).update(status=status, updated_at=timezone.now())
            if audit:
                record_audit(
                    page=component.page,
                    actor=actor,
                    action="component.status_changed",
                    obj=component,
                    before={"status": old},
                    after={"status": status},
                )
            from subscribers.models import EventType
            from subscribers.services import record_event

            record_event(
                page=component.page,
                type=EventType.COMPONENT_UPDATED,
                component=component,
                data={"old_status": old, "new_status": status, "change": change.pk},
            )
            schedule_publish(component.page)
    return change


def delete_component(*, actor: Actor, component: Component) -> None:
    """Remove a component and its history. A group left empty by it goes too (as on Statuspage, a group
    cannot be empty). One transaction; audited."""
    page = component.page
    with transaction.atomic():
        group_id = component.group_id
        record_audit(
            page=page,
            actor=actor,
            action="component.deleted",
            obj=component,
            before={"name": component.name, "status": component.status},
        )
        component.delete()
        if group_id is not None and not Component.objects.filter(group_id=group_id).exists():
            group = ComponentGroup.objects.filter(pk=group_id).first()
            if group is not None:
                record_audit(
                    page=page, actor=actor, action="group.deleted", obj=group, before={"name": group.name}
                )
                group.delete()
        schedule_publish(page)


def update_group(
    *, actor: Actor, group: ComponentGroup, components: list[Component] | None = None, **fields
) -> ComponentGroup:
    """Change a group's fields and, if `components` is given, make exactly those its members (components
    leaving it become ungrouped). One transaction; audited; idempotent."""
    _check_fields(fields, GROUP_FIELDS)
    if components is not None and any(c.page_id != group.page_id for c in components):
        raise ValidationError({"components": "A component belongs to another page."})
    with transaction.atomic():
        group = ComponentGroup.objects.select_for_update().get(pk=group.pk)
        before = {k: _plain(getattr(group, k)) for k in fields}
        for key, value in fields.items():
            setattr(group, key, value)
        group.full_clean()
        group.save()
        after = {k: _plain(getattr(group, k)) for k in fields}
        members_before = sorted(Component.objects.filter(group=group).values_list("code", flat=True))
        if components is not None:
            ids = [c.pk for c in components]
            Component.objects.filter(group=group).exclude(pk__in=ids).update(group=None)
            Component.objects.filter(pk__in=ids).update(group=group)
            members_after = sorted(c.code for c in components)
            if members_after != members_before:
                before["components"], after["components"] = members_before, members_after
        if before != after:
            record_audit(
                page=group.page, actor=actor, action="group.updated", obj=group, before=before, after=after
            )
            schedule_publish(group.page)
    return group


def delete_group(*, actor: Actor, group: ComponentGroup) -> None:
    """Remove a group; its components stay, ungrouped (Statuspage's rule). One transaction; audited."""
    with transaction.atomic():
        Component.objects.filter(group=group).update(group=None)
        record_audit(
            page=group.page, actor=actor, action="group.deleted", obj=group, before={"name": group.name}
        )
        page = group.page
        group.delete()
        schedule_publish(page)


def _check_fields(fields: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)
