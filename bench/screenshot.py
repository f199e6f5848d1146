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
        browser.close()
    server.terminate()


if __name__ == "__main__":
    main()
