"""Delivery end to end, through Celery's real tasks (run eagerly after commit) to a real SMTP server and a
real HTTP receiver on 127.0.0.1: content, headers, signatures, threading, component filtering, retries with
backoff on a controlled clock, quarantine, stalled deliveries, exactly-once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from components.services import set_component_status
from incidents.services import create_incident, post_update
from statuspage.services import SYSTEM
from subscribers import delivery
from subscribers.channels.email import EmailChannel, EmailContent
from subscribers.models import Delivery, DeliveryState, OutboxEvent, Subscriber
from subscribers.services import unsubscribe


def hooks(receiver, event_type):
    return [r for r in receiver.requests if r["headers"]["X-Status-Event"] == event_type]


def open_incident(page, worker, **kwargs):
    kwargs.setdefault("name", "API errors")
    kwargs.setdefault("body", "We are investigating **elevated** errors.")
    with worker():
        return create_incident(actor=SYSTEM, page=page, **kwargs)


# Email ------------------------------------------------------------------------------------------------


def test_an_email_subscriber_gets_text_and_html_with_links_and_threading(page, api, smtp, worker, subscribed):
    sub = subscribed(email="Ann@Example.com")
    incident = open_incident(page, worker, components={api: "major_outage"})
    with worker():
        post_update(actor=SYSTEM, incident=incident, status="identified", body="A bad deploy.")

    first, second = smtp.to("ann@example.com")
    assert first["Subject"] == "[Acme] API errors" == second["Subject"]
    assert "Acme Status" in first["From"]
    text = first.get_body(preferencelist=("plain",)).get_content()
    html = first.get_body(preferencelist=("html",)).get_content()
    assert "We are investigating **elevated** errors." in text
    assert "<strong>elevated</strong>" in html
    assert "Affected components: API" in text
    assert "Investigating · Critical impact" in text
    assert f"http://testserver/pages/acme/incidents/{incident.code}" in text
    manage = "http://testserver/pages/acme/subscriptions/manage/"
    assert manage in text and manage in html
    unsubscribe_url = first["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe_url.startswith("http://testserver/pages/acme/subscriptions/unsubscribe/")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Threading: the update replies to the first email of the incident.
    assert first["Message-ID"] == f"<incident.{incident.code}.{sub.code}@testserver>"
    assert second["In-Reply-To"] == first["Message-ID"] == second["References"]
    assert second["Message-ID"] != first["Message-ID"]
    assert "A bad deploy." in second.get_body(preferencelist=("plain",)).get_content()
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_an_incident_without_impact_says_no_impact(page, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    open_incident(page, worker)  # no component touched: impact "none"
    (message,) = smtp.messages
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Investigating · No impact" in text and "· No impact" in html
    assert "None impact" not in text + html


def test_the_wire_form_is_valid_mime_with_any_text(page, smtp, worker, subscribed):
    """Notifications are serialised by subscribers.channels.mime, not the email package: what the server
    receives must parse without a defect, and every character must come back as written."""
    page.name = "Café Zürich — Статус"
    page.save()
    subscribed(email="ann@example.com")
    body = ".A line starting with a dot\n" + "long " * 300 + "\nEmoji 🚒 and tabs\there\n\n."
    open_incident(page, worker, name="Paiement échoué: " + "x" * 120, body=body)

    (message,) = smtp.messages
    assert message.defects == []
    assert all(part.defects == [] for part in message.walk())
    assert message["Subject"] == "[Café Zürich — Статус] Paiement échoué: " + "x" * 120
    assert "Café Zürich — Статус" in message["From"]
    assert max(len(line) for line in message.as_bytes().splitlines()) <= 998
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert ".A line starting with a dot" in text and "long " * 300 in text
    assert "Emoji 🚒 and tabs\there" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Emoji 🚒" in html
    unsubscribe_header = message["List-Unsubscribe"]
    assert unsubscribe_header.startswith("<http://testserver/") and "=?" not in unsubscribe_header


def test_unconfirmed_and_unsubscribed_addresses_get_nothing(page, smtp, worker, subscribed):
    from subscribers.services import subscribe

    subscribe(page=page, email="pending@example.com")  # no opt-in yet
    gone = subscribed(email="gone@example.com")
    unsubscribe(subscriber=gone)
    smtp.messages.clear()
    open_incident(page, worker)
    assert smtp.messages == []


def test_unsubscribing_cancels_what_was_not_yet_sent(page, smtp, subscribed):
    sub = subscribed(email="leaving@example.com")
    incident = create_incident(actor=SYSTEM, page=page, name="X", body="y")
    event = OutboxEvent.objects.get(incident=incident)
    Delivery.objects.create(event=event, subscriber=sub)
    unsubscribe(subscriber=sub)
    assert delivery.send_deliveries(list(Delivery.objects.values_list("id", flat=True))) == {
        "sent": 0,
        "failed": 0,
        "cancelled": 1,
    }
    assert smtp.messages == []


def test_component_subscribers_hear_only_of_their_components(page, api, web, smtp, worker, subscribed):
    subscribed(email="api@example.com", components=[api])
    subscribed(email="all@example.com")
    open_incident(page, worker, name="API down", components={api: "major_outage"})
    open_incident(page, worker, name="Website slow", components={web: "degraded_performance"})
    open_incident(page, worker, name="Something odd")  # no components: whole-page subscribers only
    assert [m["Subject"] for m in smtp.to("api@example.com")] == ["[Acme] API down"]
    assert sorted(m["Subject"] for m in smtp.to("all@example.com")) == [
        "[Acme] API down",
        "[Acme] Something odd",
        "[Acme] Website slow",
    ]


def test_silent_updates_and_component_changes_send_no_email(page, api, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    open_incident(page, worker, deliver_notifications=False)
    with worker():
        set_component_status(actor=SYSTEM, component=api, status="partial_outage")
    assert smtp.messages == []


def test_fanning_out_twice_sends_once(page, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    open_incident(page, worker)
    event = OutboxEvent.objects.get()
    with worker():
        assert delivery.fan_out(event.pk) == 0
    assert len(smtp.messages) == 1
    assert Delivery.objects.count() == 1


def test_a_delivery_lost_before_the_final_dot_is_not_received(smtp, page, subscribed):
    """The two-phase send: when the claim is lost before the point of no return, the server discards the
    message it was given (no duplicate when a sweeper resumed it meanwhile)."""
    channel = EmailChannel()
    content = EmailContent("s", "t", "<p>h</p>", "Acme <status@localhost>", "ann@example.com", {})
    from subscribers.channels.base import Superseded

    with pytest.raises(Superseded):
        channel.send(None, content, commit=lambda final=None: False)

    def commit(final=None):
        release = final()
        assert smtp.messages == [], "the final dot is held until it is released"
        release()
        return True

    channel.send(None, content, commit=commit)
    channel.close()
    assert len(smtp.messages) == 1


def test_a_rejected_address_goes_dead_at_once(page, smtp, worker, subscribed, settings):
    subscribed(email="nobody@example.com")

    async def reject(server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such user"

    smtp.handle_RCPT = reject
    open_incident(page, worker)
    (d,) = Delivery.objects.all()
    assert d.state == DeliveryState.DEAD and "550" in d.last_error


def test_an_unreachable_mail_server_is_retried_later(page, worker, subscribed, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # discard port: nothing listens
    subscribed(email="ann@example.com")
    open_incident(page, worker)
    (d,) = Delivery.objects.all()
    assert d.state == DeliveryState.RETRYING and d.attempts == 1
    assert timedelta(seconds=15) <= d.next_attempt_at - timezone.now() <= timedelta(seconds=31)


# Webhooks ---------------------------------------------------------------------------------------------


def test_a_webhook_gets_statuspages_shape_signed(page, api, http_receiver, worker, subscribed):
    sub = subscribed(endpoint=http_receiver.url, email="ops@example.com")
    incident = open_incident(page, worker, components={api: "major_outage"})
    with worker():
        update = post_update(actor=SYSTEM, incident=incident, status="identified", body="Found it.")
    hooks = [r for r in http_receiver.requests if "incident" in r["json"]]
    assert len(hooks) == 2
    body, headers = hooks[1]["json"], hooks[1]["headers"]
    assert set(body) == {"meta", "page", "incident"}
    assert body["meta"]["unsubscribe"].startswith("http://testserver/pages/acme/subscriptions/unsubscribe/")
    assert body["page"] == {
        "id": page.code,
        "status_indicator": "critical",
        "status_description": "Major System Outage",
    }
    assert body["incident"]["id"] == incident.code and body["incident"]["status"] == "identified"
    assert body["incident"]["incident_updates"][0]["id"] == update.code, "the triggering update first"
    assert body["incident"]["components"][0]["id"] == api.code
    assert headers["X-Status-Event"] == "incident.updated"
    assert headers["Idempotency-Key"] == headers["X-Status-Delivery"]
    expected = hmac.new(
        sub.secret.encode(), headers["X-Status-Timestamp"].encode() + b"." + hooks[1]["body"], hashlib.sha256
    ).hexdigest()
    assert headers["X-Status-Signature"] == f"v1={expected}"


def test_webhooks_to_one_host_share_a_keep_alive_connection(page, worker, subscribed):
    """Many subscribers post to the same host (hooks.slack.com): a chunk reuses the connection when the
    server keeps it open, and every subscriber still gets its own signed POST."""
    from tests.receivers import HTTPReceiver

    with HTTPReceiver(keep_alive=True) as receiver:
        for i in range(5):
            subscribed(endpoint=f"{receiver.url}/{i}")
        open_incident(page, worker)
    assert sorted(r["path"] for r in receiver.requests) == [f"/hook/{i}" for i in range(5)]
    assert len({r["client"] for r in receiver.requests}) == 1, "one connection for the five"
    assert len({r["headers"]["X-Status-Signature"] for r in receiver.requests}) == 5
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


def test_a_server_that_closes_after_each_answer_gets_a_new_connection_each_time(
    page, http_receiver, worker, subscribed
):
    for i in range(3):
        subscribed(endpoint=f"{http_receiver.url}/{i}")
    open_incident(page, worker)
    assert len(http_receiver.requests) == 3
    assert len({r["client"] for r in http_receiver.requests}) == 3


def test_component_changes_reach_webhooks_in_statuspages_shape(page, api, http_receiver, worker, subscribed):
    subscribed(endpoint=http_receiver.url)
    with worker():
        set_component_status(actor=SYSTEM, component=api, status="partial_outage")
    (hook,) = http_receiver.requests
    assert hook["headers"]["X-Status-Event"] == "component.updated"
    assert hook["json"]["component"]["id"] == api.code
    update = hook["json"]["component_update"]
    assert (update["old_status"], update["new_status"], update["component_id"]) == (
        "operational",
        "partial_outage",
        api.code,
    )


def test_internal_components_are_never_sent_to_subscribers(
    page, api, make_component, make_group, http_receiver, smtp, worker, subscribed
):
    cache = make_component(page, "Redis auth cache")
    cache.is_public = False
    cache.save()
    backstage = make_group(page, "Backstage")
    backstage.is_public = False
    backstage.save()
    queue = make_component(page, "Job queue", group=backstage)
    subscribed(endpoint=http_receiver.url)
    subscribed(email="ann@example.com")
    with worker():
        set_component_status(actor=SYSTEM, component=cache, status="major_outage")
        set_component_status(actor=SYSTEM, component=queue, status="major_outage")
    assert http_receiver.requests == []  # an internal component's change is nobody's business outside
    open_incident(
        page, worker, components={api: "major_outage", cache: "major_outage", queue: "major_outage"}
    )
    (email,) = smtp.to("ann@example.com")
    (hook,) = hooks(http_receiver, "incident.created")
    for text in (email.as_string(), json.dumps(hook["json"])):
        assert "API" in text
        assert "Redis auth cache" not in text and "Job queue" not in text


@pytest.mark.parametrize("fmt", ["slack", "teams", "discord"])
def test_chat_formats_render_the_event_natively(page, api, http_receiver, worker, subscribed, fmt):
    subscribed(endpoint=http_receiver.url, webhook_format=fmt)
    incident = open_incident(page, worker, name="API <down> & out", components={api: "major_outage"})
    (hook,) = hooks(http_receiver, "incident.created")
    body = hook["json"]
    link = f"http://testserver/pages/acme/incidents/{incident.code}"
    if fmt == "slack":
        blocks = body["attachments"][0]["blocks"]
        assert f"<{link}|Acme: API &lt;down&gt; &amp; out>" in blocks[0]["text"]["text"]
        assert "Investigating" in blocks[1]["text"]["text"]
    elif fmt == "teams":
        card = body["attachments"][0]["content"]
        assert body["type"] == "message" and card["type"] == "AdaptiveCard"
        assert card["body"][0]["text"] == "Acme: API <down> & out"
        assert card["actions"][0]["url"] == link
    else:
        embed = body["embeds"][0]
        assert embed["title"] == "Acme: API <down> & out" and embed["url"] == link
        assert body["allowed_mentions"] == {"parse": []}


def test_a_failing_webhook_is_retried_with_backoff_until_it_answers(page, http_receiver, worker, subscribed):
    http_receiver.status = 503
    subscribed(endpoint=http_receiver.url)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        open_incident(page, worker)
    (d,) = Delivery.objects.all()
    assert d.state == DeliveryState.RETRYING and "503" in d.last_error
    first_wait = d.next_attempt_at - start
    assert timedelta(seconds=15) <= first_wait <= timedelta(seconds=30)
    with time_machine.travel(d.next_attempt_at - timedelta(seconds=1), tick=False), worker():
        delivery.resume()
    assert len(http_receiver.requests) == 1, "not before it is due"
    with time_machine.travel(d.next_attempt_at + timedelta(seconds=1), tick=False), worker():
        delivery.resume()
    d.refresh_from_db()
    assert d.state == DeliveryState.RETRYING and d.attempts == 2
    assert timedelta(seconds=30) <= d.next_attempt_at - (start + first_wait) <= timedelta(seconds=62)
    http_receiver.status = 200
    with time_machine.travel(d.next_attempt_at + timedelta(seconds=1), tick=False), worker():
        delivery.resume()
    d.refresh_from_db()
    assert d.state == DeliveryState.SENT and d.attempts == 3
    assert len(http_receiver.requests) == 3
    assert len({r["headers"]["Idempotency-Key"] for r in http_receiver.requests}) == 1


def test_transient_failures_give_up_after_a_day(page, http_receiver, worker, subscribed):
    http_receiver.status = 500
    subscribed(endpoint=http_receiver.url)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        open_incident(page, worker)
    d = Delivery.objects.get()
    while d.state == DeliveryState.RETRYING:
        with time_machine.travel(d.next_attempt_at + timedelta(seconds=1), tick=False), worker():
            delivery.resume()
        d.refresh_from_db()
    assert d.state == DeliveryState.DEAD
    assert d.next_attempt_at - start > timedelta(hours=23)
    # 8 doublings from 30 s to the hour cap, then 30 to 60 minutes apart (jitter) for the rest of the day.
    assert 25 <= d.attempts <= 60


def test_a_gone_webhook_dies_at_once_is_quarantined_and_its_owner_told(
    page, http_receiver, smtp, worker, subscribed
):
    http_receiver.status = 410
    sub = subscribed(endpoint=http_receiver.url, email="ops@example.com")
    open_incident(page, worker)
    d = Delivery.objects.get()
    assert d.state == DeliveryState.DEAD and d.attempts == 1
    sub.refresh_from_db()
    assert sub.state == "quarantined"
    (notice,) = smtp.to("ops@example.com")
    assert "paused" in notice["Subject"]
    open_incident(page, worker, name="Second")
    assert len(http_receiver.requests) == 1, "a quarantined webhook gets nothing more"


def test_a_webhook_is_quarantined_after_repeated_dead_deliveries(
    page, http_receiver, worker, subscribed, settings
):
    settings.WEBHOOK_QUARANTINE_AFTER = 3
    http_receiver.status = 400
    sub = subscribed(endpoint=http_receiver.url)
    for i in range(2):
        open_incident(page, worker, name=f"I{i}")
    sub.refresh_from_db()
    assert (sub.state, sub.failures) == ("active", 2)
    open_incident(page, worker, name="I3")
    sub.refresh_from_db()
    assert sub.state == "quarantined" and "400" in sub.last_error


def test_webhooks_to_private_addresses_are_refused_at_send_time(
    page, http_receiver, worker, subscribed, settings
):
    sub = subscribed(endpoint=http_receiver.url)  # allowed while loopback is allowed (tests)
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    open_incident(page, worker)
    d = Delivery.objects.get()
    assert d.state == DeliveryState.DEAD and "127.0.0.1" in d.last_error
    assert http_receiver.requests == []
    sub.refresh_from_db()
    assert sub.failures == 1


# Stalls and concurrency ---------------------------------------------------------------------------------


def test_a_delivery_left_sending_by_a_dead_worker_is_resumed_once(
    page, smtp, worker, subscribed, setup_committed
):
    subscribed(email="ann@example.com")
    incident = create_incident(actor=SYSTEM, page=page, name="X", body="y")
    setup_committed()
    event = OutboxEvent.objects.get(incident=incident)
    sub = Subscriber.objects.get()
    start = timezone.now()
    # A worker claimed it, then died before sending.
    Delivery.objects.create(
        event=event, subscriber=sub, state=DeliveryState.SENDING, claim="dead", claimed_at=start, attempts=1
    )
    with time_machine.travel(start + timedelta(seconds=60), tick=False), worker():
        assert delivery.resume()["released"] == 0, "not while it may still be sending"
    with time_machine.travel(start + delivery.stalled_after() + timedelta(seconds=1), tick=False), worker():
        result = delivery.resume()
    assert result["released"] == 1
    assert len(smtp.messages) == 1
    assert Delivery.objects.get().state == DeliveryState.SENT


@pytest.mark.django_db(transaction=True)
def test_a_worker_paused_past_the_stall_period_leaves_released_deliveries_to_the_sweeper(page, smtp):
    """A worker that stops for longer than DELIVERY_STALLED_AFTER mid-chunk (here: while the server takes
    its first message) finds, before its next point of no return, that the sweeper has released the rest,
    and sends none of them: the sweeper's resend is the only copy."""
    from subscribers.services import subscribe

    for address in ("ann@example.com", "bob@example.com"):
        subscribe(page=page, actor=SYSTEM, email=address, skip_confirmation=True)
    incident = create_incident(actor=SYSTEM, page=page, name="X", body="y", deliver_notifications=True)
    event = OutboxEvent.objects.get(incident=incident)
    Delivery.objects.bulk_create([Delivery(event=event, subscriber=s) for s in Subscriber.objects.all()])
    ids = list(Delivery.objects.order_by("id").values_list("id", flat=True))
    swept = []

    with time_machine.travel(timezone.now(), tick=False) as clock:

        async def pause_then_sweep(server, session, envelope):
            if not swept:
                clock.shift(delivery.stalled_after() + timedelta(seconds=1))
                swept.append(await asyncio.to_thread(_resume_in_thread))
            return None  # let the sink record the message

        smtp.on_data(pause_then_sweep)
        counts = delivery.send_deliveries(ids)

    assert [s["released"] for s in swept] == [1], "the second delivery, claimed but not yet sent"
    assert counts == {"sent": 1, "failed": 0, "cancelled": 0}
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["ann@example.com"]
    first, second = Delivery.objects.order_by("id")
    assert first.state == DeliveryState.SENT
    assert second.state == DeliveryState.RETRYING and second.claim == ""


