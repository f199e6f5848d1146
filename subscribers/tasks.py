"""Notification tasks (road 3). Thin: they take primary keys and call subscribers.delivery or the mailers."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="subscribers.tasks.fan_out_event")
def fan_out_event_task(event_id: int) -> int:
    """Expand one outbox event into deliveries and enqueue them. Idempotent (unique per subscriber)."""
    from subscribers import delivery

    return delivery.fan_out(event_id)


@shared_task(name="subscribers.tasks.send_deliveries")
def send_deliveries_task(delivery_ids: list[int]) -> dict:
    """Send a chunk of deliveries over one connection per channel. Idempotent: claims before sending."""
    from subscribers import delivery

    return delivery.send_deliveries(delivery_ids)


@shared_task(name="subscribers.tasks.resume_deliveries")
def resume_deliveries_task() -> dict:
    """Beat: resume stalled and due deliveries and unfanned events. Idempotent."""
    from subscribers import delivery

    return delivery.resume()


@shared_task(
    name="subscribers.tasks.send_confirmation",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def send_confirmation_task(subscriber_id: int) -> None:
    """Email the double opt-in link (or, to an address already confirmed, its manage link)."""
    from subscribers import mailers

    mailers.send_confirmation(subscriber_id)


@shared_task(
    name="subscribers.tasks.send_quarantine_notice",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def send_quarantine_notice_task(subscriber_id: int) -> None:
    """Tell a webhook's owner it was quarantined after repeated failures."""
    from subscribers import mailers

    mailers.send_quarantine_notice(subscriber_id)
