"""Public read load: the demo page and its summary.json under wrk, served as docker-compose.yml serves them
(front, its nginx, keeping public documents for FRONT_CACHE_SECONDS, in front of web: granian, WSGI, its
workers and threads, PostgreSQL and Redis), against nginx serving the very same bytes as static files; web
alone, without front; and as `make run` serves them (launch.py's web process on SQLite); then writes under
read load.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python -W ignore bench/public_load.py

Needs wrk and nginx (Debian: `apt-get install -y wrk nginx-light`); it never touches the system nginx: it
runs its own nginx processes (the static one and front, bench/front.py), each with its own configuration
and prefix in a temporary folder, as child processes on ports of their own. It creates (and afterwards
drops) its own database next to DATABASE_URL's and flushes the Redis database it is given.

1. Reads: wrk at each number of connections (32, 128, 512; --duration seconds each) against the page and
   summary.json, the compose shape, web alone and nginx alternating for --rounds rounds, then the `make run`
   server. The median of each figure over the rounds: requests a second, p50 and p99 latency, non-2xx
   answers and socket errors, and our share of nginx's requests a second (the median of the shares within
   a round).
2. Writes under read load: while wrk holds 128 connections on the page (the compose shape, a Celery worker
   as in docker-compose.yml publishing), a commander PATCHes the incident through the management API once a
   second for --writes seconds; a poller reads the page every 20 ms and notes when each new text is served.
   Reported: posting-to-served p50 and p99, and wrk's non-2xx and errors over the whole run.

`--append-docs` appends the result section to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import front  # noqa: E402

BIN = Path(sys.executable).parent

# launch.py's web command (what `make run` starts), less host and port; docker-compose.yml's is read from
# the file itself (compose_web_flags).
MAKE_RUN_WEB = ["--interface", "wsgi", "--workers", "2", "--blocking-threads", "4", "--log-level", "warning"]
COMPOSE_WORKER = ["-A", "statuspage", "worker", "-Q", "celery,publish,deliver,time", "--concurrency", "4"]

NGINX_CONF = """
worker_processes auto;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    types {{ text/html html; application/json json; }}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need_tools() -> None:
    missing = [
        tool
        for tool in ("wrk", "nginx")
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()
    ]
    if missing:
        sys.exit(
            f"{' and '.join(missing)} not found. Install from Debian: apt-get install -y wrk nginx-light "
            "(the benchmark runs its own nginx; the system service is never started)."
        )


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback server)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        return response.read()


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stdout=out, stderr=out)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# --- wrk -----------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        return float("nan")
    return float(match[1]) * _UNITS[match[2]]


def wrk(url: str, connections: int, duration: int, threads: int = 2) -> dict:
    """One wrk run; requests a second, p50/p99 in ms, non-2xx answers and socket errors."""
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out)[1])
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out)[1])
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "requests": requests,
        "non2xx": int(non2xx[1]) if non2xx else 0,
        "errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def median_of(results: list[dict]) -> dict:
    """The median of each figure over several wrk runs of the same load."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


# --- The servers ---------------------------------------------------------------------------------------


def setup_database(env: dict, *, page_slug: str) -> dict:
    """Migrate, load the demo page, publish it, and make what the write test needs. Runs in a child process
    with `env` (our own process keeps no Django state between the two shapes)."""
    script = f"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("demo", verbosity=0)
from statuspage import publishing
from statuspage.models import Page
from statuspage.services import SYSTEM, create_api_key
from incidents.services import create_incident
page = Page.objects.get(slug={page_slug!r})
key = create_api_key(actor=SYSTEM, page=page, name="bench", role="commander")[1]
incident = create_incident(
    actor=SYSTEM, page=page, name="Load test", body="Starting.", deliver_notifications=False
)
for p in Page.objects.all():
    publishing.publish_page(p.pk)
print(json.dumps({{"page": page.code, "incident": incident.code, "key": key}}))
"""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if out.returncode != 0:
        sys.exit(f"setting up the demo page failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compose_web() -> dict:
    """docker-compose.yml's web service (merge keys resolved)."""
    import yaml

    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]