def _resume_in_thread():
    try:
        return delivery.resume()
    finally:
        connection.close()


def test_an_event_whose_fan_out_was_lost_is_fanned_out_by_the_sweeper(
    page, smtp, worker, subscribed, setup_committed
):
    subscribed(email="ann@example.com")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        create_incident(actor=SYSTEM, page=page, name="X", body="y")
    setup_committed()  # the enqueue never happened
    with time_machine.travel(start + delivery.stalled_after() + timedelta(seconds=1), tick=False), worker():
        assert delivery.resume()["events"] == 1
    assert len(smtp.messages) == 1
    assert OutboxEvent.objects.get().fanned_out_at is not None


def test_posting_an_update_does_not_wait_for_delivery(page, subscribed, django_capture_on_commit_callbacks):
    for i in range(50):
        subscribed(email=f"s{i}@example.com")
    with django_capture_on_commit_callbacks(execute=True):  # the memory broker holds the task; no worker
        create_incident(actor=SYSTEM, page=page, name="X", body="y")
    assert Delivery.objects.count() == 0, "fan-out happens in a worker, after the request"


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_chunk_send_each_delivery_once(page, smtp):
    from subscribers.services import subscribe

    for i in range(40):
        subscribe(page=page, actor=SYSTEM, email=f"s{i}@example.com", skip_confirmation=True)
    incident = create_incident(actor=SYSTEM, page=page, name="X", body="y", deliver_notifications=True)
    event = OutboxEvent.objects.get(incident=incident)
    Delivery.objects.bulk_create([Delivery(event=event, subscriber=s) for s in Subscriber.objects.all()])
    ids = list(Delivery.objects.values_list("id", flat=True))
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            barrier.wait()
            results.append(delivery.send_deliveries(ids))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r["sent"] for r in results) == 40
    assert len(smtp.messages) == 40
    assert len({m["X-Envelope-To"] for m in smtp.messages}) == 40


