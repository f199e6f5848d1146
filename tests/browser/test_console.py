"""The console in a real browser: sign in, open an incident, post an update that appears in place, see it
on the public page; the dashboard countdown turns red when the update is overdue, on the server's clock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from components.services import create_component
from incidents.models import Incident
from incidents.services import create_incident
from statuspage import publishing
from statuspage.services import SYSTEM, add_member, create_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(eager_tasks):
    page = create_page(actor=SYSTEM, name="Acme", slug="acme", time_zone="Europe/Berlin")
    create_component(actor=SYSTEM, page=page, name="API")
    create_component(actor=SYSTEM, page=page, name="Website")
    ic = User.objects.create_user("ic", "ic@example.com", "a long passphrase 1")
    add_member(actor=SYSTEM, page=page, user=ic, role="commander")
    return page


def sign_in(browser_page, live_server):
    browser_page.goto(f"{live_server.url}/console/login/")
    browser_page.get_by_label("Username").fill("ic")
    browser_page.get_by_label("Password").fill("a long passphrase 1")
    browser_page.get_by_role("button", name="Sign in").click()
    expect(browser_page).to_have_url(f"{live_server.url}/console/acme/")


def watch_errors(browser_page):
    errors = []
    browser_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    browser_page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_open_an_incident_post_an_update_and_see_it_public(live_server, acme, context_factory, settings):
    # A visitor has the public page open before anything happens; its live part polls every 30 s, and the
    # visitor's clock is Playwright's, run forward by hand.
    settings.PUBLIC_REFRESH_SECONDS = 30
    publishing.publish_page(acme.pk)
    public = context_factory().new_page()
    public_errors = watch_errors(public)
    public.clock.install()
    # The page's clock runs forward by hand but the HTTP cache's does not: the live fragment's max-age (10 s)
    # would answer the second poll from the cache, as it never would at a real 30 s apart.
    cdp = public.context.new_cdp_session(public)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    public.goto(f"{live_server.url}/pages/acme/")
    expect(public.get_by_role("heading", level=1)).to_contain_text("All Systems Operational")
    public.evaluate("window.__notReloaded = true")

    tab = context_factory().new_page()
    errors = watch_errors(tab)
    sign_in(tab, live_server)

    tab.get_by_role("link", name="Open an incident").click()
    tab.get_by_label("Title").fill("Checkout is failing")
    tab.get_by_label("Message").fill("Card payments **fail** for some customers.")
    expect(tab.locator(".preview strong")).to_have_text("fail")  # the live Markdown preview
    tab.get_by_label("API:").select_option("major_outage")
    tab.get_by_role("button", name="Open incident").click()
    incident = Incident.objects.get(name="Checkout is failing")
    expect(tab).to_have_url(f"{live_server.url}/console/acme/incidents/{incident.code}/")

    public.clock.run_for(31_000)
    open_incident = public.get_by_role("region", name="Checkout is failing")  # the open incident's section
    expect(open_incident).to_contain_text("Card payments fail for some customers.")
    expect(public.get_by_role("heading", level=1)).to_have_text(re.compile(r"(Major|Partial) System Outage"))

    # The status's default text is offered when the message is empty.
    tab.get_by_label("Status").select_option("identified")
    expect(tab.get_by_label("Message")).to_have_value(
        "The issue has been identified and a fix is being implemented."
    )
    tab.get_by_label("Message").fill("A bad deploy; rolling back now.")
    tab.evaluate("window.__notReloaded = true")
    tab.get_by_role("button", name="Post update").click()
    expect(tab.locator(".timeline-item").first).to_contain_text("A bad deploy; rolling back now.")
    assert tab.evaluate("window.__notReloaded") is True, "the update appears in place, without a reload"

    public.clock.run_for(31_000)
    expect(open_incident).to_contain_text("A bad deploy; rolling back now.")
    expect(open_incident).to_contain_text("Identified")
    assert public.evaluate("window.__notReloaded") is True, "the public page changed without a reload"
    assert errors == [] and public_errors == []


def test_the_update_form_previews_markdown_and_keeps_its_preview(live_server, acme, context_factory):
    # The update form swaps the whole incident page; its preview box must not inherit that swap (it once
    # did, and the first preview removed the box, so every later keystroke raised htmx:targetError).
    ic = User.objects.get(username="ic")
    incident = create_incident(actor=SYSTEM, page=acme, name="Slow API", body="Looking.", commander=ic)
    tab = context_factory().new_page()
    errors = watch_errors(tab)
    sign_in(tab, live_server)
    tab.goto(f"{live_server.url}/console/acme/incidents/{incident.code}/")
    tab.get_by_label("Message").fill("Queue is **draining**.")
    expect(tab.locator("#id_body-preview strong")).to_have_text("draining")
    tab.get_by_label("Message").fill("Queue is *empty*.")
    expect(tab.locator("#id_body-preview em")).to_have_text("empty")
    assert errors == []


def test_the_countdown_turns_red_when_the_update_is_overdue(live_server, acme, context_factory):
    ic = User.objects.get(username="ic")
    start = timezone.now().replace(microsecond=0)
    create_incident(actor=SYSTEM, page=acme, name="Slow API", body="Looking.", commander=ic, at=start)
    tab = context_factory().new_page()
    sign_in(tab, live_server)
    # The server's clock is three seconds before the update is due (30 minutes after the start).
    with time_machine.travel(start + timedelta(minutes=30) - timedelta(seconds=3), tick=True):
        tab.goto(f"{live_server.url}/console/acme/")
        due = tab.locator("#open-incidents .due")
        expect(due).to_have_class(re.compile("due--soon"))
        expect(due).to_have_text(re.compile(r"due in 0:0[1-3]"))
        expect(tab.get_by_role("alert")).to_contain_text("Your next public update on “Slow API”")
        expect(due).to_have_class(re.compile("due--overdue"), timeout=10_000)
        expect(due).to_have_text(re.compile(r"overdue 0:0\d"))
