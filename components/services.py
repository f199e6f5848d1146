"""Commands on components and their groups. Each status change writes a ComponentStatusChange row in the
same transaction as the status itself, so uptime is always computable from the history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from components import dependencies
from components.dependencies import Proposal
from components.models import (
    Component,
    ComponentDependency,
    ComponentGroup,
    ComponentStatus,
    ComponentStatusChange,
    DependencyKind,
)
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
    propagate: bool = True,
) -> ComponentStatusChange:
    """Put `component` in `status` and record the change with its time.

    Runs in its own transaction, or joins the caller's (incident commands pass their update so the change
    is part of it). With an incident update a row is written even when the status stays the same: the
    update then names the component as affected. Without one, setting the same status is a no-op returning
    the latest change.

    When the page propagates dependencies (Page.propagate_dependencies) and the status changed, the
    dependents' proposed statuses (components.dependencies.propose) are applied in the same transaction,
    each audited as automatic propagation. `propagate=False` changes this component only.
    """
    if status not in ComponentStatus.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(ComponentStatus.values)}."})
    at = at or timezone.now()
    with transaction.atomic():
        # The page comes along (its settings and the audit row need it), locked only on the component row.
        component = (
            Component.objects.select_for_update(of=("self",)).select_related("page").get(pk=component.pk)
        )
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

            if Component.objects.public().filter(pk=component.pk).exists():  # internal ones stay internal
                record_event(
                    page=component.page,
                    type=EventType.COMPONENT_UPDATED,
                    component=component,
                    data={"old_status": old, "new_status": status, "change": change.pk},
                )
            schedule_publish(component.page)
            if propagate and component.page.propagate_dependencies:
                _propagate(actor=actor, component=component, old=old, new=status, at=at)
    return change


def _propagate(*, actor: Actor, component: Component, old: str, new: str, at: datetime) -> list[Proposal]:
    """Apply what `component` going from `old` to `new` proposes for its dependents. Inside the caller's
    transaction; the proposals are transitive already, so the changes they make do not propagate again."""
    proposals = dependencies.propose(component, new, old_status=old)
    for proposal in proposals:
        set_component_status(
            actor=actor, component=proposal.component, status=proposal.suggested, at=at, audit=False,
            propagate=False,
        )  # fmt: skip
        record_audit(
            page=component.page,
            actor=actor,
            action="component.status_propagated",
            obj=proposal.component,
            before={"status": proposal.current},
            after={"status": proposal.suggested, **_because(component, proposal)},
        )
    return proposals


def confirm_proposals(
    *, actor: Actor, component: Component, statuses: list[tuple[Component, str]], at: datetime | None = None
) -> list[ComponentStatusChange]:
    """Apply the dependents' statuses a commander confirmed (or edited) after `component` changed. One
    transaction: all of them or none; each audited as a status change naming `component` as the cause.
    Idempotent: a dependent already in its status is left as it is. The changes do not propagate further
    (the proposals were transitive already)."""
    errors = []
    for dependent, status in statuses:
        if dependent.page_id != component.page_id:
            errors.append("A component belongs to another page.")
        elif status not in ComponentStatus.values:
            errors.append(f"{dependent.name}: choose one of: {', '.join(ComponentStatus.values)}.")
    if errors:
        raise ValidationError({"status": errors})
    at = at or timezone.now()
    changes = []
    with transaction.atomic():
        for dependent, status in statuses:
            before = Component.objects.filter(pk=dependent.pk).values_list("status", flat=True).get()
            if before == status:
                continue
            changes.append(
                set_component_status(
                    actor=actor, component=dependent, status=status, at=at, audit=False, propagate=False
                )
            )
            record_audit(
                page=component.page,
                actor=actor,
                action="component.status_changed",
                obj=dependent,
                before={"status": before},
                after={"status": status, "because_of": component.code, "because_of_name": component.name},
            )
    return changes


def _because(component: Component, proposal: Proposal) -> dict[str, Any]:
    return {
        "because_of": component.code,
        "because_of_name": component.name,
        "via": [c.name for c in proposal.via],
        "kind": proposal.kind,
    }


# --- Dependencies ------------------------------------------------------------------------------------------


def add_dependency(
    *, actor: Actor, component: Component, depends_on: Component, kind: str = DependencyKind.HARD
) -> ComponentDependency:
    """Make `component` depend on `depends_on` (both on one page), refusing an edge that would close a
    cycle with a message naming it. One transaction; audited; idempotent (an existing edge of another
    kind changes kind)."""
    _check_edge(component, depends_on, kind)
    with transaction.atomic():
        page = _lock_graph(component)
        link = ComponentDependency.objects.filter(component=component, depends_on=depends_on).first()
        if link is not None:
            if link.kind != kind:
                _audit_edge(actor, component, depends_on, "dependency.changed", before=link.kind, after=kind)
                link.kind = kind
                link.save(update_fields=["kind"])
            return link
        _refuse_cycle(dependencies.Graph.load(page), component, [depends_on])
        link = ComponentDependency(page=page, component=component, depends_on=depends_on, kind=kind)
        link.full_clean()
        link.save()
        _audit_edge(actor, component, depends_on, "dependency.added", after=kind)
    return link


def remove_dependency(*, actor: Actor, component: Component, depends_on: Component) -> bool:
    """`component` no longer depends on `depends_on`. One transaction; audited; idempotent (returns
    whether there was such a dependency)."""
    with transaction.atomic():
        link = ComponentDependency.objects.filter(component=component, depends_on=depends_on).first()
        if link is None:
            return False
        _audit_edge(actor, component, depends_on, "dependency.removed", before=link.kind)
        link.delete()
    return True


def set_dependencies(
    *, actor: Actor, component: Component, depends_on: list[tuple[Component, str]]
) -> list[ComponentDependency]:
    """Make exactly `depends_on` (component, kind) what `component` depends on: others are removed, kinds
    updated, new ones added, a cycle refused as in add_dependency (nothing changes then). One transaction;
    each edge change audited; idempotent."""
    wanted: dict[int, tuple[Component, str]] = {}
    for target, kind in depends_on:
        _check_edge(component, target, kind)
        wanted[target.pk] = (target, kind)
    with transaction.atomic():
        page = _lock_graph(component)
        current = {
            link.depends_on_id: link
            for link in ComponentDependency.objects.filter(component=component).select_related("depends_on")
        }
        new_targets = [target for pk, (target, _) in wanted.items() if pk not in current]
        if new_targets:
            _refuse_cycle(dependencies.Graph.load(page), component, new_targets)
        for pk, link in current.items():
            if pk not in wanted:
                _audit_edge(actor, component, link.depends_on, "dependency.removed", before=link.kind)
                link.delete()
            elif link.kind != wanted[pk][1]:
                _audit_edge(
                    actor, component, link.depends_on, "dependency.changed", before=link.kind,
                    after=wanted[pk][1],
                )  # fmt: skip
                link.kind = wanted[pk][1]
                link.save(update_fields=["kind"])
        for target in new_targets:
            link = ComponentDependency(
                page=page, component=component, depends_on=target, kind=wanted[target.pk][1]
            )
            link.full_clean()
            link.save()
            _audit_edge(actor, component, target, "dependency.added", after=link.kind)
    return list(
        ComponentDependency.objects.filter(component=component)
        .select_related("depends_on")
        .order_by("depends_on__position", "depends_on_id")
    )


def _check_edge(component: Component, depends_on: Component, kind: str) -> None:
    if depends_on.page_id != component.page_id:
        raise ValidationError({"depends_on": "That component belongs to another page."})
    if depends_on.pk == component.pk:
        raise ValidationError({"depends_on": "A component cannot depend on itself."})
    if kind not in DependencyKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(DependencyKind.values)}."})


def _lock_graph(component: Component) -> Page:
    """Lock the page row: two commands adding edges at once could each see no cycle and together make one.
    Every dependency write takes this lock first (a no-op on SQLite, which runs one writer at a time)."""
    return Page.objects.select_for_update().get(pk=component.page_id)


def _refuse_cycle(graph: dependencies.Graph, component: Component, targets: list[Component]) -> None:
    cycle = graph.cycle_if_depends(component.pk, [t.pk for t in targets])
    if cycle is not None:
        raise ValidationError(
            {"depends_on": f"This would make a cycle: {' → '.join(graph.names(cycle))}."}, code="cycle"
        )


def _audit_edge(
    actor: Actor,
    component: Component,
    depends_on: Component,
    action: str,
    *,
    before: str | None = None,
    after: str | None = None,
) -> None:
    edge = {"depends_on": depends_on.code, "depends_on_name": depends_on.name}
    record_audit(
        page=component.page,
        actor=actor,
        action=action,
        obj=component,
        before={**edge, "kind": before} if before else {},
        after={**edge, "kind": after} if after else {},
    )


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
