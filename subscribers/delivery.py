"""The notify road (DESIGN.md road 3): fan an outbox event out into one delivery per subscriber, send them
outside any transaction, record every outcome, and resume what a dead worker left behind.

Every step is idempotent and claims its work with a conditional UPDATE, so retried tasks, two workers or a
sweeper racing a worker never send one delivery twice (STYLE.md practice 7)."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from subscribers.channels import CHANNELS, DeliveryError
from subscribers.channels.base import Superseded
from subscribers.content import EventContent
from subscribers.models import (
    Delivery,
    DeliveryState,
    EventType,
    OutboxEvent,
    Subscriber,
    SubscriberKind,
    SubscriberState,
)

log = logging.getLogger(__name__)

FANOUT_BATCH = 2000
SEND_CHUNK = 250


# A delivery claimed for this long without an outcome belonged to a worker that died (settings:
# DELIVERY_STALLED_AFTER seconds). Read at call time so a deployment or a fault test can shorten it.
def stalled_after() -> timedelta:
    return timedelta(seconds=settings.DELIVERY_STALLED_AFTER)


GIVE_UP_AFTER = timedelta(days=1)
OPEN = (DeliveryState.PENDING, DeliveryState.RETRYING)


def recipients(event: OutboxEvent):
    """The active subscribers an event reaches: whole-page subscribers, and component subscribers whose
    components the event touches. Component changes alone go to webhooks only, as on Statuspage."""
    qs = Subscriber.objects.for_page(event.page).active()
    if event.type == EventType.COMPONENT_UPDATED:
        qs = qs.filter(kind=SubscriberKind.WEBHOOK)
        if event.component is not None and not event.component.is_public:
            return qs.none()
    through = Subscriber.components.through
    chosen = through.objects.filter(subscriber_id=OuterRef("pk"))
    touched = chosen.filter(component_id__in=event.component_ids or [])
    return qs.filter(~Exists(chosen) | Exists(touched))


def fan_out(event_id: int) -> int:
    """Create the event's deliveries in batches and enqueue their sending. Returns how many deliveries this
    call created. Safe to run again: the unique (event, subscriber) key skips those already made."""
    from subscribers.tasks import send_deliveries_task

    event = OutboxEvent.objects.select_related("page", "component").filter(pk=event_id).first()
    if event is None:
        return 0
    created = 0
    last_id = 0
    base = recipients(event).order_by("id")
    while True:
        batch = list(base.filter(id__gt=last_id).values_list("id", flat=True)[:FANOUT_BATCH])
        if not batch:
            break
        last_id = batch[-1]
        now = timezone.now()
        existing = set(
            Delivery.objects.filter(event=event, subscriber_id__in=batch).values_list(
                "subscriber_id", flat=True
            )
        )
        missing = [sid for sid in batch if sid not in existing]
        if missing:
            # ignore_conflicts: a concurrent fan-out of the same event may have inserted some meanwhile.
            Delivery.objects.bulk_create(
                [
                    Delivery(event=event, subscriber_id=sid, next_attempt_at=now, created_at=now)
                    for sid in missing
                ],
                ignore_conflicts=True,
                batch_size=FANOUT_BATCH,
            )
            created += len(missing)
        ids = list(
            Delivery.objects.filter(event=event, subscriber_id__in=batch, state=DeliveryState.PENDING)
            .order_by("id")
            .values_list("id", flat=True)
        )
        for i in range(0, len(ids), SEND_CHUNK):
            send_deliveries_task.delay(ids[i : i + SEND_CHUNK])
    OutboxEvent.objects.filter(pk=event.pk, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    return created


def _claim(ids: Iterable[int], now: datetime) -> str:
    token = uuid.uuid4().hex
    Delivery.objects.filter(id__in=list(ids), state__in=OPEN, next_attempt_at__lte=now).update(
        state=DeliveryState.SENDING, claim=token, claimed_at=now, attempts=F("attempts") + 1
    )
    return token


def send_deliveries(ids: list[int]) -> dict[str, int]:
    """Send the given deliveries that are due and not claimed by anyone else. Network I/O happens outside
    any transaction; each outcome is recorded the moment it is known."""
    now = timezone.now()
    token = _claim(ids, now)
    rows = list(
        Delivery.objects.filter(claim=token, state=DeliveryState.SENDING)
        .select_related(
            "subscriber__page",
            "event__page",
            "event__incident",
            "event__incident_update",
            "event__component",
        )
        .order_by("event_id", "id")
    )
    counts = {"sent": 0, "failed": 0, "cancelled": 0}
    contents: dict[int, EventContent] = {}
    channels: dict[str, object] = {}
    try:
        for delivery in rows:
            subscriber = delivery.subscriber
            if subscriber.state != SubscriberState.ACTIVE:
                Delivery.objects.filter(pk=delivery.pk, claim=token).update(
                    state=DeliveryState.CANCELLED, last_error=f"subscriber {subscriber.state}"
                )
                counts["cancelled"] += 1
                continue
            content = contents.get(delivery.event_id)
            if content is None:
                content = contents[delivery.event_id] = EventContent(delivery.event)
            channel = channels.get(subscriber.kind)
            if channel is None:
                channel = channels[subscriber.kind] = CHANNELS[subscriber.kind]()
            try:
                message = content.for_subscriber(delivery, subscriber)
                channel.send(delivery, message, commit=_Commit(delivery, token))
            except Superseded:
                continue
            except DeliveryError as exc:
                _record_failure(delivery, token, exc)
                counts["failed"] += 1
            else:
                counts["sent"] += 1
                if subscriber.failures:
                    Subscriber.objects.filter(pk=subscriber.pk).update(failures=0, last_error="")
    finally:
        for channel in channels.values():
            channel.close()
    return counts


class _Commit:
    """The point of no return of one delivery. `commit()` records it sent after the channel has sent it (at
    least once). `commit(final)` is for a channel that can hold the message back until a last write (SMTP's
    final dot): it checks the claim is still ours (a heartbeat), has the channel queue the last bytes in the
    kernel without sending them (`final()` returns the release), records the delivery sent, then releases.

    Nothing can make a database commit and another server's acceptance one atomic act, so the order is
    chosen for the narrowest window with the safer side: once the last bytes are queued the kernel sends
    them even if this process dies, and the record follows in the very next system call (on PostgreSQL the
    UPDATE is written without waiting for its answer). Queuing corked wakes no other process, so the worker
    is not preempted between the two. A worker killed in that gap of a few microseconds leaves the delivery
    `sending`; the sweeper resends it, and the receiver sees the same Message-ID twice. Recording first would
    turn the same gap into a lost message, and the gap would follow a write that wakes the database server."""

    def __init__(self, delivery: Delivery, token: str) -> None:
        self.delivery, self.token = delivery, token

    def __call__(self, final=None) -> bool:
        if final is None:
            return _mark_sent(self.delivery, self.token)
        if not _still_ours(self.delivery, self.token):
            return False
        pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
        statement = _sent_statement(self.delivery, self.token) if pipelined else None
        release = final() or (lambda: None)
        if pipelined:
            recorded = _mark_sent_pipelined(statement, release)
        else:
            try:
                recorded = _mark_sent(self.delivery, self.token)
            finally:
                release()
        if not recorded:
            # The message has gone; only a sweeper that released this row within moments of the heartbeat
            # above could cause this, and the copy it resends would be a duplicate. Say so loudly.
            log.error("delivery %s sent but not recorded", self.delivery.pk)
        return True


def _still_ours(delivery: Delivery, token: str) -> bool:
    """Refresh the claim's time (a heartbeat: the sweeper leaves it alone for another stall period) if the
    claim is still this worker's."""
    return bool(
        Delivery.objects.filter(pk=delivery.pk, claim=token, state=DeliveryState.SENDING).update(
            claimed_at=timezone.now()
        )
    )


