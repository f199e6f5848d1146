"""The installation sees itself: /readyz names what is down (and never hangs on it), /metrics counts what
happens and reads the state, and log lines are JSON carrying the request or task they belong to."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from incidents.services import create_incident, post_update
from statuspage import logging as structured
from statuspage.celery import app
from statuspage.services import SYSTEM
from subscribers.models import Delivery, DeliveryState
from subscribers.services import subscribe

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def silent_server():
    """A TCP port that accepts connections (the kernel completes the handshake) and never answers: how a
    hung database or Redis looks to a client."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- /readyz -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_readyz_is_200_when_database_cache_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_503_naming_the_cache_when_redis_is_not_listening(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["database"] == body["broker"] == "ok"
    assert "refused" in body["cache"].lower() or "connect" in body["cache"].lower()


@pytest.fixture
def broker_at(monkeypatch):
    """Point the Celery app at another broker for one test (Celery reads CELERY_BROKER_URL first)."""
    saved = app.conf.broker_url

    def point(url: str) -> None:
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        app.conf.broker_url = url

    yield point
    app.conf.broker_url = saved


@pytest.mark.django_db
def test_readyz_answers_within_its_timeout_when_the_broker_accepts_and_never_replies(
    client, settings, broker_at
):
    settings.READYZ_TIMEOUT = 1
    with silent_server() as port:
        broker_at(f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    # Bounded by the timeout, not by the dead server: a hung probe would be the probe's own outage.
    assert elapsed < 5, elapsed


def test_readyz_names_the_database_when_postgresql_does_not_answer(tmp_path):
    """A web process whose DATABASE_URL points at a server that accepts and never replies (libpq would
    wait for ever): /readyz still answers, 503, naming the database. Its own process, so the test
    database of this run is untouched."""
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    with silent_server() as port:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "statuspage.settings",
            "DATABASE_URL": f"postgres://nobody@127.0.0.1:{port}/nothing",
            "DATA_DIR": str(tmp_path),
            "READYZ_TIMEOUT": "1",
            "CELERY_BROKER_URL": "memory://",
            "ALLOWED_HOSTS": "*",
            "LOG_LEVEL": "ERROR",
        }
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["failing"] == ["database"]
    assert answer["body"]["cache"] == answer["body"]["broker"] == "ok"


# --- /metrics ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_count_requests_by_route_method_and_status_class(client, page):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no/such/thing/at/all")
    after = scrape(client)
    ok = {"method": "GET", "route": "healthz", "status": "2xx"}
    assert (
        value(after, "statuspage_http_requests_total", **ok)
        - value(before, "statuspage_http_requests_total", **ok)
        == 2
    )
    assert (
        value(after, "statuspage_http_request_duration_seconds_count", route="healthz")
        - value(before, "statuspage_http_request_duration_seconds_count", route="healthz")
        == 2
    )
    # An unknown path is one series, whatever was asked for.
    gone = {"method": "GET", "route": "unmatched", "status": "4xx"}
    assert (
        value(after, "statuspage_http_requests_total", **gone)
        - value(before, "statuspage_http_requests_total", **gone)
        == 1
    )


@pytest.mark.django_db
def test_requests_tallied_in_many_threads_reach_the_histogram_as_observe_would_put_them(client, page):
    """record_request tallies in process memory and flush_requests adds the tally in bulk: every request
    counted once, in the bucket Histogram.observe() would choose, the sum exact."""
    from statuspage import metrics

    route = "tally-test"
    before = scrape(client)
    seconds = [0.0005, 0.001, 0.003, 0.003, 7.0, 20.0]

    def record() -> None:
        for s in seconds:
            metrics.record_request(route=route, method="GET", status=200, seconds=s)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    metrics.record_request(route=route, method="BREW", status=418, seconds=0.0)
    after = scrape(client)  # a scrape flushes its own process's tally first

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("statuspage_http_requests_total", method="GET", route=route, status="2xx") == 48
    assert delta("statuspage_http_requests_total", method="other", route=route, status="4xx") == 1
    bucket = "statuspage_http_request_duration_seconds_bucket"
    # Cumulative, as exposed: le=0.001 holds 0.0005 and 0.001 (a bound is inclusive), and so on.
    expected = {"0.001": 17, "0.0025": 17, "0.005": 33, "5.0": 33, "10.0": 41, "+Inf": 49}
    assert {le: delta(bucket, route=route, le=le) for le in expected} == expected
    assert delta("statuspage_http_request_duration_seconds_count", route=route) == 49
    total = delta("statuspage_http_request_duration_seconds_sum", route=route)
    assert total == pytest.approx(8 * sum(seconds))


