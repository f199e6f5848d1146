"""Commands on the tenant: pages, members, the audit trail, and asking for a page to be republished."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from statuspage.models import APIKey, AuditEvent, Membership, Page, Role


@dataclass(frozen=True)
class Actor:
    """Who performs a command: a team member, an API key, or the system itself (label only)."""

    user: AbstractBaseUser | None = None
    label: str = "system"

    @classmethod
    def of(cls, user: AbstractBaseUser | None) -> Actor:
        if user is None:
            return SYSTEM
        return cls(user=user, label=user.get_username())


SYSTEM = Actor()


def record_audit(
    *,
    page: Page,
    actor: Actor,
    action: str,
    obj: Any,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """Append one audit row. Runs inside the caller's transaction."""
    return AuditEvent.objects.create(
        page=page,
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        object_type=type(obj).__name__.lower(),
        object_id=str(getattr(obj, "code", obj.pk)),
        before=before or {},
        after=after or {},
    )


def schedule_publish(page: Page) -> None:
    """Re-render the page's public documents once the current transaction commits (road 2).

    Once per page per transaction: a command that touches ten components, or the demo build that runs a
    hundred commands in one transaction, enqueues a single publish. Callbacks registered in a savepoint
    that rolls back are dropped by Django together with the marker.
    """
    from statuspage.outage import enqueue_after_commit
    from statuspage.tasks import publish_page_task

    connection = transaction.get_connection()
    if connection.in_atomic_block and any(
        getattr(callback, "publishes_page", None) == page.pk for _, callback, _ in connection.run_on_commit
    ):
        return

    def enqueue() -> None:
        # A broker outage is logged, not raised: the rows are committed, and the publish sweeper
        # (publishing.refresh_stale_snapshots) sees the snapshot is behind the audit trail.
        queued_at_us = time.time_ns() // 1000
        enqueue_after_commit(
            lambda: publish_page_task.delay(page.pk, queued_at_us), f"publish of page {page.pk}"
        )

    enqueue.publishes_page = page.pk  # type: ignore[attr-defined]
    transaction.on_commit(enqueue)


PAGE_FIELDS = (
    "name",
    "slug",
    "custom_domain",
    "time_zone",
    "headline",
    "brand_colour",
    "support_url",
    "homepage_url",
    "update_cadence_minutes",
    "monitoring_cadence_minutes",
    "reminder_lead_minutes",
    "incidents_raise_indicator",
    "show_next_update",
    "escalation_webhook_url",
    "propagate_dependencies",
    "require_change_approval",
    "require_two_factor",
    "visibility",
    "allowed_ip_ranges",
    "allowed_viewer_emails",
)


def _page_values(page: Page) -> dict[str, Any]:
    return {field: getattr(page, field) for field in PAGE_FIELDS}


def _check_escalation_webhook(url: str | None) -> None:
    """The escalation webhook is POSTed by our workers, so it passes the SSRF guard when it is saved (and
    again at each send, in incidents.cadence): no loopback, private, link-local or metadata address. Called
    before the transaction, as it resolves the name. A name that does not resolve now is let through: it
    can reach nothing, and the send-time check judges whatever it resolves to then."""
    if not url:
        return
    from django.conf import settings

    from subscribers import netguard

    try:
        netguard.check_url(url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK)
    except netguard.Unresolvable:
        return
    except netguard.UnsafeURL as exc:
        raise ValidationError({"escalation_webhook_url": str(exc)}) from None


def create_page(
    *, actor: Actor, name: str, slug: str, time_zone: str = "Etc/UTC", owner=None, **fields
) -> Page:
    """Create a page and make `owner` (if given) its owner. One transaction; not idempotent."""
    unknown = set(fields) - set(PAGE_FIELDS)
    if unknown:
        raise TypeError(f"unknown page fields: {sorted(unknown)}")
    _check_escalation_webhook(fields.get("escalation_webhook_url"))
    with transaction.atomic():
        page = Page(name=name, slug=slug, time_zone=time_zone, **fields)
        if page.custom_domain == "":
            page.custom_domain = None
        page.full_clean()
        page.save()
        if owner is not None:
            Membership.objects.create(page=page, user=owner, role=Role.OWNER)
        record_audit(
            page=page, actor=actor, action="page.created", obj=page, after=_jsonable(_page_values(page))
        )
        schedule_publish(page)
    return page


