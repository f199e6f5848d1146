"""Prometheus metrics (docs/operations.md lists each one and the alerts to set on them).

Two kinds:
- Events counted where they happen (requests, publishes): counters and histograms in prometheus-client's
  multiprocess mode, because the web server and the worker each run several processes. Every process
  writes its own files under PROMETHEUS_MULTIPROC_DIR and a scrape adds them up.
- State read at scrape time (deliveries by state, overdue incidents, queue depths, snapshot age): counted
  from the database, the broker and the snapshot manifests by `StateCollector`, so they are right whichever
  process answers and survive restarts. Each source that fails is reported as such, never as a 500.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from bisect import bisect_left
from pathlib import Path

from django.conf import settings

# prometheus-client chooses its value store at import, from this variable: it must be set first. Every
# process of one installation (on one host) shares the folder; `manage.py launch` wipes it at start.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.PROMETHEUS_MULTIPROC_DIR))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import values as _values  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

# If something imported prometheus_client before the variable was set (a test helper, a library), its
# value store is the in-process one: choose again, now that the folder is known.
_values.ValueClass = _values.get_value_class()

log = logging.getLogger(__name__)

# Label values come from a fixed set, so a client cannot grow the series count with odd requests.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUEUES = ("publish", "deliver", "time", "celery")

REQUESTS = Counter(
    "statuspage_http_requests",
    "HTTP requests answered, by method, route pattern and status class.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "statuspage_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PUBLISH_SECONDS = Histogram(
    "statuspage_publish_duration_seconds",
    "Time to render and store one page's snapshot (the publish task).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PUBLISH_FAILURES = Counter("statuspage_publish_failures", "Publish tasks that raised.")


# Requests are tallied in plain process memory and added to the multiprocess files at most every
# FLUSH_SECONDS (and before this process answers a scrape). Writing them as they come costs about 7 µs a
# request (a labels() lookup per metric and three mmap writes for the histogram): half of what the public
# fast path spends on a request. A tally costs a dict update and a bisect. The price is that a scrape may
# miss the last second of another process's requests; they appear in the next one.
FLUSH_SECONDS = 1.0
_bounds: tuple[float, ...] = tuple(REQUEST_SECONDS._upper_bounds)  # ends with +Inf, as observe() reads it


def _new_tally() -> None:
    """Start this process's tally afresh: at import, and in a forked child, which must neither add its
    parent's unflushed requests a second time nor inherit a lock another thread held at the fork; its
    flusher thread did not survive the fork either."""
    global _tally_lock, _flush_lock, _counts, _latency, _flusher_started
    _tally_lock = threading.Lock()
    _flush_lock = threading.Lock()
    _counts = {}  # (method, route, status class) -> requests
    _latency = {}  # route -> requests per bucket of _bounds, then the sum of their seconds
    _flusher_started = False


_tally_lock: threading.Lock
_flush_lock: threading.Lock
_counts: dict[tuple[str, str, str], int]
_latency: dict[str, list[float]]
_flusher_started: bool
_new_tally()
os.register_at_fork(after_in_child=_new_tally)


def record_request(*, route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request. `route` is the URL pattern (never the raw path: one series per
    route, not per incident code); the public fast path calls this as the middleware does. Thread-safe;
    the count reaches the multiprocess files within FLUSH_SECONDS (flush_requests)."""
    key = (method if method in METHODS else "other", route, f"{status // 100}xx")
    bucket = bisect_left(_bounds, seconds)  # observe(): the first bound with seconds <= bound
    with _tally_lock:
        _counts[key] = _counts.get(key, 0) + 1
        buckets = _latency.get(route)
        if buckets is None:
            buckets = _latency[route] = [0.0] * (len(_bounds) + 1)
        buckets[bucket] += 1
        buckets[-1] += seconds
    if not _flusher_started:
        _start_flusher()


def flush_requests() -> None:
    """Add this process's tallied requests to the shared metric files. Idempotent: a tally is taken
    under the lock and cleared, so each request is added once."""
    global _counts, _latency
    # One flush at a time, whole: a scrape that flushes while the flusher thread writes waits for it, so
    # it reads every request counted before it began.
    with _flush_lock:
        with _tally_lock:
            counts, latency = _counts, _latency
            _counts, _latency = {}, {}
        for (method, route, status), n in counts.items():
            REQUESTS.labels(method, route, status).inc(n)
        for route, buckets in latency.items():
            child = REQUEST_SECONDS.labels(route)
            # Histogram.observe() adds 1 to the first matching bucket and the amount to the sum; these
            # are the same stores, added to in bulk (tests/statuspage/test_observability.py reads them).
            for i, n in enumerate(buckets[:-1]):
                if n:
                    child._buckets[i].inc(n)
            child._sum.inc(buckets[-1])


def _start_flusher() -> None:
    """One daemon thread per process flushes the tally every FLUSH_SECONDS (a forked child starts its own
    on its first request: _new_tally)."""
    global _flusher_started
    with _tally_lock:
        if _flusher_started:
            return
        _flusher_started = True

    def run() -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                flush_requests()
            except Exception:  # a full disk must not end the thread: the tally waits for the next round
                log.warning("metrics: flushing request counts failed", exc_info=True)

    threading.Thread(target=run, name="metrics-flush", daemon=True).start()


