"""The public side at close to static-file speed: a WSGI layer in front of Django (statuspage/wsgi.py).

A public document is already rendered (road 2), so serving one is a lookup. Through Django a lookup still
pays for the whole stack: request object, a dozen middleware, URL resolution, the private-page guard, a
response object; milliseconds of CPU a request, which caps two cores at a few thousand requests a second
at best. This layer answers
GET and HEAD for published snapshot documents before any of that, from the same store the views read
(statuspage/snapshots.py), with the bytes and headers the views send, and hands every other request to
Django unchanged:

- served here: the page, its live fragment, history pages, the feeds, incident pages, /api/v2/ documents,
  badges and the embed script, by slug path (/pages/<slug>/...) and by host (custom domain, subdomain,
  the only page), once the document is in the live version of the snapshot;
- left to Django: anything else (the console, /api/v1/, POSTs, subscribing, the iCal feed), a page or
  document the snapshot does not hold yet (Django renders it and stores it, so the next request is served
  here), a page whose site index entry is private (statuspage/private.py guards it), a Host Django would
  refuse (400), settings that make Django redirect (SECURE_SSL_REDIRECT, PREPEND_WWW) or refuse
  (DISALLOWED_USER_AGENTS), and any error in this layer (logged; Django then answers).

Freshness: each process keeps the site index and the live version of each page it has served, and reads
them again when the snapshot generation file changed (one stat a request, whatever was asked for: the
worker replaces that file after every write of the site index or a manifest, and in docker-compose.yml web
and worker share the volume) or after FRESH_SECONDS (where only the cache is shared). A publish is
therefore served by the next request on one host, and within FRESH_SECONDS across hosts.

Headers: the view's headers (statuspage.views constants) and what the middleware adds to them
(SecurityMiddleware, XFrameOptionsMiddleware and the CSP of statuspage.security_headers, each only if it is
in settings.MIDDLEWARE), computed once per process by running those middleware's own code on an empty
response. The request id of observability.RequestMiddleware is echoed (or made) and the request counted
with metrics.record_request under Django's route label. tests/statuspage/test_fastpath.py compares every
document kind header by header with Django's. docs/performance.md has the costs and the choices.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.request import split_domain_port, validate_host

from statuspage import snapshots, views

log = logging.getLogger(__name__)

# How long a process trusts its copy of the site index and of a page's manifest when their disk files have
# not changed (the cache alone is shared, as with several hosts).
FRESH_SECONDS = 0.5
# Prepared answers kept per process: those of each page's live version only (a new version replaces them),
# at most MAX_DOCUMENTS a page and MAX_PAGES pages; each set is cleared when full.
MAX_DOCUMENTS = 512
MAX_PAGES = 1024
# Host headers remembered as allowed or not; cleared when full (a client can send any Host).
MAX_HOSTS = 1024
# Requests (path, query, host, scheme) remembered with the document they lead to; cleared when full.
MAX_TARGETS = 4096
# Accept-Encoding headers remembered as allowing gzip or not; cleared when full.
MAX_ENCODINGS = 256
_UNKNOWN = object()

# Document kinds, by the headers their view adds.
DOCUMENT, API, BADGE, EMBED = "document", "api", "badge", "embed"
VIEW_HEADERS: dict[str, list[tuple[str, str]]] = {
    DOCUMENT: [("Cache-Control", views.DOCUMENT_CACHE_CONTROL), ("Vary", "Accept-Encoding")],
    API: [
        ("Cache-Control", views.DOCUMENT_CACHE_CONTROL),
        ("Vary", "Accept-Encoding"),
        ("Access-Control-Allow-Origin", "*"),
    ],
    EMBED: [
        ("Cache-Control", views.EMBED_CACHE_CONTROL),
        ("Vary", "Accept-Encoding"),
        ("Access-Control-Allow-Origin", "*"),
    ],
}
VIEW_HEADERS[BADGE] = VIEW_HEADERS[API]

SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # Django's <slug:> converter
IDENTIFIER = re.compile(r"[a-z0-9]{1,32}")  # views.IDENTIFIER, matched whole

StartResponse = Callable[..., object]


Route = tuple[str | None, str, str, str]


def route(path: str, query: str) -> Route | None:
    """(slug or None for host routing, document kind, snapshot document name, URL pattern) of a public
    URL, as statuspage/urls.py and public_urls.py route it; None when the URL is not a snapshot document.
    The pattern is the metrics label Django's request middleware gives the same request."""
    found = _route(path, query)
    if found is None:
        return None
    slug, kind, name, pattern = found
    return slug, kind, name, (SLUG_PREFIX + pattern if slug is not None else pattern or "by-host:index")


