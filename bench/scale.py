"""Scale benchmark: the public page and summary.json of a page with 500 components in 40 groups, with 1,000
and then 100,000 past incidents. SQLite in a fresh temporary data directory by default (DATABASE_URL and
REDIS_URL are ignored unless --use-database-url is given, so it never writes to a shared server):

    .venv/bin/python bench/scale.py [--components 500] [--groups 40] [--history 1000,100000]
    DATABASE_URL=postgres://... .venv/bin/python bench/scale.py --use-database-url   # a scratch database!

The data is written with bulk_create (the benchmark measures rendering, not 300,000 audited inserts). The
recent past is the same at every history size: two open incidents, 12 resolved incidents in the last 14
days and 36 more in the 90-day uptime window, with their component status changes; everything else is
older than 90 days. So what changes between the runs is the length of history alone, and the query count
of every render must not change with it.

For each history size it prints:
- publish: `publishing.publish_page` (every eager document: page, live fragment, history page 1, feeds,
  the JSON documents, the incident pages linked from the front page), its time and queries;
- the page (index.html) and summary.json rendered alone from the database: time, queries, size (and gzipped);
- both served from the snapshot through Django's test client (what a reader gets): time, queries;
- lazily rendered documents that reach into history: history page 3 (6 to 8 months ago), the oldest
  incident.
"""

from __future__ import annotations

import argparse
import gzip
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECENT_14 = 12
RECENT_90 = 36
OPEN = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=500)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--history", default="1000,100000", help="past incident counts, ascending")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each render (serving runs 50)")
    parser.add_argument(
        "--use-database-url", action="store_true", help="run on DATABASE_URL (a scratch database) instead"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.history.split(",")]

    work = Path(tempfile.mkdtemp(prefix="statuspage-bench-scale-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "statuspage.settings",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DATA_DIR": str(work),
            "CELERY_BROKER_URL": "memory://",
            "ALLOWED_HOSTS": "*",
            "LOG_LEVEL": "WARNING",
        }
    )
    drop = ["SECRET_KEY_FILE", "REDIS_URL"] + ([] if args.use_database_url else ["DATABASE_URL"])
    for name in drop:
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        version = connection.Database.sqlite_version if connection.vendor == "sqlite" else ""
        print(
            f"{connection.vendor} {version}: {args.components} components in {args.groups} groups,"
            f" history {sizes}"
        )
        run(args, sizes)
    finally:
        connection.close()
        shutil.rmtree(work, ignore_errors=True)


def counted(fn):
    """(queries, result), counted by a wrapper (CaptureQueriesContext keeps a log of 9,000 at most)."""
    from django.db import connection

    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        result = fn()
    return count[0], result


def timed(fn, repeat: int) -> tuple[float, float, int, object]:
    """(median ms, max ms, queries per run, last result)."""
    times, result = [], None

    def runs():
        nonlocal result
        for _ in range(repeat):
            start = time.perf_counter()
            result = fn()
            times.append((time.perf_counter() - start) * 1000)

    queries, _ = counted(runs)
    return statistics.median(times), max(times), queries // repeat, result


def build_page(args):
    from components.models import Component, ComponentGroup
    from statuspage.services import SYSTEM, create_page

    page = create_page(actor=SYSTEM, name="Scale", slug="scale", time_zone="Europe/Berlin")
    groups = ComponentGroup.objects.bulk_create(
        ComponentGroup(page=page, name=f"Group {g:02}", position=g) for g in range(args.groups)
    )
    since = page.created_at - timedelta(days=3650)
    Component.objects.bulk_create(
        (
            Component(
                page=page,
                group=groups[i % len(groups)],
                name=f"Service {i:03}",
                position=i,
                created_at=since,
                start_date=since.date(),
            )
            for i in range(args.components)
        ),
        batch_size=1000,
    )
    return page, list(Component.objects.for_page(page).order_by("position"))


def add_incidents(page, components, starts, *, status="resolved", batch=5000):
    """Incidents starting at `starts`, each with two updates (investigating, resolved) touching two
    components, their status changes, and the incident-component links; bulk inserted."""
    from components.models import ComponentStatusChange
    from incidents.models import Incident, IncidentUpdate

    n = len(components)
    for offset in range(0, len(starts), batch):
        chunk = starts[offset : offset + batch]
        incidents = Incident.objects.bulk_create(
            Incident(
                page=page,
                name=f"Elevated errors #{offset + i}",
                status=status,
                impact="major",
                backfilled=True,
                started_at=t,
                created_at=t,
                updated_at=t + timedelta(hours=1),
                resolved_at=t + timedelta(hours=1) if status == "resolved" else None,
                last_update_at=t,
            )
            for i, t in enumerate(chunk)
        )
        pairs = [
            (incident, (offset + i) % n, (offset + i * 7 + 3) % n) for i, incident in enumerate(incidents)
        ]
        steps = [("investigating", timedelta(0))] + (
            [("resolved", timedelta(hours=1))] if status == "resolved" else []
        )
        updates = IncidentUpdate.objects.bulk_create(
            IncidentUpdate(
                incident=incident,
                status=step,
                body=f"We are {step} the **errors** on the API.",
                created_at=incident.started_at + delay,
                display_at=incident.started_at + delay,
                updated_at=incident.started_at + delay,
            )
            for incident, _, _ in pairs
            for step, delay in steps
        )
        by_incident: dict[int, list] = {}
        for update in updates:
            by_incident.setdefault(update.incident_id, []).append(update)
        ComponentStatusChange.objects.bulk_create(
            (
                ComponentStatusChange(
                    component=components[c],
                    incident_update=update,
                    old_status="operational" if update.status == "investigating" else "partial_outage",
                    new_status="partial_outage" if update.status == "investigating" else "operational",
                    created_at=update.display_at,
                )
                for incident, a, b in pairs
                for update in by_incident[incident.pk]
                for c in (a, b)
            ),
            batch_size=batch,
        )
        Incident.components.through.objects.bulk_create(
            (
                Incident.components.through(incident_id=incident.pk, component_id=components[c].pk)
                for incident, a, b in pairs
                for c in {a, b}
            ),
            batch_size=batch,
        )


