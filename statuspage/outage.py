"""When PostgreSQL or Redis is down (DESIGN.md: "the page must be the last thing standing").

The public documents are served from the snapshot and need neither (statuspage.views). Everything else
that needs the database (the console, the management API, a lazily rendered public document) answers a
clear 503 that says what is unreachable and to retry, never a 500 traceback: `OutageMiddleware` catches
the error a view raises, and `outage_response` is also asked by the 500 handler, for errors raised
outside any view (a middleware loading the session, for instance).

Enqueueing after commit is the other place an outage bites: the rows are committed, but the broker may be
gone. `enqueue_after_commit` logs and moves on; the beat sweepers find the work in the database (pages whose
snapshot is behind their audit trail, outbox events never fanned out, deliveries never sent).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30


def _outage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [OperationalError, InterfaceError]
    try:  # Redis where the cache or a rate limit reaches it directly
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:  # the broker, when a view enqueues directly
        from kombu.exceptions import OperationalError as BrokerError

        errors.append(BrokerError)
    except ImportError:  # pragma: no cover - celery is a dependency
        pass
    return tuple(errors)


OUTAGE_ERRORS = _outage_errors()
# What an enqueue raises when Redis (the broker) is unreachable: only these are swallowed after commit, so
# an eager task's own error in a test still surfaces.
BROKER_ERRORS = tuple(e for e in OUTAGE_ERRORS if not issubclass(e, OperationalError | InterfaceError))
REDIS_ERRORS = tuple(e for e in OUTAGE_ERRORS if e.__module__.startswith("redis"))


def what_is_down(exc: BaseException) -> str | None:
    """'database' or 'cache' for an error that means a backing service is unreachable, else None."""
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    if isinstance(exc, OUTAGE_ERRORS):
        return "queue" if type(exc).__module__.startswith("kombu") else "cache"
    return None


def outage_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """A 503 for `exc` when it means PostgreSQL or Redis is unreachable; None for any other error."""
    down = what_is_down(exc)
    if down is None:
        return None
    log.warning("503 for %s %s: the %s is unreachable (%s)", request.method, request.path, down, exc)
    message = f"The {down} is unreachable right now. Nothing was lost; please retry in a minute."
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": "service_unavailable", "message": message, "unreachable": down}, status=503
        )
    else:
        response = HttpResponse(
            render_to_string("console/503.html", {"down": down, "retry_after": RETRY_AFTER_SECONDS}),
            status=503,
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def current_outage_response(request: HttpRequest) -> HttpResponse | None:
    """For the 500 handler: a 503 when the exception being handled is an outage."""
    exc = sys.exc_info()[1]
    return outage_response(request, exc) if exc is not None else None


class OutageMiddleware:
    """Turn a view's database or Redis connection error into a 503 (HTML, or JSON under /api/)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return outage_response(request, exception)


BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def enqueue_after_commit(send: Callable[[], object], what: str) -> None:
    """Run `send` (a Celery enqueue) and, if the broker is unreachable, log instead of raising: the
    transaction has committed, so the request succeeded, and a beat sweeper will find the work in the
    database once the broker is back. Raising here would turn a saved update into a 500."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        # Each failed try costs about a second of connection retries: after one, this process stops trying
        # for a few seconds, so a command that enqueues several things does not pay it each time.
        log.warning("not enqueueing %s: the broker was unreachable moments ago", what)
        return
    try:
        send()
    except BROKER_ERRORS as exc:
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        log.warning("could not enqueue %s (%s); the beat sweeper will pick it up", what, exc)


class TolerantRedisCache(RedisCache):
    """The Redis cache, failing open when Redis is unreachable: a read misses, a write is dropped, a counter
    starts again at 1. What the cache holds here is either kept elsewhere too (snapshots on disk) or only
    a brake (rate limits, sign-in throttling, idempotency of retries within seconds), so an outage of Redis
    must not take the console and the management API down with it. The trade-off: while Redis is down,
    rate limits do not hold. /readyz still sees the outage (its probe value does not come back)."""

    _last_warning = 0.0

    def _down(self, exc: Exception, default):
        now = time.monotonic()
        if now - TolerantRedisCache._last_warning > 10:  # one line per process every 10 s, not per call
            TolerantRedisCache._last_warning = now
            log.warning("cache unreachable, failing open: %s", exc)
        return default

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, default)

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, {})

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, False)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, True)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set(key, value, timeout, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, list(data))

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, False)

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, delta)

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, False)

    def delete_many(self, keys, version=None):
        try:
            return super().delete_many(keys, version)
        except REDIS_ERRORS as exc:
            return self._down(exc, None)