@pytest.mark.django_db
def test_a_process_flushes_its_tally_without_a_scrape(page):
    """Each process runs one flusher thread, so counts reach the shared files that another process
    scrapes even when this process never answers /metrics."""
    from statuspage import metrics

    metrics.record_request(route="flusher-test", method="GET", status=200, seconds=0.01)
    flushers = [t for t in threading.enumerate() if t.name == "metrics-flush"]
    assert len(flushers) == 1 and flushers[0].daemon and flushers[0].is_alive()
    assert metrics._flusher_started
    # And it does flush: the count reaches this process's file with no scrape and no explicit flush.
    child = metrics.REQUESTS.labels("GET", "flusher-test", "2xx")
    deadline = time.monotonic() + 5 * metrics.FLUSH_SECONDS
    while child._value.get() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for another thread, not for a clock
    assert child._value.get() >= 1


def test_a_forked_process_does_not_count_its_parent_s_unflushed_requests_again():
    """A web server that forks after requests were tallied (before the flush) must not have the child add
    them too: the child starts with an empty tally (and fresh locks)."""
    from statuspage import metrics

    metrics.record_request(route="fork-test", method="GET", status=200, seconds=0.01)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: flush what it holds and report its own file's count
        metrics.flush_requests()
        os.write(write, str(metrics.REQUESTS.labels("GET", "fork-test", "2xx")._value.get()).encode())
        os._exit(0)
    os.close(write)
    counted_by_child = float(os.read(read, 64).decode())
    os.waitpid(pid, 0)
    metrics.flush_requests()
    assert counted_by_child == 0
    assert metrics.REQUESTS.labels("GET", "fork-test", "2xx")._value.get() == 1


@pytest.mark.django_db
def test_posting_an_update_is_counted_in_the_publish_histogram(client, page, worker, setup_committed):
    setup_committed()
    with worker():
        incident = create_incident(actor=SYSTEM, page=page, name="API errors", body="Looking.")
    setup_committed()  # as if committed: the next command schedules its own publish
    before = scrape(client)
    with worker():
        post_update(actor=SYSTEM, incident=incident, status="identified", body="Found it.")
    after = scrape(client)
    assert (
        value(after, "statuspage_publish_duration_seconds_count")
        - value(before, "statuspage_publish_duration_seconds_count")
        == 1
    )
    assert value(after, "statuspage_publish_duration_seconds_sum") > value(
        before, "statuspage_publish_duration_seconds_sum"
    )
    # The page was just published: its snapshot is fresh and not behind its latest change.
    assert value(after, "statuspage_snapshot_behind_seconds", page="acme") == 0
    assert 0 <= value(after, "statuspage_snapshot_age_seconds", page="acme") < 60


@pytest.mark.django_db
def test_a_failing_delivery_shows_as_retrying_and_due(client, page, worker, settings, setup_committed):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens
    subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True)
    setup_committed()
    before = scrape(client)
    with worker():
        create_incident(actor=SYSTEM, page=page, name="API errors", body="Looking.")
    (delivery,) = Delivery.objects.all()
    assert delivery.state == DeliveryState.RETRYING
    after = scrape(client)
    assert (
        value(after, "statuspage_deliveries", state="retrying")
        - value(before, "statuspage_deliveries", state="retrying")
        == 1
    )
    assert value(after, "statuspage_deliveries", state="sent") == value(
        before, "statuspage_deliveries", state="sent"
    )
    with time_machine.travel(delivery.next_attempt_at + timedelta(minutes=5), tick=False):
        later = scrape(client)
    assert value(later, "statuspage_deliveries_oldest_due_seconds") >= 300


