"""axe-core finds no serious or critical accessibility violation on the public page, an incident page and
the console: on the showcase (the demo page with an open incident, a maintenance in progress and one
scheduled, collapsed and open groups, postmortems), desktop, phone and dark mode, with every group open
and a tooltip showing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.services import schedule_maintenance, start_maintenance
from statuspage import publishing
from statuspage.services import SYSTEM
from tests.browser import axe, showcase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scenario():
    # No eager tasks: the suite's broker (memory://) drops the publishing each command enqueues, and the
    # page is published once at the end.
    shown = showcase.stage()
    page = shown.page
    now = timezone.now()
    maintenance = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Database failover drill",
        scheduled_for=now - timedelta(minutes=10),
        scheduled_until=now + timedelta(minutes=50),
        components=[page.components.get(name="Dashboard")],
        body="We are failing the primary database over to its replica.",
        deliver_notifications=False,
        auto_start=False,
    )
    start_maintenance(actor=SYSTEM, incident=maintenance, body="The drill has begun.")
    publishing.publish_page(page.pk)
    return shown


def new_tab(context_factory, **kwargs):
    # The page's CSP forbids inline scripts, and axe is injected as one: only these tabs bypass it.
    return context_factory(bypass_csp=True, **kwargs).new_page()


def check(tab, where: str) -> None:
    found = axe.violations(tab)
    assert found == [], f"{where}:\n{axe.report(found)}"


def test_the_public_side_has_no_serious_accessibility_violation(live_server, scenario, context_factory):
    site = f"{live_server.url}/"
    tab = new_tab(context_factory, viewport=showcase.DESKTOP)
    tab.goto(site)
    expect(tab.get_by_role("region", name="Database failover drill")).to_be_visible()  # in progress
    expect(tab.get_by_role("region", name="Elevated error rates on the API")).to_be_visible()  # open
    # Open every group and every component's description, and show a tooltip: axe checks what is visible.
    tab.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    tab.locator("[data-bars] > li").last.focus()
    check(tab, "public page, everything open")

    for path in (
        f"incidents/{scenario.seed.code}",  # resolved, with its postmortem
        f"incidents/{scenario.incident.code}",  # open
        "history",
        "subscribe",
    ):
        tab.goto(site + path)
        check(tab, path)

    phone = new_tab(context_factory, viewport=showcase.PHONE, is_mobile=True, has_touch=True)
    phone.goto(site)
    check(phone, "public page on a phone")

    # The page follows the visitor's dark mode: its colours must hold their contrast there too.
    dark = new_tab(context_factory, viewport=showcase.DESKTOP, color_scheme="dark")
    dark.goto(site)
    dark.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    check(dark, "public page in dark mode")
    dark.goto(f"{site}incidents/{scenario.seed.code}")
    check(dark, "incident page in dark mode")


def test_the_console_has_no_serious_accessibility_violation(live_server, scenario, context_factory):
    site = f"{live_server.url}/"
    tab = new_tab(context_factory, viewport=showcase.DESKTOP)
    tab.goto(f"{site}console/login/")
    check(tab, "console sign-in")
    showcase.sign_in(tab, site, scenario)
    expect(tab.get_by_role("alert").first).to_be_visible()  # the reminder: an update is due in three minutes
    check(tab, "console dashboard")
    for path in (f"incidents/{scenario.incident.code}/", "incidents/new/", "components/"):
        tab.goto(f"{site}{scenario.console}{path}")
        check(tab, path)

    dark = new_tab(context_factory, viewport=showcase.DESKTOP, color_scheme="dark")
    showcase.sign_in(dark, site, scenario)
    check(dark, "console dashboard in dark mode")
    dark.goto(f"{site}{scenario.console}incidents/{scenario.incident.code}/")
    check(dark, "console incident in dark mode")


def test_axe_does_find_a_violation_where_there_is_one(context_factory):
    # The harness itself: a page with a nameless button and an image without text must fail.
    tab = context_factory().new_page()
    tab.set_content("<!doctype html><html lang=en><title>t</title><main><button></button><img src=x></main>")
    assert {v["id"] for v in axe.violations(tab)} >= {"button-name", "image-alt"}
