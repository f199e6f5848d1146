"""The security headers of every response, from one place.

Every HTML page we serve (public page, console, admin, the snapshot fast path) carries the same
Content-Security-Policy: scripts and styles only from our own origin, no inline script, no inline style,
no eval, no frames, no plugins, no <base>. User text never needs an exception: it is escaped, or Markdown
rendered without raw HTML and sanitized by nh3 (statuspage/markdown.py); the page's brand colour comes in
through a stylesheet (statuspage/branding.py), not an inline <style>.

`headers()` is what anything that writes a response itself must send (statuspage/fastpath.py); the
middleware adds the same to every Django response that does not already carry a policy. The one view that
sets its own is the Swagger UI at /api/docs/ (`allow_inline_styles`): Swagger UI, a React app, writes
style attributes as it renders, so that page alone also allows inline styles (still no inline script).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "frame-src": "'none'",
}


def policy(**overrides: str) -> str:
    """The Content-Security-Policy value; `overrides` replace directives (style_src="'self' ...")."""
    directives = DIRECTIVES | {name.replace("_", "-"): value for name, value in overrides.items()}
    return "; ".join(f"{name} {value}" for name, value in directives.items())


CONTENT_SECURITY_POLICY = policy()

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def headers() -> dict[str, str]:
    """The headers every response we serve carries (a copy: callers may add to it)."""
    return dict(HEADERS)


class SecurityHeadersMiddleware:
    """Adds `headers()` to every response, keeping any the view set itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        for name, value in HEADERS.items():
            if name not in response:
                response[name] = value
        return response


SWAGGER_POLICY = policy(style_src="'self' 'unsafe-inline'")


def allow_inline_styles(view: Callable) -> Callable:
    """For the Swagger UI page only: its React components set style attributes. Scripts stay 'self'."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = SWAGGER_POLICY
        return response

    return wrapped
