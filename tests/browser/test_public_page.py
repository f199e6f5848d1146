"""The public page in a real browser: no console errors, tooltips by mouse and keyboard, groups that
collapse, a phone layout without horizontal scrolling, complete with JavaScript off, live refresh."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from components.services import create_component, create_group, set_component_status
from incidents.services import create_incident, post_update
from statuspage import publishing
from statuspage.services import SYSTEM, create_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_page(settings):
    settings.PUBLIC_REFRESH_SECONDS = 30
    start = timezone.now() - timedelta(days=100)
    page = create_page(actor=SYSTEM, name="Acme Status", slug="acme", time_zone="America/Los_Angeles")
    apps = create_group(actor=SYSTEM, page=page, name="Application Services")
    regions = create_group(actor=SYSTEM, page=page, name="Regions", collapsed=True)
    api = create_component(
        actor=SYSTEM, page=page, name="API", group=apps, at=start, description="REST endpoints"
    )
    create_component(actor=SYSTEM, page=page, name="Dashboard", group=apps, at=start)
    create_component(actor=SYSTEM, page=page, name="EU", group=regions, at=start)
    t = timezone.now() - timedelta(days=3)
    set_component_status(actor=SYSTEM, component=api, status="major_outage", at=t)
    incident = create_incident(
        actor=SYSTEM,
        page=page,
        name="API outage",
        body="Down",
        backfilled=True,
        components={api: "major_outage"},
        at=t,
    )
    post_update(
        actor=SYSTEM,
        incident=incident,
        status="resolved",
        components={api: "operational"},
        at=t + timedelta(hours=2),
    )
    publishing.publish_page(page.pk)
    return page


def url(live_server, path=""):
    return f"{live_server.url}/pages/acme/{path}"


def test_public_page_has_no_console_errors_and_shows_the_facts(live_server, demo_page, context_factory):
    page = context_factory().new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url(live_server))
    assert page.get_by_text("All Systems Operational").first.is_visible()
    assert page.get_by_text("Application Services").first.is_visible()
    assert errors == []


def test_uptime_bar_tooltip_shows_on_hover_and_keyboard_focus(live_server, demo_page, context_factory):
    page = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url(live_server))
    bars = page.locator("[data-uptime-day]")
    assert bars.count() >= 90
    outage_day = page.locator("[data-uptime-day][data-worst='major_outage']").first
    outage_day.focus()
    tooltip = page.locator("[role=tooltip]:visible")
    assert tooltip.count() >= 1
    assert "API outage" in tooltip.first.inner_text()
    page.mouse.move(0, 0)
    page.keyboard.press("Tab")
    bars.nth(5).hover()
    assert page.locator("[role=tooltip]:visible").count() >= 1


def test_groups_collapse_and_expand(live_server, demo_page, context_factory):
    page = context_factory().new_page()
    page.goto(url(live_server))
    regions = page.locator("details", has_text="Regions").first
    assert regions.get_attribute("open") is None  # collapsed by the page's choice
    regions.locator("summary").click()
    assert regions.get_attribute("open") is not None
    assert page.get_by_text("EU", exact=True).first.is_visible()


def test_phone_viewport_has_no_horizontal_scroll(live_server, demo_page, context_factory):
    page = context_factory(viewport={"width": 360, "height": 740}, is_mobile=True).new_page()
    page.goto(url(live_server))
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360


def test_with_javascript_off_every_fact_is_in_the_page(live_server, demo_page, context_factory):
    page = context_factory(java_script_enabled=False).new_page()
    page.goto(url(live_server))
    text = page.content()
    for fact in (
        "All Systems Operational",
        "Application Services",
        "API",
        "Dashboard",
        "API outage",
        "uptime",
    ):
        assert fact in text


def test_live_parts_refresh_in_place_without_a_reload(live_server, demo_page, context_factory):
    page = context_factory().new_page()
    page.clock.install()
    page.goto(url(live_server))
    page.evaluate("window.__notReloaded = true")
    api = demo_page.components.get(name="API")
    set_component_status(actor=SYSTEM, component=api, status="major_outage")
    publishing.publish_page(demo_page.pk)
    page.clock.run_for(31_000)
    page.get_by_text("Major System Outage").or_(page.get_by_text("Partial System Outage")).first.wait_for(
        timeout=5000
    )
    assert page.evaluate("window.__notReloaded") is True