def update_page(*, actor: Actor, page: Page, **fields) -> Page:
    """Change a page's settings and branding. One transaction; idempotent for the same values."""
    unknown = set(fields) - set(PAGE_FIELDS)
    if unknown:
        raise TypeError(f"unknown page fields: {sorted(unknown)}")
    if fields.get("escalation_webhook_url", page.escalation_webhook_url) != page.escalation_webhook_url:
        _check_escalation_webhook(fields["escalation_webhook_url"])
    with transaction.atomic():
        page = Page.objects.select_for_update().get(pk=page.pk)
        before = _page_values(page)
        for field, value in fields.items():
            setattr(page, field, value)
        if page.custom_domain == "":
            page.custom_domain = None
        page.full_clean()
        page.save()
        after = _page_values(page)
        changed = {k for k in after if after[k] != before[k]}
        if changed:
            record_audit(
                page=page,
                actor=actor,
                action="page.updated",
                obj=page,
                before=_jsonable({k: before[k] for k in changed}),
                after=_jsonable({k: after[k] for k in changed}),
            )
            schedule_publish(page)
            if changed & {"visibility", "allowed_ip_ranges"}:
                # The site index says which pages are private; refresh it on commit, not when the publish
                # task runs, so a page made private stops being served at once.
                from statuspage.publishing import publish_site_index

                transaction.on_commit(publish_site_index)
    return page


def add_member(*, actor: Actor, page: Page, user, role: str) -> Membership:
    """Give `user` a role on `page` (or change it). One transaction; idempotent."""
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(page=page, user=user, defaults={"role": role})
        before = {} if created else {"role": membership.role}
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        if created or before.get("role") != role:
            record_audit(
                page=page,
                actor=actor,
                action="member.role_set",
                obj=membership,
                before=before,
                after={"user": user.get_username(), "role": role},
            )
    return membership


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, str | int | bool | type(None)) else str(v)) for k, v in values.items()}


def invite_member(*, actor: Actor, page: Page, email: str, role: str) -> Membership:
    """Add the person with this email to the page (creating their account if needed) and email them a link
    to set their password and sign in. One transaction; the email leaves after commit."""
    from django.contrib.auth import get_user_model
    from django.core.validators import validate_email

    from statuspage.tasks import send_invitation_task

    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": "Enter a valid email address."}) from None
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    User = get_user_model()
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user is None:
            user = User(username=email, email=email)
            user.set_unusable_password()
            user.save()
        if Membership.objects.filter(page=page, user=user).exists():
            raise ValidationError({"email": "This person is already a member of the page."})
        membership = add_member(actor=actor, page=page, user=user, role=role)
        send_invitation_task.delay_on_commit(membership.pk, actor.label)
    return membership


def remove_member(*, actor: Actor, membership: Membership) -> None:
    """Take someone off a page. The last owner cannot be removed. One transaction."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("page", "user")
            .get(pk=membership.pk)
        )
        _keep_an_owner(membership, new_role=None)
        record_audit(
            page=membership.page,
            actor=actor,
            action="member.removed",
            obj=membership,
            before={"user": membership.user.get_username(), "role": membership.role},
        )
        membership.delete()


def change_role(*, actor: Actor, membership: Membership, role: str) -> Membership:
    """Change a member's role; the page always keeps at least one owner. One transaction; idempotent."""
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update(of=("self",))
            .select_related("page", "user")
            .get(pk=membership.pk)
        )
        _keep_an_owner(membership, new_role=role)
        return add_member(actor=actor, page=membership.page, user=membership.user, role=role)


def _keep_an_owner(membership: Membership, *, new_role: str | None) -> None:
    if membership.role == Role.OWNER and new_role != Role.OWNER:
        owners = Membership.objects.filter(page=membership.page, role=Role.OWNER).count()
        if owners <= 1:
            raise ValidationError("A page needs at least one owner: make someone else owner first.")


# --- API keys ---------------------------------------------------------------------------------------------

API_KEY_PREFIX = "sp_"


def api_key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_api_key(
    *, actor: Actor, page: Page, name: str, role: str, expires_at: datetime | None = None
) -> tuple[APIKey, str]:
    """Make a key for `page` with `role`. Returns the key row and the key itself, which is never stored
    and cannot be shown again. One transaction; audited."""
    raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = APIKey(
        page=page,
        name=(name or "").strip(),
        role=role,
        prefix=raw[: len(API_KEY_PREFIX) + 8],
        digest=api_key_digest(raw),
        created_by=actor.user,
        expires_at=expires_at,
    )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Choose a time in the future."})
    with transaction.atomic():
        key.full_clean()
        key.save()
        record_audit(
            page=page,
            actor=actor,
            action="api_key.created",
            obj=key,
            after={"name": key.name, "role": role, "prefix": key.prefix},
        )
    return key, raw


def revoke_api_key(*, actor: Actor, key: APIKey) -> APIKey:
    """Refuse the key from now on. One transaction; audited; idempotent."""
    with transaction.atomic():
        changed = APIKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if changed:
            record_audit(
                page=key.page,
                actor=actor,
                action="api_key.revoked",
                obj=key,
                before={"name": key.name, "prefix": key.prefix},
            )
    key.refresh_from_db()
    return key


def authenticate_api_key(raw: str) -> APIKey | None:
    """The usable key `raw` names, with its page, or None. Records when it was last used (at most once a
    minute, so a busy key does not write on every request)."""
    if not raw or not raw.startswith(API_KEY_PREFIX) or len(raw) > 200:
        return None
    key = APIKey.objects.usable().select_related("page").filter(digest=api_key_digest(raw)).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        APIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
