"""Team accounts: Argon2 passwords, sign-in throttling and lockout, two-factor sign-in (TOTP and recovery
codes), pages that require it, sessions, TLS settings, CSRF on every console form; and API keys stored as
digests only."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from statuspage import settings as production_settings
from statuspage.models import APIKey, AuditEvent, Page
from statuspage.services import SYSTEM, add_member
from tests.console.test_roles import urls  # noqa: F401  (the fixture of every page-scoped console URL)
from tests.test_settings import GOOD_KEY

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
LOCKED = re.compile(
    r"Too many failed attempts to sign in\. Try again after (\d\d:\d\d) UTC \(in (\d+) minutes\)"
)


def sign_in(client: Client, username: str, password: str = PASSWORD, *, query: str = "", **extra):
    url = "/console/login/" + (f"?{query}" if query else "")
    return client.post(url, {"username": username, "password": password}, **extra)


def signed_in_as(client: Client) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


# Passwords: Argon2 --------------------------------------------------------------------------------------


def test_production_settings_hash_new_passwords_with_argon2():
    argon2 = "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert production_settings.PASSWORD_HASHERS[0] == argon2
    # And an installation started from the environment says the same (the suite itself uses MD5, for speed).
    assert settings_from({})["hasher"] == argon2


def test_a_pbkdf2_password_is_upgraded_to_argon2_at_sign_in(team, settings):
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    pbkdf2 = PBKDF2PasswordHasher()  # few iterations: the test is about the upgrade, not PBKDF2's cost
    User.objects.filter(pk=team.viewer.pk).update(password=pbkdf2.encode(PASSWORD, pbkdf2.salt(), 1000))
    assert User.objects.get(pk=team.viewer.pk).password.startswith("pbkdf2_sha256$")
    response = sign_in(Client(), "viewer")
    assert response.status_code == 302
    stored = User.objects.get(pk=team.viewer.pk).password
    assert stored.startswith("argon2$argon2id$"), stored
    assert User.objects.get(pk=team.viewer.pk).check_password(PASSWORD)


# Throttling and lockout ---------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_with_the_time_to_come_back(team):
    client = Client()
    with time_machine.travel(T, tick=False) as clock:
        for _ in range(4):
            response = sign_in(client, "viewer", "wrong")
            assert "correct username and password" in response.content.decode()
        response = sign_in(client, "viewer", "wrong")
        assert response.status_code == 200
        assert LOCKED.search(response.content.decode()).groups() == ("15:15", "15")
        # Now even the right password is refused, and the lock does not grow with more attempts.
        response = sign_in(client, "viewer")
        assert response.status_code == 200 and LOCKED.search(response.content.decode())
        assert not signed_in_as(client)
        assert sign_in(Client(REMOTE_ADDR="198.51.100.7"), "viewer").status_code == 200, "any address"
        clock.shift(timedelta(minutes=10))
        assert LOCKED.search(sign_in(client, "viewer").content.decode()).groups() == ("15:15", "5")
        clock.shift(timedelta(minutes=5, seconds=1))
        response = sign_in(client, "viewer")
        assert response.status_code == 302
        assert signed_in_as(client) == "viewer"


def test_a_lock_reads_the_same_whether_or_not_the_username_exists(team):
    with time_machine.travel(T, tick=False):
        answers = {}
        for username in ("viewer", "no-such-person"):
            client = Client(REMOTE_ADDR=f"192.0.2.{len(answers) + 1}")
            for _ in range(5):
                response = sign_in(client, username, "wrong")
            answers[username] = LOCKED.search(response.content.decode()).group(0)
        assert answers["viewer"] == answers["no-such-person"]


def test_a_successful_sign_in_resets_the_count(team):
    with time_machine.travel(T, tick=False):
        for _ in range(4):
            sign_in(Client(), "viewer", "wrong")
        assert sign_in(Client(), "viewer").status_code == 302
        for _ in range(4):
            response = sign_in(Client(), "viewer", "wrong")
        assert not LOCKED.search(response.content.decode())
        assert sign_in(Client(), "viewer").status_code == 302


def test_one_address_guessing_at_many_usernames_is_locked_out(team, settings):
    guesser = Client(REMOTE_ADDR="203.0.113.66")
    with time_machine.travel(T, tick=False):
        for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
            sign_in(guesser, f"user{n}", "wrong")
        response = sign_in(guesser, "commander")
        assert LOCKED.search(response.content.decode())
        assert not signed_in_as(guesser)
        # Someone else, elsewhere, signs in as usual.
        assert sign_in(Client(REMOTE_ADDR="198.51.100.1"), "commander").status_code == 302


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_saw(team, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    with time_machine.travel(T, tick=False):
        for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
            sign_in(Client(), f"user{n}", "wrong", HTTP_X_FORWARDED_FOR="203.0.113.66")
        # Everyone reaches us from the proxy's address, yet only the guessing client is locked out.
        locked = sign_in(Client(), "commander", HTTP_X_FORWARDED_FOR="spoofed, 203.0.113.66")
        assert LOCKED.search(locked.content.decode())
        assert sign_in(Client(), "commander", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 302


# Two-factor sign-in -------------------------------------------------------------------------------------


def enrol(client: Client, clock) -> tuple[TOTPDevice, list[str]]:
    """Set up two-factor through the security page, as a member would; returns the device and codes."""
    page = client.post("/console/account/security/", {"action": "start"})
    html = page.content.decode()
    assert "<svg" in html and 'id="totp-secret"' in html
    device = TOTPDevice.objects.get(confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    import base64

    assert base64.b32decode(secret) == device.bin_key
    response = client.post("/console/account/security/", {"action": "confirm", "code": code_for(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    clock.shift(timedelta(seconds=60))  # the next code is a new one
    return device, codes


def test_a_member_enrols_then_signs_in_with_password_and_code(team, page, other_page):
    add_member(actor=SYSTEM, page=other_page, user=team.viewer, role="viewer")
    with time_machine.travel(T, tick=False) as clock:
        client = team.client("viewer")
        device, _ = enrol(client, clock)
        for p in (page, other_page):
            assert AuditEvent.objects.filter(
                page=p, action="member.two_factor_enabled", actor=team.viewer
            ).exists()
        # The recovery codes are shown once.
        assert not re.findall(r"<li><code>", client.get("/console/account/security/").content.decode())

        fresh = Client()
        response = sign_in(fresh, "viewer", query="next=/console/acme/incidents/")
        assert response.status_code == 302 and response["Location"] == "/console/login/code/"
        assert not signed_in_as(fresh), "not signed in before the code"
        assert fresh.get("/console/acme/").status_code == 302
        wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
        response = fresh.post("/console/login/code/", {"code": wrong})
        assert "not right" in response.content.decode() and not signed_in_as(fresh)
        clock.shift(timedelta(seconds=2))  # django-otp's own throttle: a second after one failure
        response = fresh.post("/console/login/code/", {"code": code_for(device)})
        assert response.status_code == 302 and response["Location"] == "/console/acme/incidents/"
        assert signed_in_as(fresh) == "viewer"
        assert fresh.get("/console/acme/").status_code == 200

        # A code is good once: replaying it in another sign-in fails.
        replay = Client()
        sign_in(replay, "viewer")
        assert "not right" in replay.post("/console/login/code/", {"code": code_for(device)}).content.decode()


def test_a_recovery_code_signs_in_once(team):
    with time_machine.travel(T, tick=False) as clock:
        _, codes = enrol(team.client("commander"), clock)
        first = Client()
        sign_in(first, "commander")
        response = first.post("/console/login/code/", {"code": codes[0].upper()}, follow=True)
        assert signed_in_as(first) == "commander"
        assert "9 left" in response.content.decode()
        again = Client()
        sign_in(again, "commander")
        again.post("/console/login/code/", {"code": codes[0]})
        assert not signed_in_as(again)
        assert StaticToken.objects.filter(device__user=team.commander).count() == 9


def test_wrong_codes_are_throttled_like_passwords(team):
    with time_machine.travel(T, tick=False) as clock:
        device, _ = enrol(team.client("viewer"), clock)
        client = Client()
        sign_in(client, "viewer")
        for _ in range(5):
            response = client.post("/console/login/code/", {"code": "12345"})
        assert LOCKED.search(response.content.decode())
        response = client.post("/console/login/code/", {"code": code_for(device)})
        assert LOCKED.search(response.content.decode()) and not signed_in_as(client)
        # The password step is locked too.
        assert LOCKED.search(sign_in(Client(), "viewer").content.decode())


def test_the_code_step_expires_and_cannot_be_reached_without_the_password(team):
    with time_machine.travel(T, tick=False) as clock:
        device, _ = enrol(team.client("viewer"), clock)
        assert Client().get("/console/login/code/")["Location"] == "/console/login/"
        client = Client()
        sign_in(client, "viewer")
        clock.shift(timedelta(minutes=6))
        response = client.post("/console/login/code/", {"code": code_for(device)})
        assert response["Location"] == "/console/login/" and not signed_in_as(client)


def test_a_wrong_confirmation_code_leaves_two_factor_off(team):
    client = team.client("viewer")
    client.post("/console/account/security/", {"action": "start"})
    response = client.post("/console/account/security/", {"action": "confirm", "code": "abc"})
    assert "code" in response.context["confirm_form"].errors
    assert not TOTPDevice.objects.filter(confirmed=True).exists()
    assert sign_in(Client(), "viewer")["Location"] == "/console/"


def test_turning_two_factor_off_needs_the_password_and_is_audited(team, page):
    with time_machine.travel(T, tick=False) as clock:
        client = team.client("viewer")
        enrol(client, clock)
        response = client.post("/console/account/security/", {"action": "remove", "password": "nope"})
        assert "not your password" in response.content.decode()
        assert TOTPDevice.objects.filter(user=team.viewer).exists()
        client.post("/console/account/security/", {"action": "remove", "password": PASSWORD})
        assert not TOTPDevice.objects.filter(user=team.viewer).exists()
        assert AuditEvent.objects.filter(page=page, action="member.two_factor_removed").exists()
        assert sign_in(Client(), "viewer")["Location"] == "/console/"


def test_recovery_codes_are_replaced_and_an_app_is_not_swapped_without_the_password(team, page):
    with time_machine.travel(T, tick=False) as clock:
        client = team.client("viewer")
        device, old = enrol(client, clock)
        response = client.post("/console/account/security/", {"action": "recovery", "password": PASSWORD})
        new = re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode())
        assert len(new) == 10 and not set(new) & set(old)
        assert AuditEvent.objects.filter(page=page, action="member.recovery_codes_replaced").exists()
        stale = Client()
        sign_in(stale, "viewer")
        stale.post("/console/login/code/", {"code": old[0]})
        assert not signed_in_as(stale)
        client.post("/console/account/security/", {"action": "start"})
        assert list(TOTPDevice.objects.filter(user=team.viewer)) == [device]


def settings_data(client) -> dict:
    form = client.get("/console/acme/settings/").context["form"]
    return {k: v for k, v in ((n, form[n].value()) for n in form.fields) if v not in (None, False)}


def test_an_owner_requires_two_factor_and_members_without_it_are_sent_to_enrol(team, page, other_page):
    owner = team.client("owner")
    response = owner.post("/console/acme/settings/", settings_data(owner) | {"require_two_factor": "on"})
    assert response.status_code == 302
    assert Page.objects.get(pk=page.pk).require_two_factor
    event = AuditEvent.objects.filter(page=page, action="page.updated").latest("created_at")
    assert (event.before, event.after) == ({"require_two_factor": False}, {"require_two_factor": True})

    viewer = team.client("viewer")
    for url in ("/console/acme/", "/console/acme/incidents/", "/console/acme/audit/"):
        response = viewer.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == reverse("console:security") + "?next=" + url.replace("/", "%2F")
    assert viewer.post("/console/acme/preview/", {"body": "x"}).status_code == 302
    # Another page that does not require it is unaffected.
    assert team.client("outsider").get("/console/globex/").status_code == 200

    with time_machine.travel(T, tick=False) as clock:
        enrol(viewer, clock)
        assert viewer.get("/console/acme/").status_code == 200

        # A session that signed in without the code (here: logged in directly) confirms with one first.
        unverified = team.client("viewer")
        response = unverified.get("/console/acme/incidents/")
        assert response["Location"].startswith("/console/account/security/")
        device = TOTPDevice.objects.get(user=team.viewer)
        response = unverified.post(
            "/console/account/security/",
            {"action": "verify", "code": code_for(device), "next": "/console/acme/incidents/"},
        )
        assert response["Location"] == "/console/acme/incidents/"
        assert unverified.get("/console/acme/incidents/").status_code == 200


def test_sign_in_and_the_security_page_follow_only_safe_next_links(team):
    response = sign_in(Client(), "viewer", query="next=https://evil.example/")
    assert response.status_code == 302 and response["Location"] == "/console/"
    response = team.client("viewer").get("/console/account/security/?next=https://evil.example/")
    assert response.status_code == 200
    with time_machine.travel(T, tick=False) as clock:
        client = team.client("commander")
        device, _ = enrol(client, clock)
        unverified = team.client("commander")
        response = unverified.post(
            "/console/account/security/",
            {"action": "verify", "code": code_for(device), "next": "https://evil.example/"},
        )
        assert response["Location"] == "/console/"


# Sessions and TLS ---------------------------------------------------------------------------------------


def test_signing_in_rotates_the_session_key(team):
    client = Client()
    session = client.session
    session["planted"] = "by an attacker"
    session.save()
    before = session.session_key
    client.cookies[django_settings.SESSION_COOKIE_NAME] = before
    assert sign_in(client, "viewer").status_code == 302
    after = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert not SessionStore().exists(before), "the pre-sign-in session is gone"
    attacker = Client()
    attacker.cookies[django_settings.SESSION_COOKIE_NAME] = before
    assert attacker.get("/console/acme/").status_code == 302
    assert client.get("/console/acme/").status_code == 200


def test_a_session_signed_in_through_the_form_expires(team, settings):
    client = Client()
    with time_machine.travel(T, tick=False) as clock:
        sign_in(client, "viewer")
        assert client.get("/console/acme/").status_code == 200
        clock.shift(timedelta(seconds=settings.SESSION_COOKIE_AGE - 60))
        assert client.get("/console/acme/").status_code == 200
        clock.shift(timedelta(seconds=120))
        response = client.get("/console/acme/")
        assert response.status_code == 302 and response["Location"].startswith("/console/login/")


def settings_from(env: dict[str, str]) -> dict[str, str]:
    import os
    import subprocess
    import sys

    code = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE']='statuspage.settings'; "
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_HTTPONLY and s.CSRF_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_SAMESITE, "
        "s.PASSWORD_HASHERS[0], sep='|')"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SITE_URL", "BEHIND_TLS_PROXY") and not k.startswith(("SECRET_KEY", "DEBUG"))
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=clean | {"SECRET_KEY": GOOD_KEY} | env,
        cwd=production_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    keys = ("session_secure", "csrf_secure", "hsts", "proxy_header", "httponly", "samesite", "hasher")
    return dict(zip(keys, result.stdout.strip().split("|"), strict=True))


def test_served_over_tls_cookies_are_secure_and_hsts_is_on():
    tls = settings_from({"SITE_URL": "https://status.example.com", "BEHIND_TLS_PROXY": "true"})
    del tls["hasher"]
    assert tls == {
        "session_secure": "True",
        "csrf_secure": "True",
        "hsts": "31536000",
        "proxy_header": "('HTTP_X_FORWARDED_PROTO', 'https')",
        "httponly": "True",
        "samesite": "Lax",
    }
    plain = settings_from({"SITE_URL": "http://localhost:8000"})
    assert (plain["session_secure"], plain["csrf_secure"], plain["hsts"], plain["proxy_header"]) == (
        "False",
        "False",
        "0",
        "None",
    )


def test_behind_a_tls_proxy_a_sign_in_sets_a_secure_cookie_and_hsts(team, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()
    response = sign_in(client, "viewer", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 302
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
    # Plain HTTP reaching the app (no proxy header) is not marked secure and gets no HSTS.
    assert "Strict-Transport-Security" not in Client().get("/console/login/")


# CSRF ---------------------------------------------------------------------------------------------------


AUTH_POSTS = [
    "/console/login/",
    "/console/login/code/",
    "/console/logout/",
    "/console/account/security/",
    "/console/password-reset/",
    "/console/signup/",
]


def test_every_console_post_without_the_token_is_refused(urls, team, settings):  # noqa: F811
    settings.ALLOW_SIGNUP = True
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.owner)
    before = AuditEvent.objects.count()
    for name, _, url, _ in urls:
        response = client.post(url, {"name": "x"})
        assert response.status_code == 403 and b"CSRF" in response.content, name
    for url in AUTH_POSTS:
        assert (
            Client(enforce_csrf_checks=True)
            .post(url, {"username": "owner", "password": PASSWORD})
            .status_code
            == 403
        ), url
        assert client.post(url).status_code == 403, url
    assert AuditEvent.objects.count() == before


def test_htmx_requests_carry_the_token_from_the_page(team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.commander)
    html = client.get("/console/acme/").content.decode()
    token = re.search(r"""hx-headers='\{"X-CSRFToken": "([^"]+)"\}'""", html).group(1)
    url = "/console/acme/preview/"
    assert client.post(url, {"body": "*hi*"}, HTTP_HX_REQUEST="true").status_code == 403
    response = client.post(url, {"body": "*hi*"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and "<em>hi</em>" in response.content.decode()


def test_every_console_form_that_posts_carries_the_token():
    templates = Path(django_settings.BASE_DIR, "templates", "console")
    forms = 0
    for path in templates.rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, re.S | re.I):
            tag = match.group(0)[: match.group(0).index(">") + 1]
            if re.search(r"""method=["']?post""", tag, re.I):
                forms += 1
                assert "{% csrf_token %}" in match.group(1), f"{path.name}: {tag}"
    assert forms > 20


