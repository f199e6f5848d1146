"""The notify road (DESIGN.md road 3): fan an outbox event out into one delivery per subscriber, send them
outside any transaction, record every outcome, and resume what a dead worker left behind.

Every step is idempotent and claims its work with a conditional UPDATE, so retried tasks, two workers or a
sweeper racing a worker never send one delivery twice (STYLE.md practice 7)."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from psycopg import pq

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
        if event.component is not None and not event.component.is_shown:
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
        new_ids = _insert_deliveries(event, base.filter(id__gt=last_id, id__lte=batch[-1]))
        last_id = batch[-1]
        created += len(new_ids)
        ids = sorted(new_ids)
        if len(new_ids) < len(batch):
            # Some existed already (a second fan-out, or one that died midway): send those still pending.
            ids = list(
                Delivery.objects.filter(event=event, subscriber_id__in=batch, state=DeliveryState.PENDING)
                .order_by("id")
                .values_list("id", flat=True)
            )
        for i in range(0, len(ids), SEND_CHUNK):
            send_deliveries_task.delay(ids[i : i + SEND_CHUNK])
    OutboxEvent.objects.filter(pk=event.pk, fanned_out_at__isnull=True).update(fanned_out_at=timezone.now())
    return created


def _insert_deliveries(event: OutboxEvent, subscribers) -> list[int]:
    """One INSERT ... SELECT for a batch: the rows are made by the database from the recipients query,
    not built as 2,000 model objects in Python; existing (event, subscriber) pairs are skipped (a concurrent
    fan-out of the same event may have inserted some). Returns the new deliveries' ids."""
    select_sql, select_params = subscribers.values("id").query.sql_with_params()
    meta = Delivery._meta
    quote = connection.ops.quote_name
    now = timezone.now()
    values = {
        "event_id": event.pk,
        "state": DeliveryState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "claim": "",
        "last_error": "",
        "created_at": now,
    }
    columns = [*values, "subscriber_id"]
    placeholders = ", ".join(["%s"] * len(values))
    # Names are the model's own, quoted; every value is a bound parameter. "WHERE true" keeps SQLite from
    # reading ON CONFLICT as a join's ON.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT {placeholders}, r.{quote('id')} FROM ({select_sql}) r WHERE true "
        f"ON CONFLICT ({quote('event_id')}, {quote('subscriber_id')}) DO NOTHING RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        params = [meta.get_field(name).get_db_prep_save(v, connection) for name, v in values.items()]
        cursor.execute(sql, [*params, *select_params])
        return [row[0] for row in cursor.fetchall()]


def _claim(ids: Iterable[int], now: datetime) -> str:
    token = uuid.uuid4().hex
    Delivery.objects.filter(id__in=list(ids), state__in=OPEN, next_attempt_at__lte=now).update(
        state=DeliveryState.SENDING, claim=token, claimed_at=now, attempts=F("attempts") + 1
    )
    return token


_NOT_READ_WHILE_SENDING = (
    "next_attempt_at",
    "claimed_at",
    "sent_at",
    "last_error",
    "subscriber__created_at",
    "subscriber__confirmed_at",
    "subscriber__confirmation_sent_at",
    "subscriber__unsubscribed_at",
    "subscriber__quarantined_at",
    "subscriber__last_error",
)


def send_deliveries(ids: list[int]) -> dict[str, int]:
    """Send the given deliveries that are due and not claimed by anyone else. Network I/O happens outside
    any transaction; each outcome is recorded the moment it is known."""
    now = timezone.now()
    token = _claim(ids, now)
    claim = _Claim(token, connections[DEFAULT_DB_ALIAS])
    rows = list(
        Delivery.objects.filter(claim=token, state=DeliveryState.SENDING)
        .select_related("subscriber")
        # Timestamps and errors the send path never reads: parsing them was a tenth of a worker's CPU.
        .defer(*_NOT_READ_WHILE_SENDING)
        .order_by("event_id", "id")
    )
    # A chunk holds a few events of one page: load each event (and its page, incident, update, component)
    # once and share it, rather than build those objects again for every row.
    events = OutboxEvent.objects.select_related("page", "incident", "incident_update", "component").in_bulk(
        {row.event_id for row in rows}
    )
    for row in rows:
        row.event = events[row.event_id]
        if row.subscriber.page_id == row.event.page_id:
            row.subscriber.page = row.event.page
    counts = {"sent": 0, "failed": 0, "cancelled": 0}
    channels: dict[str, object] = {}
    if claim.pipelined:
        _set_synchronous_commit("off")
    try:
        for delivery in rows:
            subscriber = delivery.subscriber
            if subscriber.state != SubscriberState.ACTIVE:
                Delivery.objects.filter(pk=delivery.pk, claim=token).update(
                    state=DeliveryState.CANCELLED, last_error=f"subscriber {subscriber.state}"
                )
                counts["cancelled"] += 1
                continue
            content = _content(delivery.event)
            channel = channels.get(subscriber.kind)
            if channel is None:
                channel = channels[subscriber.kind] = CHANNELS[subscriber.kind]()
            commit = _Commit(delivery, claim)
            try:
                message = content.for_subscriber(delivery, subscriber)
                try:
                    channel.send(delivery, message, commit=commit)
                finally:
                    commit.finish()
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
        if claim.pipelined:
            _set_synchronous_commit("on")
    return counts


