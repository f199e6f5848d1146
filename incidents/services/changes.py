"""Change impact review: change records (a planned change with no window), and the approval of every
planned change: a maintenance, a recurring series of them, or a change record.

When the page asks for it (`Page.require_change_approval`), a change is published and may start (or be
marked done) only once an owner other than its author approves it; approvals and rejections, with their
comments, go to the audit log; changing the components a change touches after its approval asks for
approval again. Its potential impact (components.dependencies.blast_radius) is shown to the reviewer by
incidents.selectors.potential_impact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from components.models import Component
from incidents.models import ChangeRecord, Incident, MaintenanceSeries, MaintenanceStatus, ReviewState
from incidents.services.maintenance import _publish, approval_blocks
from statuspage.models import AuditEvent, Membership, Role
from statuspage.services import Actor, record_audit, schedule_publish

Reviewable = Incident | MaintenanceSeries | ChangeRecord


def _action(target: Reviewable) -> str:
    if isinstance(target, ChangeRecord):
        return "change"
    if isinstance(target, MaintenanceSeries):
        return "maintenance_series"
    return "maintenance"


def _locked(target: Reviewable) -> Reviewable:
    model = type(target)
    return model.objects.select_for_update(of=("self",)).select_related("page").get(pk=target.pk)


def _check_reviewer(actor: Actor, target: Reviewable, key=None) -> None:
    """Only an owner of the page, and never the change's author, reviews it. A person is an owner by their
    membership; an API key with no person behind it (made from the command line) by its owner role, and
    it may not review what it wrote itself."""
    user = actor.user
    if user is None:
        if key is None or key.page_id != target.page_id or key.role != Role.OWNER:
            raise PermissionDenied("Only an owner of this page can approve or reject a change.")
        if _written_by(target, actor.label):
            raise PermissionDenied("This key wrote this change: an owner must review it.")
        return
    if not Membership.objects.filter(page=target.page, user=user, role=Role.OWNER).exists():
        raise PermissionDenied("Only an owner of this page can approve or reject a change.")
    if target.created_by_id is not None and target.created_by_id == user.pk:
        raise PermissionDenied("You wrote this change: another owner must review it.")


def _written_by(target: Reviewable, label: str) -> bool:
    if isinstance(target, ChangeRecord):
        return target.created_by_label == label
    created = f"{_action(target)}.{'created' if isinstance(target, MaintenanceSeries) else 'scheduled'}"
    return AuditEvent.objects.filter(
        page=target.page, action=created, object_id=target.code, actor_label=label
    ).exists()


def _set_review(target: Reviewable, state: str, actor: Actor, comment: str, at: datetime) -> None:
    if isinstance(target, ChangeRecord):
        target.state = state
    else:
        target.review_state = state
    target.reviewed_by = actor.user
    target.reviewed_at = at
    target.review_comment = comment
    target.updated_at = at
    target.save()


def _not_reviewable(target: Reviewable) -> str | None:
    if isinstance(target, ChangeRecord):
        return "This change is done." if target.state == ReviewState.DONE else None
    if isinstance(target, MaintenanceSeries):
        return "This series was stopped." if target.stopped_at is not None else None
    if target.cancelled_at is not None:
        return "This maintenance was cancelled."
    if target.status != MaintenanceStatus.SCHEDULED:
        return "This maintenance has already started."
    return None


def approve_change(
    *, actor: Actor, target: Reviewable, comment: str = "", key=None, at: datetime | None = None
):
    """An owner other than the author approves a maintenance, series or change record. An approved
    maintenance is published (subscribers told of it if it asked for that); approving a series approves
    its windows not yet started. `key` is the API key acting when no person is behind it. One transaction;
    audited with the comment; idempotent for an approved one.
    """
    at = at or timezone.now()
    comment = comment.strip()
    with transaction.atomic():
        target = _locked(target)
        _check_reviewer(actor, target, key)
        problem = _not_reviewable(target)
        if problem:
            raise ValidationError({"review": problem})
        before = target.review_state
        if before == ReviewState.APPROVED:
            return target
        _set_review(target, ReviewState.APPROVED, actor, comment, at)
        record_audit(
            page=target.page,
            actor=actor,
            action=f"{_action(target)}.approved",
            obj=target,
            before={"review_state": before},
            after={"review_state": ReviewState.APPROVED, "comment": comment},
        )
        if isinstance(target, Incident):
            _publish(target, at=at)
        elif isinstance(target, MaintenanceSeries):
            windows = (
                Incident.objects.filter(series=target).upcoming().exclude(review_state=ReviewState.APPROVED)
            )
            for occurrence in windows.select_related("page"):
                occurrence.review_state = ReviewState.APPROVED
                occurrence.reviewed_by, occurrence.reviewed_at = actor.user, at
                occurrence.save(update_fields=["review_state", "reviewed_by", "reviewed_at"])
                _publish(occurrence, at=at)
        schedule_publish(target.page)
    return target


def reject_change(*, actor: Actor, target: Reviewable, comment: str, key=None, at: datetime | None = None):
    """An owner other than the author rejects a change, saying why. A rejected maintenance is not published
    and cannot start (one already published stays on the page until it is cancelled or approved again).
    One transaction; audited with the comment."""
    at = at or timezone.now()
    comment = comment.strip()
    if not comment:
        raise ValidationError({"comment": "Say why it is rejected, so its author can change it."})
    with transaction.atomic():
        target = _locked(target)
        _check_reviewer(actor, target, key)
        problem = _not_reviewable(target)
        if problem:
            raise ValidationError({"review": problem})
        before = target.review_state
        _set_review(target, ReviewState.REJECTED, actor, comment, at)
        record_audit(
            page=target.page,
            actor=actor,
            action=f"{_action(target)}.rejected",
            obj=target,
            before={"review_state": before},
            after={"review_state": ReviewState.REJECTED, "comment": comment},
        )
        if isinstance(target, MaintenanceSeries):
            Incident.objects.filter(series=target).upcoming().update(review_state=ReviewState.REJECTED)
        schedule_publish(target.page)
    return target


# --- Change records -------------------------------------------------------------------------------------


def _check_change(page, title: str | None, components: Sequence[Component] | None) -> None:
    errors = {}
    if title is not None and not title.strip():
        errors["title"] = "Say what changes, e.g. “Require TLS on the Redis auth cache”."
    if components is not None and any(c.page_id != page.pk for c in components):
        errors["components"] = "Choose components of this page."
    if errors:
        raise ValidationError(errors)


def create_change_record(
    *,
    actor: Actor,
    page,
    title: str,
    description: str = "",
    components: Sequence[Component] = (),
    submit: bool = True,
    author=None,
    at: datetime | None = None,
) -> ChangeRecord:
    """Record a planned change and the components it touches; `submit` asks for approval at once (when
    the page asks for none, a change is simply recorded). One transaction; not idempotent."""
    at = at or timezone.now()
    _check_change(page, title, components)
    with transaction.atomic():
        state = ReviewState.PENDING if submit and page.require_change_approval else ReviewState.DRAFT
        change = ChangeRecord(
            page=page,
            title=title.strip(),
            description=description.strip(),
            state=state,
            created_by=actor.user or author,
            created_by_label=actor.label,
            created_at=at,
            updated_at=at,
        )
        change.full_clean()
        change.save()
        change.components.set(components)
        record_audit(
            page=page,
            actor=actor,
            action="change.created",
            obj=change,
            after={"title": change.title, "components": [c.code for c in components], "state": state},
        )
    return change


def update_change_record(
    *,
    actor: Actor,
    change: ChangeRecord,
    title: str | None = None,
    description: str | None = None,
    components: Sequence[Component] | None = None,
) -> ChangeRecord:
    """Edit a change not yet done. Changing its components after it was approved (or rejected) asks for
    approval again. One transaction; audited; idempotent."""
    _check_change(change.page, title, components)
    with transaction.atomic():
        change = _locked(change)
        if change.state == ReviewState.DONE:
            raise ValidationError({"state": "This change is done; record a new one."})
        before: dict = {}
        after: dict = {}
        if title is not None and title.strip() != change.title:
            before["title"], after["title"] = change.title, title.strip()
            change.title = title.strip()
        if description is not None and description.strip() != change.description:
            before["description"], after["description"] = change.description, description.strip()
            change.description = description.strip()
        reset = False
        if components is not None:
            old = sorted(change.components.values_list("code", flat=True))
            new = sorted(c.code for c in components)
            if old != new:
                change.components.set(components)
                before["components"], after["components"] = old, new
                reset = change.state in (ReviewState.APPROVED, ReviewState.REJECTED)
        if not after:
            return change
        if reset:
            before["state"], after["state"] = change.state, ReviewState.PENDING
            change.state = ReviewState.PENDING
        change.updated_at = timezone.now()
        change.save()
        record_audit(
            page=change.page, actor=actor, action="change.edited", obj=change, before=before, after=after
        )
        if reset:
            record_audit(
                page=change.page,
                actor=actor,
                action="change.approval_reset",
                obj=change,
                before={"state": before["state"]},
                after={"state": ReviewState.PENDING, "reason": "components changed"},
            )
    return change


def submit_change_record(*, actor: Actor, change: ChangeRecord) -> ChangeRecord:
    """Ask the page's owners to review a draft or rejected change. One transaction; idempotent."""
    with transaction.atomic():
        change = _locked(change)
        if change.state not in (ReviewState.DRAFT, ReviewState.REJECTED):
            return change
        before = change.state
        change.state = ReviewState.PENDING
        change.updated_at = timezone.now()
        change.save(update_fields=["state", "updated_at"])
        record_audit(
            page=change.page,
            actor=actor,
            action="change.submitted",
            obj=change,
            before={"state": before},
            after={"state": ReviewState.PENDING},
        )
    return change


def complete_change_record(*, actor: Actor, change: ChangeRecord, at: datetime | None = None) -> ChangeRecord:
    """Mark a change as carried out. Refused while the page's review holds it back. One transaction;
    idempotent."""
    at = at or timezone.now()
    with transaction.atomic():
        change = _locked(change)
        if change.state == ReviewState.DONE:
            return change
        if change.state == ReviewState.REJECTED:
            raise ValidationError(
                {"state": "This change was rejected: change it and ask for approval again."}
            )
        if approval_blocks(change):
            raise ValidationError(
                {"state": "This change needs the approval of an owner other than its author first."}
            )
        before = change.state
        change.state = ReviewState.DONE
        change.done_at = change.updated_at = at
        change.save(update_fields=["state", "done_at", "updated_at"])
        record_audit(
            page=change.page,
            actor=actor,
            action="change.done",
            obj=change,
            before={"state": before},
            after={"state": ReviewState.DONE},
        )
    return change
