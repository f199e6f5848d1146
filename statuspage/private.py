"""Private pages: who may see a page's public side, and the sign-in by emailed link.

A private page's documents are rendered into its snapshot like any other page's (road 2), but every public
route is wrapped by `guard`, which lets a request through only with one of:

- a client address inside the page's allowed IP ranges (no sign-in),
- a console session of a member of the page (any role: viewers are the invited viewer accounts),
- a viewer cookie set by following a single-use, expiring sign-in link mailed to an allowed address.

Public pages pass through `guard` with no database query (the site index says which pages are private, and
the fast path falls through to Django for those). Whatever a private page serves is `Cache-Control: private,
no-store`, varies on Cookie, and carries no `Access-Control-Allow-Origin`. Refusals reveal nothing but the
page's name: HTML routes answer a sign-in page, the JSON API a 401 JSON error, the rest (feeds, badges, the
embed script, the calendar) a plain 404.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods

from statuspage import publishing, snapshots
from statuspage.clients import client_address
from statuspage.models import Membership, Page, ViewerLink, parse_ip_ranges, parse_viewer_emails

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
VIEWER_SESSION_SECONDS = 7 * 24 * 3600
COOKIE_SALT = "statuspage.private.viewer"
LINK_LIMIT_PER_IP = 20
LINK_LIMIT_PER_ADDRESS = 5
SIGN_IN_SENT = (
    "If this address may view the page, a sign-in link is on its way. It works once, within 15 minutes."
)

# How a refused request is answered, by the name of the public route (statuspage/public_urls.py).
HTML_ROUTES = {"index", "live", "history", "incident", "subscribe"}
JSON_ROUTES = {"api-v2", "api-v2-subscribers"}
# Reachable without access: signing in, and subscriber links that carry their own signed token (a one-click
# unsubscribe must work from a mail client that cannot sign in; the address was an allowed one to subscribe).
OPEN_ROUTES = {
    "private-sign-in",
    "private-link",
    "subscription-confirm",
    "subscription-manage",
    "unsubscribe",
}


# --- Who may see a page -----------------------------------------------------------------------------


def site_entry(page_code: str | None) -> dict | None:
    """The site index entry of a private page (`{"private": True, "ip_ranges": [...]}`), or None for a
    public page or an unknown one. Reads only the site index: no database query."""
    if page_code is None:
        return None
    index = snapshots.read_site_index() or publishing.publish_site_index()
    entry = (index.get("pages") or {}).get(page_code)
    if not isinstance(entry, dict) or entry.get("private") is not True:
        return None
    return entry


@functools.lru_cache(maxsize=256)
def _networks(ranges: tuple[str, ...]) -> tuple:
    try:
        return tuple(parse_ip_ranges("\n".join(ranges)))
    except ValueError:
        return ()


def ip_allowed(ranges: list[str] | tuple[str, ...], ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(ranges)))


def _cookie_name(page_code: str) -> str:
    return f"spv_{page_code}"


def viewer_email(request: HttpRequest, page_code: str) -> str | None:
    """The address a valid viewer cookie for this page names, if any."""
    try:
        got_code, email = request.get_signed_cookie(
            _cookie_name(page_code), salt=COOKIE_SALT, max_age=VIEWER_SESSION_SECONDS
        ).split(" ", 1)
    except (KeyError, signing.BadSignature, ValueError):
        return None
    return email if got_code == page_code else None


def is_member(request: HttpRequest, page_code: str) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(page__code=page_code, user=user).exists()


def has_access(request: HttpRequest, page_code: str, entry: dict) -> bool:
    return (
        ip_allowed(entry.get("ip_ranges") or [], client_address(request))
        or viewer_email(request, page_code) is not None
        or is_member(request, page_code)
    )


def is_allowed_viewer(page: Page, email: str) -> bool:
    """May `email` sign in to (and subscribe to) this private page: listed, its domain listed, or the
    address of a member of the page."""
    email = email.strip().lower()
    if "@" not in email:
        return False
    try:
        entries = parse_viewer_emails(page.allowed_viewer_emails)
    except ValueError:
        entries = []
    if email in entries or "@" + email.rsplit("@", 1)[1] in entries:
        return True
    return Membership.objects.filter(page=page, user__email__iexact=email).exists()


# --- The guard on every public route ----------------------------------------------------------------


def _base(slug: str | None) -> str:
    return f"/pages/{slug}/" if slug else "/"


def _refuse(request: HttpRequest, route: str, page_code: str, slug: str | None) -> HttpResponse:
    if route in JSON_ROUTES:
        response = HttpResponse(
            '{"error":"This status page is private: sign in to see it."}',
            status=401,
            content_type="application/json",
        )
    elif route in HTML_ROUTES:
        page = Page.objects.filter(code=page_code).only("name", "brand_colour").first()
        response = render(
            request,
            "public/private_sign_in.html",
            {"page": page, "base": _base(slug), "next": request.get_full_path()},
            status=401,
        )
    else:
        response = HttpResponse("Not found", status=404, content_type="text/plain")
    return private_headers(response)


def private_headers(response: HttpResponse) -> HttpResponse:
    """No shared cache may keep it, and no other site may read it."""
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    if "Access-Control-Allow-Origin" in response:
        del response["Access-Control-Allow-Origin"]
    patch_vary_headers(response, ["Cookie"])
    return response


def guard(view, route: str):
    """Wrap a public view: a private page's route answers only a visitor with access."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        from statuspage.views import resolve_page_code

        slug = kwargs.get("slug")
        code = resolve_page_code(request, slug)
        entry = site_entry(code)
        if entry is None:
            return view(request, *args, **kwargs)
        if route not in OPEN_ROUTES and not has_access(request, code, entry):
            return _refuse(request, route, code, slug)
        return private_headers(view(request, *args, **kwargs))

    return guarded