@pytest.mark.django_db
def test_an_incident_past_its_update_cadence_is_counted_overdue(client, page):
    with time_machine.travel(timezone.now(), tick=False) as clock:
        incident = create_incident(actor=SYSTEM, page=page, name="API errors", body="Looking.")
        assert incident.next_update_due_at is not None
        assert value(scrape(client), "statuspage_incidents_overdue") == 0
        assert value(scrape(client), "statuspage_incidents_open") == 1
        clock.move_to(incident.next_update_due_at + timedelta(minutes=1))
        assert value(scrape(client), "statuspage_incidents_overdue") == 1
        post_update(actor=SYSTEM, incident=incident, status="identified", body="Found it.")
        assert value(scrape(client), "statuspage_incidents_overdue") == 0


@pytest.mark.django_db
def test_metrics_show_queue_depths_and_no_scrape_errors(client, page):
    samples = scrape(client)
    for queue in ("publish", "deliver", "time", "celery"):
        assert ("statuspage_queue_depth", (("queue", queue),)) in samples
    assert value(samples, "statuspage_scrape_error", source="database") == 0
    assert value(samples, "statuspage_scrape_error", source="broker") == 0


@pytest.mark.django_db
def test_queue_depth_counts_waiting_tasks(client, page):
    from statuspage.tasks import publish_page_task

    before = value(scrape(client), "statuspage_queue_depth", queue="publish")
    publish_page_task.delay(page.pk)
    assert value(scrape(client), "statuspage_queue_depth", queue="publish") == before + 1
    with app.connection_for_write() as conn:  # leave the memory queue as found
        conn.default_channel.queue_purge("publish")


@pytest.mark.django_db
def test_a_dead_broker_is_a_scrape_error_not_a_500(client, settings, broker_at):
    settings.READYZ_TIMEOUT = 1
    broker_at(f"redis://127.0.0.1:{free_port()}/0")
    samples = scrape(client)
    assert value(samples, "statuspage_scrape_error", source="broker") == 1
    assert value(samples, "statuspage_scrape_error", source="database") == 0


@pytest.mark.django_db
def test_metrics_token_is_required_when_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


# --- Logs ----------------------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """What the root logger writes, through the JSON formatter and context filter that settings install."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured.JSONFormatter())
    handler.addFilter(structured.ContextFilter())
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(saved)


@pytest.mark.django_db
def test_request_log_lines_are_json_with_the_request_id_echoed_in_the_response(client, json_log):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-1234.abc")
    assert response["X-Request-ID"] == "edge-1234.abc"
    (line,) = [entry for entry in json_log() if entry["logger"] == "statuspage.request"]
    assert line["request_id"] == "edge-1234.abc"
    assert line["level"] == "INFO"
    assert line["status"] == 200 and line["route"] == "healthz" and line["method"] == "GET"
    assert line["time"].endswith("Z")


@pytest.mark.django_db
def test_an_unsafe_incoming_request_id_is_replaced(client, json_log):
    response = client.get("/healthz", HTTP_X_REQUEST_ID='x" forged\tline')
    rid = response["X-Request-ID"]
    assert rid != 'x" forged\tline'
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid)
    assert json_log()[-1]["request_id"] == rid
    other = client.get("/healthz")["X-Request-ID"]
    assert other != rid


@pytest.mark.django_db
def test_a_task_log_line_carries_the_task_id_and_name(page, eager_tasks, json_log):
    from statuspage.tasks import publish_page_task

    result = publish_page_task.delay(page.pk)
    (line,) = [entry for entry in json_log() if entry["logger"] == "statuspage.tasks"]
    assert line["task_id"] == result.id
    assert line["task_name"] == "statuspage.tasks.publish_page"
    assert line["page"] == page.code
    # Outside the task the ids are gone again.
    logging.getLogger("statuspage.tasks").warning("after")
    assert "task_id" not in json_log()[-1]


def test_an_exception_is_logged_as_one_json_line(json_log):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("statuspage.test").exception("it broke")
    (line,) = json_log()
    assert line["message"] == "it broke"
    assert "ValueError: boom" in line["exc_info"]
