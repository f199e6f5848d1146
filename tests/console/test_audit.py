"""The audit log: nothing in the application can change or delete an event (every path is tried here), and
owners export it as CSV (streamed, page-scoped, filtered, times in UTC and in the page's zone)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from statuspage import audit
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM, Actor, create_api_key, record_audit
from tests.console.test_roles import urls  # noqa: F401  (the fixture of every page-scoped console URL)

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def snapshot() -> dict[int, tuple]:
    return {
        row["id"]: tuple(sorted((k, json.dumps(v, sort_keys=True, default=str)) for k, v in row.items()))
        for row in AuditEvent.objects.values()
    }


def assert_untouched(before: dict[int, tuple]) -> None:
    """Every event that existed is still there, exactly as it was (new events may have been added)."""
    after = snapshot()
    assert set(before) <= set(after), "an audit event was deleted"
    assert {k: after[k] for k in before} == before, "an audit event was changed"


# Append-only, through every path ------------------------------------------------------------------------


def test_the_model_refuses_every_change_and_deletion(page):
    event = AuditEvent.objects.filter(page=page).first()
    before = snapshot()
    event.action = "something.else"
    attempts = [
        event.save,
        event.delete,
        lambda: AuditEvent.objects.filter(page=page).update(action="x"),
        lambda: AuditEvent.objects.filter(page=page).delete(),
        lambda: AuditEvent.objects.all().delete(),
        lambda: AuditEvent.objects.bulk_update([event], ["action"]),
        lambda: AuditEvent.objects.update_or_create(pk=event.pk, defaults={"action": "x"}),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="append-only"), transaction.atomic():
            attempt()
    assert_untouched(before)


def test_no_console_url_changes_or_deletes_an_event(urls, team, page):  # noqa: F811
    """Every console URL of the page, with every method, as the owner: events may be added, never altered."""
    record_audit(page=page, actor=Actor.of(team.owner), action="page.updated", obj=page, after={"n": 1})
    event = AuditEvent.objects.filter(page=page).latest("id")
    before = snapshot()
    owner = team.client("owner")
    tampering = {"id": event.pk, "action": "x", "actor_label": "nobody", "remove": "1", "delete": "1"}
    for name, _, url, _ in urls:
        for method in ("post", "put", "patch", "delete"):
            response = getattr(owner, method)(url, tampering)
            assert response.status_code < 500, (name, method)
    for url in ("/console/acme/audit/", "/console/acme/audit/export.csv"):
        for method in ("post", "put", "patch", "delete"):
            getattr(owner, method)(f"{url}?id={event.pk}", tampering)
            getattr(owner, method)(f"{url}{event.pk}/", tampering)
    assert_untouched(before)


def test_the_api_only_reads_the_audit_log(page, other_page):
    _, raw = create_api_key(actor=SYSTEM, page=page, name="owner", role="owner")
    event = AuditEvent.objects.filter(page=page).latest("id")
    before = snapshot()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"OAuth {raw}")
    base = f"/api/v1/pages/{page.code}/ext/audit-events"
    assert api.get(base).status_code == 200
    body = {"action": "x", "actor": "nobody"}
    for method in ("post", "put", "patch", "delete"):
        assert getattr(api, method)(base, body, format="json").status_code == 405, method
        assert getattr(api, method)(f"{base}/{event.pk}", body, format="json").status_code == 404, method
    assert_untouched(before)


def test_the_admin_shows_events_read_only_even_to_a_superuser(page):
    admin = User.objects.create_superuser("root", "root@example.com", "a long admin passphrase")
    client = Client()
    client.force_login(admin)
    event = AuditEvent.objects.filter(page=page).first()
    before = snapshot()
    base = "/admin/statuspage/auditevent/"
    assert client.get(base).status_code == 200
    view = client.get(f"{base}{event.pk}/change/")
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert client.post(f"{base}{event.pk}/change/", {"action": "x"}).status_code == 403
    assert client.get(f"{base}{event.pk}/delete/").status_code == 403
    assert client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"{base}add/", {"action": "x"}).status_code == 403
    response = client.post(base, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    assert_untouched(before)


def test_the_admin_signs_in_through_the_console(db):
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/console/login/?next=/admin/"


# CSV export ---------------------------------------------------------------------------------------------


def rows_of(response) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_an_owner_exports_the_page_log_as_csv_with_utc_and_local_times(team, page, other_page):
    with time_machine.travel(T, tick=False):
        record_audit(
            page=page,
            actor=Actor.of(team.owner),
            action="page.updated",
            obj=page,
            before={"name": "Acme"},
            after={"name": '=HYPERLINK("http://evil")', "n": 2},
        )
    record_audit(page=other_page, actor=SYSTEM, action="page.updated", obj=other_page, after={"secret": 1})
    response = team.client("owner").get("/console/acme/audit/export.csv")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="acme-audit-')
    rows = rows_of(response)
    assert list(rows[0]) == list(audit.EXPORT_COLUMNS)
    assert len(rows) == AuditEvent.objects.for_page(page).count()
    assert all("secret" not in row["after"] for row in rows), "another page's events are never exported"
    row = next(r for r in rows if r["time_utc"] == "2026-03-10T15:00:00Z")
    assert row["time_local"] == "2026-03-10T08:00:00-07:00"  # Los Angeles, summer time since March 8
    assert row["time_zone"] == "America/Los_Angeles"
    assert (row["actor"], row["action"], row["description"]) == (
        "owner",
        "page.updated",
        "changed the page's settings",
    )
    assert (row["object_type"], row["object_id"]) == ("page", page.code)
    assert json.loads(row["before"]) == {"name": "Acme"}
    assert json.loads(row["after"]) == {"n": 2, "name": '=HYPERLINK("http://evil")'}
    assert rows == sorted(rows, key=lambda r: r["time_utc"]), "oldest first"


def test_the_export_follows_the_filters_and_neutralises_formulas(team, page):
    with time_machine.travel(T, tick=False):
        record_audit(page=page, actor=Actor(label="=cmd|' /C calc'!A0"), action="page.updated", obj=page)
    with time_machine.travel(T + timedelta(days=2), tick=False):
        record_audit(page=page, actor=Actor.of(team.owner), action="page.updated", obj=page)
    owner = team.client("owner")
    rows = rows_of(owner.get("/console/acme/audit/export.csv?person=owner"))
    assert [r["actor"] for r in rows] == ["owner"]
    rows = rows_of(owner.get("/console/acme/audit/export.csv?from=2026-03-10&to=2026-03-10"))
    assert [r["actor"] for r in rows] == ["'=cmd|' /C calc'!A0"]
    rows = rows_of(owner.get("/console/acme/audit/export.csv?from=not-a-date&type=nothing-like-this"))
    assert rows == []


def test_the_export_streams_in_batches_without_losing_or_repeating_a_row(team, page, monkeypatch):
    monkeypatch.setattr(audit, "BATCH", 3)
    with time_machine.travel(T, tick=False):  # the same instant for all: the id breaks the tie
        for n in range(10):
            record_audit(page=page, actor=SYSTEM, action="component.created", obj=page, after={"n": n})
    rows = rows_of(
        team.client("owner").get("/console/acme/audit/export.csv?type=page&from=2026-03-10&to=2026-03-10")
    )
    assert [json.loads(r["after"])["n"] for r in rows] == list(range(10))


def test_only_owners_export_and_the_audit_page_links_to_it(team, page):
    assert team.client("commander").get("/console/acme/audit/export.csv").status_code == 403
    assert team.client("viewer").get("/console/acme/audit/export.csv").status_code == 403
    assert team.client("outsider").get("/console/acme/audit/export.csv").status_code == 404
    assert "export.csv" in team.client("owner").get("/console/acme/audit/?person=owner").content.decode()
    assert "export.csv" not in team.client("viewer").get("/console/acme/audit/").content.decode()
