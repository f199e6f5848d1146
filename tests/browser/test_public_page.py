"""The public page in a real browser: no console errors, tooltips by mouse and keyboard, groups that
collapse, a phone layout without horizontal scrolling, complete with JavaScript off, live refresh."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

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
    # 03:00 three days ago in the page's zone: the two-hour outage stays within one day.
    t = (timezone.now() - timedelta(days=3)).astimezone(page.tz).replace(hour=3, minute=0, second=0)
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


def outage_day(page):
    """The day of the fixture's two-hour API outage, as its tooltip writes it ("Mar 7, 2026")."""
    return (timezone.now() - timedelta(days=3)).astimezone(page.tz).strftime("%b %-d, %Y")


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


def visible_tips(page):
    """The tooltips showing: each day of a row of bars ([data-bars] > li) holds its tooltip as a <span>."""
    return page.locator("[data-bars] > li > span:visible")


def test_uptime_bar_tooltip_shows_on_hover_stays_on_screen_and_escape_hides_it(
    live_server, demo_page, context_factory
):
    page = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url(live_server))
    api_bars = page.get_by_role("list", name="API: uptime for each of the past 90 days").locator("li")
    assert api_bars.count() == 90
    expect(visible_tips(page)).to_have_count(0)

    page.locator("[data-bars] > .bar--major_outage").first.hover()
    expect(visible_tips(page)).to_have_count(1)
    tip = visible_tips(page).first
    expect(tip).to_contain_text("Major outage 2 h")
    expect(tip).to_contain_text("API outage")
    expect(tip).to_contain_text(outage_day(demo_page))

    # The days at both ends open their tooltip inward: it stays inside the window.
    for day in (api_bars.first, api_bars.last):
        day.hover()
        box = visible_tips(page).first.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, box

    page.keyboard.press("Escape")
    expect(visible_tips(page)).to_have_count(0)
    page.mouse.move(0, 0)
    api_bars.nth(40).hover()
    expect(visible_tips(page)).to_have_count(1)
    page.mouse.move(0, 0)
    expect(visible_tips(page)).to_have_count(0)


def test_uptime_bar_tooltip_works_by_keyboard(live_server, demo_page, context_factory):
    page = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url(live_server))
    # Tab from the top of the page: each row of bars is one tab stop, landing on today.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.matches('[data-bars] > li')"):
            break
    focused = page.locator("[data-bars] > li:focus")
    today = timezone.now().astimezone(demo_page.tz).strftime("%b %-d, %Y")  # in the page's time zone
    expect(focused.locator("b")).to_have_text(today)
    expect(focused.locator("..")).to_have_attribute("aria-label", "API: uptime for each of the past 90 days")
    expect(visible_tips(page)).to_have_count(1)

    # Arrow keys walk the days; the tooltip follows the focus.
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    expect(focused).to_have_class(re.compile(r"\bbar--major_outage\b"))
    expect(visible_tips(page)).to_have_count(1)
    expect(visible_tips(page).first).to_contain_text("API outage")
    page.keyboard.press("Escape")
    expect(visible_tips(page)).to_have_count(0)
    page.keyboard.press("Home")
    expect(visible_tips(page)).to_have_count(1)
    page.keyboard.press("End")
    expect(focused.locator("b")).to_have_text(today)
    # One tab stop: the next Tab leaves the row (for the next component's row).
    page.keyboard.press("Tab")
    row = focused.locator("..")
    expect(row).to_have_attribute("aria-label", "Dashboard: uptime for each of the past 90 days")


def test_groups_collapse_and_expand(live_server, demo_page, context_factory):
    page = context_factory().new_page()
    page.goto(url(live_server))
    regions = page.locator("details", has_text="Regions").first
    eu = regions.get_by_text("EU", exact=True)
    expect(regions).not_to_have_attribute("open", "")  # collapsed by the page's choice
    expect(eu).to_be_hidden()
    regions.locator("summary").click()
    expect(eu).to_be_visible()
    regions.locator("summary").click()
    expect(eu).to_be_hidden()
    # And by keyboard.
    regions.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(eu).to_be_visible()
    apps = page.locator("details", has_text="Application Services").first
    expect(apps.get_by_text("Dashboard", exact=True)).to_be_visible()  # open by default


@pytest.mark.parametrize("width", [320, 390])
def test_phone_viewport_has_no_horizontal_scroll(live_server, demo_page, context_factory, width):
    # An open incident whose words do not break (a long URL) is the usual culprit.
    api = demo_page.components.get(name="API")
    incident = create_incident(
        actor=SYSTEM,
        page=demo_page,
        name="Timeouts on https://api.example.com/v3/organisations/members/invitations/resend",
        body="Requests to https://api.example.com/v3/organisations/members/invitations/resend?tracking=1 "
        "time out; `ERR_CONNECTION_TIMED_OUT_WHILE_WAITING_FOR_THE_UPSTREAM_RESPONSE` in the logs.",
        components={api: "partial_outage"},
    )
    publishing.publish_page(demo_page.pk)
    phone = {"viewport": {"width": width, "height": 740}, "is_mobile": True, "has_touch": True}
    page = context_factory(**phone).new_page()
    for path in ("", f"incidents/{incident.code}", "history", "subscribe"):
        page.goto(url(live_server, path))
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, f"/{path} is {scroll_width}px wide on a {width}px screen"
    page.goto(url(live_server))
    # Phones show the last 30 days of bars, still one tooltip per day.
    bars = page.get_by_role("list", name="API: uptime for each of the past 90 days").locator("li:visible")
    expect(bars).to_have_count(30)
    bars.last.tap()
    tip = visible_tips(page).first
    expect(tip).to_be_visible()
    box = tip.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_with_javascript_off_every_fact_is_shown(live_server, demo_page, context_factory):
    page = context_factory(java_script_enabled=False, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(url(live_server))
    shown = page.locator("body").inner_text()  # what is rendered visible, not merely in the HTML
    for fact in (
        "All Systems Operational",
        "Application Services",
        "API",
        "Dashboard",
        "Operational",
        "Uptime over the past 90 days",
        "100% uptime",
        "Past incidents",
        "API outage",
        "Resolved",
    ):
        assert fact in shown, fact
    # Closed parts open without JavaScript (HTML <details>), and the tooltips are CSS.
    page.get_by_text("Regions").first.click()
    expect(page.get_by_text("EU", exact=True)).to_be_visible()
    page.get_by_text("?", exact=True).first.click()
    expect(page.get_by_text("REST endpoints")).to_be_visible()
    page.locator("[data-bars] > .bar--major_outage").first.hover()
    expect(visible_tips(page)).to_contain_text("API outage")
    # The incident has its own page, and subscribing offers every field at once.
    page.get_by_role("link", name="API outage").first.click()
    expect(page.get_by_role("heading", name="API outage")).to_be_visible()
    expect(page.get_by_text("Down")).to_be_visible()  # its first update's text
    page.goto(url(live_server, "subscribe"))
    for label in ("Email address", "Webhook URL", "Format"):
        expect(page.get_by_label(label)).to_be_visible()
    expect(page.get_by_role("radio", name="Email")).to_be_checked()


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
