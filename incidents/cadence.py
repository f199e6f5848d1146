"""The update cadence (DESIGN.md road 4): each open incident owes its readers an update every N minutes.

`Incident.next_update_due_at` is the due column; one periodic sweep (`sweep`) records a reminder for the
commander `reminder_lead_minutes` before it, and an escalation to the page's owners when it passes, repeated
once per cadence while the incident stays overdue. Each notice is a row with a unique key (incident, kind,
due time), so a retried task, two beats or two workers record it once; a beat that was down for hours
records only the latest escalation slot, not a burst. Sending happens after the row is committed, claimed by
a conditional UPDATE, outside any transaction.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import CadenceNotice, Incident, IncidentStatus, NoticeKind
from statuspage.models import Membership, Page, Role
from subscribers import netguard

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def claim_timeout() -> timedelta:
    """A notice claimed this long ago without an outcome belonged to a worker that died: the same deadline
    as a delivery's (DELIVERY_STALLED_AFTER, 2 minutes by default). Sending one is an email and a webhook,
    each bounded by a 10-second timeout, so a live worker is never overtaken. Read at call time."""
    return timedelta(seconds=settings.DELIVERY_STALLED_AFTER)


WEBHOOK_TIMEOUT = 10


def cadence_for(incident: Incident, status: str | None = None) -> timedelta:
    """How long the page allows between public updates: longer while monitoring."""
    page = incident.page
    minutes = (
        page.monitoring_cadence_minutes
        if (status or incident.status) == IncidentStatus.MONITORING
        else page.update_cadence_minutes
    )
    return timedelta(minutes=minutes)


def next_due(incident: Incident) -> datetime | None:
    if incident.last_update_at is None:
        return None
    return incident.last_update_at + cadence_for(incident)


@dataclass(frozen=True)
class DueState:
    """What the console shows next to an open incident."""

    due_at: datetime | None
    state: str  # "ok" | "soon" | "overdue" | "none"
    seconds: int  # until due (positive) or since due (negative)


def due_state(incident: Incident, now: datetime) -> DueState:
    due = incident.next_update_due_at
    if due is None:
        return DueState(None, "none", 0)
    seconds = int((due - now).total_seconds())
    lead = timedelta(minutes=incident.page.reminder_lead_minutes)
    if now >= due:
        return DueState(due, "overdue", seconds)
    if now >= due - lead:
        return DueState(due, "soon", seconds)
    return DueState(due, "ok", seconds)


def sweep(now: datetime | None = None) -> list[CadenceNotice]:
    """Record the reminders and escalations that are due at `now`. Idempotent; one short transaction per
    notice. Returns the notices recorded by this call (not those another sweep recorded first)."""
    now = now or timezone.now()
    recorded = []
    # Reminder leads are small; a day's horizon bounds the scan whatever the page settings.
    candidates = (
        Incident.objects.open()
        .filter(next_update_due_at__isnull=False, next_update_due_at__lte=now + timedelta(days=1))
        .select_related("page")
    )
    for incident in candidates:
        due = incident.next_update_due_at
        if now >= due:
            cadence = cadence_for(incident)
            slots = int((now - due) / cadence)
            notice = _record(incident, NoticeKind.ESCALATION, due + slots * cadence)
        elif now >= due - timedelta(minutes=incident.page.reminder_lead_minutes):
            notice = _record(incident, NoticeKind.REMINDER, due)
        else:
            continue
        if notice is not None:
            recorded.append(notice)
    return recorded


def _record(incident: Incident, kind: str, due_at: datetime) -> CadenceNotice | None:
    try:
        with transaction.atomic():
            return CadenceNotice.objects.create(incident=incident, kind=kind, due_at=due_at)
    except IntegrityError:  # already recorded by this or another sweep
        return None


def deliver_pending(now: datetime | None = None) -> int:
    """Send every recorded notice not yet sent. Each is claimed by a conditional UPDATE (so two workers
    never both send it), sent outside any transaction, then marked sent; a failure is kept with its error
    and retried by the next sweep, up to MAX_ATTEMPTS. Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    pending = CadenceNotice.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - claim_timeout())
    )
    for notice in pending.select_related("incident__page", "incident__commander"):
        claimed = CadenceNotice.objects.filter(
            pk=notice.pk, sent_at__isnull=True, claimed_at=notice.claimed_at
        ).update(claimed_at=now, attempts=F("attempts") + 1)
        if not claimed:
            continue
        incident = notice.incident
        current = Incident.objects.filter(pk=incident.pk).values_list("next_update_due_at", flat=True).first()
        if current is None or current > notice.due_at:
            # An update was posted (or the incident resolved) after the notice was recorded: nothing to say.
            CadenceNotice.objects.filter(pk=notice.pk).update(
                sent_at=now, last_error="skipped: update posted"
            )
            continue
        try:
            _send(notice, now)
        except Exception as exc:  # transient or not, it is kept and retried; the error is visible
            log.warning("cadence notice %s failed: %s", notice.pk, exc)
            CadenceNotice.objects.filter(pk=notice.pk).update(claimed_at=None, last_error=str(exc)[:2000])
            continue
        CadenceNotice.objects.filter(pk=notice.pk).update(sent_at=now, last_error="")
        sent += 1
    return sent