# What an event says, kept by this process for a little while: a fan-out's chunks of 250 reach the same
# workers for a minute or two, and rendering the event (its templates and the page's state) for each chunk
# was a tenth of the worker's time. Keyed by code as well as id, since a test database reuses ids.
CONTENT_KEPT_FOR = 60.0
_contents: dict[tuple[int, str], tuple[float, EventContent]] = {}


def _content(event: OutboxEvent) -> EventContent:
    now = time.time()
    key = (event.pk, event.code)
    kept = _contents.get(key)
    if kept is not None and now - kept[0] < CONTENT_KEPT_FOR:
        return kept[1]
    for old in [k for k, (at, _) in _contents.items() if now - at >= CONTENT_KEPT_FOR]:
        del _contents[old]
    content = EventContent(event)
    _contents[key] = (now, content)
    return content


def _set_synchronous_commit(value: str) -> None:
    """Delivery bookkeeping commits without waiting for the disk flush, on this connection only while a
    chunk is sent: a flush per message would otherwise cap the rate. If PostgreSQL itself crashes, it may
    forget the last fraction of a second of outcomes; those deliveries are sent again (the same
    Message-ID), never lost, because every outcome is recorded after what it records has happened."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [value])


class _Claim:
    """This worker's hold on a chunk of deliveries. The sweeper releases a `sending` row whose claim is
    older than DELIVERY_STALLED_AFTER, so the hold is renewed for the whole chunk in one UPDATE a third of
    that period apart, and before every point of no return if the last renewal is older than that (a worker
    that was paused, swapped out or stuck finds out there whether it still owns the delivery).

    It also holds what is the same for every delivery of the chunk: the database connection (Django's
    `connection` proxy looks it up again on every attribute read) and whether records are pipelined."""

    def __init__(self, token: str, db) -> None:
        self.token = token
        self.db = db
        self.pipelined = db.vendor == "postgresql" and not db.in_atomic_block
        self.renew_every = stalled_after() / 3
        self.ours: set[int] = set()
        self.renewed: datetime | None = None

    def owns(self, delivery: Delivery) -> bool:
        # The sweeper's clock is the database rows' clock (timezone.now()), so this one is too.
        if self.renewed is None or timezone.now() - self.renewed > self.renew_every:
            self.renew()
        return delivery.pk in self.ours

    def renew(self) -> None:
        now = timezone.now()
        mine = Delivery.objects.filter(claim=self.token, state=DeliveryState.SENDING)
        mine.update(claimed_at=now)
        self.ours = set(mine.values_list("id", flat=True))
        self.renewed = now


class _Commit:
    """The point of no return of one delivery. `commit()` records it sent after the channel has sent it (at
    least once). `commit(final)` is for a channel that can hold the message back until a last write (SMTP's
    final dot): it checks the claim is still ours (`_Claim.owns`), has the channel queue the last bytes in the
    kernel without sending them (`final()` returns the release), records the delivery sent, then releases.

    Nothing can make a database commit and another server's acceptance one atomic act, so the order is
    chosen for the narrowest window with the safer side: once the last bytes are queued the kernel sends
    them even if this process dies, and the record follows in the very next system call (on PostgreSQL the
    UPDATE is written without waiting for its answer). Queuing corked wakes no other process, so the worker
    is not preempted between the two. A worker killed in that gap of a few microseconds leaves the delivery
    `sending`; the sweeper resends it, and the receiver sees the same Message-ID twice. Recording first would
    turn the same gap into a lost message, and the gap would follow a write that wakes the database server.

    On PostgreSQL the record's answer is read by `finish()`, which the sender calls after the channel has
    read the mail server's reply: the worker then waits once for both answers, not once for each."""

    def __init__(self, delivery: Delivery, claim: _Claim) -> None:
        self.delivery, self.claim, self.token = delivery, claim, claim.token
        self.written: bool | None = None  # a pipelined record: written (True), or the write failed (False)

    def __call__(self, final=None) -> bool:
        if final is None:
            return _mark_sent(self.delivery, self.token)
        if not self.claim.owns(self.delivery):
            return False
        db = self.claim.db
        statement = _sent_statement(db, self.delivery, self.token) if self.claim.pipelined else None
        release = final() or (lambda: None)
        if statement is not None:
            self.written = _write_record(db, statement, release)
            return True
        try:
            recorded = _mark_sent(self.delivery, self.token)
        finally:
            release()
        self._check(recorded)
        return True

    def finish(self) -> None:
        """Read the answer to a pipelined record, if one was written: before the connection is used for
        anything else."""
        written, self.written = self.written, None
        if written is None:
            return
        recorded = _read_record(self.claim.db) if written else None
        if recorded is None:
            recorded = self._record_when_database_is_back()
        self._check(recorded)

    def _check(self, recorded: bool) -> None:
        if not recorded:
            # The message has gone; only a sweeper that released this row after the claim was last renewed
            # could cause this, and the copy it resends would be a duplicate. Say so loudly.
            log.error("delivery %s sent but not recorded", self.delivery.pk)

    def _record_when_database_is_back(self) -> bool:
        """The message has gone but PostgreSQL did not take the record (it was shutting down, or the
        connection broke: found by the outage drill, bench/outage_drill.py). The sweeper releases a row
        only DELIVERY_STALLED_AFTER after its claim was last renewed, so until shortly before then the row
        is surely still ours: keep trying, and a database outage shorter than that never becomes a second
        copy. Past it the sweeper may resend (same Message-ID), as after a worker killed at this point."""
        assert self.claim.renewed is not None  # owns() renewed it before the point of no return
        deadline = self.claim.renewed + stalled_after() * 0.8
        while timezone.now() < deadline:
            self.claim.db.close()  # the broken connection; the next query opens a new one
            try:
                # Already SENT under our claim: the UPDATE committed but its answer was lost.
                return _mark_sent(self.delivery, self.token) or _recorded_sent(self.delivery, self.token)
            except DatabaseError:
                time.sleep(0.5)
        return False


