"""Publishing tasks (road 2). Thin: they load by primary key and call the publishing service."""

from __future__ import annotations

import logging

from celery import shared_task

from statuspage import publishing

log = logging.getLogger(__name__)


@shared_task(name="statuspage.tasks.publish_page")
def publish_page_task(page_id: int, queued_at_us: int | None = None) -> None:
    """Re-render and store one page's public documents. Idempotent: the newest state always wins.

    `queued_at_us` is when the command that asked for this publish had committed. A live version whose
    rendering began after that already shows the change, so the task has nothing to do: under a burst of
    writes, queued publishes fold into the one that is running instead of forming a queue that grows by
    a render per write. (A clock skewed between hosts can only skip wrongly by the skew; the snapshot
    sweep compares the manifest's last_change with the audit trail and republishes then.)
    """
    from statuspage.metrics import publish_timer

    if queued_at_us is not None and publishing.live_version_began_after(page_id, queued_at_us):
        log.debug("publish of page %s folded into a later one", page_id)
        return
    with publish_timer() as timer:
        manifest = publishing.publish_page(page_id)
    if manifest is not None:
        log.info(
            "published page %s version %s in %.3f s",
            manifest["page"],
            manifest["version"],
            timer.seconds,
            extra={"page": manifest["page"], "version": manifest["version"], "seconds": timer.seconds},
        )


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
