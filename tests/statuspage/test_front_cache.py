"""The front of docker-compose.yml (deploy/nginx/openstatus.conf.template): a real nginx, rendered as the
image renders it (bench/front.py), in front of the real WSGI application (the fast path before Django) on a
live server thread. It keeps what the fast path marks with X-Accel-Expires and nothing else; passes on the
client's address and scheme as the application trusts them; serves a publish within seconds; and keeps
serving the last copy when the application is gone.

nginx's clock cannot be moved, so the waits here are for nginx's one-second keep time to pass, bounded and
polled; no assertion is about how long anything took.
"""

from __future__ import annotations

import gzip
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test.testcases import LiveServerThread

from bench import front
from components.services import create_component
from incidents.services import create_incident, post_update
from statuspage import fastpath, publishing
from statuspage.services import SYSTEM, create_api_key, update_page
from tests.conftest import skip_unless_ci
from tests.receivers import _free_port as free_port
from tests.statuspage.wsgi_helpers import Counted

REQUEST_ID = re.compile(r"[0-9a-f]{32}")
KEEP_SECONDS = 1


class App:
    """What granian serves in docker-compose.yml: statuspage.wsgi's FastPath in front of Django, every
    request counted as it arrives (front's misses) and as Django gets it."""

    def __init__(self):
        self.django = Counted(StaticFilesHandler(WSGIHandler()))
        self.arrived = Counted(fastpath.FastPath(self.django))
        self.down = False

    def __call__(self, environ, start_response):
        if self.down:  # the server is closed; a connection the front still holds open gets a 503
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down"]
        return self.arrived(environ, start_response)


@pytest.fixture
def web(transactional_db, settings):
    """The application on a live server thread, configured as docker-compose.yml's web service."""
    settings.FRONT_CACHE_SECONDS = KEEP_SECONDS
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_TLS_PROXY=true
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    app = App()
    thread = LiveServerThread("127.0.0.1", lambda _handler: app)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    app.port, app.thread = thread.port, thread
    yield app
    thread.terminate()