def console_url(page: Page, incident: Incident) -> str:
    return f"{settings.SITE_URL}/console/{page.slug}/incidents/{incident.code}/"


def _send(notice: CadenceNotice, now: datetime) -> None:
    incident = notice.incident
    page = incident.page
    owners = list(
        Membership.objects.filter(page=page, role=Role.OWNER)
        .select_related("user")
        .values_list("user__email", flat=True)
    )
    context = {
        "page": page,
        "incident": incident,
        "notice": notice,
        "url": console_url(page, incident),
        "minutes_overdue": max(0, int((now - incident.next_update_due_at).total_seconds() // 60)),
        "cadence_minutes": int(cadence_for(incident).total_seconds() // 60),
    }
    with timezone.override(page.tz):
        if notice.kind == NoticeKind.REMINDER:
            recipients = (
                [incident.commander.email] if incident.commander and incident.commander.email else owners
            )
            subject = (
                f"[{page.name}] Update due at {timezone.localtime(notice.due_at):%H:%M %Z}: {incident.name}"
            )
            body = render_to_string("email/cadence_reminder.txt", context)
        else:
            recipients = owners
            subject = f"[{page.name}] Overdue update: {incident.name}"
            body = render_to_string("email/cadence_escalation.txt", context)
    recipients = sorted({r for r in recipients if r})
    if recipients:
        send_mail(subject, body, None, recipients)
    if notice.kind == NoticeKind.ESCALATION and page.escalation_webhook_url:
        _post_webhook(
            page.escalation_webhook_url,
            {
                "event": "incident.update_overdue",
                "page": {"id": page.code, "name": page.name},
                "incident": {"id": incident.code, "name": incident.name, "status": incident.status},
                "due_at": notice.due_at.isoformat(),
                "minutes_overdue": context["minutes_overdue"],
                "url": context["url"],
                "text": (
                    f'{page.name}: no update on "{incident.name}" for '
                    f"{context['minutes_overdue']} minutes past due."
                ),
            },
        )


def _post_webhook(url: str, payload: dict) -> None:
    # Through the SSRF guard like subscriber webhooks: the URL is an owner's input, checked when it is saved
    # and again here after resolution and after every redirect (DNS may have changed since).
    status, _ = netguard.safe_post(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "OpenStatus-Cadence/1"},
        timeout=WEBHOOK_TIMEOUT,
        allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
    )
    if status >= 300:
        raise RuntimeError(f"escalation webhook answered {status}")


# --- Reports --------------------------------------------------------------------------------------


@dataclass
class CadenceReport:
    updates: int
    longest_gap: timedelta | None
    on_time_share: float | None  # of the updates that had a predecessor
    reminders: int
    escalations: int
    time_to_first_update: timedelta | None
    time_to_resolve: timedelta | None


def report(incident: Incident, *, now: datetime | None = None) -> CadenceReport:
    """The discipline of one incident's communication. Three queries."""
    now = now or timezone.now()
    updates = list(incident.updates.order_by("display_at", "id").values_list("display_at", "status"))
    gaps, on_time = [], 0
    for (previous, status), (current, _) in itertools.pairwise(updates):
        gap = current - previous
        gaps.append(gap)
        if gap <= cadence_for(incident, status):
            on_time += 1
    if incident.resolved_at is None and incident.is_open and updates:
        gaps.append(now - updates[-1][0])  # the silence so far counts too
    notices = dict.fromkeys(NoticeKind.values, 0)
    for kind in (
        incident.cadence_notices.filter(sent_at__isnull=False)
        .exclude(last_error__startswith="skipped")
        .values_list("kind", flat=True)
    ):
        notices[kind] += 1
    return CadenceReport(
        updates=len(updates),
        longest_gap=max(gaps) if gaps else None,
        on_time_share=(on_time / (len(updates) - 1)) if len(updates) > 1 else None,
        reminders=notices[NoticeKind.REMINDER],
        escalations=notices[NoticeKind.ESCALATION],
        time_to_first_update=(updates[0][0] - incident.started_at) if updates else None,
        time_to_resolve=(incident.resolved_at - incident.started_at) if incident.resolved_at else None,
    )


def page_report(page: Page, *, since: datetime, until: datetime, now: datetime | None = None) -> dict:
    """The same across a page's incidents that started in [since, until)."""
    incidents = list(
        Incident.objects.for_page(page)
        .incidents()
        .filter(started_at__gte=since, started_at__lt=until)
        .select_related("page")
        .order_by("-started_at")
    )
    rows = [(incident, report(incident, now=now)) for incident in incidents]
    shares = [r.on_time_share for _, r in rows if r.on_time_share is not None]
    resolves = [r.time_to_resolve for _, r in rows if r.time_to_resolve is not None]
    return {
        "rows": rows,
        "incidents": len(rows),
        "updates": sum(r.updates for _, r in rows),
        "on_time_share": sum(shares) / len(shares) if shares else None,
        "longest_gap": max((r.longest_gap for _, r in rows if r.longest_gap), default=None),
        "reminders": sum(r.reminders for _, r in rows),
        "escalations": sum(r.escalations for _, r in rows),
        "median_time_to_resolve": sorted(resolves)[len(resolves) // 2] if resolves else None,
    }
