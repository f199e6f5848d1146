"""Screenshots for the README: the showcase scenario of the browser tests (tests/browser/showcase.py: the demo
page with an incident open), built in a throwaway data directory, served with Django's live server machinery
(no port conflicts) and shot with Debian's Chromium. `tests/browser/test_screenshots.py` runs the same code
in every `make test`, into build/screenshots/.

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

    from tests.browser import showcase

    call_command("migrate", verbosity=0)
    scenario = showcase.stage()

    server = LiveServerThread("127.0.0.1", static_handler=lambda app: app, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=FLAGS)
            errors: list[str] = []
            site = f"http://127.0.0.1:{server.port}/"
            for path in showcase.shoot(browser, site, scenario, Path(args.out), errors=errors):
                print(f"wrote {path}")
            browser.close()
            for error in errors:
                print(f"console error: {error}", file=sys.stderr)
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