def start_front(tmp_path: Path, web, *, behind_tls_proxy: bool = False):
    if front.binary() is None:
        skip_unless_ci("nginx is not installed: apt-get install -y nginx-light")
    port = free_port()
    proc = front.start(
        tmp_path / f"front-{port}",
        port=port,
        upstream=f"127.0.0.1:{web.port}",
        behind_tls_proxy=behind_tls_proxy,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                work = tmp_path / f"front-{port}"
                raise RuntimeError(
                    [
                        (work / n).read_text()[-2000:]
                        for n in ("nginx.log", "error.log")
                        if (work / n).exists()
                    ]
                ) from None
            time.sleep(0.05)
    return proc, base


@pytest.fixture
def acme(web, page, other_page):
    api = create_component(actor=SYSTEM, page=page, name="API")
    incident = create_incident(
        actor=SYSTEM, page=page, name="API errors", body="Looking into it", components={api: "major_outage"}
    )
    publishing.publish_page(page.pk)
    publishing.publish_page(other_page.pk)
    return page, incident


@pytest.fixture
def edge(tmp_path, web, acme):
    """front as the edge (no TLS proxy in front of it)."""
    proc, base = start_front(tmp_path, web)
    yield base
    proc.terminate()
    proc.wait(10)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def get(url: str, *, method: str = "GET", data: bytes | None = None, **headers) -> tuple[int, dict, bytes]:
    """(status, headers by lower-case name, body) of one request, redirects not followed."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_a_public_document_is_kept_and_served_without_reaching_the_application(edge, web):
    status, first, body = get(edge + "/pages/acme/")
    assert status == 200 and b"API errors" in body and first["x-cache-status"] == "MISS"
    arrived = web.arrived.calls
    status, again, same = get(edge + "/pages/acme/")
    assert status == 200 and same == body and again["x-cache-status"] == "HIT"
    assert web.arrived.calls == arrived  # answered by the front alone
    # Every answer has an id of its own, kept copy or not; the application's headers are kept with it.
    assert REQUEST_ID.fullmatch(first["x-request-id"]) and REQUEST_ID.fullmatch(again["x-request-id"])
    assert first["x-request-id"] != again["x-request-id"]
    assert again["etag"] == first["etag"] and again["cache-control"] == first["cache-control"]
    assert "x-accel-expires" not in again  # for the front only
    # The front answers conditional requests from its copy.
    assert get(edge + "/pages/acme/", **{"If-None-Match": first["etag"]})[0] == 304
    assert web.arrived.calls == arrived
    # One kept copy a representation, whatever the client calls gzip. (The first request of a document
    # not rendered yet is Django's, which renders it and is not kept: the fast path answers from then on.)
    assert "x-accel-expires" not in get(edge + "/pages/acme/api/v2/summary.json")[1]
    status, zipped, raw = get(edge + "/pages/acme/api/v2/summary.json", **{"Accept-Encoding": "gzip, br"})
    assert zipped["content-encoding"] == "gzip" and b"API errors" in gzip.decompress(raw)
    arrived = web.arrived.calls
    for spelling in ("br, gzip", "GZIP;q=0.8, deflate", "gzip"):
        _, headers, again_raw = get(edge + "/pages/acme/api/v2/summary.json", **{"Accept-Encoding": spelling})
        assert (
            headers["content-encoding"] == "gzip" and headers["x-cache-status"] == "HIT" and again_raw == raw
        )
    assert web.arrived.calls == arrived
    for refusal in ("gzip;q=0", "identity", "br"):
        _, headers, plain = get(edge + "/pages/acme/api/v2/summary.json", **{"Accept-Encoding": refusal})
        assert "content-encoding" not in headers and b"API errors" in plain, refusal


def test_nothing_but_the_fast_path_s_public_documents_is_kept(edge, web, page):
    _, key = create_api_key(actor=SYSTEM, page=page, name="front", role="commander")
    for path, headers, expected in (
        ("/console/", {}, 302),
        ("/console/login/", {}, 200),
        (f"/api/v1/pages/{page.code}", {"Authorization": f"OAuth {key}"}, 200),
        (f"/api/v1/pages/{page.code}", {}, 401),
        ("/pages/acme/maintenance.ics", {}, 200),
        ("/healthz", {}, 200),
    ):
        before = web.arrived.calls
        for _ in range(3):
            status, answer, _ = get(edge + path, **headers)
            assert status == expected and answer["x-cache-status"] == "MISS", (path, status)
        assert web.arrived.calls == before + 3, path
    before = web.arrived.calls
    for _ in range(2):
        get(edge + "/pages/acme/subscribe", method="POST", data=b"email=a%40example.com")
    assert web.arrived.calls == before + 2


def test_a_private_page_is_never_kept_and_its_networks_see_the_client_not_the_front(tmp_path, web, acme):
    page, _ = acme
    update_page(actor=SYSTEM, page=page, visibility="private", allowed_ip_ranges="203.0.113.0/24")
    publishing.publish_page(page.pk)
    # At the edge the client's own X-Forwarded-For is not believed: the front adds the connection's address.
    proc, edge = start_front(tmp_path, web)
    try:
        for _ in range(2):
            status, headers, body = get(edge + "/pages/acme/", **{"X-Forwarded-For": "203.0.113.7"})
            assert status == 401 and b"API errors" not in body
            assert headers["x-cache-status"] == "MISS"
        assert web.django.last_environ["HTTP_X_FORWARDED_FOR"].split(",")[-1].strip() == "127.0.0.1"
        assert web.django.last_environ["HTTP_X_FORWARDED_PROTO"] == "http"
        # A client claiming https at the edge is still on plain HTTP.
        get(edge + "/pages/acme/", **{"X-Forwarded-Proto": "https"})
        assert web.django.last_environ["HTTP_X_FORWARDED_PROTO"] == "http"
    finally:
        proc.terminate()
        proc.wait(10)
    # Behind a TLS proxy the proxy's headers are passed on: the allowed network sees the page, and the very
    # next visitor from elsewhere does not get that copy.
    proc, behind = start_front(tmp_path, web, behind_tls_proxy=True)
    try:
        status, headers, body = get(
            behind + "/pages/acme/",
            **{"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Forwarded-Proto": "https"},
        )
        assert status == 200 and b"API errors" in body and headers["cache-control"] == "private, no-store"
        assert web.django.last_environ["HTTP_X_FORWARDED_PROTO"] == "https"
        status, headers, body = get(
            behind + "/pages/acme/", **{"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
        )
        assert status == 401 and b"API errors" not in body and headers["x-cache-status"] == "MISS"
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for(check, *, seconds: float = 10):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def test_a_publish_is_served_through_the_front_within_its_keep_time(edge, acme):
    page, incident = acme
    assert get(edge + "/pages/acme/")[2].count(b"Found the faulty switch") == 0
    assert get(edge + "/pages/acme/")[1]["x-cache-status"] == "HIT"
    post_update(actor=SYSTEM, incident=incident, status="identified", body="Found the faulty switch")
    publishing.publish_page(page.pk)
    # The kept copy lives KEEP_SECONDS; the next request refreshes it (served the old copy meanwhile).
    assert wait_for(lambda: b"Found the faulty switch" in get(edge + "/pages/acme/")[2])


def test_when_the_application_is_gone_the_last_copy_is_served(edge, web):
    status, _, body = get(edge + "/pages/acme/")
    assert status == 200
    web.down = True
    web.thread.terminate()
    # Past its keep time the copy is stale; the front tries the application, finds nothing, serves it.
    answer = wait_for(
        lambda: (lambda a: a if a[1]["x-cache-status"] == "STALE" else None)(get(edge + "/pages/acme/"))
    )
    assert answer is not None and answer[0] == 200 and answer[2] == body
    # What was never kept has nothing to fall back on.
    assert get(edge + "/console/")[0] in (502, 503)
