"""`make run`'s launcher: a clear message on a busy port; web, worker and beat together, none left behind."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import call_command

from statuspage.settings import BASE_DIR

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DATA_DIR=str(tmp_path / "data"), SECRET_KEY="s" * 50, PYTHONUNBUFFERED="1")
    return env


def test_busy_port_is_a_one_line_message_not_a_traceback(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "launch", "--port", str(port)],
            cwd=BASE_DIR,
            env=launch_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"Port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_ensure_login_is_idempotent_and_owns_the_demo_page():
    from django.contrib.auth.models import User

    call_command("demo")
    call_command("ensure_login")
    call_command("ensure_login")
    user = User.objects.get(username="demo")
    assert user.is_superuser
    assert user.check_password("demo-password-change-me")
    assert user.memberships.get().role == "owner"


def test_launch_runs_web_worker_and_beat_and_ctrl_c_stops_them_all(tmp_path):
    env = launch_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=120
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "launch", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # poll the real server until it answers, bounded
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.read() == b"ok"
                break
            except OSError:
                assert time.monotonic() < deadline, "web server did not come up"
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert f"http://127.0.0.1:{port}/" in output
    assert "demo / demo-password-change-me" in output
    for name in ("web started", "worker started", "beat started"):
        assert name in output
    leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True, check=False)
    assert leftover.stdout.strip() == "", "processes left behind"
