"""Time-driven incident work (road 4). Thin: load by key, call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from incidents import cadence
from incidents.models import Incident

log = logging.getLogger(__name__)


@shared_task(name="incidents.tasks.check_cadence")
def check_cadence_task() -> dict:
    """Record due reminders and escalations, then send what is pending. Idempotent: safe to run twice,
    concurrently, or late (a beat that was down catches up with one escalation, not a burst)."""
    recorded = cadence.sweep()
    sent = cadence.deliver_pending()
    return {"recorded": len(recorded), "sent": sent}


@shared_task(name="incidents.tasks.run_maintenance_clock")
def run_maintenance_clock_task() -> dict:
    """Expand recurring windows, publish, remind, start and complete maintenances that are due. Idempotent:
    safe to run twice, concurrently, or late (a beat that was down catches up; nothing is done twice)."""
    from incidents import scheduler

    return scheduler.sweep().as_dict()


@shared_task(
    name="incidents.tasks.send_handover_email",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def send_handover_email_task(incident_id: int, commander_id: int, handed_over_by: str) -> None:
    """Tell the new commander. Retries on network errors only; a missing row is a bug, logged once."""
    incident = Incident.objects.select_related("page").filter(pk=incident_id).first()
    user = get_user_model().objects.filter(pk=commander_id).first()
    if incident is None or user is None or not user.email:
        log.warning("handover email skipped: incident %s, user %s", incident_id, commander_id)
        return
    page = incident.page
    with timezone.override(page.tz):
        body = render_to_string(
            "email/handover.txt",
            {
                "incident": incident,
                "page": page,
                "by": handed_over_by,
                "user": user,
                "url": cadence.console_url(page, incident),
                "site": settings.SITE_URL,
            },
        )
    send_mail(f"[{page.name}] You are now incident commander: {incident.name}", body, None, [user.email])
