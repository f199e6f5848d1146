"""Private pages: every public route of a private page refused without access and served with each kind of
access (a member's console session, an emailed sign-in link, an allowed network); the links' expiry and
single use; rate limits; subscribers must be allowed viewers; switching to private takes effect at once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern

from incidents.services import create_incident
from statuspage import private, public_urls, publishing, snapshots
from statuspage.models import AuditEvent, ViewerLink
from statuspage.services import SYSTEM, add_member, create_api_key, update_page
from subscribers.models import Subscriber
from subscribers.services import subscribe

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=UTC)
SECRET_WORDS = ("Payments API", "Card declines everywhere", "Pay less, pay later")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def make_key(db):
    def make(page, role="owner"):
        return create_api_key(actor=SYSTEM, page=page, name="test", role=role)[1]

    return make


@pytest.fixture
def acme(page, other_page, make_component, worker):
    """A private page (headline, component and incident only a viewer may see) beside a public one."""
    api = make_component(page, "Payments API", at=NOW - timedelta(days=10))
    incident = create_incident(
        actor=SYSTEM, page=page, name="Card declines everywhere", body="x", components={api: "major_outage"}
    )
    with worker():
        update_page(
            actor=SYSTEM,
            page=page,
            headline="Pay less, pay later",
            visibility="private",
            allowed_ip_ranges="203.0.113.0/24\n2001:db8:42::/48",
            allowed_viewer_emails="ann@example.com\n@partner.example",
        )
    publishing.publish_page(page.pk)
    publishing.publish_page(other_page.pk)
    return page, api, incident


def routes(api, incident) -> dict[str, tuple[str, str, str]]:
    """Every public route (by name) → (method, path under /pages/acme/, how a refusal looks)."""
    return {
        "index": ("get", "", "html"),
        "live": ("get", "live", "html"),
        "history": ("get", "history", "html"),
        "atom": ("get", "history.atom", "404"),
        "rss": ("get", "history.rss", "404"),
        "incident": ("get", f"incidents/{incident.code}", "html"),
        "badge": ("get", "badge.svg", "404"),
        "component-badge": ("get", f"components/{api.code}/badge.svg", "404"),
        "maintenance-ics": ("get", "maintenance.ics", "404"),
        "component-maintenance-ics": ("get", f"components/{api.code}/maintenance.ics", "404"),
        "embed-script": ("get", "embed/script.js", "404"),
        "subscribe": ("get", "subscribe", "html"),
        "api-v2-subscribers": ("post", "api/v2/subscribers.json", "json"),
        "api-v2": ("get", "api/v2/summary.json", "json"),
    }


def test_every_public_route_is_placed_in_this_test(acme):
    """A public route added later fails here until its private behaviour is decided."""
    _, api, incident = acme
    names = {p.name for p in public_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names == set(routes(api, incident)) | private.OPEN_ROUTES
    assert all(getattr(p.callback, "__wrapped__", None) for p in public_urls.urlpatterns)


def fetch(client, method, path, host=None, **extra):
    url = f"/pages/acme/{path}" if host is None else f"/{path}"
    if host is not None:
        extra["HTTP_HOST"] = host
    if method == "post":
        return client.post(
            url, json.dumps({"subscriber": {"email": "ann@example.com"}}), "application/json", **extra
        )
    return client.get(url, **extra)


def test_every_route_is_refused_without_access_and_reveals_only_the_name(acme):
    _, api, incident = acme
    client = Client(REMOTE_ADDR="198.51.100.7")
    for name, (method, path, refusal) in routes(api, incident).items():
        response = fetch(client, method, path)
        body = response.content.decode()
        assert response["Cache-Control"] == "private, no-store", name
        assert "Access-Control-Allow-Origin" not in response, name
        assert not any(word in body for word in SECRET_WORDS), name
        if refusal == "html":
            assert response.status_code == 401, name
            assert "Acme status is private" in body and "private/sign-in" in body, name
        elif refusal == "json":
            assert response.status_code == 401, name
            assert json.loads(body) == {"error": "This status page is private: sign in to see it."}, name
        else:
            assert response.status_code == 404, name
    # By host too (a subdomain), and the incident's JSON document.
    assert fetch(client, "get", "", host="acme.status.test").status_code == 401
    assert fetch(client, "get", f"api/v2/incidents/{incident.code}.json").status_code == 401
    assert Subscriber.objects.count() == 0


def served_everywhere(client, acme, **extra):
    _, api, incident = acme
    for name, (method, path, _) in routes(api, incident).items():
        response = fetch(client, method, path, **extra)
        assert response.status_code in (200, 201), (name, response.status_code)
        assert response["Cache-Control"] == "private, no-store", name
        assert "Access-Control-Allow-Origin" not in response, name
        assert "Cookie" in response["Vary"], name
    assert "Card declines everywhere" in fetch(client, "get", "").content.decode()
    assert "Payments API" in fetch(client, "get", "api/v2/summary.json").content.decode()
    assert "Card declines everywhere" in fetch(client, "get", "history.atom").content.decode()


def test_a_member_of_any_role_signed_in_to_the_console_sees_everything(acme, other_page):
    page, _, _ = acme
    viewer = User.objects.create_user("vera", "vera@corp.example", "pw")
    add_member(actor=SYSTEM, page=page, user=viewer, role="viewer")
    client = Client(REMOTE_ADDR="198.51.100.7")
    client.force_login(viewer)
    served_everywhere(client, acme)

    outsider = User.objects.create_user("otto", "otto@globex.example", "pw")
    add_member(actor=SYSTEM, page=other_page, user=outsider, role="owner")
    other = Client(REMOTE_ADDR="198.51.100.7")
    other.force_login(outsider)
    assert fetch(other, "get", "").status_code == 401, "a member of another page is no viewer of this one"


@pytest.mark.parametrize("ip", ["203.0.113.77", "2001:db8:42:1::5", "::ffff:203.0.113.9"])
def test_an_allowed_network_sees_everything_without_signing_in(acme, ip):
    served_everywhere(Client(REMOTE_ADDR=ip), acme)


def test_behind_a_proxy_the_address_the_proxy_appended_counts(acme, settings, ask):
    spoofed = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    # Not behind a proxy: X-Forwarded-For is the client's own claim, ignored.
    assert fetch(Client(REMOTE_ADDR="198.51.100.7"), "get", "", **spoofed).status_code == 401
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    assert fetch(proxy, "get", "", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 200
    # The client wrote the first entry; our proxy appended the last.
    forged = {"HTTP_X_FORWARDED_FOR": "203.0.113.5, 198.51.100.7"}
    assert fetch(proxy, "get", "", **forged).status_code == 401


@pytest.fixture
def ask(worker):
    """ask(client, address): request a sign-in link; the mail leaves after commit, as in production."""

    def post(client, address):
        with worker():
            return client.post("/pages/acme/private/sign-in", {"email": address})

    return post


def sign_in_link(smtp, address) -> str:
    (mail,) = smtp.to(address)
    return re.search(r"http://testserver(/pages/acme/private/link/\S+)", mail.get_content()).group(1)


def test_an_emailed_link_signs_in_once_and_the_answer_never_reveals_who_is_allowed(acme, smtp, ask):
    client = Client(REMOTE_ADDR="198.51.100.7")
    answers = []
    for address in ("ann@example.com", "bob@partner.example", "eve@example.com"):
        response = ask(client, address)
        assert response.status_code == 200
        answers.append(response.content.decode().replace(address, ""))
    assert answers[0] == answers[1] == answers[2], "the same answer for an allowed and a refused address"
    assert "sign-in link is on its way" in answers[0]
    assert smtp.to("eve@example.com") == [], "nothing is sent to an address that may not view the page"
    assert len(smtp.to("bob@partner.example")) == 1, "a listed domain allows its addresses"

    path = sign_in_link(smtp, "ann@example.com")
    # Opening the link (or a mail scanner fetching it) spends nothing: a button does.
    assert "Continue to the status page" in client.get(path).content.decode()
    response = client.post(path)
    assert response.status_code == 303 and response["Location"] == "/pages/acme/"
    served_everywhere(client, acme)

    again = Client(REMOTE_ADDR="198.51.100.7")
    response = again.post(path)
    assert response.status_code == 400 and "already been used" in response.content.decode()
    assert fetch(again, "get", "").status_code == 401
    assert again.post("/pages/acme/private/link/forged").status_code == 400


def test_a_link_expires_after_15_minutes_and_the_viewer_session_after_a_week(acme, smtp, ask, clock):
    client = Client(REMOTE_ADDR="198.51.100.7")
    ask(client, "ann@example.com")
    ask(client, "ann@example.com")
    first, second = (
        re.search(r"(/pages/acme/private/link/\S+)", m.get_content()).group(1)
        for m in smtp.to("ann@example.com")
    )
    clock.shift(timedelta(minutes=16))
    response = client.post(first)
    assert response.status_code == 400 and "expired" in response.content.decode()
    assert fetch(client, "get", "").status_code == 401

    with time_machine.travel(NOW + timedelta(minutes=14), tick=False):
        assert client.post(second).status_code == 303
        assert fetch(client, "get", "").status_code == 200
    with time_machine.travel(NOW + timedelta(days=7, minutes=15), tick=False):
        assert fetch(client, "get", "").status_code == 401, "the viewer session has expired"


def test_a_viewer_removed_from_the_list_cannot_spend_an_old_link(acme, smtp, ask):
    page, _, _ = acme
    client = Client(REMOTE_ADDR="198.51.100.7")
    ask(client, "ann@example.com")
    path = sign_in_link(smtp, "ann@example.com")
    update_page(actor=SYSTEM, page=page, allowed_viewer_emails="@partner.example")
    response = client.post(path)
    assert response.status_code == 400 and "may no longer view" in response.content.decode()


def test_a_viewer_cookie_of_one_page_opens_no_other(acme, other_page, smtp, ask):
    update_page(actor=SYSTEM, page=other_page, visibility="private", allowed_viewer_emails="ann@example.com")
    publishing.publish_site_index()
    client = Client(REMOTE_ADDR="198.51.100.7")
    ask(client, "ann@example.com")
    client.post(sign_in_link(smtp, "ann@example.com"))
    assert fetch(client, "get", "").status_code == 200
    cookie = client.cookies[f"spv_{acme[0].code}"].value
    client.cookies[f"spv_{other_page.code}"] = cookie  # replayed under the other page's name
    assert client.get("/pages/globex/").status_code == 401


def test_sign_in_requests_are_rate_limited_per_address_and_per_network(acme, smtp, ask):
    client = Client(REMOTE_ADDR="198.51.100.7")
    for _ in range(private.LINK_LIMIT_PER_ADDRESS):
        assert ask(client, "ann@example.com").status_code == 200
    response = ask(client, "ann@example.com")
    assert response.status_code == 429 and "Too many sign-in requests" in response.content.decode()
    assert ViewerLink.objects.count() == private.LINK_LIMIT_PER_ADDRESS

    network = Client(REMOTE_ADDR="198.51.100.8")
    statuses = [
        network.post("/pages/acme/private/sign-in", {"email": f"u{i}@nowhere.example"}).status_code
        for i in range(private.LINK_LIMIT_PER_IP + 1)
    ]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {200}


def test_bad_sign_in_input_is_a_clear_400_and_a_public_page_has_no_sign_in(acme, other_page, ask):
    client = Client(REMOTE_ADDR="198.51.100.7")
    response = ask(client, "not an address")
    assert response.status_code == 400 and "Enter a valid email address." in response.content.decode()
    assert client.get("/pages/globex/private/sign-in").status_code == 404
    assert client.post("/pages/globex/private/link/whatever").status_code == 404


def test_subscribers_of_a_private_page_must_be_allowed_viewers(acme, smtp):
    page, _, _ = acme
    client = Client(REMOTE_ADDR="203.0.113.77")  # from an allowed network, so it sees the form
    refused = client.post("/pages/acme/subscribe", {"kind": "email", "email": "eve@example.com"})
    assert refused.status_code == 400
    assert "This page only accepts subscribers it has allowed." in refused.content.decode()
    webhook = client.post("/pages/acme/subscribe", {"kind": "webhook", "endpoint": "https://hooks.example/x"})
    assert webhook.status_code == 400 and "its team adds webhook subscribers" in webhook.content.decode()
    api = client.post(
        "/pages/acme/api/v2/subscribers.json",
        json.dumps({"subscriber": {"email": "eve@example.com"}}),
        "application/json",
    )
    assert api.status_code == 400 and "only accepts subscribers it has allowed" in api.content.decode()
    assert Subscriber.objects.count() == 0

    accepted = client.post("/pages/acme/subscribe", {"kind": "email", "email": "carol@partner.example"})
    assert accepted.status_code == 200
    assert Subscriber.objects.get().email == "carol@partner.example"
    # The team too may add only allowed addresses, but may add webhooks.
    page.refresh_from_db()
    with pytest.raises(ValidationError, match="only accepts subscribers it has allowed"):
        subscribe(page=page, actor=SYSTEM, email="eve@example.com", skip_confirmation=True)


def test_team_may_add_webhook_subscribers_to_a_private_page(acme, settings):
    page, _, _ = acme
    page.refresh_from_db()
    assert page.is_private
    settings.WEBHOOK_ALLOW_LOOPBACK = True
    sub = subscribe(page=page, actor=SYSTEM, endpoint="http://127.0.0.1:9/hook")
    assert sub.kind == "webhook"


def test_making_a_page_private_stops_serving_it_at_once_and_public_again_serves_it(acme, other_page, worker):
    client = Client(REMOTE_ADDR="198.51.100.7")
    assert fetch(client, "get", "", host="globex.status.test").status_code == 200
    with worker():
        update_page(actor=SYSTEM, page=other_page, visibility="private")
    assert snapshots.read_site_index()["pages"][other_page.code] == {"private": True, "ip_ranges": []}
    response = fetch(client, "get", "", host="globex.status.test")
    assert response.status_code == 401 and "Globex status is private" in response.content.decode()
    assert client.get("/pages/globex/api/v2/status.json").status_code == 401

    with worker():
        update_page(actor=SYSTEM, page=other_page, visibility="public")
    assert other_page.code not in snapshots.read_site_index()["pages"]
    response = client.get("/pages/globex/api/v2/status.json")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"


def test_public_pages_still_cost_no_query_and_keep_their_cache_headers(acme, other_page):
    client = Client()
    client.get("/pages/globex/")  # warm the process's memory of the document
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/pages/globex/")
    assert response.status_code == 200 and len(queries) == 0
    assert response["Cache-Control"].startswith("public")


def test_the_site_index_marks_private_pages_for_the_fast_path(acme, other_page):
    index = snapshots.read_site_index()
    assert index["pages"] == {
        acme[0].code: {"private": True, "ip_ranges": ["203.0.113.0/24", "2001:db8:42::/48"]}
    }


def test_owner_sets_visibility_in_the_console_audited_and_bad_networks_are_form_errors(acme):
    page, _, _ = acme
    owner = User.objects.create_user("olga", "olga@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    client = Client()
    client.force_login(owner)
    form = client.get("/console/acme/settings/")
    assert form.status_code == 200 and 'name="allowed_ip_ranges"' in form.content.decode()
    data = {k: v for k, v in form.context["form"].initial.items() if v is not None and k != "logo"}
    data.update(allowed_ip_ranges="10.0.0.0/33\nnonsense", visibility="private")
    response = client.post("/console/acme/settings/", data)
    assert response.status_code == 200
    assert "is not a network such as" in response.content.decode()

    data.update(allowed_ip_ranges="192.0.2.0/24", allowed_viewer_emails="not valid@@")
    response = client.post("/console/acme/settings/", data)
    assert "neither an address" in response.content.decode()

    data.update(allowed_viewer_emails="@corp.example")
    assert client.post("/console/acme/settings/", data).status_code == 302
    event = AuditEvent.objects.filter(page=page, action="page.updated").latest("id")
    assert event.actor_id == owner.pk
    assert event.after == {"allowed_ip_ranges": "192.0.2.0/24", "allowed_viewer_emails": "@corp.example"}


def test_management_api_reads_and_changes_privacy_and_refuses_bad_networks(acme, make_key):
    page, _, _ = acme
    key = make_key(page, role="owner")
    client = Client(HTTP_AUTHORIZATION=f"OAuth {key}")
    url = f"/api/v1/pages/{page.code}"
    body = client.get(url).json()
    assert body["visibility"] == "private"
    assert body["allowed_ip_ranges"] == ["203.0.113.0/24", "2001:db8:42::/48"]
    assert body["allowed_viewer_emails"] == ["ann@example.com", "@partner.example"]
    bad = client.patch(url, {"page": {"allowed_ip_ranges": ["300.1.2.3/8"]}}, "application/json")
    assert bad.status_code == 400 and "allowed_ip_ranges" in json.dumps(bad.json())
    ok = client.patch(url, {"page": {"visibility": "public", "allowed_ip_ranges": []}}, "application/json")
    assert ok.status_code == 200 and ok.json()["visibility"] == "public"


def wsgi_get(app, path: str, remote_addr: str = "198.51.100.7") -> tuple[str, bytes]:
    import io

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": remote_addr,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    got = {}

    def start_response(status, headers, exc_info=None):
        got["status"] = status

    body = b"".join(app(environ, start_response))
    return got["status"], body


@pytest.fixture
def keep_test_connection():
    """A bare WSGIHandler closes the database connection around each request; the test client does not.
    Keep the test's connection (and its transaction) open, as the test client does."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("keep_test_connection")
def test_the_fast_path_leaves_a_private_page_to_django_which_guards_it(acme, other_page, worker):
    from django.core.handlers.wsgi import WSGIHandler

    from statuspage.fastpath import FastPath

    calls = []
    django_app = WSGIHandler()

    def counted(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return django_app(environ, start_response)

    fast = FastPath(counted)
    status, body = wsgi_get(fast, "/pages/globex/")
    assert status.startswith("200") and calls == [], "a public page is served by the fast path"
    status, body = wsgi_get(fast, "/pages/acme/")
    assert status.startswith("401") and calls == ["/pages/acme/"] and b"Card declines" not in body
    status, body = wsgi_get(fast, "/pages/acme/", remote_addr="203.0.113.8")
    assert status.startswith("200") and b"Card declines everywhere" in body and len(calls) == 2

    with worker():
        update_page(actor=SYSTEM, page=other_page, visibility="private")
    status, body = wsgi_get(fast, "/pages/globex/")
    assert status.startswith("401") and calls[-1] == "/pages/globex/", "private at once, on the fast path too"
