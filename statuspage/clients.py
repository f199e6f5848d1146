"""Who is asking: the client's address, for rate limits, sign-in throttling and private pages' networks."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind the TLS proxy (BEHIND_TLS_PROXY, which sets SECURE_PROXY_SSL_HEADER) it
    is the last X-Forwarded-For entry, the one our proxy appended: anything before it was written by the
    client and is not trusted. Otherwise the connection's peer. At most 64 characters."""
    if settings.SECURE_PROXY_SSL_HEADER:
        last = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if last:
            return last[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]
