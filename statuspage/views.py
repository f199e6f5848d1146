"""Public documents served from the page's snapshot (no database query in steady state), and the
installation's own small endpoints."""

from __future__ import annotations

import logging
import re
from email.utils import formatdate, parsedate_to_datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.template.loader import render_to_string
from django.views.decorators.http import require_safe

from statuspage import publishing, snapshots
from statuspage.snapshots import Document

log = logging.getLogger(__name__)

IDENTIFIER = re.compile(r"^[a-z0-9]{1,32}$")
# The cache headers of snapshot documents; statuspage/fastpath.py sends the same.
# max-age + stale-while-revalidate stays under the shortest live poll (PUBLIC_REFRESH_SECONDS >= 30), so
# a poll never gets the answer the previous poll had already fetched.
DOCUMENT_CACHE_CONTROL = "public, max-age=10, stale-while-revalidate=15, stale-if-error=86400"
EMBED_CACHE_CONTROL = "public, max-age=300"


def resolve_page_code(request: HttpRequest, slug: str | None) -> str | None:
    """The code of the page this request is for: by path slug, custom domain, subdomain, or the only page."""
    index = snapshots.read_site_index() or publishing.publish_site_index()
    return page_code_in(index, slug, request.get_host())


def page_code_in(index: dict, slug: str | None, host: str) -> str | None:
    """The page a slug or a (validated) Host header names in the site index; the fast path uses it too."""
    if slug is not None:
        return index["slugs"].get(slug)
    host = host.split(":")[0].lower().rstrip(".")
    if host in index["domains"]:
        return index["domains"][host]
    base = settings.STATUSPAGE_BASE_DOMAIN
    if base and host.endswith("." + base):
        return index["slugs"].get(host[: -len(base) - 1])
    return index["single"]


def _document(page_code: str, name: str) -> Document | None:
    manifest = snapshots.read_manifest(page_code)
    if manifest is None:
        page_id = _page_id(page_code)
        if page_id is None:
            return None
        manifest = publishing.publish_page(page_id)
        if manifest is None:
            return None
    version = manifest["version"]
    doc = snapshots.read_document(page_code, version, name)
    if doc is None:
        doc = publishing.render_lazy(page_code, name, version=version)
        if doc is not None:
            snapshots.write_document(page_code, version, name, doc)
    return doc


def _page_id(page_code: str) -> int | None:
    from statuspage.models import Page

    return Page.objects.filter(code=page_code).values_list("pk", flat=True).first()


def _serve(request: HttpRequest, slug: str | None, name: str) -> HttpResponse:
    code = resolve_page_code(request, slug)
    doc = _document(code, name) if code else None
    if doc is None:
        return not_found(request)
    doc = doc.representation(gzip=snapshots.accepts_gzip(request.headers.get("Accept-Encoding")))
    if _not_modified(request, doc):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(doc.body, content_type=doc.content_type)
        if doc.encoding:
            response["Content-Encoding"] = doc.encoding
    response["ETag"] = doc.etag
    response["Last-Modified"] = formatdate(doc.last_modified, usegmt=True)
    response["Cache-Control"] = DOCUMENT_CACHE_CONTROL
    response["Vary"] = "Accept-Encoding"
    return response


def _not_modified(request: HttpRequest, doc: Document) -> bool:
    return not_modified(
        request.headers.get("If-None-Match"),
        request.headers.get("If-Modified-Since"),
        doc.etag,
        doc.last_modified,
    )


def not_modified(inm: str | None, ims: str | None, etag: str, last_modified: float) -> bool:
    """Whether a conditional GET may be answered 304 (If-None-Match first, then If-Modified-Since)."""
    if inm is not None:
        return etag in [tag.strip() for tag in inm.split(",")] or inm.strip() == "*"
    if ims:
        try:
            return int(last_modified) <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


@require_safe
def public_index(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return _serve(request, slug, "index.html")


@require_safe
def public_live(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return _serve(request, slug, "live.html")


def _page_number(request: HttpRequest) -> int | None:
    """?page=N of a history document: 1 to 1000, 1 when absent; None when not a usable number."""
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        return None
    return number if 1 <= number <= 1000 else None


@require_safe
def public_history(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    number = _page_number(request)
    if number is None:
        return not_found(request)
    return _serve(request, slug, f"history/{number}.html")


@require_safe
def public_feed(request: HttpRequest, slug: str | None = None, *, name: str) -> HttpResponse:
    return _serve(request, slug, name)


@require_safe
def public_incident(request: HttpRequest, code: str, slug: str | None = None) -> HttpResponse:
    if not IDENTIFIER.match(code):
        return not_found(request)
    return _serve(request, slug, f"incidents/{code}.html")


API_V2_DOCUMENTS = {
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
}


# Rendered on first request into the live version (publishing.render_lazy): one incident, a history page.
API_V2_INCIDENT = re.compile(r"^incidents/([a-z0-9]{1,32})\.json$")


def _api_document(request: HttpRequest, name: str) -> str | None:
    """The snapshot document answering api/v2/<name>, or None for a name the API does not serve."""
    if name in API_V2_DOCUMENTS:
        return f"api/v2/{name}"
    if name == "history.json":
        number = _page_number(request)
        return f"api/v2/history/{number}.json" if number is not None else None
    match = API_V2_INCIDENT.match(name)
    if match:
        return f"api/v2/incidents/{match[1]}.json"
    return None


def _json_not_found() -> HttpResponse:
    response = HttpResponse('{"error":"Not found"}', status=404, content_type="application/json")
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _open_to_all_origins(response: HttpResponse) -> HttpResponse:
    # Public documents: any site may read them (embeds, widgets, dashboards). No credentials are involved.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
def public_api(request: HttpRequest, name: str, slug: str | None = None) -> HttpResponse:
    document = _api_document(request, name)
    if document is None:
        return _json_not_found()
    response = _serve(request, slug, document)
    if response.status_code == 404:
        return _json_not_found()
    return _open_to_all_origins(response)


def _badge_suffix(request: HttpRequest) -> str:
    """?style=flat-square; any other style gets the default flat badge, as shields.io does."""
    return "-flat-square" if request.GET.get("style") == "flat-square" else ""


@require_safe
def public_badge(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    response = _serve(request, slug, f"badge{_badge_suffix(request)}.svg")
    return response if response.status_code == 404 else _open_to_all_origins(response)


@require_safe
def public_component_badge(request: HttpRequest, code: str, slug: str | None = None) -> HttpResponse:
    if not IDENTIFIER.match(code):
        return not_found(request)
    response = _serve(request, slug, f"components/{code}/badge{_badge_suffix(request)}.svg")
    return response if response.status_code == 404 else _open_to_all_origins(response)


@require_safe
def public_embed_script(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """The status embed (<script src=".../embed/script.js" async>). Cached longer than the documents: it
    only changes with a deploy or the page's address; the status it shows is fetched by the script."""
    response = _serve(request, slug, "embed/script.js")
    if response.status_code == 404:
        return response
    response["Cache-Control"] = EMBED_CACHE_CONTROL
    return _open_to_all_origins(response)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return HttpResponse(render_to_string("404.html", {"request_path": request.path}), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # An error raised outside a view (a middleware reading the session while PostgreSQL is down) reaches
    # here rather than OutageMiddleware: it is still an outage, so a 503 that says so.
    from statuspage.outage import current_outage_response

    return current_outage_response(request) or HttpResponse(render_to_string("500.html"), status=500)


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
