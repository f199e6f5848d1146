"""Two-factor sign-in in a real browser: a page that requires it sends a member to set it up (QR code and
key, confirmed with a code), shows the recovery codes once, and from then on signing in asks for a code."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth.models import User
from django_otp.oath import totp
from playwright.sync_api import expect

from statuspage.services import SYSTEM, add_member, create_page, update_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long passphrase 1"


def code(secret: str, *, ahead: int = 0) -> str:
    """The code an authenticator app shows now (`ahead` steps later: django-otp accepts the next one)."""
    return f"{totp(base64.b32decode(secret.replace(' ', '')), drift=ahead):06d}"


def test_a_member_sets_up_two_factor_when_the_page_requires_it(live_server, context_factory, eager_tasks):
    page = create_page(actor=SYSTEM, name="Acme", slug="acme")
    update_page(actor=SYSTEM, page=page, require_two_factor=True)
    ic = User.objects.create_user("ic", "ic@example.com", PASSWORD)
    add_member(actor=SYSTEM, page=page, user=ic, role="commander")

    tab = context_factory().new_page()
    errors = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))

    tab.goto(f"{live_server.url}/console/login/")
    tab.get_by_label("Username").fill("ic")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(re.compile(r"/console/account/security/\?next=%2Fconsole%2Facme%2F$"))
    expect(tab.get_by_role("note")).to_contain_text("Acme requires two-factor sign-in")

    tab.get_by_role("button", name="Set up two-factor").click()
    expect(tab.locator(".qr svg")).to_be_visible()
    secret = tab.locator("#totp-secret").inner_text()
    tab.get_by_label("Code from the app").fill(code(secret))
    tab.get_by_role("button", name="Turn on two-factor").click()
    codes = tab.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    tab.get_by_role("link", name="Continue").click()
    expect(tab).to_have_url(f"{live_server.url}/console/acme/")

    tab.get_by_role("button", name="Sign out").click()
    tab.goto(f"{live_server.url}/console/login/")
    tab.get_by_label("Username").fill("ic")
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{live_server.url}/console/login/code/")
    tab.get_by_label("Code").fill(code(secret, ahead=1))
    tab.get_by_role("button", name="Sign in").click()
    expect(tab).to_have_url(f"{live_server.url}/console/acme/")
    assert errors == []