def compose_web_flags() -> list[str]:
    """docker-compose.yml's web command less the program, its host, port and application: the benchmark
    serves the public side exactly as the production shape does."""
    command = compose_web()["command"]
    if command[0] != "granian" or command[-1] != "statuspage.wsgi:application":
        sys.exit(f"docker-compose.yml's web command is not granian serving the WSGI application: {command}")
    flags, args = [], iter(command[1:-1])
    for arg in args:
        if arg in ("--host", "--port"):
            next(args)
        else:
            flags.append(arg)
    return flags


def compose_web_environment() -> dict[str, str]:
    """What docker-compose.yml's web service sets beyond the shared environment: being behind front, and
    how long front may keep a public document."""
    environment = compose_web()["environment"]
    return {name: str(environment[name]) for name in ("BEHIND_TLS_PROXY", "FRONT_CACHE_SECONDS")}


def granian(env: dict, port: int, flags: list[str], log: Path) -> subprocess.Popen:
    command = [str(BIN / "granian"), *flags, "--host", "127.0.0.1", "--port", str(port)]
    return start([*command, "statuspage.wsgi:application"], env, log)


def nginx(work: Path, root: Path, port: int) -> subprocess.Popen:
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(NGINX_CONF.format(work=work, root=root, port=port))
    command = [front.binary() or "nginx", "-p", str(work), "-c", str(conf)]
    return start(command, os.environ.copy(), work / "nginx.log")


# --- Writes under read load ----------------------------------------------------------------------------