def pending_deliveries(page, count, name="X"):
    """`count` confirmed email subscribers and an incident's deliveries to them, pending and not enqueued:
    (the incident, the deliveries' ids in order)."""
    from subscribers.services import subscribe

    for i in range(count):
        subscribe(page=page, actor=SYSTEM, email=f"q{i}@example.com", skip_confirmation=True)
    incident = create_incident(actor=SYSTEM, page=page, name=name, body="y", deliver_notifications=True)
    event = OutboxEvent.objects.get(incident=incident)
    Delivery.objects.bulk_create([Delivery(event=event, subscriber=s) for s in Subscriber.objects.all()])
    return incident, list(Delivery.objects.order_by("id").values_list("id", flat=True))


def test_sending_a_chunk_costs_one_query_a_delivery_beyond_a_fixed_few(page, smtp):
    """The send path reads each chunk's rows once (some of their columns deferred): a delivery costs its
    own sent record and nothing more, so no field it reads is left to load one row at a time."""
    from django.test.utils import CaptureQueriesContext

    _, ids = pending_deliveries(page, 25)
    counts = []
    for chunk in (ids[:5], ids[5:]):
        delivery._contents.clear()  # each chunk renders the event afresh: the fixed cost is the same
        with CaptureQueriesContext(connection) as queries:
            assert delivery.send_deliveries(chunk)["sent"] == len(chunk)
        counts.append(len(queries))
    assert counts[1] - counts[0] == len(ids) - 10  # 20 deliveries against 5: 15 more sent records
    assert len(smtp.messages) == 25


def test_a_worker_renders_an_event_once_for_its_chunks_for_a_minute(page, smtp):
    """A fan-out's chunks reach the same worker processes: the event is rendered for the first and kept
    for CONTENT_KEPT_FOR seconds, then rendered afresh (a retry hours later says what is true then)."""
    from django.test.utils import CaptureQueriesContext

    incident, ids = pending_deliveries(page, 6, name="Before")
    delivery._contents.clear()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        counts = []
        for chunk in (ids[:2], ids[2:4]):
            with CaptureQueriesContext(connection) as queries:
                delivery.send_deliveries(chunk)
            counts.append(len(queries))
        assert counts[1] < counts[0]  # the second chunk did not render the event again
        incident.name = "After"
        incident.save()
        clock.shift(delivery.CONTENT_KEPT_FOR + 1)
        delivery.send_deliveries(ids[4:])
    subjects = [m["Subject"] for m in smtp.messages]
    assert subjects == ["[Acme] Before"] * 4 + ["[Acme] After"] * 2
