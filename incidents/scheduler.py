"""The maintenance clock (DESIGN.md road 4): one sweep, run by beat, does the time-driven maintenance work.

In order: expand recurring series a horizon ahead; publish maintenances the change review no longer holds
back; send reminders; start maintenances whose window began; complete those whose window ended. The due
columns are the maintenance's own (`scheduled_for`, `scheduled_until`, `reminders`). Each piece of work is
claimed by inserting a MaintenanceNotice with a unique key (maintenance, kind, sequence, minutes) in the
same transaction as the work itself, so a retried task, two beats or two workers do it exactly once.

A beat that was down catches up: a start missed by ten minutes still starts, a window that ended while
nobody ran is started and completed, and of the reminders that fell due only the latest is sent, and only
if the start is still ahead (a reminder is never sent late).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from incidents import services
from incidents.models import (
    MAX_REMINDER_MINUTES,
    Incident,
    MaintenanceNotice,
    MaintenanceNoticeKind,
    MaintenanceSeries,
    ReviewState,
)
from incidents.services.maintenance import SERIES_HORIZON, approval_blocks
from statuspage.services import Actor

log = logging.getLogger(__name__)

SCHEDULER = Actor(label="maintenance scheduler")


@dataclass
class SweepResult:
    generated: int = 0
    published: int = 0
    reminded: int = 0
    started: int = 0
    completed: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "generated": self.generated,
            "published": self.published,
            "reminded": self.reminded,
            "started": self.started,
            "completed": self.completed,
            "failed": len(self.failed),
        }


def sweep(now: datetime | None = None) -> SweepResult:
    """Do every piece of maintenance work due at `now`. Idempotent; one short transaction per piece. A piece
    that fails does not stop the others: a refusal (the maintenance changed under it) is recorded on its
    notice and not retried; any other error is logged and retried by the next sweep."""
    now = now or timezone.now()
    result = SweepResult()
    # A series is expanded again once its horizon is an hour short: not at every sweep.
    stale = Q(generated_until__isnull=True) | Q(generated_until__lt=now + SERIES_HORIZON - timedelta(hours=1))
    for series in MaintenanceSeries.objects.active().filter(stale).select_related("page"):
        try:
            result.generated += services.generate_occurrences(actor=SCHEDULER, series=series, now=now)
        except Exception:  # one broken series must not stop the clock
            log.exception("expanding maintenance series %s failed", series.pk)
            result.failed.append(f"series {series.code}")
    _publish_released(now, result)
    _remind(now, result)
    _start(now, result)
    _complete(now, result)
    return result


def _publish_released(now: datetime, result: SweepResult) -> None:
    """Maintenances held back by a review the page no longer asks for (approved ones publish at once)."""
    held = (
        Incident.objects.upcoming()
        .filter(published_at__isnull=True, page__require_change_approval=False)
        .exclude(review_state=ReviewState.REJECTED)
        .select_related("page")
    )
    for incident in held:
        try:
            services.publish_maintenance(actor=SCHEDULER, incident=incident, at=now)
            result.published += 1
        except Exception:
            log.exception("publishing maintenance %s failed", incident.pk)
            result.failed.append(incident.code)


def _remind(now: datetime, result: SweepResult) -> None:
    soon = (
        Incident.objects.upcoming()
        .filter(
            published_at__isnull=False,
            scheduled_for__gt=now,
            scheduled_for__lte=now + timedelta(minutes=MAX_REMINDER_MINUTES),
        )
        .select_related("page")
    )
    for incident in soon:
        due = [m for m in incident.reminders if incident.scheduled_for - timedelta(minutes=m) <= now]
        if not due or approval_blocks(incident):
            continue
        # Of the reminders that fell due, only the nearest the start: a beat down for an hour sends the
        # 15-minute reminder, not the 60-minute one late as well.
        minutes = min(due)
        sequence = incident.sequence

        def work(incident=incident, minutes=minutes, sequence=sequence) -> bool:
            return services.remind_maintenance(
                actor=SCHEDULER, incident=incident, minutes=minutes, sequence=sequence
            )

        due_at = incident.scheduled_for - timedelta(minutes=minutes)
        if _claim(incident, MaintenanceNoticeKind.REMINDER, minutes, due_at, work, result):
            result.reminded += 1


def _start(now: datetime, result: SweepResult) -> None:
    due = Incident.objects.upcoming().filter(auto_start=True, scheduled_for__lte=now).select_related("page")
    for incident in due:
        if approval_blocks(incident):
            continue  # it starts at the next sweep after an owner approves it, if its window is still open

        def work(incident=incident) -> bool:
            services.start_maintenance(actor=SCHEDULER, incident=incident, at=now)
            return True

        if _claim(incident, MaintenanceNoticeKind.START, 0, incident.scheduled_for, work, result):
            result.started += 1


def _complete(now: datetime, result: SweepResult) -> None:
    due = (
        Incident.objects.active_maintenances()
        .filter(auto_complete=True, scheduled_until__lte=now, cancelled_at__isnull=True)
        .select_related("page")
    )
    for incident in due:

        def work(incident=incident) -> bool:
            services.complete_maintenance(actor=SCHEDULER, incident=incident, at=now)
            return True

        if _claim(incident, MaintenanceNoticeKind.COMPLETE, 0, incident.scheduled_until, work, result):
            result.completed += 1


def _claim(
    incident: Incident,
    kind: str,
    minutes: int,
    due_at: datetime,
    work: Callable[[], bool],
    result: SweepResult,
) -> bool:
    """Insert the notice and do the work in one transaction: whoever inserts the notice first does the
    work; everyone else gets the unique key's IntegrityError and skips. Returns whether this call did it."""
    key = {"incident": incident, "kind": kind, "sequence": incident.sequence, "minutes": minutes}
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    MaintenanceNotice.objects.create(**key, due_at=due_at)
            except IntegrityError:
                return False  # done already, by this sweep's predecessor or a concurrent one
            if work():
                return True
            raise _Skipped
    except _Skipped:
        _record_refusal(key, due_at, "skipped: the maintenance changed")
    except ValidationError as exc:  # refused for good (started by hand, cancelled...): not retried
        log.info("maintenance %s %s refused: %s", incident.pk, kind, exc.messages)
        _record_refusal(key, due_at, "; ".join(exc.messages))
    except Exception:  # transient or a bug: rolled back, retried by the next sweep
        log.exception("maintenance %s %s failed", incident.pk, kind)
        result.failed.append(incident.code)
    return False


class _Skipped(Exception):
    pass


def _record_refusal(key: dict, due_at: datetime, error: str) -> None:
    try:
        with transaction.atomic():
            MaintenanceNotice.objects.create(**key, due_at=due_at, error=error[:2000])
    except IntegrityError:
        pass
