"""Shared fixtures. Every test gets two pages, so isolation between tenants can be checked anywhere."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from components.services import create_component, create_group
from statuspage import snapshots
from statuspage.services import SYSTEM, create_page

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_unless_ci(reason: str) -> None:
    """Skip a test that needs something a fresh machine may lack; under CI (which installs it all) fail."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_snapshots(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    snapshots.memory.clear()
    cache.clear()
    yield
    snapshots.memory.clear()
    shutil.rmtree(tmp_path / "snapshots", ignore_errors=True)


@pytest.fixture
def setup_committed(db):
    """Forget the on-commit work of the test's setup, as if it had committed: the test then sees only
    what its own actions schedule (the test transaction itself never commits)."""
    from django.db import connection

    def forget():
        connection.run_on_commit.clear()

    return forget


@pytest.fixture
def page(db):
    return create_page(actor=SYSTEM, name="Acme", slug="acme", time_zone="America/Los_Angeles")


@pytest.fixture
def other_page(db):
    return create_page(actor=SYSTEM, name="Globex", slug="globex", time_zone="Europe/Paris")


@pytest.fixture
def pages(page, other_page):
    return page, other_page


@pytest.fixture
def make_component(db):
    def make(page, name, *, group=None, at=None, **fields):
        return create_component(actor=SYSTEM, page=page, name=name, group=group, at=at or T0, **fields)

    return make


@pytest.fixture
def make_group(db):
    def make(page, name, **fields):
        return create_group(actor=SYSTEM, page=page, name=name, **fields)

    return make


def json_roundtrip(*args):
    """Task arguments as a broker would carry them."""
    return json.loads(json.dumps(args))


@pytest.fixture
def smtp(settings):
    """A real SMTP server on 127.0.0.1; the application's mail goes there through Django's SMTP backend."""
    from tests.receivers import SMTPServer

    with SMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        server.sink.port = server.port
        yield server.sink


@pytest.fixture
def http_receiver():
    from tests.receivers import HTTPReceiver

    with HTTPReceiver() as receiver:
        yield receiver


@pytest.fixture
def eager_tasks():
    """Celery runs the real tasks in the process that enqueues them (task_always_eager), errors
    propagating: what a worker would do, without one. With a live server, a request's on-commit
    publishing then happens before the response."""
    from statuspage.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def worker(django_capture_on_commit_callbacks, eager_tasks):
    """Run what a request enqueues as a worker would: on-commit callbacks fire when the block exits and
    the tasks run in this process.

        with worker():
            client.post(...)
    """
    return lambda: django_capture_on_commit_callbacks(execute=True)
