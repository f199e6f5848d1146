"""Publishing tasks (road 2). Thin: they load by primary key and call the publishing service."""

from __future__ import annotations

import logging

from celery import shared_task

from statuspage import publishing

log = logging.getLogger(__name__)


@shared_task(name="statuspage.tasks.publish_page")
def publish_page_task(page_id: int) -> None:
    """Re-render and store one page's public documents. Idempotent: the newest state always wins."""
    publishing.publish_page(page_id)


@shared_task(name="statuspage.tasks.refresh_stale_snapshots")
def refresh_stale_snapshots_task() -> None:
    """Republish pages whose snapshot is missing or from before today in their zone. Idempotent."""
    publishing.refresh_stale_snapshots()


@shared_task(
    name="statuspage.tasks.send_invitation",
    autoretry_for=(OSError,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=8,
)
def send_invitation_task(membership_id: int, invited_by: str) -> None:
    """Email a new member a link to set their password. Retries on network errors only."""
    from statuspage import console_mail

    console_mail.send_invitation(membership_id, invited_by)