SLUG_PREFIX = "pages/<slug:slug>/"


def _route(path: str, query: str) -> Route | None:
    if path.startswith("/pages/"):
        slug, slash, rest = path[7:].partition("/")
        if not slash or not SLUG.fullmatch(slug):
            return None
    elif path.startswith("/"):
        slug, rest = None, path[1:]
    else:
        return None
    if rest == "":
        return slug, DOCUMENT, "index.html", ""
    if rest == "live":
        return slug, DOCUMENT, "live.html", rest
    if rest == "history":
        number = _page_number(query)
        return (slug, DOCUMENT, f"history/{number}.html", rest) if number is not None else None
    if rest == "history.atom" or rest == "history.rss":
        return slug, DOCUMENT, rest, rest
    if rest.startswith("incidents/"):
        code = rest[10:]
        if IDENTIFIER.fullmatch(code):
            return slug, DOCUMENT, f"incidents/{code}.html", "incidents/<str:code>"
        return None
    if rest == "badge.svg":
        return slug, BADGE, f"badge{_badge_suffix(query)}.svg", rest
    if rest.startswith("components/") and rest.endswith("/badge.svg"):
        code = rest[11:-10]
        if IDENTIFIER.fullmatch(code):
            name = f"components/{code}/badge{_badge_suffix(query)}.svg"
            return slug, BADGE, name, "components/<str:code>/badge.svg"
        return None
    if rest == "embed/script.js":
        return slug, EMBED, rest, rest
    if rest.startswith("api/v2/"):
        name = _api_document(rest[7:], query)
        return (slug, API, name, "api/v2/<path:name>") if name is not None else None
    return None


def _api_document(name: str, query: str) -> str | None:
    # views._api_document, from the query string instead of a request.
    if name in views.API_V2_DOCUMENTS:
        return f"api/v2/{name}"
    if name == "history.json":
        number = _page_number(query)
        return f"api/v2/history/{number}.json" if number is not None else None
    match = views.API_V2_INCIDENT.match(name)
    if match and IDENTIFIER.fullmatch(match[1]):
        return f"api/v2/incidents/{match[1]}.json"
    return None  # subscribers.json and unknown names: Django


def _get(query: str, name: str, default: str) -> str:
    """request.GET.get(name, default), as Django parses a WSGI query string."""
    if not query:
        return default
    return QueryDict(query.encode("iso-8859-1")).get(name, default)


def _page_number(query: str) -> int | None:
    """views._page_number: ?page=N, 1 to 1000, 1 when absent; None when not a usable number."""
    try:
        number = int(_get(query, "page", "1"))
    except ValueError:
        return None
    return number if 1 <= number <= 1000 else None


def _badge_suffix(query: str) -> str:
    return "-flat-square" if _get(query, "style", "") == "flat-square" else ""


def is_private(index: dict, page_code: str) -> bool:
    """Whether the site index marks the page private (statuspage.private). Read defensively: any entry
    that does not plainly say `"private": false`, or an index shape this code does not know, counts as
    private, so Django (which guards private pages) answers."""
    pages = index.get("pages")
    if not pages:
        return False
    if not isinstance(pages, dict):
        return True
    entry = pages.get(page_code)
    if entry is None:
        return False
    return not isinstance(entry, dict) or bool(entry.get("private", True))


def middleware_headers(*, secure: bool) -> list[tuple[str, str]]:
    """The headers our middleware adds to a public document's response, from the middleware's own code."""
    from django.middleware.clickjacking import XFrameOptionsMiddleware
    from django.middleware.security import SecurityMiddleware

    request = HttpRequest()
    request.is_secure = lambda: secure  # type: ignore[method-assign]
    response = HttpResponse()
    del response["Content-Type"]
    installed = set(settings.MIDDLEWARE)
    if "statuspage.security_headers.SecurityHeadersMiddleware" in installed:
        from statuspage import security_headers

        for name, value in security_headers.headers().items():
            response[name] = value
    if "django.middleware.security.SecurityMiddleware" in installed:
        SecurityMiddleware(lambda r: response).process_response(request, response)
    if "django.middleware.clickjacking.XFrameOptionsMiddleware" in installed:
        XFrameOptionsMiddleware(lambda r: response).process_response(request, response)
    return list(response.items())


REQUEST_MIDDLEWARE = "statuspage.observability.RequestMiddleware"