def guarded(patterns: list[URLPattern]) -> list[URLPattern]:
    """Every public route behind `guard`, so a route added later cannot be forgotten."""
    for pattern in patterns:
        pattern.callback = guard(pattern.callback, pattern.name)
    return patterns


# --- Sign-in by emailed link ------------------------------------------------------------------------


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def request_link(*, page: Page, email: str, ip: str) -> None:
    """Mail a sign-in link to `email` if it is an allowed viewer of the private `page`; otherwise do
    nothing. The caller answers the same either way. Raises RateLimited past the hourly limits."""
    from subscribers import ratelimit

    email = email.strip().lower()
    if not ratelimit.allow("private-link-ip", f"{page.pk}:{ip}", limit=LINK_LIMIT_PER_IP):
        raise ratelimit.RateLimited("Too many sign-in requests from your network. Please try again later.")
    if not ratelimit.allow("private-link-address", f"{page.pk}:{email}", limit=LINK_LIMIT_PER_ADDRESS):
        raise ratelimit.RateLimited("Too many sign-in requests for this address. Please try again later.")
    if not page.is_private or not is_allowed_viewer(page, email):
        return
    secret = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        ViewerLink.objects.create(
            page=page, email=email, secret_hash=_hash(secret), expires_at=now + LINK_LIFETIME
        )
        transaction.on_commit(lambda: _mail_link(page, email, secret))


def _mail_link(page: Page, email: str, secret: str) -> None:
    link = f"{page.public_url}private/link/{secret}"
    body = (
        f"Someone (we hope you) asked to see the {page.name} status page.\n\n"
        f"Open this link within 15 minutes to sign in. It works once:\n\n{link}\n\n"
        "If you did not ask for it, ignore this email.\n"
    )
    try:
        send_mail(f"Sign in to the {page.name} status page", body, None, [email])
    except Exception:  # the visitor may ask again; the page must not 500 over a mail server
        log.exception("could not send a private page sign-in link for page %s", page.code)


class BadViewerLink(Exception):
    """The link is unknown, used or expired; the message says so plainly."""


def redeem_link(*, page: Page, secret: str) -> str:
    """Spend a sign-in link (one conditional UPDATE, so it works once) and return its address."""
    now = timezone.now()
    links = ViewerLink.objects.filter(page=page, secret_hash=_hash(secret))
    if links.filter(used_at__isnull=True, expires_at__gt=now).update(used_at=now) != 1:
        link = links.first()
        if link is None:
            raise BadViewerLink("This sign-in link is not valid.")
        if link.used_at is not None:
            raise BadViewerLink("This sign-in link has already been used. Ask for a new one.")
        raise BadViewerLink("This sign-in link has expired. Ask for a new one.")
    email = links.values_list("email", flat=True).get()
    if not is_allowed_viewer(page, email):  # removed from the list since the link was sent
        raise BadViewerLink("This address may no longer view the page.")
    return email


def _page_for(request: HttpRequest, slug: str | None) -> Page | None:
    from statuspage.views import resolve_page_code

    code = resolve_page_code(request, slug)
    return Page.objects.filter(code=code).first() if code else None


@require_http_methods(["GET", "POST"])
def sign_in_view(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """Ask for a sign-in link: the same answer whether or not the address is allowed."""
    page = _page_for(request, slug)
    if page is None or not page.is_private:
        from statuspage.views import not_found

        return not_found(request)
    context = {"page": page, "base": _base(slug), "next": ""}
    status = 200
    if request.method == "POST":
        email = request.POST.get("email", "").strip()
        try:
            validate_email(email)
        except ValidationError:
            context["error"] = "Enter a valid email address."
            status = 400
        else:
            from subscribers import ratelimit

            try:
                request_link(page=page, email=email, ip=client_address(request))
            except ratelimit.RateLimited as exc:
                context["error"] = str(exc)
                status = 429
            else:
                context["sent"] = SIGN_IN_SENT
    return private_headers(render(request, "public/private_sign_in.html", context, status=status))


@require_http_methods(["GET", "POST"])
def link_view(request: HttpRequest, secret: str, slug: str | None = None) -> HttpResponse:
    """GET shows a button (mail scanners that fetch links must not spend them); POST signs in."""
    page = _page_for(request, slug)
    if page is None or not page.is_private:
        from statuspage.views import not_found

        return not_found(request)
    context = {"page": page, "base": _base(slug)}
    if request.method == "GET":
        return private_headers(render(request, "public/private_link.html", context))
    try:
        email = redeem_link(page=page, secret=secret)
    except BadViewerLink as exc:
        context["error"] = str(exc)
        return private_headers(render(request, "public/private_link.html", context, status=400))
    response = HttpResponse(status=303)
    response["Location"] = _base(slug)
    response.set_signed_cookie(
        _cookie_name(page.code),
        f"{page.code} {email}",
        salt=COOKIE_SALT,
        max_age=VIEWER_SESSION_SECONDS,
        path=_base(slug),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return private_headers(response)


urlpatterns = [
    path("private/sign-in", sign_in_view, name="private-sign-in"),
    path("private/link/<str:secret>", link_view, name="private-link"),
]
