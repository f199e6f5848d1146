"""Issue 7 point 4, in CI: the outage drill (bench/outage_drill.py) on its own throwaway PostgreSQL
(initdb in a temporary directory, its own port) and Redis (its own port), never the machine's or the
suite's, so it runs the same in both CI passes (SQLite and filesystem broker, PostgreSQL and Redis).

PostgreSQL, then Redis, then both are stopped under a running installation (granian, a Celery worker and
beat): the public page and summary.json keep answering 200 from the snapshot with the "Last updated" note,
the console and the management API answer a clear 503 while the database is down (and keep working while
only Redis is), and after the restart, with no manual step, every subscriber has exactly one copy of every
update posted before, during and after the outage and the page shows an update posted after it.

The drill bounds every wait and stops its processes and removes its directory even when it fails."""

from __future__ import annotations

import glob
import shutil

import pytest

from tests.conftest import skip_unless_ci

pytestmark = [pytest.mark.outage]


def test_the_page_outlives_postgresql_and_redis_outages_and_everything_catches_up(capsys):
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        skip_unless_ci("needs the PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql")
    if not shutil.which("redis-server"):
        skip_unless_ci("needs redis-server")
    from bench.outage_drill import Drill, DrillFailure

    # No demo page (the slowest part of set-up); 20 subscribers; 3-second outages.
    with Drill(subscribers=20, down_seconds=3, verbose=True, demo=False) as drill:
        try:
            report = drill.run()
        except DrillFailure:
            print(drill.log_tail(6000))
            raise
    with capsys.disabled():
        print("\n" + report.text())
    assert [phase.name for phase in report.phases] == ["postgres", "redis", "both"]
    for phase in report.phases:
        assert all(count == 20 for count in phase.delivered.values()), phase
    assert set(report.phases[1].delivered) == {"before", "during", "after"}
