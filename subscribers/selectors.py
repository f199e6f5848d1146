"""Reads of the notify road, each starting from the page."""

from __future__ import annotations

from django.db.models import Count

from statuspage.models import Page
from subscribers.models import Delivery, DeliveryState, Subscriber, SubscriberState


def delivery_health(page: Page, since) -> dict:
    """For the dashboard: the page's deliveries since `since`, by state, and webhooks in quarantine."""
    rows = dict(
        Delivery.objects.for_page(page)
        .filter(created_at__gte=since)
        .values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    return {
        "sent": rows.get(DeliveryState.SENT, 0),
        "pending": rows.get(DeliveryState.PENDING, 0) + rows.get(DeliveryState.SENDING, 0),
        "retrying": rows.get(DeliveryState.RETRYING, 0),
        "dead": rows.get(DeliveryState.DEAD, 0),
        "quarantined": Subscriber.objects.for_page(page).filter(state=SubscriberState.QUARANTINED).count(),
    }