class publish_timer:
    """Time one publish into PUBLISH_SECONDS; a publish that raises is counted in PUBLISH_FAILURES."""

    seconds = 0.0

    def __enter__(self) -> publish_timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.seconds = time.perf_counter() - self.start
        if exc_type is None:
            PUBLISH_SECONDS.observe(self.seconds)
        else:
            PUBLISH_FAILURES.inc()


# --- State read at scrape time ---------------------------------------------------------------------


def _deliveries() -> dict[str, int]:
    from django.db.models import Count

    from subscribers.models import Delivery, DeliveryState

    # One GROUP BY over the table. On a very large delivery table this is a scan per scrape: scrape every
    # 30 s or more, and prune old sent deliveries (docs/operations.md).
    counts = dict.fromkeys(DeliveryState.values, 0)
    for row in Delivery.objects.order_by().values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    return counts


def _oldest_due_delivery_seconds(now: float) -> float:
    from django.utils import timezone

    from subscribers.models import Delivery, DeliveryState

    # The partial in-flight index (state, next_attempt_at) answers this with one index probe per state.
    oldest = (
        Delivery.objects.filter(
            state__in=[DeliveryState.PENDING, DeliveryState.RETRYING],
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    return max(0.0, now - oldest.timestamp()) if oldest else 0.0


def _incidents() -> tuple[int, int]:
    from django.utils import timezone

    from incidents.models import Incident

    open_incidents = Incident.objects.open()
    return open_incidents.count(), open_incidents.filter(next_update_due_at__lt=timezone.now()).count()


def _snapshots(now: float) -> list[tuple[str, float | None, float]]:
    """(page slug, seconds since its snapshot was rendered or None when it has none, seconds its latest
    change has waited for a publish: 0 when the snapshot is newer than every change)."""
    from datetime import datetime

    from django.db.models import OuterRef, Subquery

    from statuspage import snapshots
    from statuspage.models import AuditEvent, Page

    latest = AuditEvent.objects.filter(page=OuterRef("pk")).order_by("-created_at").values("created_at")
    out = []
    for code, slug, changed in Page.objects.order_by("slug").values_list(
        "code", "slug", Subquery(latest[:1])
    ):
        manifest = snapshots.read_manifest(code)
        if manifest is None:
            out.append((slug, None, now - changed.timestamp() if changed else 0.0))
            continue
        published = datetime.fromisoformat(manifest["published_at"]).timestamp()
        behind = now - changed.timestamp() if changed and changed.timestamp() > published else 0.0
        out.append((slug, now - published, behind))
    return out


class StateCollector(Collector):
    """Gauges computed at scrape time. A source that fails sets statuspage_scrape_error{source} to 1 and
    leaves its gauges out, so a database outage shows as itself, not as zero deliveries."""

    def collect(self):
        now = time.time()
        errors = GaugeMetricFamily(
            "statuspage_scrape_error", "1 when a source could not be read for this scrape.", labels=["source"]
        )
        yield from self._guarded("database", errors, lambda: self._database(now))
        yield from self._guarded("broker", errors, self._broker)
        yield errors

    @staticmethod
    def _guarded(source: str, errors: GaugeMetricFamily, produce):
        try:
            families = list(produce())
        except Exception:
            log.warning("metrics: %s could not be read", source, exc_info=True)
            errors.add_metric([source], 1)
            return []
        errors.add_metric([source], 0)
        return families

    @staticmethod
    def _database(now: float):
        deliveries = GaugeMetricFamily(
            "statuspage_deliveries", "Deliveries (one event to one subscriber) by state.", labels=["state"]
        )
        for state, n in _deliveries().items():
            deliveries.add_metric([state], n)
        yield deliveries
        yield GaugeMetricFamily(
            "statuspage_deliveries_oldest_due_seconds",
            "How long the longest-waiting due delivery (pending or retrying) has waited; 0 when none.",
            value=_oldest_due_delivery_seconds(now),
        )
        open_count, overdue = _incidents()
        yield GaugeMetricFamily("statuspage_incidents_open", "Open incidents, all pages.", value=open_count)
        yield GaugeMetricFamily(
            "statuspage_incidents_overdue",
            "Open incidents whose next public update is past due (next_update_due_at in the past).",
            value=overdue,
        )
        age = GaugeMetricFamily(
            "statuspage_snapshot_age_seconds",
            "Seconds since the page's live snapshot was rendered (pages without a snapshot are left out).",
            labels=["page"],
        )
        behind = GaugeMetricFamily(
            "statuspage_snapshot_behind_seconds",
            "Seconds the page's latest change has waited without a newer snapshot; 0 when published.",
            labels=["page"],
        )
        missing = 0
        for slug, seconds, waiting in _snapshots(now):
            if seconds is None:
                missing += 1
            else:
                age.add_metric([slug], seconds)
            behind.add_metric([slug], waiting)
        yield age
        yield behind
        yield GaugeMetricFamily(
            "statuspage_snapshots_missing", "Pages with no published snapshot.", value=missing
        )

    @staticmethod
    def _broker():
        from statuspage import observability

        depth = GaugeMetricFamily(
            "statuspage_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"]
        )
        for queue, n in observability.queue_depths(QUEUES).items():
            depth.add_metric([queue], n)
        yield depth


def exposition() -> tuple[bytes, str]:
    """The /metrics body and its content type: every process's counters plus the state read now."""
    flush_requests()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


def wipe_multiprocess_dir() -> None:
    """Remove the previous run's files (prometheus-client's instructions: empty the folder before the
    processes start). Call only when no process of this installation is running."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    for path in folder.glob("*.db"):
        path.unlink(missing_ok=True)
