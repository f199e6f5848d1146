"""The public fast path (statuspage/fastpath.py): the same bytes and headers as Django, without Django.

Requests go through the real WSGI application: Django's WSGIHandler alone for the reference answer, and
the same handler behind FastPath for the answer under test. The Django handler behind FastPath is counted
at the WSGI boundary, so each test knows which of the two answered.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from incidents.services import create_incident, post_update
from statuspage import fastpath, publishing, snapshots
from statuspage.services import SYSTEM, update_page
from tests.statuspage.wsgi_helpers import Counted

NOW = datetime(2026, 3, 20, 18, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _keep_test_connection():
    # As Django's test client does: the handler would close the test's connection at the end of a request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def django_app():
    return WSGIHandler()


@pytest.fixture
def fast(django_app):
    inner = Counted(django_app)
    app = fastpath.FastPath(inner)
    app.django = inner
    return app


def call(app, path, *, method="GET", host="testserver", scheme="http", **headers):
    """(status, headers by lower-case name, body) of one request. The request carries an X-Request-ID
    unless told otherwise, so Django's answer and ours echo the same one."""
    headers.setdefault("X-Request-ID", "test-request-1")
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443" if scheme == "https" else "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = int(status[:3]), response_headers

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return seen["status"], {name.lower(): value for name, value in seen["headers"]}, body


def served_fast(fast, path, **kwargs):
    before = fast.django.calls
    answer = call(fast, path, **kwargs)
    assert fast.django.calls == before, f"{path} went to Django"
    return answer


def served_by_django(fast, path, **kwargs):
    before = fast.django.calls
    answer = call(fast, path, **kwargs)
    assert fast.django.calls == before + 1, f"{path} did not go to Django"
    return answer


@pytest.fixture
def acme(page, other_page, make_component):
    api = make_component(page, "API", at=NOW - timedelta(days=30))
    make_component(page, "Internal", is_public=False, at=NOW - timedelta(days=30))
    make_component(other_page, "Globex Billing", at=NOW - timedelta(days=30))
    incident = create_incident(
        actor=SYSTEM, page=page, name="API errors", body="Looking into it", components={api: "major_outage"}
    )
    update_page(actor=SYSTEM, page=page, custom_domain="status.acme.com")
    publishing.publish_page(page.pk)
    publishing.publish_page(other_page.pk)
    return page, api, incident


def kinds(api, incident):
    """One URL per document kind and route, slug-routed and host-routed."""
    paths = [
        "/pages/acme/",
        "/pages/acme/live",
        "/pages/acme/history",
        "/pages/acme/history?page=1",
        "/pages/acme/history.atom",
        "/pages/acme/history.rss",
        f"/pages/acme/incidents/{incident.code}",
        "/pages/acme/badge.svg",
        "/pages/acme/badge.svg?style=flat-square",
        f"/pages/acme/components/{api.code}/badge.svg",
        "/pages/acme/embed/script.js",
        "/pages/acme/api/v2/history.json",
        f"/pages/acme/api/v2/incidents/{incident.code}.json",
    ]
    paths += [f"/pages/acme/api/v2/{name}" for name in sorted(fastpath.views.API_V2_DOCUMENTS)]
    return [(path, "testserver") for path in paths] + [
        ("/", "status.acme.com"),
        ("/live", "acme.status.test"),
        ("/api/v2/summary.json", "status.acme.com"),
        (f"/incidents/{incident.code}", "ACME.status.test."),
        ("/pages/globex/", "status.acme.com"),
    ]


@pytest.mark.django_db
def test_every_document_kind_has_django_s_bytes_and_headers(fast, django_app, acme):
    _, api, incident = acme
    for path, host in kinds(api, incident):
        status, headers, body = call(django_app, path, host=host)  # also renders lazy documents
        assert status == 200, path
        fast_status, fast_headers, fast_body = served_fast(fast, path, host=host)
        assert (fast_status, fast_body) == (status, body), path
        assert fast_headers == headers, path
    # The security headers are there at all (a CSP, nosniff, no framing), not just equal.
    assert "x-content-type-options" in fast_headers and "x-frame-options" in fast_headers


