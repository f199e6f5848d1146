"""Point 5 of issue 7: a worker or beat killed (SIGKILL) mid-work and restarted loses nothing.

Real processes on the suite's PostgreSQL and Redis (CI's second pass; skipped elsewhere, as the delivery
fault test in tests/subscribers/test_fault.py is): a Celery worker on the prefork pool and Celery beat with
a short sweep interval (SWEEP_SECONDS) so catch-up is seconds, not minutes. Mail goes to a real SMTP sink.
Each test is bounded in time and kills what it started."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from incidents.models import CadenceNotice, Incident, NoticeKind
from incidents.services import create_incident
from statuspage import publishing, snapshots
from statuspage.services import SYSTEM, create_page
from tests.fault.helpers import Processes, kill, process_env, real_services, start_beat, start_worker, wait

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def processes():
    started = Processes()
    yield started
    started.close()


@pytest.fixture
def services():
    reason = real_services()
    if reason:
        pytest.skip(reason)


def _broker():
    import os

    from celery import Celery

    client = Celery("fault-test", set_as_current=False)
    # Named explicitly: Celery prefers the suite's CELERY_BROKER_URL (memory://) to a broker given here.
    return client, client.connection_for_write(os.environ["REDIS_URL"])


def _raw_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
    )


def test_worker_killed_mid_publish_then_restarted_publishes_the_change(services, processes, tmp_path):
    page = create_page(actor=SYSTEM, name="Publish fault", slug="publish-fault")
    publishing.publish_page(page.pk)  # today's snapshot exists: only "behind its audit trail" can trigger
    incident = create_incident(actor=SYSTEM, page=page, name="Checkout errors", body="Investigating.")
    assert incident.name.encode() not in _live_index(page)

    log = tmp_path / "processes.log"
    env = process_env(SWEEP_SECONDS="1")
    client, broker = _broker()
    lock = _raw_connection()
    try:
        # Hold the page table so the worker's publish blocks mid-task, after the broker handed it over.
        lock.execute("LOCK TABLE statuspage_page IN ACCESS EXCLUSIVE MODE")
        first = processes.add(start_worker(env, log, queues="publish", concurrency=1))
        client.send_task("statuspage.tasks.publish_page", args=[page.pk], queue="publish", connection=broker)
        wait(lambda: _waiting_on_page_table(), 60, "the worker to be blocked mid-publish")
        kill(first)
        lock.rollback()
        # The killed task stays unacknowledged in Redis until its visibility timeout (an hour): only the
        # beat sweep, which sees the snapshot is behind the audit trail, can publish it in time.
        processes.add(start_worker(env, log, queues="publish", concurrency=1))
        processes.add(start_beat(env, log, tmp_path / "beat-schedule"))
        try:
            wait(lambda: incident.name.encode() in _live_index(page), 60, "the change to be published")
        except AssertionError:
            print(log.read_text()[-3000:])
            raise
    finally:
        lock.close()
        broker.release()
        client.close()
    assert snapshots.read_manifest(page.code)["last_change"] == publishing.last_change_of(page.pk)


def _live_index(page) -> bytes:
    snapshots.memory.clear()
    manifest = snapshots.read_manifest(page.code)
    doc = snapshots.read_document(page.code, manifest["version"], "index.html") if manifest else None
    return doc.body if doc else b""


def _waiting_on_page_table() -> bool:
    with _raw_connection() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            ["%statuspage_page%"],
        ).fetchone()
    return row[0] > 0


class _GatedSMTP:
    """An SMTP sink whose first recipient command waits until the test opens the gate: the worker is then
    mid-send, before the final dot, when it is killed (the server discards the unfinished message)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from tests.receivers import _free_port

        self.messages: list[tuple[str, bytes]] = []
        self.arrived, self.gate = threading.Event(), threading.Event()
        self.port = _free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.arrived.set()
        while not self.gate.is_set():
            await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.messages.append((rcpt, envelope.content))
        return "250 OK"

    def to(self, address: str, subject: str) -> int:
        return sum(1 for rcpt, body in self.messages if rcpt == address and subject.encode() in body)


