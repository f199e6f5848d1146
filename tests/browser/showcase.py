"""The showcase: the demo page with an incident open in the console, and the pictures taken of it.

One scenario for two callers, so the README's pictures come from what the browser tests check:
`tests/browser/test_screenshots.py` stages it in the test database and shoots it into `build/screenshots/`
(or `SCREENSHOT_DIR`), and `make screenshot` (`bench/screenshot.py`) does the same into `docs/img/`.
`tests/browser/test_accessibility.py` runs axe-core over the same pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from incidents.models import Incident
from incidents.services import create_incident
from statuspage import demo, publishing
from statuspage.management.commands.ensure_login import DEFAULT_PASSWORD, DEFAULT_USERNAME
from statuspage.models import Page
from statuspage.services import Actor

USERNAME, PASSWORD = DEFAULT_USERNAME, DEFAULT_PASSWORD
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SEED_INCIDENT = "US | Elevated API latencies and elevated rate"


@dataclass
class Showcase:
    page: Page
    incident: Incident  # open, its next update due in three minutes (the console's amber countdown)
    seed: Incident  # a replayed seed incident with its postmortem

    @property
    def console(self) -> str:
        return f"console/{self.page.slug}/"


def stage(*, now: datetime | None = None) -> Showcase:
    """Build the demo page and its login, open an incident on it 27 minutes ago and publish. Through the
    same commands the console uses; not idempotent (the demo page must not exist yet)."""
    now = now or timezone.now()
    page = demo.build(now=now)
    call_command("ensure_login", stdout=StringIO())
    user = get_user_model().objects.get(username=USERNAME)
    incident = create_incident(
        actor=Actor.of(user),
        page=page,
        name="Elevated error rates on the API",
        body="We are investigating elevated 5xx error rates on the API.",
        components={page.components.get(name="API"): "partial_outage"},
        commander=user,
        at=now - timedelta(minutes=27),
    )
    publishing.publish_page(page.pk)
    seed = page.incidents.get(name__startswith=SEED_INCIDENT)
    return Showcase(page=page, incident=incident, seed=seed)


def sign_in(tab, site: str, showcase: Showcase) -> None:
    tab.goto(f"{site}console/login/")
    tab.get_by_label("Username").fill(USERNAME)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{site}{showcase.console}")


def shoot(
    browser, site: str, showcase: Showcase, out: Path, *, errors: list[str] | None = None
) -> list[Path]:
    """Save the pictures of the showcase served at `site` (ending in "/"; the page is the installation's
    only one, so it answers at the root). Returns the files written; the pages' console errors and
    uncaught exceptions are appended to `errors`."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    errors = [] if errors is None else errors

    def new_tab(**options):
        context = browser.new_context(device_scale_factor=1, **options)
        tab = context.new_page()
        tab.on("console", lambda m: errors.append(f"{tab.url}: {m.text}") if m.type == "error" else None)
        tab.on("pageerror", lambda e: errors.append(f"{tab.url}: {e}"))
        return context, tab

    def save(tab, name: str, *, full_page: bool = True) -> None:
        path = out / f"{name}.png"
        tab.screenshot(path=str(path), full_page=full_page)
        written.append(path)

    context, tab = new_tab(viewport=DESKTOP)
    tab.goto(site)
    save(tab, "public-page")
    tab.goto(f"{site}incidents/{showcase.seed.code}")
    save(tab, "incident-page")
    sign_in(tab, site, showcase)
    save(tab, "console-dashboard")
    tab.goto(f"{site}{showcase.console}incidents/{showcase.incident.code}/")
    save(tab, "console-incident", full_page=False)
    context.close()

    context, tab = new_tab(viewport=PHONE, is_mobile=True, has_touch=True)
    tab.goto(site)
    save(tab, "public-page-phone")
    context.close()
    return written
