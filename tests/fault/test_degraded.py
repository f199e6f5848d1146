"""What the installation answers while PostgreSQL or Redis is unreachable (statuspage.outage), in-process
and fast: the database is made really unreachable (the connection pointed at a missing file or a closed
port), Redis is a closed port. The whole-system version with real servers stopped is test_outage.py."""

from __future__ import annotations

import contextlib
import socket

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, transaction

from incidents.services import create_incident
from statuspage import outage, publishing, snapshots
from statuspage.services import SYSTEM, add_member, create_api_key

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@contextlib.contextmanager
def database_unreachable():
    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    if conn.vendor == "sqlite":
        conn.settings_dict["NAME"] = "/nonexistent-folder/statuspage.sqlite3"
    else:
        conn.settings_dict["HOST"], conn.settings_dict["PORT"] = "127.0.0.1", _closed_port()
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


def test_console_answers_a_clear_503_when_the_database_is_unreachable(client, page):
    user = get_user_model().objects.create_user("ic", "ic@example.com", "x")
    add_member(actor=SYSTEM, page=page, user=user, role="owner")
    client.force_login(user)
    with database_unreachable():
        response = client.get("/console/")
    assert response.status_code == 503
    assert b"The database is unreachable" in response.content
    assert b"retry" in response.content
    assert response["Retry-After"] == str(outage.RETRY_AFTER_SECONDS)
    assert response["Cache-Control"] == "no-store"


def test_management_api_answers_json_503_when_the_database_is_unreachable(client, page):
    key = create_api_key(actor=SYSTEM, page=page, name="deploys", role="commander")[1]
    with database_unreachable():
        response = client.get(f"/api/v1/pages/{page.code}/incidents", HTTP_AUTHORIZATION=f"OAuth {key}")
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "service_unavailable" and body["unreachable"] == "database"
    assert "retry" in body["message"]


def test_public_page_and_json_serve_the_last_snapshot_with_its_age_when_the_database_is_down(client, page):
    create_incident(actor=SYSTEM, page=page, name="Checkout errors", body="Investigating.")
    publishing.publish_page(page.pk)
    snapshots.memory.clear()  # a fresh web process: only the cache and the disk
    with database_unreachable():
        html = client.get("/pages/acme/")
        summary = client.get("/pages/acme/api/v2/summary.json")
        lazy = client.get("/pages/acme/history?page=7")  # rendered on demand: needs the database
    assert html.status_code == 200
    assert b"Checkout errors" in html.content and b"Last updated" in html.content
    assert summary.status_code == 200 and summary.json()["incidents"][0]["name"] == "Checkout errors"
    assert lazy.status_code == 503


def test_the_snapshot_sweep_publishes_a_change_whose_publish_was_never_enqueued(page, other_page):
    publishing.publish_page(page.pk)
    publishing.publish_page(other_page.pk)
    assert publishing.refresh_stale_snapshots() == []  # both current: nothing to do
    # Committed, but its on-commit publish never ran (the broker was down, or the worker was killed).
    create_incident(actor=SYSTEM, page=page, name="Checkout errors", body="Investigating.")
    assert b"Checkout errors" not in _index(page)

    assert publishing.refresh_stale_snapshots() == [page.pk]  # only the page that changed
    assert b"Checkout errors" in _index(page)
    assert publishing.refresh_stale_snapshots() == []


def _index(page) -> bytes:
    snapshots.memory.clear()
    manifest = snapshots.read_manifest(page.code)
    return snapshots.read_document(page.code, manifest["version"], "index.html").body


def test_a_command_commits_and_succeeds_when_the_broker_is_unreachable(page):
    from celery import Celery

    from statuspage.tasks import publish_page_task

    broker = Celery("unreachable", set_as_current=False).connection_for_write(
        f"redis://127.0.0.1:{_closed_port()}/0"
    )
    tries = []

    def enqueue():
        tries.append(1)
        publish_page_task.apply_async([page.pk], connection=broker, retry_policy={"max_retries": 0})

    outage._broker_down_until = 0.0
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: outage.enqueue_after_commit(enqueue, "publish"))
            transaction.on_commit(lambda: outage.enqueue_after_commit(enqueue, "fan-out"))
        # Committed, no exception; the second enqueue did not pay for another failed connection.
        assert tries == [1]
    finally:
        outage._broker_down_until = 0.0
        broker.release()


def test_the_redis_cache_fails_open_when_redis_is_unreachable():
    cache = outage.TolerantRedisCache(
        f"redis://127.0.0.1:{_closed_port()}/0", {"OPTIONS": {"socket_connect_timeout": 1}}
    )
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is True  # a rate limit's first hit: let it through
    assert cache.incr("k") == 1
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.delete("k") is False
    cache.set("k", 1)  # dropped, no exception
