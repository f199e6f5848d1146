"""Mail to subscribers that is not an event: the opt-in confirmation and the quarantine notice."""

from __future__ import annotations

import logging
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from subscribers import links
from subscribers.models import Subscriber, SubscriberState

log = logging.getLogger(__name__)


def _sender(page) -> str:
    return formataddr((f"{page.name} Status", parseaddr(settings.DEFAULT_FROM_EMAIL)[1]))


def send_confirmation(subscriber_id: int) -> None:
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None or not subscriber.email:
        return
    page = subscriber.page
    already = subscriber.state == SubscriberState.ACTIVE
    if subscriber.state not in (SubscriberState.UNCONFIRMED, SubscriberState.ACTIVE):
        return
    context = {
        "page": page,
        "subscriber": subscriber,
        "already": already,
        "confirm_url": links.url(subscriber, "confirm"),
        "manage_url": links.url(subscriber, "manage"),
    }
    subject = f"[{page.name}] Your subscription" if already else f"[{page.name}] Confirm your subscription"
    body = render_to_string("email/subscription_confirm.txt", context)
    EmailMultiAlternatives(
        subject, body, _sender(page), [subscriber.email], headers={"Auto-Submitted": "auto-generated"}
    ).send()
    Subscriber.objects.filter(pk=subscriber.pk).update(confirmation_sent_at=timezone.now())


def send_quarantine_notice(subscriber_id: int) -> None:
    subscriber = Subscriber.objects.select_related("page").filter(pk=subscriber_id).first()
    if subscriber is None or subscriber.state != SubscriberState.QUARANTINED:
        return
    page = subscriber.page
    recipients = [subscriber.email] if subscriber.email else []
    if not recipients:
        log.info("webhook %s quarantined; no failure address to tell", subscriber.code)
        return
    body = render_to_string(
        "email/webhook_quarantined.txt",
        {"page": page, "subscriber": subscriber, "manage_url": links.url(subscriber, "manage")},
    )
    EmailMultiAlternatives(
        f"[{page.name}] Webhook notifications paused for {subscriber.endpoint[:80]}",
        body,
        _sender(page),
        recipients,
        headers={"Auto-Submitted": "auto-generated"},
    ).send()