def _sent_statement(delivery: Delivery, token: str) -> tuple[bytes, list[bytes]]:
    """The UPDATE that records a delivery sent, ready for libpq, so nothing is built between the last write
    and sending it."""
    connection.ensure_connection()
    table = connection.ops.quote_name(Delivery._meta.db_table)
    # The table name is the model's, quoted; every value is a bound parameter.
    sql = f"UPDATE {table} SET state = $1, sent_at = $2, last_error = '' WHERE id = $3 AND claim = $4 AND state = $5"  # noqa: E501, S608
    params = [
        DeliveryState.SENT.value.encode(),
        timezone.now().isoformat().encode(),
        str(delivery.pk).encode(),
        token.encode(),
        DeliveryState.SENDING.value.encode(),
    ]
    return sql.encode(), params


def _mark_sent_pipelined(statement: tuple[bytes, list[bytes]], release) -> bool:
    """Write the UPDATE, release the channel's last bytes, then read the answer: both round trips overlap."""
    from psycopg import pq

    pgconn = connection.connection.pgconn
    try:
        pgconn.send_query_params(*statement)
    finally:
        release()
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    last = results[-1] if results else None
    if last is None or last.status != pq.ExecStatus.COMMAND_OK:
        log.error("recording a delivery sent failed: %s", last.error_message if last else None)
        return False
    return int(last.command_tuples or 0) == 1


