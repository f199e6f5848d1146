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


def check_account_sign_up(*, ip: str, email: str = "") -> None:
    """Count an attempt at the console's open sign-up (ALLOW_SIGNUP): against `ip` when no `email` is given
    (every attempt, valid or not, so the form cannot be used to try usernames at speed), else against the
    email address of a valid form. Raise RateLimited past SIGNUP_LIMIT_PER_IP or SIGNUP_LIMIT_PER_ADDRESS
    an hour."""
    if not email:
        if not allow("signup-ip", ip, limit=settings.SIGNUP_LIMIT_PER_IP):
            raise RateLimited("Too many sign-ups from your network in the last hour. Try again later.")
    elif not allow("signup-address", email.strip().lower(), limit=settings.SIGNUP_LIMIT_PER_ADDRESS):
        raise RateLimited("Too many sign-ups for this email address in the last hour. Try again later.")
