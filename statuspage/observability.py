"""How the installation sees itself: request ids and timing (middleware), /readyz and /metrics.

/healthz (statuspage.views) says the process answers. /readyz says whether the database, the cache and the
broker answer, naming the one that does not; each is checked in its own daemon thread and waited for at
most READYZ_TIMEOUT seconds in all, so a server that accepts connections and never replies (the usual way a
dead host looks) cannot hang the probe. docs/operations.md describes both and what to alert on.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from statuspage import logging as structured
from statuspage import metrics

log = logging.getLogger("statuspage.request")

# An incoming X-Request-ID is kept when it is short and plain (a proxy's UUID, a trace id); anything else
# (spaces, quotes, newlines that could forge log lines or headers) is replaced by a fresh id.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _FreshIds:
    """Fresh request ids: 32 hex digits, a random prefix per process and a counter. Unique within the
    installation, as an id must be (it need not be secret), at a fraction of token_hex's cost on the
    public fast path's tens of thousands of requests a second. A forked process takes a new prefix
    (os.register_at_fork), so it never repeats its parent's ids."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = secrets.token_hex(10)
        self.counter = itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):012x}"


fresh_request_id = _FreshIds()


def request_id(incoming: str | None) -> str:
    """The id of a request: its X-Request-ID when plain, otherwise a fresh one. The middleware and the
    public fast path (statuspage/fastpath.py) both use this."""
    return incoming if incoming and SANE_REQUEST_ID.match(incoming) else fresh_request_id()


class RequestMiddleware:
    """Gives every request an id (X-Request-ID in, or a new one; echoed in the response), puts it on every
    log line written while the request runs, counts the request in the metrics and logs one line for it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        rid = request_id(request.headers.get("X-Request-ID"))
        request.request_id = rid
        token = structured.request_id.set(rid)
        try:
            response = self.get_response(request)
            seconds = time.perf_counter() - start
            response["X-Request-ID"] = rid
            match = request.resolver_match
            if match is not None:
                route = match.route or match.view_name
            else:  # WhiteNoise answers static files before URL resolution; anything else matched nothing
                route = "static" if request.path.startswith(settings.STATIC_URL) else "unmatched"
            metrics.record_request(
                route=route, method=request.method or "", status=response.status_code, seconds=seconds
            )
            log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            return response
        finally:
            structured.request_id.reset(token)


# --- Readiness ------------------------------------------------------------------------------------


def check_database() -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        # This runs in a thread of its own: its connection must not outlive it.
        connection.close()


def check_cache() -> None:
    from django.core.cache import caches

    cache = caches["default"]
    key, value = "readyz:" + secrets.token_hex(8), secrets.token_hex(8)
    cache.set(key, value, 30)
    if cache.get(key) != value:
        raise RuntimeError("the cache did not return what was just stored")
    cache.delete(key)


def _broker_connection(timeout: float):
    from statuspage.celery import app

    options = dict(app.conf.broker_transport_options or {})
    # Redis: bound the connect and every command; other transports ignore these keys. No waiting between
    # attempts: a probe reports what it finds, a worker is the one that keeps retrying.
    options.update(
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        max_retries=1,
        interval_start=0,
        interval_step=0,
    )
    return app.connection_for_read(connect_timeout=timeout, transport_options=options)


def check_broker() -> None:
    with _broker_connection(settings.READYZ_TIMEOUT) as conn:
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=settings.READYZ_TIMEOUT
        )
        conn.default_channel  # noqa: B018 (opening the channel is the check: Redis is pinged here)


def queue_depths(queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting in each queue; a queue never declared (or drained, on Redis) counts 0."""
    from kombu.exceptions import ChannelError

    depths = {}
    with _broker_connection(settings.READYZ_TIMEOUT) as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
            except ChannelError:
                depths[queue] = 0
    return depths


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def readiness(timeout: float) -> dict[str, str]:
    """{"database": "ok" | "<why not>", "cache": ..., "broker": ...}, all checked at once in daemon
    threads (a hung one is abandoned, not joined: it cannot keep the process from exiting either)."""
    results: dict[str, str] = {}

    def run(name: str, check: Callable[[], None]) -> None:
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__

    threads = [
        threading.Thread(target=run, args=(name, check), name=f"readyz-{name}", daemon=True)
        for name, check in CHECKS.items()
    ]
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: results.get(name, f"no answer within {timeout:g} s") for name in CHECKS}


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database, the cache and the broker all answer; 503 naming those that do not."""
    results = readiness(settings.READYZ_TIMEOUT)
    failing = sorted(name for name, result in results.items() if result != "ok")
    if failing:
        log.warning("not ready: %s", ", ".join(failing), extra={"checks": results})
    body = results | ({"failing": failing} if failing else {})
    return HttpResponse(json.dumps(body), status=503 if failing else 200, content_type="application/json")


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus exposition; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body, content_type = metrics.exposition()
    return HttpResponse(body, content_type=content_type)