def _mark_sent(delivery: Delivery, token: str) -> bool:
    """The point of no return: true if this worker still owned the delivery and now recorded it sent."""
    return bool(
        Delivery.objects.filter(pk=delivery.pk, claim=token, state=DeliveryState.SENDING).update(
            state=DeliveryState.SENT, sent_at=timezone.now(), last_error=""
        )
    )


def backoff(attempts: int) -> timedelta:
    """Exponential from 30 seconds, capped at an hour, with full jitter between half and all of it."""
    ceiling = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # jitter, not security


def _record_failure(delivery: Delivery, token: str, error: DeliveryError) -> None:
    now = timezone.now()
    retry_at = now + backoff(delivery.attempts)  # read after the claim counted this attempt
    dead = error.permanent or retry_at - delivery.created_at > GIVE_UP_AFTER
    message = str(error)[:2000]
    changed = Delivery.objects.filter(pk=delivery.pk, claim=token).update(
        state=DeliveryState.DEAD if dead else DeliveryState.RETRYING,
        next_attempt_at=retry_at,
        last_error=message,
        sent_at=None,
    )
    if changed and delivery.subscriber.kind == SubscriberKind.WEBHOOK:
        _count_webhook_failure(delivery.subscriber, message, dead=dead, gone="answered 410" in message)


def _count_webhook_failure(subscriber: Subscriber, message: str, *, dead: bool, gone: bool) -> None:
    """A webhook whose deliveries keep dying is quarantined, and whoever gave an email is told."""
    if not dead:
        Subscriber.objects.filter(pk=subscriber.pk).update(last_error=message)
        return
    Subscriber.objects.filter(pk=subscriber.pk).update(failures=F("failures") + 1, last_error=message)
    subscriber.refresh_from_db(fields=["failures", "state"])
    if subscriber.state == SubscriberState.ACTIVE and (
        gone or subscriber.failures >= settings.WEBHOOK_QUARANTINE_AFTER
    ):
        quarantined = Subscriber.objects.filter(pk=subscriber.pk, state=SubscriberState.ACTIVE).update(
            state=SubscriberState.QUARANTINED, quarantined_at=timezone.now()
        )
        if quarantined:
            from subscribers.tasks import send_quarantine_notice_task

            send_quarantine_notice_task.delay(subscriber.pk)


def resume(now: datetime | None = None) -> dict[str, int]:
    """The sweeper: release deliveries a dead worker left `sending`, enqueue those due (retries, and any
    whose enqueue was lost), and fan out events whose fan-out never ran. Cheap when nothing is due."""
    from subscribers.tasks import fan_out_event_task, send_deliveries_task

    now = now or timezone.now()
    released = Delivery.objects.filter(
        state=DeliveryState.SENDING, claimed_at__lt=now - stalled_after()
    ).update(
        state=DeliveryState.RETRYING, claim="", next_attempt_at=now, last_error="resumed: the worker stopped"
    )
    # Fresh deliveries are enqueued by their fan-out; only those it should have sent by now are picked up.
    due = (
        Delivery.objects.filter(state__in=OPEN, next_attempt_at__lte=now)
        .filter(Q(state=DeliveryState.RETRYING) | Q(created_at__lt=now - stalled_after()))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:50_000]
    )
    due = list(due)
    for i in range(0, len(due), SEND_CHUNK):
        send_deliveries_task.delay(due[i : i + SEND_CHUNK])
    events = list(
        OutboxEvent.objects.filter(
            fanned_out_at__isnull=True, created_at__lt=now - stalled_after()
        ).values_list("id", flat=True)[:100]
    )
    for event_id in events:
        fan_out_event_task.delay(event_id)
    return {"released": released, "enqueued": len(due), "events": len(events)}


def retry_dead(*, event: OutboxEvent) -> int:
    """Give the event's dead deliveries another go (from the console). Returns how many."""
    from subscribers.tasks import send_deliveries_task

    now = timezone.now()
    ids = list(event.deliveries.filter(state=DeliveryState.DEAD).values_list("id", flat=True))
    Delivery.objects.filter(id__in=ids, state=DeliveryState.DEAD).update(
        state=DeliveryState.RETRYING, next_attempt_at=now, created_at=now
    )
    for i in range(0, len(ids), SEND_CHUNK):
        send_deliveries_task.delay_on_commit(ids[i : i + SEND_CHUNK])
    return len(ids)