def writes_under_load(base: str, slug: str, ids: dict, *, seconds: int, duration_margin: int = 10) -> dict:
    """PATCH the incident once a second while wrk reads the page; time each text from post to served."""
    page_url = f"{base}/pages/{slug}/"
    api_url = f"{base}/api/v1/pages/{ids['page']}/incidents/{ids['incident']}"
    load = subprocess.Popen(
        ["wrk", "-t2", "-c128", f"-d{seconds + duration_margin}s", "--latency", "--timeout", "5s", page_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(2)  # wrk is at full load
    posted: dict[str, float] = {}
    served: dict[str, float] = {}
    post_failures = []
    stop_polling = threading.Event()

    def poll() -> None:
        while not stop_polling.is_set():
            try:
                body = fetch(page_url).decode()
            except OSError:
                continue
            now = time.time()
            for text in list(posted):
                if text not in served and text in body:
                    served[text] = now
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    statuses = ["identified", "monitoring"]
    for i in range(seconds):
        tick = time.time()
        text = f"Bench update {i} {secrets.token_hex(4)}"
        data = json.dumps({"incident": {"status": statuses[i % 2], "body": text}}).encode()
        request = urllib.request.Request(  # noqa: S310
            api_url,
            data=data,
            method="PATCH",
            headers={"Authorization": f"OAuth {ids['key']}", "Content-Type": "application/json"},
        )
        posted[text] = time.time()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
        except OSError as exc:
            detail = exc.read().decode()[:300] if isinstance(exc, urllib.error.HTTPError) else ""
            post_failures.append(f"{exc!r} {detail}")
            posted.pop(text)
        time.sleep(max(0.0, 1.0 - (time.time() - tick)))
    deadline = time.time() + 30
    while len(served) < len(posted) and time.time() < deadline:
        time.sleep(0.1)
    stop_polling.set()
    poller.join(5)
    out, _ = load.communicate(timeout=duration_margin + seconds + 60)
    lags = sorted(served[t] - posted[t] for t in served)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "posted": len(posted),
        "served": len(served),
        "post_failures": len(post_failures),
        "post_failure_reasons": post_failures[:3],
        "lag_p50_s": statistics.median(lags) if lags else float("nan"),
        "lag_p99_s": lags[max(0, int(len(lags) * 0.99 + 0.5) - 1)] if lags else float("nan"),
        "lag_max_s": lags[-1] if lags else float("nan"),
        "read_rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
        "read_p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out)[1]),
        "read_non2xx": int(non2xx[1]) if non2xx else 0,
        "read_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


# --- Report --------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores, {cpu}"


def report(rows: list[dict], sizes: dict, writes: dict | None, loads: list[str], args) -> str:
    by = {(r["server"], r["doc"], r["c"]): r for r in rows}
    lines = [
        f"### Results ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Machine: {machine()}; load average before / after: {loads[0]} / {loads[-1]}. "
        f"{args.rounds} rounds of {args.duration} s a run (medians; shares within a round), wrk -t2. "
        f"Documents: page {sizes['page']:,} bytes, summary.json {sizes['summary']:,} bytes.",
        "",
        "| document | connections | server | requests/s | p50 ms | p99 ms | non-2xx / errors "
        "| share of nginx |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for doc in ("page", "summary"):
        for c in args.connections:
            base = by.get(("nginx", doc, c))
            for server in ("compose", "web alone", "nginx", "make run"):
                r = by.get((server, doc, c))
                if r is None:
                    continue
                ratio = r.get("share", r["rps"] / base["rps"] if base else None)
                share = f"**{ratio:.0%}**" if ratio is not None and server != "nginx" else ""
                lines.append(
                    f"| {doc} | {c} | {server} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                    f"{r['non2xx']} / {r['errors']} | {share} |"
                )
    if writes:
        lines += [
            "",
            f"Writes under read load: {writes['posted']} updates posted through the API, one a second, "
            f"while wrk read the page at 128 connections ({writes['read_rps']:,.0f} requests/s, p99 "
            f"{writes['read_p99_ms']:.1f} ms). Post to served: p50 {writes['lag_p50_s']:.2f} s, p99 "
            f"{writes['lag_p99_s']:.2f} s, max {writes['lag_max_s']:.2f} s; {writes['served']} of "
            f"{writes['posted']} seen served; failed posts {writes['post_failures']}; wrk non-2xx "
            f"{writes['read_non2xx']}, socket errors {writes['read_errors']}.",
        ]
    return "\n".join(lines) + "\n"


def append_to_docs(section: str) -> None:
    """Add a result section at the end of docs/benchmarks.md's public read load part (before the next
    part's heading), so each benchmark's results stay under its own heading."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    start = text.find("## Public read load")
    end = text.find("\n## ", start + 1) if start >= 0 else -1
    if end < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = text[:end].rstrip("\n") + "\n\n" + section + text[end:]
    path.write_text(text)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of each wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating runs of each load (median reported)"
    )
    parser.add_argument(
        "--connections", type=lambda s: [int(c) for c in s.split(",")], default=[32, 128, 512]
    )
    parser.add_argument("--writes", type=int, default=60, help="seconds of one update a second (0: skip)")
    parser.add_argument("--skip-make-run", action="store_true", help="skip the `make run` server shape")
    parser.add_argument("--append-docs", action="store_true", help="append the results to docs/benchmarks.md")
    args = parser.parse_args()
    need_tools()
    base_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not base_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        sys.exit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: the benchmark measures the production shape.")
    import psycopg
    import redis

    db = f"statuspage_bench_{os.getpid()}"
    admin = psycopg.connect(base_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{db}"')
    work = Path(tempfile.mkdtemp(prefix="statuspage-public-load-"))
    work.chmod(0o755)  # nginx's workers run as nobody and read the static copies in here
    redis.Redis.from_url(redis_url).flushdb()
    port, run_port, nginx_port, front_port = free_port(), free_port(), free_port(), free_port()
    common = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY_FILE")},
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_SETTINGS_MODULE": "statuspage.settings",
        "ALLOWED_HOSTS": "*",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
    }
    compose_env = {
        **common,
        "DATABASE_URL": base_url.rsplit("/", 1)[0] + f"/{db}",
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "DATA_DIR": str(work / "compose"),
        "SITE_URL": f"http://127.0.0.1:{front_port}",
        **compose_web_environment(),
    }
    run_env = {
        **common,
        "CELERY_BROKER_URL": "filesystem://",
        "DATA_DIR": str(work / "make-run"),
        "SITE_URL": f"http://127.0.0.1:{run_port}",
        "LOG_FORMAT": "text",
    }
    procs: list[subprocess.Popen] = []
    rows: list[dict] = []
    loads = [loadavg()]
    writes = None
    try:
        print(f"work folder {work}; setting up the demo page on PostgreSQL ...", flush=True)
        ids = setup_database(compose_env, page_slug="demo")
        # Loading the demo enqueued a publish for every command it ran; no worker was there to run them.
        # Drop that backlog, or the write test would first wait for it.
        redis.Redis.from_url(redis_url).delete(*COMPOSE_WORKER[4].split(","))
        web = granian(compose_env, port, compose_web_flags(), work / "granian.log")
        procs.append(web)
        procs.append(front.start(work / "front", port=front_port, upstream=f"127.0.0.1:{port}"))
        page_url = f"http://127.0.0.1:{front_port}/pages/demo/"
        summary_url = page_url + "api/v2/summary.json"
        wait_http(page_url)
        web_page_url = f"http://127.0.0.1:{port}/pages/demo/"
        static = work / "static"
        static.mkdir()
        (static / "page.html").write_bytes(fetch(page_url))
        (static / "summary.json").write_bytes(fetch(summary_url))
        sizes = {"page": len(fetch(page_url)), "summary": len(fetch(summary_url))}
        ng = nginx(work / "nginx", static, nginx_port)
        procs.append(ng)
        nginx_urls = {
            "page": f"http://127.0.0.1:{nginx_port}/page.html",
            "summary": f"http://127.0.0.1:{nginx_port}/summary.json",
        }
        wait_http(nginx_urls["page"])
        assert fetch(nginx_urls["page"]) == fetch(page_url) == fetch(web_page_url), "the very same bytes"
        servers = {
            "compose": {"page": page_url, "summary": summary_url},
            "web alone": {"page": web_page_url, "summary": web_page_url + "api/v2/summary.json"},
        }
        for doc in ("page", "summary"):
            for c in args.connections:
                # Rounds alternate our servers and nginx, so a change in the machine's speed (other VMs on the
                # host) falls on all; each share is taken within a round and the median reported.
                rounds = []
                for _ in range(args.rounds):
                    ours = {name: wrk(urls[doc], c, args.duration) for name, urls in servers.items()}
                    theirs = wrk(nginx_urls[doc], c, args.duration)
                    rounds.append((ours, theirs))
                    for name, result in ours.items():
                        print(f"{doc:8} c={c:<4} {name:9} {result}", flush=True)
                    print(f"{doc:8} c={c:<4} {'nginx':9} {theirs}", flush=True)
                for name in servers:
                    share = statistics.median(o[name]["rps"] / t["rps"] for o, t in rounds)
                    rows.append(
                        {
                            "server": name,
                            "doc": doc,
                            "c": c,
                            **median_of([o[name] for o, _ in rounds]),
                            "share": share,
                        }
                    )
                rows.append({"server": "nginx", "doc": doc, "c": c, **median_of([t for _, t in rounds])})
        if args.writes:
            worker = start(
                [str(BIN / "celery"), *COMPOSE_WORKER, "--loglevel", "WARNING"],
                compose_env,
                work / "worker.log",
            )
            procs.append(worker)
            time.sleep(5)  # the worker's own start-up
            writes = writes_under_load(f"http://127.0.0.1:{front_port}", "demo", ids, seconds=args.writes)
            print(f"writes under load: {writes}", flush=True)
            stop(worker)
        stop(web)
        if not args.skip_make_run:
            print("setting up the make run shape (SQLite) ...", flush=True)
            setup_database(run_env, page_slug="demo")
            run_web = granian(run_env, run_port, MAKE_RUN_WEB, work / "make-run.log")
            procs.append(run_web)
            run_page = f"http://127.0.0.1:{run_port}/pages/demo/"
            wait_http(run_page)
            run_urls = {"page": run_page, "summary": run_page + "api/v2/summary.json"}
            for doc in ("page", "summary"):
                for c in args.connections:
                    results = [wrk(run_urls[doc], c, args.duration) for _ in range(args.rounds)]
                    rows.append({"server": "make run", "doc": doc, "c": c, **median_of(results)})
                    print(f"{doc:8} c={c:<4} make run {results}", flush=True)
            stop(run_web)
        loads.append(loadavg())
        section = report(rows, sizes, writes, loads, args)
        print()
        print(section)
        if args.append_docs:
            append_to_docs(section)
    finally:
        for proc in procs:
            stop(proc)
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
