"""Dependency benchmark: a page of 2,000 components and 10,000 random acyclic dependencies (seeded), on
SQLite (DATABASE_URL and REDIS_URL are ignored, so it never writes to a shared server):

    .venv/bin/python bench/dependencies.py [--components 2000] [--edges 10000] [--seed 6]

It makes its own data directory (a fresh SQLite database, migrated; removed at the end), builds the graph
in bulk (the components and edges are written with bulk_create: the benchmark measures reads and the
commands that check the graph, not 12,000 audited inserts), and prints one table:

- load: the page's graph (two queries),
- blast radius and proposals (worse, then recovery) from the ten roots with the most direct dependents,
  each through the module function a caller uses (so each includes loading the graph),
- the cycle check: add_dependency refusing an edge that closes a cycle, and accepting one that does not
  (the whole command: lock, load, check, insert, audit),
- automatic propagation: one status change on the biggest root with the page propagating (every
  dependent's change written and audited in one transaction),
- the console's dependency page and a root's component page through the Django test client, with their
  queries counted (CaptureQueriesContext) and their size.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=2000)
    parser.add_argument("--edges", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--roots", type=int, default=10)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="statuspage-bench-deps-"))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "statuspage.settings",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "DATA_DIR": str(work),
            "CELERY_BROKER_URL": "memory://",
            "ALLOWED_HOSTS": "*",
        }
    )
    for name in ("SECRET_KEY_FILE", "DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    try:
        call_command("migrate", verbosity=0)
        print(f"{connection.vendor}: {args.components} components, {args.edges} edges, seed {args.seed}")
        rows = run(args)
        print_table(rows)
    finally:
        connection.close()
        shutil.rmtree(work, ignore_errors=True)


def timed(fn, repeat: int = 1) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def run(args) -> list[tuple]:
    from django.contrib.auth.models import User
    from django.core.exceptions import ValidationError
    from django.db import connection, transaction
    from django.test import Client

    from components import dependencies
    from components.models import Component, ComponentDependency
    from components.services import add_dependency, remove_dependency, set_component_status
    from statuspage.models import AuditEvent
    from statuspage.services import SYSTEM, add_member, create_page, update_page

    rng = random.Random(args.seed)
    page = create_page(actor=SYSTEM, name="Bench", slug="bench")
    user = User.objects.create_user("bench", "bench@example.com", secrets.token_urlsafe(12))
    add_member(actor=SYSTEM, page=page, user=user, role="commander")

    n, m = args.components, args.edges
    start = time.perf_counter()
    Component.objects.bulk_create(
        [Component(page=page, name=f"Service {i:04}", position=i, is_public=i % 5 != 0) for i in range(n)],
        batch_size=1000,
    )
    nodes = list(Component.objects.for_page(page).order_by("position"))
    # Acyclic by construction: a component only depends on one with a smaller index.
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < m:
        a, b = rng.sample(range(n), 2)
        pairs.add((max(a, b), min(a, b)))
    ComponentDependency.objects.bulk_create(
        [
            ComponentDependency(
                page=page, component=nodes[a], depends_on=nodes[b], kind=rng.choice(["hard", "soft"])
            )
            for a, b in sorted(pairs)
        ],
        batch_size=2000,
    )
    build_ms = (time.perf_counter() - start) * 1000
    rows: list[tuple] = [("build (bulk insert)", f"{n} components, {m} edges", build_ms, build_ms, None)]

    def with_queries(fn):
        """(queries run, result). Counted by a wrapper, not CaptureQueriesContext: its log keeps 9,000."""
        count = [0]

        def counter(execute, sql, params, many, context):
            count[0] += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counter):
            result = fn()
        return count[0], result

    load_times, graph = timed(lambda: dependencies.Graph.load(page), repeat=5)
    load_queries, _ = with_queries(lambda: dependencies.Graph.load(page))
    rows.append(
        ("load the page's graph", "5 runs", statistics.median(load_times), max(load_times), load_queries)
    )

    roots = [pk for pk in graph.nodes if not graph.up[pk]]
    roots.sort(key=lambda pk: (-len(graph.down[pk]), graph.rank[pk]))
    top = [graph.nodes[pk] for pk in roots[: args.roots]]

    sizes, radius_times = [], []
    for root in top:
        times, radius = timed(lambda root=root: dependencies.blast_radius(page, [root]))
        radius_times += times
        sizes.append(len(radius))
    radius_queries, _ = with_queries(lambda: dependencies.blast_radius(page, [top[0]]))
    rows.append(
        (
            "blast_radius(page, [root])",
            f"{len(top)} roots, {min(sizes)}-{max(sizes)} affected",
            statistics.median(radius_times),
            max(radius_times),
            radius_queries,
        )
    )
    times, together = timed(lambda: dependencies.blast_radius(page, top))
    rows.append(("blast_radius(page, 10 roots)", f"{len(together)} affected", times[0], times[0], 2))

    propose_times, counts = [], []
    for root in top:
        times, proposals = timed(lambda root=root: dependencies.propose(root, "major_outage"))
        propose_times += times
        counts.append(len(proposals))
    propose_queries, _ = with_queries(lambda: dependencies.propose(top[0], "major_outage"))
    rows.append(
        (
            "propose(root, major_outage)",
            f"{len(top)} roots, {min(counts)}-{max(counts)} proposals",
            statistics.median(propose_times),
            max(propose_times),
            propose_queries,
        )
    )

    # Recovery: the biggest root's blast radius in the state its outage proposes, then the way back.
    biggest = top[0]
    worse = dependencies.propose(biggest, "major_outage")
    with transaction.atomic():
        Component.objects.filter(pk=biggest.pk).update(status="major_outage")
        for status in {p.suggested for p in worse}:
            Component.objects.filter(pk__in=[p.component.pk for p in worse if p.suggested == status]).update(
                status=status
            )
    recover_times, back = timed(lambda: dependencies.propose(biggest, "operational"), repeat=5)
    rows.append(
        (
            "propose(root, operational)",
            f"recovery, {len(back)} proposals",
            statistics.median(recover_times),
            max(recover_times),
            propose_queries,
        )
    )
    Component.objects.filter(page=page).update(status="operational")

    # The cycle check, through the command: the biggest root depending on something in its own radius.
    deep = dependencies.blast_radius(page, [biggest])[-1].component
    cycle_times, message = [], ""
    for _ in range(5):
        start = time.perf_counter()
        try:
            add_dependency(actor=SYSTEM, component=biggest, depends_on=deep)
        except ValidationError as exc:
            message = exc.messages[0]
        cycle_times.append((time.perf_counter() - start) * 1000)
    hops = message.count("→")
    rows.append(
        (
            "add_dependency refused (cycle)",
            f"cycle of {hops} hops",
            statistics.median(cycle_times),
            max(cycle_times),
            None,
        )
    )
    cycle_queries, _ = with_queries(lambda: _refused(add_dependency, biggest, deep, SYSTEM))
    rows[-1] = (*rows[-1][:4], cycle_queries)

    other = top[1]
    accept_times = []
    for _ in range(5):
        start = time.perf_counter()
        add_dependency(actor=SYSTEM, component=other, depends_on=biggest)
        accept_times.append((time.perf_counter() - start) * 1000)
        remove_dependency(actor=SYSTEM, component=other, depends_on=biggest)
    accept_queries, _ = with_queries(
        lambda: add_dependency(actor=SYSTEM, component=other, depends_on=biggest)
    )
    remove_dependency(actor=SYSTEM, component=other, depends_on=biggest)
    rows.append(
        (
            "add_dependency accepted",
            "lock, load, check, write",
            statistics.median(accept_times),
            max(accept_times),
            accept_queries,
        )
    )

    # Automatic propagation: one change, every dependent changed and audited, one transaction.
    update_page(actor=SYSTEM, page=page, propagate_dependencies=True)
    before = AuditEvent.objects.filter(action="component.status_propagated").count()
    start = time.perf_counter()
    count, _ = with_queries(
        lambda: set_component_status(actor=SYSTEM, component=biggest, status="major_outage")
    )
    propagate_ms = (time.perf_counter() - start) * 1000
    changed = AuditEvent.objects.filter(action="component.status_propagated").count() - before
    rows.append(
        (
            "set_component_status, propagating",
            f"{changed} dependents changed",
            propagate_ms,
            propagate_ms,
            count,
        )
    )
    start = time.perf_counter()
    count, _ = with_queries(
        lambda: set_component_status(actor=SYSTEM, component=biggest, status="operational")
    )
    recover_ms = (time.perf_counter() - start) * 1000
    changed_back = AuditEvent.objects.filter(action="component.status_propagated").count() - before - changed
    rows.append(("... and its recovery", f"{changed_back} dependents changed", recover_ms, recover_ms, count))
    update_page(actor=SYSTEM, page=page, propagate_dependencies=False)

    client = Client()
    client.force_login(user)
    client.get("/console/bench/")  # warm the session and templates, not measured
    for label, url in [
        ("console: dependency page", "/console/bench/components/dependencies/"),
        ("console: biggest root's page", f"/console/bench/components/{biggest.code}/"),
    ]:
        client.get(url)  # warm
        times, sizes_kb, queries = [], [], 0
        for _ in range(5):
            start = time.perf_counter()
            queries, response = with_queries(lambda url=url: client.get(url))
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
            sizes_kb.append(len(response.content) / 1024)
        rows.append((label, f"{sizes_kb[-1]:,.0f} KiB", statistics.median(times), max(times), queries))
    return rows


def _refused(add_dependency, component, depends_on, actor) -> None:
    from django.core.exceptions import ValidationError

    try:
        add_dependency(actor=actor, component=component, depends_on=depends_on)
    except ValidationError:
        return
    raise AssertionError("the cycle was not refused")


def print_table(rows: list[tuple]) -> None:
    header = ("operation", "size", "median ms", "max ms", "queries")
    table = [header] + [
        (op, size, f"{median:,.1f}", f"{worst:,.1f}", "" if queries is None else str(queries))
        for op, size, median, worst, queries in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print(
            "  ".join(
                cell.ljust(w) if j < 2 else cell.rjust(w)
                for j, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