# API keys: a digest only, refused at once ----------------------------------------------------------------


def test_an_api_key_is_stored_only_as_a_digest_and_refused_the_moment_it_expires(page, team):
    from rest_framework.test import APIClient

    client = team.client("owner")
    expires = "2026-03-10 09:00"  # in the page's zone (Los Angeles, summer time since March 8): 16:00 UTC
    with time_machine.travel(T, tick=False) as clock:
        response = client.post(
            "/console/acme/settings/api-keys/", {"name": "ci", "role": "viewer", "expires_at": expires}
        )
        raw = re.search(r'id="new-key">(sp_[^<]+)<', response.content.decode()).group(1)
        key = APIKey.objects.get()
        stored = " ".join(str(v) for v in APIKey.objects.filter(pk=key.pk).values().get().values())
        assert raw not in stored and raw[len(key.prefix) :] not in stored
        assert key.digest == hashlib.sha256(raw.encode()).hexdigest() and raw.startswith(key.prefix)
        audit = " ".join(str(e.after) + str(e.before) for e in AuditEvent.objects.all())
        assert raw not in audit and key.prefix in audit
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
        assert api.get(f"/api/v1/pages/{page.code}/components").status_code == 200
        clock.move_to(datetime(2026, 3, 10, 15, 59, 59, tzinfo=UTC))
        assert api.get(f"/api/v1/pages/{page.code}/components").status_code == 200
        clock.move_to(datetime(2026, 3, 10, 16, 0, 0, tzinfo=UTC))
        assert api.get(f"/api/v1/pages/{page.code}/components").status_code == 401
