"""A visitor subscribes by email in a real browser: the confirmation mail arrives at a real SMTP server on
127.0.0.1, and its link, opened in the browser, confirms the subscription."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from components.services import create_component
from statuspage import publishing
from statuspage.services import SYSTEM, create_page
from subscribers.models import Subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(settings, live_server, smtp, eager_tasks):
    # Links in the mail point at the page's public address: here, the live server.
    settings.SITE_URL = live_server.url
    page = create_page(actor=SYSTEM, name="Acme", slug="acme", time_zone="Europe/Berlin")
    create_component(actor=SYSTEM, page=page, name="API")
    create_component(actor=SYSTEM, page=page, name="Website")
    publishing.publish_page(page.pk)
    return page


def plain_text(mail) -> str:
    part = mail.get_body(preferencelist=("plain",)) if mail.is_multipart() else mail
    return part.get_content()


def test_a_visitor_subscribes_by_email_and_the_mailed_link_confirms(live_server, acme, smtp, context_factory):
    tab = context_factory().new_page()
    errors = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.goto(f"{live_server.url}/pages/acme/")
    tab.get_by_role("link", name="Subscribe").first.click()
    expect(tab.get_by_role("heading", name="Get Acme status updates")).to_be_visible()
    # Email is the default kind: the webhook's fields stay out of the way until chosen.
    expect(tab.get_by_label("Webhook URL")).to_be_hidden()
    tab.get_by_role("radio", name="Webhook").check()
    expect(tab.get_by_label("Webhook URL")).to_be_visible()
    tab.get_by_role("radio", name="Email").check()
    tab.get_by_label("Email address").fill("Ann@Example.com")
    tab.get_by_text("Only some components").click()
    tab.get_by_label("API").check()
    tab.get_by_role("button", name="Subscribe").click()
    expect(tab.get_by_role("status")).to_contain_text("Check your inbox")

    subscriber = Subscriber.objects.get(page=acme)
    assert subscriber.state == "unconfirmed"
    assert [c.name for c in subscriber.components.all()] == ["API"]
    (mail,) = smtp.to("ann@example.com")
    assert mail["Subject"] == "[Acme] Confirm your subscription"
    link = re.search(r"https?://\S+/subscriptions/confirm/\S+", plain_text(mail)).group(0)
    assert link.startswith(f"{live_server.url}/pages/acme/")

    tab.goto(link)
    expect(tab.get_by_role("heading", name="You are subscribed")).to_be_visible()
    expect(tab.get_by_text("ann@example.com")).to_be_visible()
    subscriber.refresh_from_db()
    assert subscriber.state == "active" and subscriber.confirmed_at is not None
    # The page offers managing the subscription from here (a signed link of another purpose).
    tab.get_by_role("link", name="Choose components or unsubscribe").click()
    expect(tab.get_by_label("API")).to_be_checked()
    assert errors == []
