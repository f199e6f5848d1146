"""Fixed-window counters in the cache (Redis in production, the file cache with `make run`)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


class RateLimited(Exception):
    """Over a limit; the message says which, plainly, for the person who hit it."""


def allow(scope: str, key: str, *, limit: int, window: int = 3600) -> bool:
    """Count one hit for (scope, key) in the current window; true while within `limit`."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    name = f"rl:{scope}:{digest}"
    if cache.add(name, 1, timeout=window):
        return True
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=window)
        return True
    return count <= limit


def check_sign_up(page, *, ip: str, address: str) -> None:
    """Count a sign-up on `page` from `ip` for `address` (email or webhook URL); raise RateLimited when
    either the per-network or the per-address hourly limit is passed."""
    if not allow("subscribe-ip", f"{page.pk}:{ip}", limit=settings.SUBSCRIBE_LIMIT_PER_IP):
        raise RateLimited("Too many sign-ups from your network in the last hour. Please try again later.")
    key = f"{page.pk}:{address.strip().lower()}"
    if not allow("subscribe-address", key, limit=settings.SUBSCRIBE_LIMIT_PER_ADDRESS):
        raise RateLimited("Too many sign-ups for this address in the last hour. Please try again later.")