@pytest.mark.django_db
def test_https_requests_get_the_same_headers_as_django_including_hsts(acme, settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Middleware reads its settings when the handler is built: build both after changing them.
    django_app = WSGIHandler()
    fast = fastpath.FastPath(Counted(WSGIHandler()))
    fast.django = fast.app
    for extra in ({"scheme": "https"}, {"X-Forwarded-Proto": "https"}, {}):
        reference = call(django_app, "/pages/acme/api/v2/status.json", **extra)
        assert served_fast(fast, "/pages/acme/api/v2/status.json", **extra) == reference
        assert ("strict-transport-security" in reference[1]) == bool(extra)


@pytest.mark.django_db
def test_conditional_requests_get_the_same_304_as_django(fast, django_app, acme):
    _, headers, _ = call(django_app, "/pages/acme/")
    etag, last_modified = headers["etag"], headers["last-modified"]
    for conditions in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", {etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
        {"If-Modified-Since": "Sat, 21 Mar 2026 00:00:00 GMT"},
    ):
        reference = call(django_app, "/pages/acme/", **conditions)
        assert reference[0] == 304, conditions
        assert served_fast(fast, "/pages/acme/", **conditions) == reference, conditions
    for conditions in (
        {"If-None-Match": '"other"'},
        {"If-Modified-Since": "Thu, 19 Mar 2026 00:00:00 GMT"},
        {"If-Modified-Since": "not a date"},
    ):
        reference = call(django_app, "/pages/acme/", **conditions)
        assert reference[0] == 200, conditions
        assert served_fast(fast, "/pages/acme/", **conditions) == reference, conditions


@pytest.mark.django_db
def test_clients_that_accept_gzip_get_the_same_compressed_bytes_from_both_paths(fast, django_app, acme):
    _, api, incident = acme
    compressed = 0
    for path, host in kinds(api, incident):
        plain = call(django_app, path, host=host)
        status, headers, body = call(django_app, path, host=host, **{"Accept-Encoding": "gzip, br"})
        assert served_fast(fast, path, host=host, **{"Accept-Encoding": "gzip, br"}) == (
            status,
            headers,
            body,
        )
        if headers.get("content-encoding") == "gzip":
            compressed += 1
            assert gzip.decompress(body) == plain[2], path
            assert headers["etag"] == plain[1]["etag"][:-1] + '-gzip"', path  # another representation
            assert headers["content-length"] == str(len(body)) and headers["vary"] == "Accept-Encoding"
        else:  # too small to gain: the identity answer
            assert (status, headers, body) == plain and len(body) < snapshots.GZIP_MIN_BYTES, path
    assert compressed >= 5  # the page, the feeds, summary.json, ...
    # The compressed answer's ETag makes a 304 for it; the identity's ETag does not match it, and back.
    _, gz_headers, _ = call(django_app, "/pages/acme/", **{"Accept-Encoding": "gzip"})
    _, plain_headers, _ = call(django_app, "/pages/acme/")
    for app in (django_app, fast):
        assert (
            call(app, "/pages/acme/", **{"Accept-Encoding": "gzip", "If-None-Match": gz_headers["etag"]})[0]
            == 304
        )
        assert (
            call(app, "/pages/acme/", **{"Accept-Encoding": "gzip", "If-None-Match": plain_headers["etag"]})[
                0
            ]
            == 200
        )
        assert call(app, "/pages/acme/", **{"If-None-Match": gz_headers["etag"]})[0] == 200


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip;q=0.000", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("identity", False),
        ("br, deflate", False),
        ("x-gzip", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header, expected):
    assert snapshots.accepts_gzip(header) is expected


@pytest.mark.django_db
def test_head_has_the_get_headers_and_no_body(fast, django_app, acme):
    for path in ("/pages/acme/", "/pages/acme/api/v2/summary.json"):
        _, get_headers, get_body = call(django_app, path)
        django_status, django_headers, _ = call(django_app, path, method="HEAD")
        status, headers, body = served_fast(fast, path, method="HEAD")
        assert (status, django_status, body) == (200, 200, b"")
        assert headers == django_headers == get_headers
        assert headers["content-length"] == str(len(get_body))


ELSEWHERE = [
    ("POST", "/pages/acme/", "testserver"),
    ("GET", "/pages/acme", "testserver"),  # Django's slash redirect
    ("GET", "/console/", "testserver"),
    ("GET", "/api/v1/pages", "testserver"),
    ("GET", "/healthz", "testserver"),
    ("GET", "/pages/nope/", "testserver"),
    ("GET", "/pages/acme/nothing-here", "testserver"),
    ("GET", "/pages/acme/incidents/doesnotexist", "testserver"),
    ("GET", "/pages/acme/incidents/UPPER", "testserver"),
    ("GET", "/pages/acme/history?page=0", "testserver"),
    ("GET", "/pages/acme/history?page=abc", "testserver"),
    ("GET", "/pages/acme/api/v2/nothing.json", "testserver"),
    ("GET", "/pages/acme/api/v2/subscribers.json", "testserver"),
    ("GET", "/pages/acme/maintenance.ics", "testserver"),
    ("GET", "/", "unknown.example.org"),
]