@pytest.fixture
def gated_smtp(settings):
    sink = _GatedSMTP()
    sink.controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    yield sink
    sink.gate.set()
    sink.controller.stop()


def _incident_due_for_a_reminder(owner_email: str, commander_email: str):
    users = get_user_model().objects
    owner = users.create_user("owner", owner_email, "x")
    commander = users.create_user("commander", commander_email, "x")
    page = create_page(actor=SYSTEM, name="Cadence fault", slug="cadence-fault", owner=owner)
    # Opened 27 minutes ago on a 30-minute cadence: the next update is due in 3 minutes, inside the
    # 5-minute reminder lead, so the commander's reminder is due now.
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="Search is slow",
        body="Investigating.",
        commander=commander,
        deliver_notifications=False,
        at=timezone.now() - timedelta(minutes=27),
    )
    assert incident.next_update_due_at - timezone.now() < timedelta(minutes=5)
    return incident


def test_worker_killed_mid_reminder_then_restarted_sends_it_once(services, processes, gated_smtp, tmp_path):
    incident = _incident_due_for_a_reminder("owner@example.com", "ic@example.com")
    log = tmp_path / "processes.log"
    env = process_env(SWEEP_SECONDS="1", DELIVERY_STALLED_AFTER="2")
    client, broker = _broker()
    try:
        first = processes.add(start_worker(env, log, queues="time", concurrency=1))
        client.send_task("incidents.tasks.check_cadence", queue="time", connection=broker)
        assert gated_smtp.arrived.wait(60), "the worker never started sending the reminder"
        kill(first)  # mid-send: claimed, recipient given, the message never finished
        gated_smtp.gate.set()
        notice = CadenceNotice.objects.get(incident=incident, kind=NoticeKind.REMINDER)
        assert notice.sent_at is None and notice.claimed_at is not None and notice.attempts == 1

        processes.add(start_worker(env, log, queues="time", concurrency=1))
        processes.add(start_beat(env, log, tmp_path / "beat-schedule"))
        subject = "Update due at"
        try:
            wait(lambda: gated_smtp.to("ic@example.com", subject), 60, "the reminder after the restart")
        except AssertionError:
            print(log.read_text()[-3000:])
            raise
        # Beat keeps sweeping every second; a second copy would come within a claim timeout or two.
        _watch(seconds=5)
    finally:
        broker.release()
        client.close()
    assert gated_smtp.to("ic@example.com", subject) == 1
    notice.refresh_from_db()
    assert notice.sent_at is not None and notice.attempts == 2


def test_beat_killed_and_restarted_catches_up_without_sending_twice(
    services, processes, gated_smtp, tmp_path
):
    gated_smtp.gate.set()  # no pause: this test kills beat, not the worker
    incident = _incident_due_for_a_reminder("owner@example.com", "ic@example.com")
    log = tmp_path / "processes.log"
    env = process_env(SWEEP_SECONDS="1", DELIVERY_STALLED_AFTER="2")
    schedule = tmp_path / "beat-schedule"
    processes.add(start_worker(env, log, queues="time", concurrency=1))
    beat = processes.add(start_beat(env, log, schedule))
    try:
        wait(lambda: gated_smtp.to("ic@example.com", "Update due at"), 60, "the reminder")
    except AssertionError:
        print(log.read_text()[-3000:])
        raise
    kill(beat)
    # While beat is down the update goes overdue: the owners' escalation becomes due.
    Incident.objects.filter(pk=incident.pk).update(next_update_due_at=timezone.now() - timedelta(minutes=1))
    processes.add(start_beat(env, log, schedule))
    wait(
        lambda: gated_smtp.to("owner@example.com", "Overdue update"), 60, "the escalation after beat restarts"
    )
    _watch(seconds=5)
    assert gated_smtp.to("ic@example.com", "Update due at") == 1
    assert gated_smtp.to("owner@example.com", "Overdue update") == 1
    assert CadenceNotice.objects.filter(incident=incident).count() == 2


def _watch(*, seconds: float) -> None:
    """Let beat run several sweeps (each one would send a duplicate if claims did not hold)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.2)
