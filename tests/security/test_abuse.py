"""Abuse (issue 8, point 7): sign-up forms rate limited per network and per address with a clear message;
no answer tells whether an address or account exists; every request body bounded (413 or 400, never a 500);
list endpoints capped."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from statuspage.models import Page
from statuspage.services import SYSTEM, add_member, create_api_key
from subscribers.models import Subscriber

SUBSCRIBE = "/pages/acme/subscribe"
SUBSCRIBE_API = "/pages/acme/api/v2/subscribers.json"
PASSWORD = "a long enough passphrase"


def signup_data(n: int | str, **change) -> dict:
    return {
        "username": f"founder{n}",
        "email": f"founder{n}@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "page_name": f"Hooli {n}",
        "page_slug": f"hooli-{n}",
        "time_zone": "Etc/UTC",
        "components": "API",
    } | change


@pytest.fixture
def owner(page):
    user = User.objects.create_user("owner", "owner@example.com", PASSWORD)
    add_member(actor=SYSTEM, page=page, user=user, role="owner")
    return user


@pytest.fixture
def console(owner) -> Client:
    client = Client()
    client.force_login(owner)
    return client


@pytest.fixture
def api(page) -> APIClient:
    client = APIClient()
    key = create_api_key(actor=SYSTEM, page=page, name="k", role="owner")[1]
    client.credentials(HTTP_AUTHORIZATION=f"OAuth {key}")
    return client


def without_csrf(html: bytes) -> str:
    """The page as a reader compares it: the per-response CSRF token and nonces removed."""
    text = html.decode()
    text = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)
    text = re.sub(r'nonce="[^"]+"', "", text)
    return re.sub(r'"X-CSRFToken": *"[^"]+"', "", text)


# Rate limits


def test_console_sign_up_is_rate_limited_per_network_with_a_clear_message(db, settings):
    settings.ALLOW_SIGNUP = True
    settings.SIGNUP_LIMIT_PER_IP = 3
    client = Client()
    # Invalid attempts count too, so the form cannot be used to try usernames at speed.
    assert client.post("/console/signup/", signup_data(1, password2="nope")).status_code == 200
    assert client.post("/console/signup/", signup_data(2)).status_code == 302
    assert client.post("/console/signup/", signup_data(3)).status_code == 302
    refused = client.post("/console/signup/", signup_data(4))
    assert refused.status_code == 429
    assert "Too many sign-ups from your network in the last hour" in refused.content.decode()
    assert not User.objects.filter(username="founder4").exists()
    assert not Page.objects.filter(slug="hooli-4").exists()
    # Another network is not held back by this one.
    assert Client(REMOTE_ADDR="203.0.113.7").post("/console/signup/", signup_data(4)).status_code == 302


def test_console_sign_up_is_rate_limited_per_email_address(db, settings):
    settings.ALLOW_SIGNUP = True
    settings.SIGNUP_LIMIT_PER_ADDRESS = 2
    for n in (1, 2):
        client = Client(REMOTE_ADDR=f"203.0.113.{n}")
        assert client.post("/console/signup/", signup_data(n, email="Same@Example.com")).status_code == 302
    refused = Client(REMOTE_ADDR="203.0.113.3").post(
        "/console/signup/", signup_data(3, email="same@example.com")
    )
    assert refused.status_code == 429
    assert "Too many sign-ups for this email address" in refused.content.decode()
    assert User.objects.filter(email__iexact="same@example.com").count() == 2


def test_behind_the_proxy_each_client_is_counted_by_its_own_address(page, settings):
    # Behind the TLS proxy every request comes from the proxy's socket; counting REMOTE_ADDR would make the
    # per-network limit one limit for the whole internet.
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SUBSCRIBE_LIMIT_PER_IP = 2
    proxy = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_PROTO": "https"}
    first = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.1")
    for n in range(2):
        assert first.post(SUBSCRIBE, {"kind": "email", "email": f"a{n}@example.com"}).status_code == 200
    assert first.post(SUBSCRIBE, {"kind": "email", "email": "a3@example.com"}).status_code == 429
    # A client cannot escape by writing its own X-Forwarded-For: the proxy appends the real one last.
    spoofing = Client(**proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.1")
    assert spoofing.post(SUBSCRIBE, {"kind": "email", "email": "a4@example.com"}).status_code == 429
    other = Client(**proxy, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.post(SUBSCRIBE, {"kind": "email", "email": "b@example.com"}).status_code == 200
    response = other.post(SUBSCRIBE_API, {"email": "c@example.com"}, content_type="application/json")
    assert response.status_code == 201


def test_the_public_subscribe_api_is_rate_limited_per_network_and_address(page, settings):
    settings.SUBSCRIBE_LIMIT_PER_ADDRESS = 2
    settings.SUBSCRIBE_LIMIT_PER_IP = 3

    def post(client: Client, email: str):
        return client.post(SUBSCRIBE_API, {"email": email}, content_type="application/json")

    for n in range(2):
        assert post(Client(REMOTE_ADDR=f"203.0.113.{n}"), "ann@example.com").status_code == 201
    refused = post(Client(REMOTE_ADDR="203.0.113.9"), "ANN@example.com")
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "Too many sign-ups for this address" in refused.json()["message"]
    client = Client()
    for n in range(3):
        assert post(client, f"x{n}@example.com").status_code == 201
    refused = post(client, "y@example.com")
    assert refused.status_code == 429 and "from your network" in refused.json()["message"]
    assert not Subscriber.objects.filter(email="y@example.com").exists()


# Nothing tells whether an address or an account exists


def test_subscribing_a_known_address_answers_exactly_like_a_new_one(page, settings):
    settings.SUBSCRIBE_LIMIT_PER_IP = 100
    fresh = Client().post(SUBSCRIBE, {"kind": "email", "email": "new@example.com"})
    Client().post(SUBSCRIBE, {"kind": "email", "email": "known@example.com"})
    unconfirmed = Client().post(SUBSCRIBE, {"kind": "email", "email": "known@example.com"})
    Subscriber.objects.filter(email="known@example.com").update(state="active")
    confirmed = Client().post(SUBSCRIBE, {"kind": "email", "email": "known@example.com"})
    for response in (unconfirmed, confirmed):
        assert response.status_code == fresh.status_code == 200
        assert without_csrf(response.content).replace("known@", "new@") == without_csrf(fresh.content)


def test_the_subscribe_api_answers_a_known_address_like_a_new_one(page):
    def post(email: str) -> dict:
        response = Client().post(SUBSCRIBE_API, {"email": email}, content_type="application/json")
        assert response.status_code == 201
        shown = response.json()["subscriber"]
        # The id is the subscription's own, the time is the request's: neither says it existed before.
        return {k: v for k, v in shown.items() if k not in ("id", "created_at", "email")}

    post("known@example.com")
    Subscriber.objects.filter(email="known@example.com").update(state="active")
    assert post("known@example.com") == post("new@example.com")


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(owner):
    known = Client().post("/console/password-reset/", {"email": "owner@example.com"})
    unknown = Client().post("/console/password-reset/", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [m.to for m in mail.outbox] == [["owner@example.com"]]  # only the owner of the address hears


def test_sign_up_does_not_say_that_an_email_address_has_an_account(owner, settings):
    settings.ALLOW_SIGNUP = True
    response = Client().post("/console/signup/", signup_data(1, email="owner@example.com"))
    assert response.status_code == 302  # a second account may share an address; nothing is revealed
    assert "already" not in response.content.decode()


def test_a_wrong_password_reads_the_same_for_a_real_and_a_made_up_username(owner):
    real = Client().post("/console/login/", {"username": "owner", "password": "wrong"})
    made_up = Client().post("/console/login/", {"username": "nobody", "password": "wrong"})
    assert real.status_code == made_up.status_code
    assert without_csrf(real.content).replace("owner", "nobody") == without_csrf(made_up.content)


# Bounded bodies: 413 before reading, 400 for too much form data, never a 500


@pytest.fixture
def small_limits(settings):
    settings.MAX_REQUEST_BYTES = 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2


@pytest.mark.usefixtures("small_limits")
def test_a_body_over_the_cap_is_refused_with_413_unread(page, console, api):
    big = b"x" * (1024 * 1024 + 1)
    for client, url, content_type in [
        (console, "/console/acme/incidents/new/", "application/x-www-form-urlencoded"),
        (console, "/console/acme/subscribers/import/", "multipart/form-data; boundary=b"),
        (Client(), SUBSCRIBE, "application/x-www-form-urlencoded"),
        (Client(), SUBSCRIBE_API, "application/json"),
        (api, f"/api/v1/pages/{page.code}/incidents", "application/json"),
    ]:
        response = client.generic("POST", url, big, content_type=content_type)
        assert response.status_code == 413, url
        assert b"too large" in response.content
    assert not Subscriber.objects.exists()


@pytest.mark.usefixtures("small_limits")
def test_too_much_form_data_is_a_400(page, console):
    huge_field = {"name": "x" * (70 * 1024), "body": "y", "status": "investigating"}
    many_fields = {f"f{n}": "x" for n in range(150)}
    for client, url in [
        (console, "/console/acme/incidents/new/"),
        (console, "/console/acme/settings/"),
        (Client(), SUBSCRIBE),
        (Client(), "/console/login/"),
    ]:
        for data in (huge_field, many_fields):
            response = client.post(url, data)
            assert response.status_code == 400, (url, len(data))
    assert not page.incidents.exists()


@pytest.mark.usefixtures("small_limits")
def test_too_much_json_is_refused_by_both_apis(page, api):
    body = json.dumps({"incident": {"name": "x" * (70 * 1024), "status": "investigating"}})
    response = api.generic(
        "POST", f"/api/v1/pages/{page.code}/incidents", body, content_type="application/json"
    )
    assert response.status_code == 413  # the management API says what it is (statuspage/api/errors.py)
    assert response.json() == {"message": "The request body is too large."}
    body = json.dumps({"email": "a@example.com", "padding": "x" * (70 * 1024)})
    response = Client().generic("POST", SUBSCRIBE_API, body, content_type="application/json")
    assert response.status_code == 413 and response.json()["message"] == "The request body is too large."
    many = "&".join(f"f{n}=x" for n in range(150))
    response = Client().generic("POST", SUBSCRIBE_API, many, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413 and response.json()["message"] == "The request body is too large."
    assert not page.incidents.exists() and not Subscriber.objects.exists()


@pytest.mark.usefixtures("small_limits")
def test_too_many_files_are_a_400(page, console):
    from django.core.files.uploadedfile import SimpleUploadedFile

    files = {f"import-file{n}": SimpleUploadedFile(f"{n}.csv", b"email\n") for n in range(3)}
    response = console.post("/console/acme/subscribers/import/", files)
    assert response.status_code == 400


# Pagination caps


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("per_page=100000", 100),
        ("limit=1000", 100),
        ("per_page=0", 1),
        ("per_page=-5", 1),
        ("page=999999999", 0),
    ],
)
def test_api_lists_are_capped_at_100_per_page(page, api, query, expected):
    Subscriber.objects.bulk_create(
        Subscriber(page=page, kind="email", state="active", email=f"s{n}@example.com") for n in range(105)
    )
    response = api.get(f"/api/v1/pages/{page.code}/subscribers?{query}")
    assert response.status_code == 200
    assert len(response.json()) == expected


@pytest.mark.parametrize("query", ["per_page=many", "page=first", "per_page=1e9"])
def test_api_pagination_nonsense_is_a_400_naming_the_field(page, api, query):
    response = api.get(f"/api/v1/pages/{page.code}/subscribers?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in json.dumps(response.json())


@pytest.mark.parametrize("query", ["page=999999999999", "page=-1", "page=abc", "page=" + "9" * 400])
def test_console_lists_take_any_page_number_without_a_500(page, console, query):
    for url in ("/console/acme/subscribers/", "/console/acme/audit/", "/console/acme/incidents/"):
        assert console.get(f"{url}?{query}").status_code in (200, 302, 400, 404), url
