"""Screenshots of the demo page for the README: builds the demo in a throwaway data directory, serves it
with Django's live server machinery (no port conflicts), and drives Debian's Chromium.

    .venv/bin/python bench/screenshot.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="statuspage-shot-")
    os.environ.update(
        DATA_DIR=data,
        SECRET_KEY=secrets.token_urlsafe(40),
        DJANGO_SETTINGS_MODULE="statuspage.settings",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_ALLOW_ASYNC_UNSAFE="true",
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    call_command("migrate", verbosity=0)
    call_command("demo")

    server = LiveServerThread("127.0.0.1", static_handler=lambda app: app, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    base = f"http://127.0.0.1:{server.port}/"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
        for name, viewport in (
            ("public-page", {"width": 1280, "height": 900}),
            ("public-page-phone", {"width": 390, "height": 844}),
        ):
            page = browser.new_page(viewport=viewport, device_scale_factor=1)
            page.goto(base)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(f"wrote {out / f'{name}.png'}")
        from incidents.models import Incident

        seed = Incident.objects.get(name__startswith="US | Elevated API latencies and elevated rate")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}incidents/{seed.code}")
        page.screenshot(path=str(out / "incident-page.png"), full_page=True)
        print(f"wrote {out / 'incident-page.png'}")
        _console_shots(browser, base, out)
        browser.close()
    server.terminate()


def _console_shots(browser, base: str, out: Path) -> None:
    """The console with an incident whose next update is due in three minutes (amber countdown)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from incidents.services import create_incident
    from statuspage.management.commands.ensure_login import DEFAULT_PASSWORD, DEFAULT_USERNAME
    from statuspage.models import Page
    from statuspage.services import Actor

    call_command("ensure_login")
    user = get_user_model().objects.get(username=DEFAULT_USERNAME)
    page_obj = Page.objects.get()
    api = page_obj.components.get(name="API")
    incident = create_incident(
        actor=Actor.of(user),
        page=page_obj,
        name="Elevated error rates on the API",
        body="We are investigating elevated 5xx error rates on the API.",
        components={api: "partial_outage"},
        commander=user,
        at=timezone.now() - timedelta(minutes=27),
    )
    tab = browser.new_page(viewport={"width": 1280, "height": 900})
    tab.goto(f"{base}console/login/")
    tab.get_by_label("Username").fill(DEFAULT_USERNAME)
    tab.get_by_label("Password").fill(DEFAULT_PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{base}console/{page_obj.slug}/")
    tab.screenshot(path=str(out / "console-dashboard.png"), full_page=True)
    print(f"wrote {out / 'console-dashboard.png'}")
    tab.goto(f"{base}console/{page_obj.slug}/incidents/{incident.code}/")
    tab.screenshot(path=str(out / "console-incident.png"), full_page=False)
    print(f"wrote {out / 'console-incident.png'}")


if __name__ == "__main__":
    main()
