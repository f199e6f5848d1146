"""The tenant: a status page, its team and roles, and its audit trail."""

from __future__ import annotations

import ipaddress
import re
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from statuspage.ids import new_public_id

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
    "Use lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
)
domain_validator = RegexValidator(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    "Enter a host name such as status.example.com, without a scheme or path.",
)
colour_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Enter a colour as #rrggbb.")

# Slugs that would collide with the installation's own paths or host names.
RESERVED_SLUGS = {
    "admin",
    "api",
    "console",
    "static",
    "media",
    "www",
    "pages",
    "healthz",
    "readyz",
    "metrics",
}


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(
            f"{value!r} is not an IANA time zone such as Europe/Paris or America/Los_Angeles."
        )


_ZONES: set[str] = set()


def _time_zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def validate_slug_not_reserved(value: str) -> None:
    if value in RESERVED_SLUGS:
        raise ValidationError(f"{value!r} is reserved; choose another slug.")


def parse_ip_ranges(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of an allowed-IP-ranges setting, one per line; ValueError naming the first bad line."""
    networks = []
    for line in value.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            networks.append(ipaddress.ip_network(line, strict=False))
        except ValueError:
            raise ValueError(f"{line!r} is not a network such as 203.0.113.0/24 or 2001:db8::/32.") from None
    return networks


def validate_ip_ranges(value: str) -> None:
    try:
        parse_ip_ranges(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


VIEWER_ENTRY = re.compile(
    r"^(?:[^@\s]+@|@)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


def parse_viewer_emails(value: str) -> list[str]:
    """Allowed viewer addresses and domains, lowercased; a domain is kept as "@example.com"."""
    entries = []
    for line in value.splitlines():
        line = line.strip().lower()
        if not line:
            continue
        if not VIEWER_ENTRY.match(line):
            raise ValueError(
                f"{line!r} is neither an address (alice@example.com) nor a domain (@example.com)."
            )
        entries.append(line if "@" in line else "@" + line)
    return entries


def validate_viewer_emails(value: str) -> None:
    try:
        parse_viewer_emails(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class PageQuerySet(models.QuerySet["Page"]):
    def for_user(self, user) -> PageQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user)


class Page(models.Model):
    code = models.CharField(max_length=12, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    slug = models.CharField(
        max_length=63, unique=True, validators=[slug_validator, validate_slug_not_reserved]
    )
    custom_domain = models.CharField(
        max_length=253,
        unique=True,
        null=True,
        blank=True,
        validators=[domain_validator],
        help_text="Served on this host when its DNS points here, e.g. status.example.com.",
    )
    time_zone = models.CharField(max_length=64, default="Etc/UTC", validators=[validate_time_zone])
    headline = models.CharField(max_length=200, blank=True, help_text="A line under the page name.")
    logo = models.FileField(upload_to="logos/", blank=True)
    brand_colour = models.CharField(max_length=7, default="#1f6feb", validators=[colour_validator])
    support_url = models.URLField(blank=True)
    homepage_url = models.URLField(blank=True)
    update_cadence_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Minutes between public updates of an open incident.",
    )
    monitoring_cadence_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="Minutes between public updates while an incident is in Monitoring.",
    )
    reminder_lead_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MaxValueValidator(24 * 60)],
        help_text="How long before an update is due the commander is reminded (0: no reminder).",
    )
    # Statuspage computes the headline only from components, so an open incident can sit under a green
    # "All Systems Operational"; its users' most common complaint. On by default: the incident raises it.
    incidents_raise_indicator = models.BooleanField(default=True)
    show_next_update = models.BooleanField(
        default=False, help_text='Show "Next update by HH:MM" on open incidents on the public page.'
    )
    escalation_webhook_url = models.URLField(
        blank=True, help_text="Also POST overdue-update escalations here (a chat or paging webhook)."
    )
    propagate_dependencies = models.BooleanField(
        default=False,
        help_text="When a component's status changes, change its dependents' at once instead of proposing "
        "it to the commander.",
    )
    require_change_approval = models.BooleanField(
        default=False,
        help_text="A maintenance or change is published and may start only once an owner other than its "
        "author has approved its potential impact.",
    )
    require_two_factor = models.BooleanField(
        default=False,
        help_text="Members must sign in with a second factor (an authenticator app) to use this page's "
        "console; those without one are sent to set it up first.",
    )
    # Private pages (docs/private-pages.md): only team members, visitors signed in by an emailed link, and
    # visitors from allowed networks see the public side; statuspage.private enforces it on every surface.
    visibility = models.CharField(
        max_length=8,
        choices=[("public", "Public"), ("private", "Private")],
        default="public",
        help_text="Private: only the team, allowed viewers and allowed networks may see the page.",
    )
    allowed_ip_ranges = models.TextField(
        blank=True,
        validators=[validate_ip_ranges],
        help_text="One network per line (CIDR, IPv4 or IPv6, e.g. 203.0.113.0/24); visitors from these "
        "see a private page without signing in.",
    )
    allowed_viewer_emails = models.TextField(
        blank=True,
        validators=[validate_viewer_emails],
        help_text="One address (alice@example.com) or domain (@example.com) per line; these may sign in "
        "to a private page by an emailed link, and only they (and the team) may subscribe to it.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PageQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(update_cadence_minutes__gte=1), name="page_cadence_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(monitoring_cadence_minutes__gte=1), name="page_monitoring_cadence_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if (
            self.reminder_lead_minutes is not None
            and self.update_cadence_minutes is not None
            and self.reminder_lead_minutes >= self.update_cadence_minutes
        ):
            raise ValidationError(
                {
                    "reminder_lead_minutes": "The reminder must come before the update is due: make "
                    "it shorter than the update cadence."
                }
            )

    @property
    def is_private(self) -> bool:
        return self.visibility == "private"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def public_url(self) -> str:
        """The canonical address of the public page, with a trailing slash."""
        scheme = "https" if settings.SECURE_TLS else "http"
        if self.custom_domain:
            return f"{scheme}://{self.custom_domain}/"
        return f"{settings.SITE_URL}/pages/{self.slug}/"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    COMMANDER = "commander", "Commander"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "user"], name="membership_unique_per_page"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) on {self.page}"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_page(self, page: Page) -> AuditEventQuerySet:
        return self.filter(page=page)

    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")


# How the console words each action ("owner handed the incident over").
ACTION_LABELS = {
    "page.created": "created the page",
    "page.updated": "changed the page's settings",
    "member.role_set": "set a member's role",
    "member.removed": "removed a member",
    "member.two_factor_enabled": "turned on two-factor sign-in",
    "member.two_factor_removed": "turned off two-factor sign-in",
    "member.recovery_codes_replaced": "replaced their two-factor recovery codes",
    "group.created": "created a component group",
    "component.created": "created a component",
    "component.updated": "changed a component",
    "component.status_changed": "changed a component's status",
    "component.status_propagated": "changed a dependent's status by automatic propagation",
    "dependency.added": "added a component dependency",
    "dependency.changed": "changed a component dependency",
    "dependency.removed": "removed a component dependency",
    "incident.created": "opened the incident",
    "incident.updated": "posted an update",
    "incident.reopened": "reopened the incident",
    "incident.update_edited": "corrected an update",
    "incident.handover": "handed the incident over",
    "maintenance.scheduled": "scheduled maintenance",
    "maintenance.updated": "updated the maintenance",
    "postmortem.saved": "saved the postmortem draft",
    "postmortem.published": "published the postmortem",
    "postmortem.unpublished": "unpublished the postmortem",
    "template.created": "created an incident template",
    "template.updated": "changed an incident template",
    "template.deleted": "deleted an incident template",
}


class AuditEvent(models.Model):
    """Append-only: who did what to which object, when, with the values before and after."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="audit_events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(
        max_length=150, help_text="The person, API key or automation, as it was named."
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=32)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["page", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The audit log is append-only: an event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only: an event cannot be deleted.")

    @property
    def description(self) -> str:
        return ACTION_LABELS.get(self.action, self.action.replace(".", " ").replace("_", " "))


class APIKeyQuerySet(models.QuerySet["APIKey"]):
    def for_page(self, page: Page) -> APIKeyQuerySet:
        return self.filter(page=page)

    def usable(self) -> APIKeyQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class APIKey(models.Model):
    """A key for the management API, scoped to one page and one role. Only a SHA-256 digest of the key is
    stored (the key is 32 random bytes, so a fast hash is as good as a slow one); the prefix tells keys
    apart in lists and logs. The key itself is shown once, when it is made."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.COMMANDER)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = APIKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="api_key_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) on {self.page}"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class IdempotentRequest(models.Model):
    """A POST made with an `Idempotency-Key` header: while it runs the row claims the key, and once it has
    succeeded the row holds its response, so a retried create gets the first answer instead of a second
    incident. Keys are per API key and kept for IDEMPOTENCY_TTL (24 hours)."""

    api_key = models.ForeignKey(APIKey, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty while running.")
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotent_request_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'running'})"


class ViewerLink(models.Model):
    """A sign-in link mailed to an allowed viewer of a private page: single use (`used_at` is set by one
    conditional UPDATE) and expiring. Only the SHA-256 of the secret in the link is stored."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="viewer_links")
    email = models.EmailField()
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sign-in link for {self.email} on {self.page}"