def _signature(path: str) -> tuple | None:
    """What changes when the file is replaced (publishing writes a new file and renames it over the old)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class Config:
    """The settings read on every request, copied into plain attributes (a LazySettings attribute costs a
    few microseconds), with what is derived from them. Rebuilt when a setting changes (tests)."""

    def __init__(self) -> None:
        self.snapshot_dir = os.fspath(settings.SNAPSHOT_DIR)  # a str: pathlib would cost more than the rest
        # Settings under which Django redirects or refuses before any view: leave those requests to it.
        self.django_only = bool(settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS)
        self.ssl_redirect = bool(settings.SECURE_SSL_REDIRECT)
        self.forwarded_host = bool(settings.USE_X_FORWARDED_HOST)
        self.proxy_ssl_header = settings.SECURE_PROXY_SSL_HEADER
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]
        self.allowed_hosts = allowed_hosts
        self.hosts: dict[str, bool] = {}  # Host header -> allowed
        # A front cache (the nginx of docker-compose.yml) keeps what carries X-Accel-Expires, and only that:
        # the documents of public pages served here, never Django's answers (docs/performance.md).
        keep = settings.FRONT_CACHE_SECONDS
        front = [("X-Accel-Expires", str(keep))] if keep else []
        self.extra = {secure: middleware_headers(secure=secure) + front for secure in (False, True)}


_config: Config | None = None


def config() -> Config:
    global _config
    if _config is None:
        _config = Config()
    return _config


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    global _config
    _config = None


class FastPath:
    """WSGI middleware: snapshot documents from the store, everything else from `app` (Django)."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._index: tuple | None = None  # (root, signature, read at, index)
        self._manifests: dict[str, int | None] = {}  # code -> live version, for the held index's generation
        self._prepared: dict[str, tuple[int, dict]] = {}  # code -> (version, {(name, kind, secure): answer})
        self._targets: dict[tuple, tuple | None] = {}  # (path, query, host, secure) -> _target()
        self._gzip_ok: dict[str | None, bool] = {}  # Accept-Encoding header -> gzip allowed
        # What observability.RequestMiddleware does for Django's answers, done here for ours: the request
        # id echoed and the request counted (no log line: at tens of thousands a second it would cost more
        # than the answer; the metrics count every request).
        self._observed = REQUEST_MIDDLEWARE in settings.MIDDLEWARE
        if self._observed:
            from statuspage import metrics, observability

            self._record = metrics.record_request
            self._request_id = observability.request_id

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET" or method == "HEAD":
            started = time.perf_counter()
            try:
                answer = self.answer(environ)
            except Exception:  # the page must be the last thing standing: Django answers instead
                log.exception("fast path failed for %s; Django answers", environ.get("PATH_INFO"))
                answer = None
            if answer is not None:
                status, headers, body, label = answer
                if self._observed:
                    headers = [*headers, ("X-Request-ID", self._request_id(environ.get("HTTP_X_REQUEST_ID")))]
                    code = 304 if status[0] == "3" else 200
                    self._record(
                        route=label, method=method, status=code, seconds=time.perf_counter() - started
                    )
                start_response(status, headers)
                return [b"" if method == "HEAD" else body]
        return self.app(environ, start_response)

    def answer(self, environ: dict) -> tuple[str, list, bytes, str] | None:
        """(status line, headers, body, metrics label) for a snapshot document, or None: Django answers."""
        cfg = _config or config()
        if cfg.django_only:
            return None
        if cfg.forwarded_host and "HTTP_X_FORWARDED_HOST" in environ:
            host = environ["HTTP_X_FORWARDED_HOST"]
        else:
            host = environ.get("HTTP_HOST")
        secure = self._is_secure(environ, cfg)
        if cfg.ssl_redirect and not secure:
            return None
        root = cfg.snapshot_dir
        index = self._site_index(root)
        if index is None:
            return None
        # Where a request leads depends only on its path, query, host and scheme, and on the site index:
        # remembered until the index is read again (_site_index), bounded (a client can send anything).
        key = (environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), host, secure)
        target = self._targets.get(key, _UNKNOWN)
        if target is _UNKNOWN:
            target = self._target(key, index, cfg)
            if len(self._targets) >= MAX_TARGETS:
                self._targets.clear()
            self._targets[key] = target
        if target is None:
            return None
        code, name, kind, label = target
        version = self._version(code)
        if version is None:
            return None
        held = self._prepared.get(code)
        if held is None or held[0] != version:
            if len(self._prepared) >= MAX_PAGES:
                self._prepared.clear()
            held = self._prepared[code] = (version, {})
        documents = held[1]
        encodings = environ.get("HTTP_ACCEPT_ENCODING")
        gz = self._gzip_ok.get(encodings)
        if gz is None:
            gz = snapshots.accepts_gzip(encodings)
            if len(self._gzip_ok) >= MAX_ENCODINGS:
                self._gzip_ok.clear()
            self._gzip_ok[encodings] = gz
        doc_key = (name, kind, secure, gz)
        prepared = documents.get(doc_key)
        if prepared is None:
            doc = snapshots.read_document(code, version, name)
            if doc is None:
                return None
            prepared = self._prepare(doc.representation(gzip=gz), kind, cfg.extra[secure])
            if len(documents) >= MAX_DOCUMENTS:
                documents.clear()
            documents[doc_key] = prepared
        ok, not_modified, body, etag, last_modified = prepared
        inm = environ.get("HTTP_IF_NONE_MATCH")
        ims = environ.get("HTTP_IF_MODIFIED_SINCE")
        if (inm is not None or ims) and views.not_modified(inm, ims, etag, last_modified):
            return "304 Not Modified", not_modified, b"", label
        return "200 OK", ok, body, label

    def _target(self, key: tuple, index: dict, cfg: Config) -> tuple[str, str, str, str] | None:
        """(page code, document name, kind, metrics label) that a request leads to, or None when Django
        must answer it: not a snapshot document, a Host Django would refuse, a page not in the index or
        a private one."""
        path, query, host, _secure = key
        found = route(path, query)
        if found is None or not self._host_allowed(host, cfg):
            return None
        slug, kind, name, label = found
        code = views.page_code_in(index, slug, host)
        if code is None or is_private(index, code):
            return None
        return code, name, kind, label

    @staticmethod
    def _prepare(doc: snapshots.Document, kind: str, extra: list[tuple[str, str]]) -> tuple:
        common = [("ETag", doc.etag), ("Last-Modified", formatdate(doc.last_modified, usegmt=True))]
        common += VIEW_HEADERS[kind] + extra
        ok = [("Content-Type", doc.content_type), *common, ("Content-Length", str(len(doc.body)))]
        if doc.encoding:
            ok.append(("Content-Encoding", doc.encoding))
        not_modified = [*common, ("Content-Length", "0")]
        return ok, not_modified, doc.body, doc.etag, doc.last_modified

    @staticmethod
    def _host_allowed(host: str | None, cfg: Config) -> bool:
        """Whether request.get_host() would accept this Host (or forwarded host) header."""
        if not host:
            return False
        allowed = cfg.hosts.get(host)
        if allowed is None:
            domain, _port = split_domain_port(host)
            allowed = bool(domain) and validate_host(domain, cfg.allowed_hosts)
            if len(cfg.hosts) >= MAX_HOSTS:
                cfg.hosts.clear()
            cfg.hosts[host] = allowed
        return allowed

    @staticmethod
    def _is_secure(environ: dict, cfg: Config) -> bool:
        """request.is_secure(), with SECURE_PROXY_SSL_HEADER as Django reads it."""
        if cfg.proxy_ssl_header:
            header, secure_value = cfg.proxy_ssl_header
            value = environ.get(header)
            if value is not None:
                return value.split(",", 1)[0].strip() == secure_value
        return environ.get("wsgi.url_scheme") == "https"

    def _site_index(self, root: str) -> dict | None:
        """The site index this process holds, read again when the snapshot generation changed (a publish
        on this host: one stat a request for everything) or is older than FRESH_SECONDS (a publish on
        another host that shares only the cache)."""
        signature = _signature(root + "/" + snapshots.GENERATION)
        now = time.time()
        held = self._index
        if (
            held is not None
            and held[0] == root
            and held[1] == signature
            and 0 <= now - held[2] < FRESH_SECONDS
        ):
            return held[3]
        # What was found in the old index, and every manifest, may have changed with it: each is found
        # again on its next request.
        self._manifests.clear()
        self._targets.clear()
        index = snapshots.read_site_index()
        self._index = (root, signature, now, index)
        return index

    def _version(self, code: str) -> int | None:
        """The page's live version, as of the generation _site_index checked for this request."""
        version = self._manifests.get(code, _UNKNOWN)
        if version is _UNKNOWN:
            manifest = snapshots.read_manifest(code)
            version = manifest.get("version") if isinstance(manifest, dict) else None
            if len(self._manifests) >= MAX_PAGES:
                self._manifests.clear()
            self._manifests[code] = version
        return version
