"""Start the web server, a Celery worker and Celery beat together (what `make run` ends with).

Ctrl-C or SIGTERM stops all three; none is left behind. A busy port is a one-line message, not a traceback.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from statuspage.management.commands.ensure_login import DEFAULT_PASSWORD, DEFAULT_USERNAME


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def secret_key_file(data_dir: Path) -> Path:
    """A random secret made once per data directory, so DEBUG can stay off without a shared key."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path


class Command(BaseCommand):
    help = "Run web, worker and beat together until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--workers", type=int, default=2, help="web server processes")

    def handle(self, *args, host: str, port: int, workers: int, **options):
        if not 1 <= port <= 65535:
            raise CommandError(f"--port {port} is not a port number")
        if not port_is_free(host, port):
            self.stderr.write(
                f"Port {port} is already in use; stop the other server or run `make run PORT={port + 1}`."
            )
            sys.exit(1)
        from honcho.manager import Manager

        data_dir = Path(settings.DATA_DIR)
        for folder in ("broker/queue", "broker/control"):
            (data_dir / folder).mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        if not os.environ.get("SECRET_KEY") and not os.environ.get("SECRET_KEY_FILE"):
            env["SECRET_KEY_FILE"] = str(secret_key_file(data_dir))
        url = f"http://{host}:{port}/"
        env.setdefault("SITE_URL", url.rstrip("/"))
        env["PYTHONUNBUFFERED"] = "1"
        # Readable lines in a terminal (production keeps the JSON default), and a fresh metrics folder for
        # this run's processes, as prometheus-client's multiprocess mode asks.
        env.setdefault("LOG_FORMAT", "text")
        from statuspage import metrics

        metrics.wipe_multiprocess_dir()
        bin_dir = Path(sys.executable).parent
        celery = str(bin_dir / "celery")
        processes = {
            "web": [
                str(bin_dir / "granian"),
                "--interface",
                "wsgi",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--blocking-threads",
                "4",
                "--log-level",
                "warning",
                "statuspage.wsgi:application",
            ],
            "worker": [
                celery,
                "-A",
                "statuspage",
                "worker",
                "-Q",
                "celery,publish,deliver,time",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            "beat": [
                celery,
                "-A",
                "statuspage",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(data_dir / "celerybeat-schedule"),
            ],
        }
        self.stdout.write(
            "\n"
            f"  Status page:  {url}\n"
            f"  Console:      {url}console/\n"
            f"  Admin:        {url}admin/\n"
            f"  Login:        {DEFAULT_USERNAME} / {DEFAULT_PASSWORD}\n"
            f"  Data:         {data_dir}\n"
            "  Ctrl-C stops the web server, the worker and beat.\n"
        )
        self.stdout.flush()
        manager = Manager()
        for name, cmd in processes.items():
            manager.add_process(
                name, " ".join(_quote(part) for part in cmd), env=env, cwd=str(settings.BASE_DIR)
            )
        manager.loop()
        sys.exit(manager.returncode or 0)


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
