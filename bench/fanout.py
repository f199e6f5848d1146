"""Fan-out benchmark: one incident update to N confirmed email subscribers and N/10 webhook subscribers, on
PostgreSQL and Redis, with prefork workers on this machine, a local aiosmtpd sink and a local HTTP receiver.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/fanout.py --subscribers 100000

It creates (and afterwards drops) its own database next to DATABASE_URL's, uses the Redis database it is
given (flushed first), and prints one summary line a run:

- first/last: seconds from posting the update to the first and the last delivery received,
- rate: email deliveries a second between them, and the same as a share of the bare limit (plain smtplib
  loops, one per core, over reused connections to the same sink), measured before and after the run and
  averaged, since a shared machine's speed drifts over minutes,
- p50/p95: delivered minus posted, for emails,
- lost and duplicated (both must be 0), for emails and webhooks,
- the workers' CPU time per delivery (less noisy than rates on a shared machine), and peak memory (VmHWM)
  of each worker process,
- the median time of the console request that posts an update, on a page with no subscribers and on this one.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- Sinks (separate processes, so they do not share a GIL with anything measured) -----------------------


def smtp_sink(port: int, out: str, ready) -> None:
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per command would be the bottleneck

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            # One unbuffered append a line: whole lines even if the process is stopped mid-run.
            os.write(fd, f"{time.time():.6f}\t{envelope.rcpt_tos[0]}\n".encode())
            return "250 OK"

    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()

    def stop(*_):
        controller.stop()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


def http_sink(port: int, out: str, ready) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            os.write(fd, f"{time.time():.6f}\t{self.headers.get('Idempotency-Key')}\n".encode())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()

    def stop(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


def start_sink(target, port: int, out: Path) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    proc = multiprocessing.Process(target=target, args=(port, str(out), ready), daemon=True)
    proc.start()
    ready.wait(10)
    return proc


def stop_sink(proc: multiprocessing.Process) -> None:
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(10)


def read_sink(path: Path) -> list[tuple[float, str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        ts, key = line.split("\t", 1)
        rows.append((float(ts), key))
    return rows


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- The bare limit ------------------------------------------------------------------------------------


def bare_loop(port: int, count: int, message: bytes) -> None:
    smtp = smtplib.SMTP("127.0.0.1", port)
    for i in range(count):
        smtp.sendmail("status@localhost", [f"bare{os.getpid()}-{i}@example.com"], message)
    smtp.quit()


def bare_limit(port: int, total: int, message: bytes, processes: int) -> float:
    per = total // processes
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=bare_loop, args=(port, per, message)) for _ in range(processes)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return per * processes / (time.perf_counter() - start)


# --- Workers -------------------------------------------------------------------------------------------


def peak_memory_kib(pid: int) -> dict[int, int]:
    """VmHWM of a process and its children, from /proc."""
    out = {}
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out[p] = int(line.split()[1])
        except OSError:
            pass
    return out


def cpu_seconds(pids) -> float:
    """User plus system CPU of processes (and their reaped children), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / tick


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--webhooks", type=int, default=None, help="default: subscribers / 10")
    parser.add_argument("--concurrency", type=int, default=6, help="worker processes (prefork)")
    parser.add_argument("--bare", type=int, default=None, help="bare-limit messages (default: subscribers)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for every delivery")
    args = parser.parse_args()
    webhooks = args.subscribers // 10 if args.webhooks is None else args.webhooks

    base_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production shape.")
    import psycopg

    db = f"statuspage_bench_{os.getpid()}"
    admin = psycopg.connect(base_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{db}"')
    bench_url = base_url.rsplit("/", 1)[0] + f"/{db}"
    work = Path(os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="statuspage-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    smtp_port, http_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": bench_url,
        "CELERY_BROKER_URL": redis_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_SETTINGS_MODULE": "statuspage.settings",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "WEBHOOK_ALLOW_LOOPBACK": "true",
        "DATA_DIR": str(work / "data"),
        "SITE_URL": "http://127.0.0.1:8000",
        "ALLOWED_HOSTS": "*",
    }
    os.environ.update(env)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    worker = None
    sinks = []
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        result = run(args, webhooks, env, work, smtp_port, http_port, sinks)
        worker = result.pop("worker", None)
        print(
            " ".join(f"{k}={v}" for k, v in result.items()),
            flush=True,
        )
    finally:
        for proc in sinks:
            if proc.is_alive():
                stop_sink(proc)
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()


def run(args, webhooks: int, env: dict, work: Path, smtp_port: int, http_port: int, sinks: list) -> dict:
    from django.contrib.auth.models import User
    from django.test import Client

    from components.services import create_component
    from incidents.services import create_incident
    from statuspage.services import SYSTEM, add_member, create_page
    from subscribers.models import Delivery, DeliveryState, Subscriber

    smtp_out, http_out = work / "smtp.tsv", work / "http.tsv"
    for f in (smtp_out, http_out):
        f.unlink(missing_ok=True)

    # The bare limit, against its own sink process, before and after the run: a shared VM's speed drifts
    # by 10% or more over minutes, and the mean of both brackets the run measured between them.
    bare_n = args.bare if args.bare is not None else args.subscribers
    sample = build_sample_message()

    def measure_bare() -> float:
        bare_sink = start_sink(smtp_sink, smtp_port, work / "bare.tsv")
        try:
            return bare_limit(smtp_port, bare_n, sample, os.cpu_count() or 2)  # one loop per core
        finally:
            stop_sink(bare_sink)
            (work / "bare.tsv").unlink(missing_ok=True)

    bare_before = measure_bare()

    sinks += [start_sink(smtp_sink, smtp_port, smtp_out), start_sink(http_sink, http_port, http_out)]

    page = create_page(actor=SYSTEM, name="Bench", slug="bench")
    quiet = create_page(actor=SYSTEM, name="Quiet", slug="quiet")
    create_component(actor=SYSTEM, page=page, name="API")
    create_component(actor=SYSTEM, page=quiet, name="API")
    user = User.objects.create_user("bench", "bench@example.com", secrets.token_urlsafe(12))
    add_member(actor=SYSTEM, page=page, user=user, role="commander")
    add_member(actor=SYSTEM, page=quiet, user=user, role="commander")
    now = time.time()
    Subscriber.objects.bulk_create(
        [
            Subscriber(page=page, kind="email", email=f"s{i:06d}@example.com", state="active")
            for i in range(args.subscribers)
        ]
        + [
            Subscriber(
                page=page, kind="webhook", endpoint=f"http://127.0.0.1:{http_port}/hook/{i}", state="active"
            )
            for i in range(webhooks)
        ],
        batch_size=5000,
    )
    setup = time.time() - now
    incident = create_incident(
        actor=SYSTEM, page=page, name="Bench incident", body="Investigating.", deliver_notifications=False
    )
    Delivery.objects.all().delete()

    command = [sys.executable, "-m", "celery", "-A", "statuspage", "worker", "-Q", "celery,publish,deliver"]
    command += ["-P", "prefork", "-c", str(args.concurrency), "-l", "WARNING"]
    command += ["--without-gossip", "--without-mingle"]
    log = (work / "worker.log").open("ab")
    worker = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
    time.sleep(3)  # the worker's own start-up, not measured

    client = Client()
    client.force_login(user)
    url = f"/console/bench/incidents/{incident.code}/update/"

    from incidents.models import IncidentUpdate

    def post(to_url, status="identified"):
        code = to_url.rstrip("/").split("/")[-2]
        latest = IncidentUpdate.objects.filter(incident__code=code).order_by("-created_at", "-id").first()
        data = {"status": status, "body": "An update.", "deliver_notifications": "on"}
        data["seen_update"] = latest.code
        post.at = time.time()
        start = time.perf_counter()
        response = client.post(to_url, data)
        elapsed = time.perf_counter() - start
        assert response.status_code in (200, 302), response.status_code
        return elapsed

    worker_pids = [worker.pid, *peak_memory_kib(worker.pid)]
    sink_pid = sinks[0].pid
    cpu_before = cpu_seconds(worker_pids), cpu_seconds([sink_pid]), machine_busy()
    post(url)
    posted = post.at
    total = args.subscribers + webhooks
    deadline = time.time() + args.timeout

    def received() -> int:
        # The sinks' files, not the database: polling would load the machine being measured.
        return sum(_lines(path) for path in (smtp_out, http_out))

    while received() < total and time.time() < deadline:
        time.sleep(0.5)
    sent_at = time.time()
    recorded = Delivery.objects.filter(state=DeliveryState.SENT).count()
    cpu_after = cpu_seconds(worker_pids), cpu_seconds([sink_pid]), machine_busy()
    wall = sent_at - posted
    busy = (cpu_after[2][0] - cpu_before[2][0]) / max(1, cpu_after[2][1] - cpu_before[2][1])
    time.sleep(2)  # let the sinks write their last lines
    memory = peak_memory_kib(worker.pid)
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(60)
    for proc in list(sinks):
        stop_sink(proc)
    sinks.clear()

    bare_after = measure_bare()
    bare_rate = (bare_before + bare_after) / 2

    emails = read_sink(smtp_out)
    hooks = read_sink(http_out)
    email_copies = Counter(k for _, k in emails)
    hook_copies = Counter(k for _, k in hooks)
    lost = (args.subscribers - len(email_copies)) + (webhooks - len(hook_copies))
    duplicated = sum(n - 1 for n in email_copies.values()) + sum(n - 1 for n in hook_copies.values())
    times = sorted(t for t, _ in emails + hooks)
    email_times = sorted(t for t, _ in emails)
    latencies = [t - posted for t in email_times]
    span = (email_times[-1] - email_times[0]) if len(email_times) > 1 else float("nan")
    rate = len(email_times) / span if span else float("nan")

    # The request that posts an update, with no subscribers and with this page's (workers stopped: the
    # request only writes and enqueues, which is what is measured).
    quiet_incident = create_incident(actor=SYSTEM, page=quiet, name="Quiet incident", body="x")
    quiet_url = f"/console/quiet/incidents/{quiet_incident.code}/update/"
    statuses = ["identified", "monitoring"] * 6
    quiet_ms = statistics.median(post(quiet_url, s) for s in statuses) * 1000
    busy_ms = statistics.median(post(url, s) for s in statuses) * 1000

    return {
        "subscribers": args.subscribers,
        "webhooks": webhooks,
        "setup_s": f"{setup:.1f}",
        "first_s": f"{times[0] - posted:.2f}" if times else "nan",
        "last_s": f"{times[-1] - posted:.2f}" if times else "nan",
        "email_rate": f"{rate:.0f}/s",
        "bare_rate": f"{bare_rate:.0f}/s",
        "bare_before_after": f"{bare_before:.0f}/{bare_after:.0f}",
        "share_of_bare": f"{rate / bare_rate:.0%}",
        "p50_s": f"{statistics.median(latencies):.2f}" if latencies else "nan",
        "p95_s": f"{latencies[int(len(latencies) * 0.95) - 1]:.2f}" if latencies else "nan",
        "lost": lost,
        "recorded_sent": recorded,
        "duplicated": duplicated,
        "cpu_workers": f"{(cpu_after[0] - cpu_before[0]) / wall:.0%}",
        "worker_cpu_us_per_delivery": f"{(cpu_after[0] - cpu_before[0]) / max(1, total) * 1e6:.0f}",
        "cpu_smtp_sink": f"{(cpu_after[1] - cpu_before[1]) / wall:.0%}",
        "machine_busy": f"{busy:.0%}",
        "worker_peak_mib": "/".join(f"{kib / 1024:.0f}" for kib in memory.values()),
        "post_ms_no_subscribers": f"{quiet_ms:.1f}",
        "post_ms_with_subscribers": f"{busy_ms:.1f}",
        "worker": worker,
    }


def build_sample_message() -> bytes:
    """A message the size and shape of a real notification, for the bare loops."""
    import email.policy
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = "[Bench] Bench incident"
    msg["From"] = "Bench Status <status@localhost>"
    msg["To"] = "someone@example.com"
    msg.set_content("Investigating.\n" * 20)
    msg.add_alternative("<p>Investigating.</p>\n" * 60, subtype="html")
    return msg.as_bytes(policy=email.policy.SMTP)  # CRLF line ends, as on the wire


if __name__ == "__main__":
    main()
