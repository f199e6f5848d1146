"""Outage drill: stop PostgreSQL, then Redis, then both, under a running installation, and check that the
page is the last thing standing and that everything catches up by itself afterwards.

Everything runs on throwaway services, never the machine's: a PostgreSQL cluster made with initdb in a
temporary directory on a free port, a redis-server on a free port (append-only, as docker-compose.yml runs
it), an SMTP sink (aiosmtpd) and the application's own processes as compose starts them: granian (WSGI), a
Celery worker (prefork) and Celery beat. All are stopped and the directory removed at the end, even on
failure or Ctrl-C.

Each phase:
  1. post an incident update (email subscribers must hear of it), then stop the service(s) at once;
  2. while down: the public page and /api/v2/summary.json answer 200 from the snapshot with the
     "Last updated" note; the console and the management API answer a clear 503 when PostgreSQL is down
     (and keep working when only Redis is); /readyz answers 503 if the installation has it; an update
     posted while only Redis is down is saved;
  3. start the service(s) again and, with no manual step, wait (each wait has a deadline) until every
     subscriber has exactly one copy of every update posted before or during the outage, and an update
     posted after the restart is on the public page.

    python bench/outage_drill.py [--subscribers 40] [--phases postgres,redis,both]

Exit status 0 when every check passed. tests/fault/test_outage.py runs it in CI.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import email
import email.policy
import glob
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PHASES = ("postgres", "redis", "both")
SLUG = "drill"
USERNAME, PASSWORD = "drill", "drill-password-" + secrets.token_hex(8)


class DrillFailure(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    """Poll until `condition()` is truthy; DrillFailure after `timeout` seconds. Returns its value."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a service still coming up; keep polling until the deadline
            last_error = exc
        if time.monotonic() > deadline:
            raise DrillFailure(
                f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})"
            )
        time.sleep(interval)


# --- Throwaway services ---------------------------------------------------------------------------


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise DrillFailure("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class PostgreSQL:
    """A cluster of our own: initdb in `root`, trust auth on 127.0.0.1:`port`. initdb refuses to run as
    root, so as root the cluster belongs to the `postgres` user."""

    def __init__(self, root: Path) -> None:
        self.bin = _postgres_bin()
        self.data = root / "pgdata"
        self.sock = root / "pgsock"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise DrillFailure("initdb will not run as root, and there is no postgres user") from None
        for path in (self.data, self.sock):
            path.mkdir(mode=0o700)
            if self.user:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        self.log.touch()
        if self.user:
            os.chown(self.log, self.user.pw_uid, self.user.pw_gid)
            os.chmod(root, 0o755)  # noqa: S103 - the postgres user must reach its folders; nothing secret

    def _run(self, *args: str, timeout: float = 60) -> None:
        kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}
        result = subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            check=False,
            **kwargs,
        )
        if result.returncode != 0:
            raise DrillFailure(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


class Redis:
    """redis-server on its own port, append-only in `root` (as docker-compose.yml runs it), so a restart
    keeps what was queued."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._ping, 20, "redis-server to answer")

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis writes its append-only file and exits
            self.proc.wait(timeout=30)
        self.proc = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


class SMTPSink:
    """Every message the application sends, kept in memory (aiosmtpd on 127.0.0.1)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, message))
        return "250 OK"

    def copies(self, marker: str) -> Counter:
        """How many copies each recipient got of the notification whose text contains `marker`."""
        with self.lock:
            items = list(self.messages)
        out: Counter = Counter()
        for rcpt, message in items:
            part = message.get_body(preferencelist=("plain",))
            if part is not None and marker in part.get_content():
                out[rcpt] += 1
        return out


# --- The application ------------------------------------------------------------------------------


