"""Real processes for fault tests: a Celery worker and Celery beat started as subprocesses against the
suite's PostgreSQL and Redis, killed by process group, and bounded waits. Nothing of ours is mocked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def real_services() -> str | None:
    """Why a fault test cannot run here (None when PostgreSQL and Redis are both configured)."""
    if connection.vendor != "postgresql":
        return "needs PostgreSQL (DATABASE_URL)"
    if not os.environ.get("REDIS_URL"):
        return "needs Redis (REDIS_URL)"
    return None


def process_env(**extra: str) -> dict:
    """The environment a worker or beat of this test run needs: the test database, Redis as broker, the
    test's snapshot folder, mail to the test's SMTP sink (when `smtp` set it up)."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": os.environ["REDIS_URL"],
        "SNAPSHOT_DIR": str(settings.SNAPSHOT_DIR),
        "EMAIL_BACKEND": settings.EMAIL_BACKEND,
        "EMAIL_HOST": settings.EMAIL_HOST,
        "EMAIL_PORT": str(settings.EMAIL_PORT),
        "SITE_URL": "http://testserver",
        "PYTHONUNBUFFERED": "1",
    }
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        )
    return env | extra


def start_worker(env: dict, log: Path, *, queues: str = "deliver", concurrency: int = 3) -> subprocess.Popen:
    """A Celery worker on the prefork pool (as docker-compose.yml runs it), in its own process group."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "statuspage",
            "worker",
            "-Q",
            queues,
            "-P",
            "prefork",
            "-c",
            str(concurrency),
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def start_beat(env: dict, log: Path, schedule: Path) -> subprocess.Popen:
    """Celery beat with its schedule file at `schedule` (kept across restarts, as in production)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "statuspage",
            "beat",
            "-l",
            "WARNING",
            "--schedule",
            str(schedule),
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal the process and its children (the prefork pool), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait(condition: Callable[[], object], timeout: float, what: str, tick: Callable[[], None] | None = None):
    """Poll `condition` until truthy (returned), AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if tick:
            tick()
        time.sleep(0.2)


class Processes:
    """Every process a test starts, killed at the end even when the test fails."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def add(self, proc: subprocess.Popen) -> subprocess.Popen:
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                kill(proc)
