"""Every browser run saves the pictures of the showcase (desktop and phone public page, an incident page, the
console) into build/screenshots/ or $SCREENSHOT_DIR, with the code `make screenshot` uses for docs/img/."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from tests.browser import showcase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "build" / "screenshots")


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_the_run_saves_the_screenshots_the_readme_shows(live_server, browser):
    scenario = showcase.stage()
    started = time.time()
    errors: list[str] = []
    written = showcase.shoot(browser, f"{live_server.url}/", scenario, SCREENSHOT_DIR, errors=errors)

    assert errors == []
    assert sorted(p.name for p in written) == [
        "console-dashboard.png",
        "console-incident.png",
        "incident-page.png",
        "public-page-phone.png",
        "public-page.png",
    ]
    for path in written:
        assert path.stat().st_mtime >= started - 1, f"{path} was not written by this run"
    # Full-page pictures as wide as their viewport: the phone layout does not scroll sideways.
    width, height = png_size(SCREENSHOT_DIR / "public-page.png")
    assert width == showcase.DESKTOP["width"] and height > showcase.DESKTOP["height"]
    assert png_size(SCREENSHOT_DIR / "public-page-phone.png")[0] == showcase.PHONE["width"]
    assert png_size(SCREENSHOT_DIR / "console-dashboard.png")[0] == showcase.DESKTOP["width"]
    # README.md shows these three from docs/img/, which `make screenshot` writes with the same code.
    readme = (ROOT / "README.md").read_text()
    for name in ("public-page.png", "incident-page.png", "console-dashboard.png"):
        assert f"docs/img/{name}" in readme
        assert (ROOT / "docs" / "img" / name).is_file()