def measure(page, repeat: int) -> list[tuple]:
    from django.template.loader import render_to_string
    from django.test import Client
    from django.utils import timezone

    from incidents.models import Incident
    from statuspage import publishing, snapshots

    rows = []
    now = timezone.now()

    med, worst, queries, manifest = timed(lambda: publishing.publish_page(page.pk), repeat)
    docs = len(list((Path(snapshots._root()) / page.code / str(manifest["version"])).iterdir()))
    rows.append(("publish (every eager document)", f"{docs} documents", med, worst, queries, None))

    def page_alone():
        context = publishing.index_context(page, now=now, version=1)
        with timezone.override(page.tz):
            return render_to_string("public/index.html", context)

    med, worst, queries, html = timed(page_alone, repeat)
    rows.append(("render index.html alone", _size(html), med, worst, queries, None))

    def summary_alone():
        context = publishing.index_context(page, now=now, version=1)
        return publishing.api_documents(page, context, now=now)["api/v2/summary.json"].body

    med, worst, queries, body = timed(summary_alone, repeat)
    rows.append(("render summary.json alone", _size(body), med, worst, queries, None))

    client = Client()
    for path, label in (
        ("/pages/scale/", "serve the page"),
        ("/pages/scale/api/v2/summary.json", "serve summary.json"),
    ):
        client.get(path)
        med, worst, queries, response = timed(lambda path=path: client.get(path), 50)
        rows.append(
            (f"{label} (snapshot)", _size(response.content), med, worst, queries, response.status_code)
        )

    oldest = Incident.objects.for_page(page).order_by("started_at").first()
    for path, label in (
        ("/pages/scale/history?page=3", "history page 3 (lazy, first request)"),
        (f"/pages/scale/incidents/{oldest.code}", "the oldest incident (lazy, first request)"),
    ):
        start = time.perf_counter()
        queries, response = counted(lambda path=path: client.get(path))
        ms = (time.perf_counter() - start) * 1000
        rows.append((label, _size(response.content), ms, ms, queries, response.status_code))
    return rows


def _size(body) -> str:
    data = body.encode() if isinstance(body, str) else body
    return f"{len(data) / 1024:,.0f} KiB ({len(gzip.compress(data)) / 1024:,.0f} gz)"


def run(args, sizes: list[int]) -> None:
    from django.utils import timezone

    page, components = build_page(args)
    now = timezone.now()
    # The recent past, the same at every size: resolved incidents in the last 14 and 90 days, two open.
    recent = [now - timedelta(days=1 + i) for i in range(RECENT_14)] + [
        now - timedelta(days=15 + 2 * i) for i in range(RECENT_90)
    ]
    add_incidents(page, components, recent)
    add_incidents(page, components, [now - timedelta(hours=2 + i) for i in range(OPEN)], status="identified")
    written = len(recent)
    results = {}
    for size in sizes:
        start = time.perf_counter()
        # Older history: one incident every ~8 hours going back from day 91, so 100,000 reach 90 years.
        old = [
            now - timedelta(days=91, hours=8 * i) for i in range(written - len(recent), size - len(recent))
        ]
        add_incidents(page, components, old)
        written = size
        build = time.perf_counter() - start
        print(f"\n{size:,} past incidents (+{OPEN} open); history written in {build:.1f} s")
        rows = measure(page, args.repeat)
        results[size] = rows
        print_table(rows)
    if len(sizes) > 1:
        first, last = results[sizes[0]], results[sizes[-1]]
        same = all(a[4] == b[4] for a, b in zip(first, last, strict=True))
        print(
            f"\nquery counts {'identical' if same else 'DIFFER'} between {sizes[0]:,} and {sizes[-1]:,} "
            "past incidents"
        )


def print_table(rows: list[tuple]) -> None:
    print(f"{'operation':42} {'size':24} {'median':>10} {'max':>10} {'queries':>8} status")
    for name, size, med, worst, queries, status in rows:
        print(f"{name:42} {size:24} {med:8.2f}ms {worst:8.2f}ms {queries:>8} {status or ''}")


if __name__ == "__main__":
    main()
