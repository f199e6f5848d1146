"""One maintenance, recurring series and change record of a page, named as the console's URLs name them
(for the role matrix in test_roles.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidents.services import create_change_record, create_maintenance_series, schedule_maintenance
from statuspage.services import SYSTEM

START = datetime(2030, 1, 7, 2, 0, tzinfo=UTC)


def maintenance_objects(page) -> dict:
    maintenance = schedule_maintenance(
        actor=SYSTEM,
        page=page,
        name="Upgrade",
        scheduled_for=START,
        scheduled_until=START + timedelta(hours=1),
    )
    series = create_maintenance_series(
        actor=SYSTEM,
        page=page,
        name="Weekly",
        first_start=START,
        first_end=START + timedelta(hours=1),
        frequency="weekly",
        at=START - timedelta(days=1),
    )
    change = create_change_record(actor=SYSTEM, page=page, title="Rotate keys")
    return {
        "maintenance_code": maintenance.code,
        "series_code": series.code,
        "change_code": change.code,
        "action": "edit",
    }
