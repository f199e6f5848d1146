"""Subscribing on the public page: double opt-in with expiring links, answers that never reveal who is
subscribed, rate limits, managing components, one-click unsubscribe (RFC 8058), webhook sign-up with the
SSRF check."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from incidents.services import create_incident
from statuspage.services import SYSTEM
from subscribers.models import Subscriber

SUBSCRIBE = "/pages/acme/subscribe"


def link(mail, purpose):
    text = (
        mail.get_body(preferencelist=("plain",)).get_content() if mail.is_multipart() else mail.get_content()
    )
    return re.search(rf"http://testserver(/pages/acme/subscriptions/{purpose}/\S+)", text).group(1)


def sign_up(client, **data):
    data.setdefault("kind", "email")
    return client.post(SUBSCRIBE, data)


def test_email_sign_up_needs_confirmation_and_then_gets_updates(page, api, smtp, worker):
    client = Client()
    assert "Get Acme status updates" in client.get(SUBSCRIBE).content.decode()
    with worker():
        response = sign_up(client, email="Ann@Example.com", components=[api.pk])
    assert response.status_code == 200 and "Check your inbox" in response.content.decode()
    sub = Subscriber.objects.get()
    assert (sub.email, sub.state, list(sub.components.all())) == ("ann@example.com", "unconfirmed", [api])
    (confirmation,) = smtp.to("ann@example.com")
    assert confirmation["Subject"] == "[Acme] Confirm your subscription"

    with worker():
        create_incident(actor=SYSTEM, page=page, name="Before", body="x", components={api: "major_outage"})
    assert len(smtp.messages) == 1, "nothing before the address is confirmed"

    response = client.get(link(confirmation, "confirm"))
    assert response.status_code == 200 and "You are subscribed" in response.content.decode()
    sub.refresh_from_db()
    assert sub.state == "active" and sub.confirmed_at is not None
    with worker():
        create_incident(actor=SYSTEM, page=page, name="After", body="x", components={api: "major_outage"})
    assert [m["Subject"] for m in smtp.to("ann@example.com")][-1] == "[Acme] After"


def test_the_answer_never_reveals_whether_an_address_is_subscribed(page, smtp, worker, subscribed):
    subscribed(email="known@example.com")
    with worker():
        known = sign_up(Client(), email="known@example.com")
        unknown = sign_up(Client(), email="new@example.com")

    def strip(r):
        return re.sub(r"[a-z]+@example\.com|csrfmiddlewaretoken\S+|Last updated[^<]+", "", r.content.decode())

    assert known.status_code == unknown.status_code == 200
    assert strip(known) == strip(unknown)
    # The known address is told it is already subscribed, with its manage link; no second subscriber.
    (mail,) = smtp.to("known@example.com")
    assert mail["Subject"] == "[Acme] Your subscription" and "/subscriptions/manage/" in mail.get_content()
    assert Subscriber.objects.filter(email="known@example.com").count() == 1


def test_confirmation_links_expire_and_forged_links_fail(page, smtp, worker):
    with worker():
        sign_up(Client(), email="ann@example.com")
    (mail,) = smtp.messages
    url = link(mail, "confirm")
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        response = Client().get(url)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert Subscriber.objects.get().state == "unconfirmed"
    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert Client().get(forged).status_code == 400
    # A confirm link cannot be used to manage or unsubscribe.
    token = url.rsplit("/", 1)[1]
    assert Client().post(f"/pages/acme/subscriptions/unsubscribe/{token}").status_code == 400
    assert Subscriber.objects.get().state == "unconfirmed"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ""}, "email"),
        ({"kind": "webhook", "endpoint": ""}, "endpoint"),
        ({"kind": "webhook", "endpoint": "ftp://example.com/x"}, "endpoint"),
        ({"kind": "webhook", "endpoint": "http://10.0.0.5/hook"}, "endpoint"),
        ({"kind": "webhook", "endpoint": "http://169.254.169.254/latest/meta-data"}, "endpoint"),
        ({"kind": "carrier-pigeon", "email": "a@example.com"}, "kind"),
        ({"email": "a@example.com", "components": ["999999"]}, "components"),
    ],
)
def test_bad_sign_ups_get_field_errors_and_write_nothing(page, api, smtp, data, field):
    response = sign_up(Client(), **data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert Subscriber.objects.count() == 0 and smtp.messages == []


def test_components_of_another_page_cannot_be_chosen(page, other_page, make_component):
    foreign = make_component(other_page, "Foreign")
    response = sign_up(Client(), email="a@example.com", components=[foreign.pk])
    assert "components" in response.context["form"].errors


def test_a_webhook_subscribes_at_once_with_its_format(page, http_receiver, worker):
    response = sign_up(
        Client(),
        kind="webhook",
        endpoint=http_receiver.url,
        webhook_format="discord",
        failure_email="ops@example.com",
    )
    assert response.status_code == 200 and "X-Status-Signature" in response.content.decode()
    sub = Subscriber.objects.get()
    assert (sub.kind, sub.state, sub.webhook_format, sub.email) == (
        "webhook",
        "active",
        "discord",
        "ops@example.com",
    )
    with worker():
        create_incident(actor=SYSTEM, page=page, name="X", body="y")
    assert http_receiver.requests[0]["json"]["embeds"][0]["title"] == "Acme: X"


def test_sign_ups_are_rate_limited_per_address_and_per_ip(page, smtp, worker, settings):
    settings.SUBSCRIBE_LIMIT_PER_ADDRESS = 2
    settings.SUBSCRIBE_LIMIT_PER_IP = 4
    with worker():
        for _ in range(2):
            assert sign_up(Client(), email="ann@example.com").status_code == 200
        third = sign_up(Client(), email="ann@example.com")
    assert third.status_code == 429 and "Too many sign-ups for this address" in third.content.decode()
    assert len(smtp.to("ann@example.com")) == 2
    # Every attempt counts for the network, the refused third one too: this is the fourth.
    with worker():
        assert sign_up(Client(), email="bob@example.com").status_code == 200
        fifth = sign_up(Client(), email="cy@example.com")
    assert fifth.status_code == 429 and "from your network" in fifth.content.decode()
    assert not Subscriber.objects.filter(email="cy@example.com").exists()
    other_ip = Client(REMOTE_ADDR="203.0.113.9")
    with worker():
        assert sign_up(other_ip, email="cy@example.com").status_code == 200


def test_manage_components_and_unsubscribe_from_the_emailed_link(page, api, web, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    with worker():
        create_incident(actor=SYSTEM, page=page, name="First", body="x", components={api: "major_outage"})
    (mail,) = smtp.messages
    manage = link(mail, "manage")
    client = Client()
    page_html = client.get(manage).content.decode()
    assert "ann@example.com" in page_html and "Website" in page_html
    response = client.post(manage, {"components": [web.pk], "action": "save"})
    assert "Saved." in response.content.decode()
    assert list(Subscriber.objects.get().components.all()) == [web]
    with worker():
        create_incident(actor=SYSTEM, page=page, name="API again", body="x", components={api: "major_outage"})
    assert len(smtp.messages) == 1, "no longer subscribed to the API"
    client.post(manage, {"action": "unsubscribe"})
    assert Subscriber.objects.get().state == "unsubscribed"


def test_one_click_unsubscribe_works_without_cookies_or_csrf(page, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    with worker():
        create_incident(actor=SYSTEM, page=page, name="First", body="x")
    (mail,) = smtp.messages
    url = mail["List-Unsubscribe"].strip().strip("<>").replace("http://testserver", "")
    client = Client(enforce_csrf_checks=True)
    assert "Unsubscribe?" in client.get(url).content.decode(), "a GET (link scanners) changes nothing"
    assert Subscriber.objects.get().state == "active"
    response = client.post(url, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Subscriber.objects.get().state == "unsubscribed"
    with worker():
        create_incident(actor=SYSTEM, page=page, name="Second", body="x")
    assert len(smtp.messages) == 1
    # Subscribing again starts over with a confirmation.
    with worker():
        sign_up(Client(), email="ann@example.com")
    assert Subscriber.objects.get().state == "unconfirmed"
    assert smtp.messages[-1]["Subject"] == "[Acme] Confirm your subscription"


def test_subscription_pages_of_one_page_do_not_serve_another(page, other_page, smtp, worker, subscribed):
    subscribed(email="ann@example.com")
    with worker():
        create_incident(actor=SYSTEM, page=page, name="First", body="x")
    (mail,) = smtp.messages
    manage = link(mail, "manage").replace("/pages/acme/", "/pages/globex/")
    assert Client().get(manage).status_code == 400