@pytest.mark.django_db
def test_everything_else_goes_to_django_and_gets_django_s_answer(fast, django_app, acme):
    # One test, not one per URL: each would publish two pages first.
    for method, path, host in ELSEWHERE:
        reference = call(django_app, path, method=method, host=host)
        assert served_by_django(fast, path, method=method, host=host) == reference, path


@pytest.mark.django_db
def test_a_host_django_refuses_is_refused_by_django(fast, django_app, acme, settings):
    settings.ALLOWED_HOSTS = ["testserver", "status.acme.com"]
    status, _, _ = served_by_django(fast, "/", host="evil.example.org")
    assert status == 400
    served_fast(fast, "/", host="status.acme.com")
    served_by_django(fast, "/pages/acme/", host="evil.example.org")


@pytest.mark.django_db
def test_a_document_not_yet_rendered_is_rendered_by_django_then_served_fast(fast, acme):
    path = f"/pages/acme/api/v2/incidents/{acme[2].code}.json"  # lazy: rendered on first request
    first = served_by_django(fast, path)
    assert first[0] == 200
    assert served_fast(fast, path) == first


@pytest.mark.django_db
def test_a_page_never_published_is_published_by_django_then_served_fast(fast, page, other_page):
    publishing.publish_site_index()
    first = served_by_django(fast, "/pages/acme/")
    assert first[0] == 200 and b"Acme" in first[2]
    assert served_fast(fast, "/pages/acme/") == first


@pytest.mark.django_db
def test_a_new_publish_is_served_by_the_next_request(fast, acme):
    page, _, incident = acme
    _, before, _ = served_fast(fast, "/pages/acme/")
    post_update(actor=SYSTEM, incident=incident, status="identified", body="Found the faulty switch")
    publishing.publish_page(page.pk)
    _, after, body = served_fast(fast, "/pages/acme/")
    assert after["etag"] != before["etag"]
    assert b"Found the faulty switch" in body
    # The old version's answers are dropped with it: a process holds only live versions.
    version, answers = fast._prepared[page.code]
    assert version == snapshots.read_manifest(page.code)["version"] and len(answers) == 1
    _, _, summary = served_fast(fast, "/pages/acme/api/v2/incidents/unresolved.json")
    assert b"identified" in summary


@pytest.mark.django_db
def test_with_only_the_cache_shared_a_publish_is_served_within_a_second(fast, acme, clock):
    # Another host published: this host's disk copy does not change, only the shared cache does.
    page, _, incident = acme
    manifest = django_settings.SNAPSHOT_DIR / page.code / "manifest.json"
    generation = django_settings.SNAPSHOT_DIR / snapshots.GENERATION
    manifest.unlink()
    generation.unlink()
    served_fast(fast, "/pages/acme/")
    post_update(actor=SYSTEM, incident=incident, status="identified", body="Found the faulty switch")
    publishing.publish_page(page.pk)
    manifest.unlink()
    generation.unlink()  # as this host saw it: the other host's publish touched nothing here
    assert b"Found the faulty switch" not in served_fast(fast, "/pages/acme/")[2]
    clock.shift(fastpath.FRESH_SECONDS)
    assert b"Found the faulty switch" in served_fast(fast, "/pages/acme/")[2]


@pytest.mark.django_db
def test_a_page_made_private_is_left_to_django_by_the_very_next_request(
    fast, acme, django_capture_on_commit_callbacks
):
    """update_page writes the site index on commit, before the page's publish has even been queued: the
    fast path, which stats only the snapshot generation, must see that write at once, not FRESH_SECONDS
    later (and with no new manifest to notice)."""
    page, _, _ = acme
    served_fast(fast, "/pages/acme/")
    manifest = snapshots.read_manifest(page.code)
    with django_capture_on_commit_callbacks(execute=False):
        update_page(actor=SYSTEM, page=page, visibility="private")
    publishing.publish_site_index()  # the hook update_page registers for this; no publish of the page
    assert snapshots.read_manifest(page.code) == manifest
    _, _, body = served_by_django(fast, "/pages/acme/")
    assert b"API errors" not in body
    served_fast(fast, "/pages/globex/")


