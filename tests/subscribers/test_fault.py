"""Fault test: kill -9 the worker in the middle of a 10,000-subscriber fan-out on PostgreSQL and Redis, start
it again, and every subscriber has exactly one copy in a real SMTP sink. Runs where DATABASE_URL points at
PostgreSQL and REDIS_URL at Redis (CI's second pass); bounded in count and time, stops by itself.

The worker runs the prefork pool, as docker-compose.yml does: exactly-once over SMTP rests on queuing the
final "." and recording the delivery in consecutive system calls (subscribers.delivery._Commit), and in a
threads pool another thread holding the GIL can stretch that gap."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from incidents.services import create_incident
from statuspage.services import SYSTEM, create_page
from subscribers.models import Delivery, DeliveryState, OutboxEvent, Subscriber, SubscriberState

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 10_000


def _real_services() -> str | None:
    if connection.vendor != "postgresql":
        return "needs PostgreSQL (DATABASE_URL)"
    if not os.environ.get("REDIS_URL"):
        return "needs Redis (REDIS_URL)"
    return None


def _worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "statuspage",
            "worker",
            "-Q",
            "deliver",
            "-P",
            "prefork",
            "-c",
            "3",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _kill(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def _wait(condition, timeout: float, what: str, tick=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if tick:
            tick()
        time.sleep(0.2)


def test_kill_9_mid_fan_out_then_restart_delivers_each_email_exactly_once(smtp, tmp_path):
    reason = _real_services()
    if reason:
        pytest.skip(reason)
    from celery import Celery

    page = create_page(actor=SYSTEM, name="Fault", slug="fault")
    Subscriber.objects.bulk_create(
        [
            Subscriber(page=page, kind="email", email=f"s{i:05d}@example.com", state=SubscriberState.ACTIVE)
            for i in range(SUBSCRIBERS)
        ],
        batch_size=2000,
    )
    create_incident(actor=SYSTEM, page=page, name="Database down", body="Investigating.")
    event = OutboxEvent.objects.get(page=page)

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": os.environ["REDIS_URL"],
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "DELIVERY_STALLED_AFTER": "3",
        "SITE_URL": "http://testserver",
    }
    client = Celery("fault-test", set_as_current=False)
    # A connection named explicitly: Celery prefers the suite's CELERY_BROKER_URL (memory://) from the
    # environment over any broker given to the app.
    broker = client.connection_for_write(os.environ["REDIS_URL"])

    def sent() -> int:
        return Delivery.objects.filter(event=event, state=DeliveryState.SENT).count()

    log = tmp_path / "worker.log"
    first = _worker(env, log)
    try:
        client.send_task(
            "subscribers.tasks.fan_out_event", args=[event.pk], queue="deliver", connection=broker
        )
        try:
            _wait(lambda: sent() >= SUBSCRIBERS // 4, 30, "a quarter of the deliveries")
        except AssertionError:
            print(log.read_text()[-3000:])
            raise
        _kill(first)  # kill -9, mid-send
        at_kill = sent()
        assert at_kill < SUBSCRIBERS, "the worker must die mid-fan-out"
        second = _worker(env, log)
        try:
            # What beat would do every 30 seconds: resume stalled and due deliveries.
            last = [0.0]

            def sweep():
                if time.monotonic() - last[0] > 2:
                    last[0] = time.monotonic()
                    client.send_task(
                        "subscribers.tasks.resume_deliveries", queue="deliver", connection=broker
                    )

            _wait(lambda: sent() == SUBSCRIBERS, 240, "every delivery sent", tick=sweep)
            _wait(lambda: len(smtp.messages) >= SUBSCRIBERS, 30, "the sink to receive every message")
        finally:
            _kill(second, signal.SIGTERM)
    finally:
        if first.poll() is None:
            _kill(first)
        broker.release()
        client.close()

    copies = Counter(m["X-Envelope-To"] for m in smtp.messages)
    assert len(copies) == SUBSCRIBERS, "nobody lost"
    assert max(copies.values()) == 1, f"duplicated: {[a for a, n in copies.items() if n > 1][:10]}"
    assert Delivery.objects.filter(event=event).count() == SUBSCRIBERS
    print(f"killed after {at_kill} of {SUBSCRIBERS} sent; all delivered once after restart")