class App:
    """granian, a Celery worker and Celery beat against the throwaway services, and HTTP helpers."""

    def __init__(self, root: Path, env: dict, log: Path) -> None:
        self.root, self.env, self.log = root, env, log
        self.port = int(env["DRILL_WEB_PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.cookies = http.cookiejar.CookieJar()
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.plain = urllib.request.build_opener()
        self.api_key = ""
        self.page_code = ""

    def manage(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise DrillFailure(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def start(self, name: str) -> None:
        commands = {
            "web": [
                str(BIN / "granian"),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--blocking-threads",
                "4",
                "--log-level",
                "warning",
                "statuspage.wsgi:application",
            ],
            "worker": [
                str(BIN / "celery"),
                "-A",
                "statuspage",
                "worker",
                "-Q",
                "celery,publish,deliver,time",
                "-P",
                "prefork",
                "-c",
                "2",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ],
            "beat": [
                str(BIN / "celery"),
                "-A",
                "statuspage",
                "beat",
                "-l",
                "WARNING",
                "--schedule",
                str(self.root / "celerybeat-schedule"),
            ],
        }
        with self.log.open("ab") as out:
            out.write(f"\n==== start {name} ====\n".encode())
            self.procs[name] = subprocess.Popen(
                commands[name],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM if name == "web" else signal.SIGKILL)

    # HTTP ---------------------------------------------------------------------------------------

    def request(
        self, path: str, *, method: str = "GET", data: dict | None = None, api: bool = False, session=False
    ) -> tuple[int, str, dict]:
        headers = {"Host": "127.0.0.1"}
        body = None
        if api:
            headers["Authorization"] = f"OAuth {self.api_key}"
            if data is not None:
                body, headers["Content-Type"] = json.dumps(data).encode(), "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.base + path
        # Always http://127.0.0.1:<port>: the base is ours.
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)  # noqa: S310
        opener = self.browser if session else self.plain
        try:
            with opener.open(request, timeout=15) as response:
                headers = {k.lower(): v for k, v in response.headers.items()} | {
                    "x-final-url": response.geturl()
                }
                return response.status, response.read().decode(errors="replace"), headers
        except urllib.error.HTTPError as exc:
            return (
                exc.code,
                exc.read().decode(errors="replace"),
                {k.lower(): v for k, v in exc.headers.items()},
            )

    def log_in(self) -> None:
        status, body, _ = self.request("/console/login/", session=True)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or not match:
            raise DrillFailure(f"console login page: {status}")
        status, body, _ = self.request(
            "/console/login/",
            method="POST",
            data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": match[1]},
            session=True,
        )
        status, _, headers = self.request("/console/", session=True)
        if status != 200 or "/console/login/" in headers.get("x-final-url", ""):
            raise DrillFailure(f"console login failed: {status} at {headers.get('x-final-url')}")

    def post_update(self, incident: str, text: str) -> int:
        status, body, _ = self.request(
            f"/api/v1/pages/{self.page_code}/incidents/{incident}",
            method="PATCH",
            data={"incident": {"status": "identified", "body": text, "deliver_notifications": True}},
            api=True,
        )
        if status != 200:
            raise DrillFailure(f"posting an update answered {status}: {body[:300]}")
        return status

    def open_incident(self, name: str, text: str) -> str:
        status, body, _ = self.request(
            f"/api/v1/pages/{self.page_code}/incidents",
            method="POST",
            data={"incident": {"name": name, "status": "investigating", "body": text}},
            api=True,
        )
        if status != 201:
            raise DrillFailure(f"opening an incident answered {status}: {body[:300]}")
        return json.loads(body)["id"]

    def public(self, path: str = "") -> tuple[int, str, dict]:
        return self.request(f"/pages/{SLUG}/{path}")


SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from statuspage.models import Membership, Page, Role
from statuspage.services import SYSTEM, create_api_key, create_page
from subscribers.models import Subscriber, SubscriberState
import os
n, username, password = int(os.environ["DRILL_N"]), os.environ["DRILL_USER"], os.environ["DRILL_PASSWORD"]
user = get_user_model().objects.create_user(username, f"{username}@example.com", password)
page = create_page(actor=SYSTEM, name="Drill", slug="drill", owner=user)
Subscriber.objects.bulk_create([
    Subscriber(page=page, kind="email", email=f"reader{i:04d}@example.com", state=SubscriberState.ACTIVE)
    for i in range(n)
])
print(page.code, create_api_key(actor=SYSTEM, page=page, name="drill", role=Role.OWNER)[1])
"""


# --- The drill ------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    checks: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    setup_seconds: float = 0.0
    phases: list[PhaseResult] = field(default_factory=list)
    subscribers: int = 0
    findings: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"outage drill: {self.subscribers} email subscribers, setup {self.setup_seconds:.1f}s"]
        for phase in self.phases:
            timings = ", ".join(f"{k} {v:.1f}s" for k, v in phase.timings.items())
            delivered = ", ".join(f"{k}: {v} once each" for k, v in phase.delivered.items())
            lines.append(f"  {phase.name:8} timings: {timings}")
            lines.append(f"  {'':8} delivered: {delivered}")
            lines.extend(f"  {'':8} ok: {check}" for check in phase.checks)
        lines.extend(f"  note: {finding}" for finding in self.findings)
        return "\n".join(lines)


class Drill:
    def __init__(
        self,
        *,
        subscribers: int = 40,
        down_seconds: float = 5.0,
        keep: bool = False,
        verbose: bool = True,
        demo: bool = True,
    ) -> None:
        self.subscribers, self.down_seconds, self.keep, self.verbose = (
            subscribers,
            down_seconds,
            keep,
            verbose,
        )
        self.demo = demo
        self.root = Path(tempfile.mkdtemp(prefix="outage-drill-"))
        self.pg: PostgreSQL | None = None
        self.redis: Redis | None = None
        self.sink: SMTPSink | None = None
        self.app: App | None = None
        self.report = Report(subscribers=subscribers)
        self._closed = False
        self._supervisor: threading.Thread | None = None
        atexit.register(self.close)

    def say(self, text: str) -> None:
        if self.verbose:
            print(f"[drill {time.strftime('%H:%M:%S')}] {text}", flush=True)

    # Set-up and tear-down ---------------------------------------------------------------------------

    def __enter__(self) -> Drill:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def setup(self) -> None:
        started = time.monotonic()
        self.pg = PostgreSQL(self.root)
        self.pg.init()
        self.pg.start()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg.port),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE drill",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.redis = Redis(self.root)
        self.redis.start()
        self.sink = SMTPSink()
        self.sink.controller.start()
        data = self.root / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.pop("CELERY_BROKER_URL", None)  # the suite's memory:// must not reach the drill's processes
        web_port = free_port()
        env |= {
            "DJANGO_SETTINGS_MODULE": "statuspage.settings",
            "DATABASE_URL": self.pg.url("drill"),
            "REDIS_URL": self.redis.url(0),
            "DATA_DIR": str(data),
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "false",
            "SITE_URL": f"http://127.0.0.1:{web_port}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "STATUSPAGE_BASE_DOMAIN": "localhost",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.sink.port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_USE_SSL": "false",
            # Catch-up is driven by beat's sweepers: short intervals keep the drill to a couple of minutes.
            # Longer than an outage here (a few seconds), so a send the database could not record in time is
            # recorded when it is back (subscribers.delivery._Commit) rather than resent.
            "DELIVERY_STALLED_AFTER": "15",
            "SWEEP_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "WARNING",
            "DRILL_WEB_PORT": str(web_port),
        }
        self.app = App(self.root, env, self.root / "processes.log")
        self.say(
            f"PostgreSQL :{self.pg.port}, Redis :{self.redis.port}, SMTP :{self.sink.port}, web :{web_port}"
        )
        self.app.manage("migrate", "--noinput")
        self.say(f"migrated in {time.monotonic() - started:.1f}s")
        if self.demo:
            self.app.manage("demo")
        self.app.env |= {"DRILL_N": str(self.subscribers), "DRILL_USER": USERNAME, "DRILL_PASSWORD": PASSWORD}
        out = self.app.manage("shell", "-c", SETUP_SCRIPT)
        self.app.page_code, self.app.api_key = out.split()[-2:]
        for name in ("web", "worker", "beat"):
            self.app.start(name)
        self._supervisor = threading.Thread(target=self._supervise, name="drill-supervisor", daemon=True)
        self._supervisor.start()
        wait_for(lambda: self.app.request("/healthz")[0] == 200, 60, "the web server")
        self.app.log_in()
        wait_for(lambda: self.app.public()[0] == 200, 60, "the drill page to be published")
        self.report.setup_seconds = time.monotonic() - started
        self.say(f"set up in {self.report.setup_seconds:.1f}s")

    def _supervise(self) -> None:
        """Restart an application process that exits, as docker-compose.yml's `restart: unless-stopped`
        does, and say so in the report: a process that dies on an outage is a finding, not a hang."""
        while not self._closed:
            for name, proc in list(self.app.procs.items()):
                code = proc.poll()
                if code is not None and not self._closed:
                    self.report.findings.append(
                        f"{name} exited with status {code} at {time.strftime('%H:%M:%S')} and was restarted"
                    )
                    self.say(f"{name} exited ({code}); restarting it as compose would")
                    self.app.start(name)
            time.sleep(0.5)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        if self.app:
            self.app.stop_all()
        if self.sink:
            with contextlib.suppress(Exception):
                self.sink.controller.stop()
        if self.redis:
            with contextlib.suppress(Exception):
                self.redis.stop()
        if self.pg and self.pg.running():
            with contextlib.suppress(Exception):
                self.pg.stop("immediate")
        if self.keep:
            print(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return (self.root / "processes.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # Phases -------------------------------------------------------------------------------------------

    def _stop(self, kind: str) -> None:
        if kind in ("postgres", "both"):
            self.pg.stop("fast")
        if kind in ("redis", "both"):
            self.redis.stop()

    def _start(self, kind: str) -> None:
        if kind in ("redis", "both"):
            self.redis.start()
        if kind in ("postgres", "both"):
            self.pg.start()

    def _check(self, result: PhaseResult, ok: bool, what: str, detail: str = "") -> None:
        if not ok:
            raise DrillFailure(f"[{result.name}] {what} {detail}".strip())
        result.checks.append(what)

    def _check_down(self, kind: str, result: PhaseResult, marker: str) -> None:
        app = self.app
        status, body, headers = app.public()
        self._check(result, status == 200, "public page 200 from the snapshot", f"(got {status})")
        self._check(result, "Last updated" in body, 'public page shows its "Last updated" note')
        self._check(result, marker in body, "public page shows the update posted before the outage")
        status, body, _ = app.public("api/v2/summary.json")
        self._check(
            result, status == 200 and json.loads(body)["page"]["id"] == app.page_code, "summary.json 200"
        )
        db_down = kind in ("postgres", "both")
        status, body, headers = app.request("/console/", session=True)
        if db_down:
            self._check(
                result,
                status == 503 and "unreachable" in body and headers.get("retry-after"),
                "console 503 page saying the database is unreachable",
                f"(got {status}: {body[:200]!r})",
            )
            status, body, _ = app.request(f"/api/v1/pages/{app.page_code}/incidents", api=True)
            self._check(
                result,
                status == 503 and json.loads(body).get("error") == "service_unavailable",
                "management API 503 JSON",
                f"(got {status}: {body[:200]!r})",
            )
        else:
            self._check(result, status == 200, "console still works with Redis down", f"(got {status})")
            status, body, _ = app.request(f"/api/v1/pages/{app.page_code}/incidents", api=True)
            self._check(
                result, status == 200, "management API still works with Redis down", f"(got {status})"
            )
        status, _, _ = app.request("/readyz")
        if status != 404:
            self._check(result, status == 503, "/readyz 503", f"(got {status})")

    def phase(self, kind: str, incident: str) -> PhaseResult:
        app, sink = self.app, self.sink
        result = PhaseResult(kind)
        self.say(f"phase {kind}: posting an update, then stopping {kind}")
        before = f"drill-{kind}-before-{secrets.token_hex(3)}"
        app.post_update(incident, f"Still investigating ({before}).")
        wait_for(lambda: before in app.public()[1], 30, "the update before the outage to be published")
        self._stop(kind)
        down_at = time.monotonic()
        markers = [before]
        self._check_down(kind, result, before)
        if kind == "redis":
            during = f"drill-{kind}-during-{secrets.token_hex(3)}"
            posting = time.monotonic()
            app.post_update(incident, f"Posted while Redis is down ({during}).")
            result.timings["posting while down took"] = time.monotonic() - posting
            result.checks.append("an update posted while Redis is down is saved (200)")
            markers.append(during)
        # Stay down a while, the public page answering throughout.
        served = 0
        while not served or time.monotonic() - down_at < self.down_seconds:
            status, body, _ = app.public()
            self._check(result, status == 200 and before in body, "", f"public page {status} while down")
            result.checks.pop()
            served += 1
            time.sleep(0.25)
        result.checks.append(f"public page answered 200 {served} times while down")
        result.timings["down for"] = time.monotonic() - down_at
        self._start(kind)
        restarted = time.monotonic()
        self.say(f"phase {kind}: {kind} restarted; waiting for catch-up")
        if kind != "redis":
            wait_for(
                lambda: app.request("/console/", session=True)[0] == 200, 60, "the console to answer 200"
            )
            result.timings["console back"] = time.monotonic() - restarted
        for marker in markers:
            wait_for(
                lambda marker=marker: sum(sink.copies(marker).values()) >= self.subscribers,
                120,
                f"every subscriber to get {marker!r}",
            )
            result.timings[f"{marker.split('-')[2]} delivered"] = time.monotonic() - restarted
        if kind == "redis":
            wait_for(
                lambda: markers[1] in app.public()[1],
                90,
                "the update posted during the outage to be published",
            )
            result.timings["during published"] = time.monotonic() - restarted
        after = f"drill-{kind}-after-{secrets.token_hex(3)}"
        app.post_update(incident, f"Recovering ({after}).")
        wait_for(lambda: after in app.public()[1], 60, "an update posted after the restart to be published")
        wait_for(lambda: after in app.public("api/v2/summary.json")[1], 30, "summary.json to catch up")
        result.timings["new update published"] = time.monotonic() - restarted
        markers.append(after)
        wait_for(
            lambda: sum(sink.copies(after).values()) >= self.subscribers,
            60,
            f"every subscriber to get {after!r}",
        )
        # Settle, then count: a duplicate would arrive within a sweep or two.
        time.sleep(3)
        for marker in markers:
            copies = sink.copies(marker)
            wrong = {r: n for r, n in copies.items() if n != 1}
            self._check(
                result,
                len(copies) == self.subscribers and not wrong,
                f"{marker.split('-')[2]}: each of {self.subscribers} subscribers got exactly one copy",
                f"(got {len(copies)} recipients, not once: {dict(list(wrong.items())[:5])})",
            )
            result.delivered[marker.split("-")[2]] = len(copies)
        return result

    def run(self, phases: tuple[str, ...] = PHASES) -> Report:
        incident = self.app.open_incident("Drill: payments failing", "We are looking into it.")
        opened = "We are looking into it."
        wait_for(lambda: opened in self.app.public()[1], 30, "the incident to be published")
        for kind in phases:
            self.report.phases.append(self.phase(kind, incident))
        return self.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=40)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated: postgres, redis, both")
    parser.add_argument("--down-seconds", type=float, default=5.0, help="how long each outage lasts")
    parser.add_argument("--no-demo", action="store_true", help="skip loading the demo page (faster set-up)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) at the end")
    args = parser.parse_args(argv)
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    unknown = set(phases) - set(PHASES)
    if unknown or not phases:
        parser.error(f"--phases: choose from {', '.join(PHASES)}")
    if args.subscribers < 1:
        parser.error("--subscribers must be at least 1")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not 0 <= args.down_seconds <= 600:
        parser.error("--down-seconds must be from 0 to 600")
    drill = Drill(
        subscribers=args.subscribers, down_seconds=args.down_seconds, keep=args.keep, demo=not args.no_demo
    )
    with drill:
        try:
            report = drill.run(phases)
        except DrillFailure as exc:
            print(f"FAILED: {exc}\n--- process log (tail) ---\n{drill.log_tail()}", file=sys.stderr)
            return 1
    print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