@pytest.mark.django_db
def test_a_page_marked_private_in_the_site_index_goes_to_django(fast, acme):
    page, _, _ = acme
    served_fast(fast, "/pages/acme/")
    index = snapshots.read_site_index()
    for entry in ({"private": True}, {"ip_ranges": []}, "private", True):
        snapshots.write_site_index(index | {"pages": {page.code: entry}})
        served_by_django(fast, "/pages/acme/")
        served_by_django(fast, "/", host="status.acme.com")
        served_fast(fast, "/pages/globex/")  # other pages stay on the fast path
    snapshots.write_site_index(index | {"pages": ["an unknown shape"]})
    served_by_django(fast, "/pages/globex/")
    snapshots.write_site_index(index | {"pages": {page.code: {"private": False}}})
    served_fast(fast, "/pages/acme/")


@pytest.mark.django_db
def test_routing_matches_django_for_slug_custom_domain_subdomain_and_single_page(fast, acme):
    acme_page = served_fast(fast, "/pages/acme/")[2]
    assert served_fast(fast, "/", host="status.acme.com")[2] == acme_page
    assert served_fast(fast, "/", host="acme.status.test:8000")[2] == acme_page
    globex = served_fast(fast, "/", host="globex.status.test")[2]
    assert b"Globex" in globex and b"Acme" not in globex
    served_by_django(fast, "/", host="testserver")  # two pages and no host of theirs: Django's 404


@pytest.mark.django_db
def test_the_only_page_is_served_fast_at_the_root(fast, page):
    publishing.publish_page(page.pk)
    status, _, body = served_fast(fast, "/", host="anything.example.org")
    assert status == 200 and b"Acme" in body


@pytest.mark.django_db
def test_the_fast_path_does_no_database_query(fast, acme):
    _, api, incident = acme
    for path, host in kinds(api, incident):
        call(fast, path, host=host)  # lazily rendered documents are rendered once
    with CaptureQueriesContext(connection) as queries:
        for path, host in kinds(api, incident):
            assert served_fast(fast, path, host=host)[0] == 200
    assert len(queries) == 0


@pytest.mark.django_db
def test_a_lost_snapshot_directory_falls_back_to_django(fast, acme):
    served_fast(fast, "/pages/acme/")
    snapshots.memory.clear()
    shutil.rmtree(django_settings.SNAPSHOT_DIR)
    from django.core.cache import cache

    cache.clear()
    fast._prepared.clear()
    status, _, body = served_by_django(fast, "/pages/acme/")  # Django republishes from the database
    assert status == 200 and b"Acme" in body


def test_the_wsgi_application_is_the_fast_path():
    from statuspage import wsgi

    assert isinstance(wsgi.application, fastpath.FastPath)
    assert wsgi.application.app is wsgi.django_application


@pytest.mark.django_db
def test_each_request_gets_an_id_and_is_counted_under_django_s_route(fast, acme):
    from django.urls import resolve

    from statuspage import metrics

    _, api, incident = acme
    for path, host in kinds(api, incident):
        call(fast, path, host=host)
        match = resolve(path.partition("?")[0])
        expected = match.route or match.view_name
        metrics.flush_requests()
        before = metrics.REQUESTS.labels("GET", expected, "2xx")._value.get()
        served_fast(fast, path, host=host)
        metrics.flush_requests()
        assert metrics.REQUESTS.labels("GET", expected, "2xx")._value.get() == before + 1, path
    assert served_fast(fast, "/pages/acme/", **{"X-Request-ID": "abc-123"})[1]["x-request-id"] == "abc-123"
    fresh = {
        served_fast(fast, "/pages/acme/", **{"X-Request-ID": "bad id\n"})[1]["x-request-id"] for _ in "ab"
    }
    assert len(fresh) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", rid) for rid in fresh)


def test_fresh_request_ids_differ_between_a_process_and_its_fork():
    """Fresh ids are a per-process prefix and a counter (observability.request_id, shared by the
    middleware and the fast path): a forked web worker must not repeat the ids of its parent."""
    from statuspage.observability import request_id

    parent = [request_id(None) for _ in range(3)]
    assert len(set(parent)) == 3 and request_id("kept") == "kept"
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, to the parent
        os.write(write, request_id(None).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child) and child[:20] != parent[0][:20]