_SENT_STATEMENT = b"subscribers_delivery_sent"


def _sent_statement(db, delivery: Delivery, token: str) -> tuple[bytes, list[bytes]]:
    """The prepared UPDATE that records a delivery sent, and its parameters ready for libpq, so nothing is
    built between the last write and sending it. Prepared once per database connection: a fan-out runs it
    100,000 times, and parsing and planning it each time would cost PostgreSQL more than executing it."""
    db.ensure_connection()
    pgconn = db.connection.pgconn
    if getattr(db, "_delivery_sent_prepared", None) is not pgconn:
        table = db.ops.quote_name(Delivery._meta.db_table)
        # The table name is the model's, quoted; every value is a bound parameter.
        sql = f"UPDATE {table} SET state = $1, sent_at = $2, last_error = '' WHERE id = $3 AND claim = $4 AND state = $5"  # noqa: E501, S608
        result = pgconn.prepare(_SENT_STATEMENT, sql.encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise DatabaseError(result.error_message.decode(errors="replace"))
        db._delivery_sent_prepared = pgconn
    params = [
        _SENT,
        timezone.now().isoformat().encode(),
        str(delivery.pk).encode(),
        token.encode(),
        _SENDING,
    ]
    return _SENT_STATEMENT, params


_SENT, _SENDING = DeliveryState.SENT.value.encode(), DeliveryState.SENDING.value.encode()


def _write_record(db, statement: tuple[bytes, list[bytes]], release) -> bool:
    """Write the UPDATE, then release the channel's last bytes: both go out back to back. False if the
    connection broke (the caller records on a new one)."""
    try:
        try:
            db.connection.pgconn.send_query_prepared(*statement)
        finally:
            release()
    except psycopg.Error as exc:
        log.error("recording a delivery sent failed: %s", exc)
        return False
    return True


def _read_record(db) -> bool | None:
    """The answer to `_write_record`: True if recorded, False if the claim was no longer ours, None if the
    database did not answer."""
    pgconn = db.connection.pgconn
    try:
        results = []
        while (result := pgconn.get_result()) is not None:
            results.append(result)
    except psycopg.Error as exc:  # the connection broke: the caller retries on a new one
        log.error("recording a delivery sent failed: %s", exc)
        return None
    last = results[-1] if results else None
    if last is None or last.status != pq.ExecStatus.COMMAND_OK:
        log.error("recording a delivery sent failed: %s", last.error_message if last else None)
        return None
    return int(last.command_tuples or 0) == 1


def _recorded_sent(delivery: Delivery, token: str) -> bool:
    return Delivery.objects.filter(pk=delivery.pk, claim=token, state=DeliveryState.SENT).exists()


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
