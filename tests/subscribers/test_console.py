"""Subscribers in the console: list, search and filter, add (optionally skipping confirmation, audited),
remove, reactivate, CSV export and import with bad rows reported by line; notification health and retrying
dead deliveries."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from incidents.services import create_incident
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM
from subscribers.models import Delivery, OutboxEvent, Subscriber
from subscribers.services import subscribe, unsubscribe

LIST = "/console/acme/subscribers/"


def rows(client, query=""):
    return [s.address for s in client.get(LIST + query).context["subscribers"]]


def test_the_list_searches_and_filters_and_shows_only_this_page(page, other_page, api, web, team):
    subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True, components=[api])
    subscribe(page=page, email="bob@example.com")
    subscribe(page=page, actor=SYSTEM, endpoint="http://127.0.0.1:9/hook")
    subscribe(page=other_page, actor=SYSTEM, email="secret@example.com", skip_confirmation=True)
    client = team.client("commander")
    assert sorted(rows(client)) == ["ann@example.com", "bob@example.com", "http://127.0.0.1:9/hook"]
    assert rows(client, "?q=ANN") == ["ann@example.com"]
    assert rows(client, "?type=webhook") == ["http://127.0.0.1:9/hook"]
    assert rows(client, "?state=unconfirmed") == ["bob@example.com"]
    assert rows(client, f"?component={api.code}") == ["ann@example.com"]
    assert sorted(rows(client, "?component=all")) == ["bob@example.com", "http://127.0.0.1:9/hook"]
    assert "secret@example.com" not in client.get(LIST).content.decode()


def test_adding_can_skip_confirmation_and_that_is_audited(page, team, smtp, worker):
    client = team.client("commander")
    with worker():
        client.post(
            LIST + "add/",
            {"add-kind": "email", "add-email": "vip@example.com", "add-skip_confirmation": "on"},
        )
        client.post(LIST + "add/", {"add-kind": "email", "add-email": "new@example.com"})
    assert Subscriber.objects.get(email="vip@example.com").state == "active"
    assert Subscriber.objects.get(email="new@example.com").state == "unconfirmed"
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["new@example.com"]
    event = AuditEvent.objects.get(action="subscriber.added", after__address="vip@example.com")
    assert event.actor == team.commander and event.after["skip_confirmation"] is True


def test_adding_bad_input_says_why_and_writes_nothing(page, team):
    client = team.client("commander")
    response = client.post(
        LIST + "add/", {"add-kind": "webhook", "add-endpoint": "http://10.1.2.3/x"}, follow=True
    )
    assert "private network" in response.content.decode()
    response = client.post(LIST + "add/", {"add-kind": "email", "add-email": "nope"}, follow=True)
    assert "valid email" in response.content.decode()
    assert Subscriber.objects.count() == 0


def test_remove_and_reactivate(page, team):
    gone = subscribe(page=page, actor=SYSTEM, email="gone@example.com", skip_confirmation=True)
    hook = subscribe(page=page, actor=SYSTEM, endpoint="http://127.0.0.1:9/hook")
    Subscriber.objects.filter(pk=hook.pk).update(state="quarantined", failures=3)
    client = team.client("commander")
    client.post(f"{LIST}{gone.code}/", {"action": "remove"})
    assert not Subscriber.objects.filter(pk=gone.pk).exists()
    client.post(f"{LIST}{hook.code}/", {"action": "reactivate"})
    hook.refresh_from_db()
    assert (hook.state, hook.failures) == ("active", 0)
    response = client.post(f"{LIST}{hook.code}/", {"action": "reactivate"}, follow=True)
    assert "Only a quarantined subscriber" in response.content.decode()
    actions = set(AuditEvent.objects.filter(object_type="subscriber").values_list("action", flat=True))
    assert {"subscriber.removed", "subscriber.reactivated"} <= actions


def test_export_then_import_round_trips_and_bad_rows_are_reported_by_line(
    page, other_page, api, team, make_component
):
    subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True, components=[api])
    subscribe(page=page, actor=SYSTEM, endpoint="http://127.0.0.1:9/hook", email="ops@example.com")
    exported = b"".join(team.client("commander").get(LIST + "export.csv").streaming_content).decode()
    lines = exported.strip().splitlines()
    assert lines[0].startswith("id,type,email,endpoint")
    assert len(lines) == 3 and "ann@example.com" in exported and "API" in exported

    make_component(other_page, "API")
    from statuspage.services import add_member

    add_member(actor=SYSTEM, page=other_page, user=team.commander, role="commander")
    csv_text = exported + "\n".join(
        [
            "x,email,not-an-email,,,,,,",
            "x,email,bob@example.com,,,,Nonexistent,,",
            "x,email,left@example.com,,,,,,",
            "x,email,ann@example.com,,,,,,",
        ]
    )
    left = subscribe(page=other_page, actor=SYSTEM, email="left@example.com", skip_confirmation=True)
    unsubscribe(subscriber=left)
    response = team.client("commander").post(
        "/console/globex/subscribers/import/",
        {"import-file": SimpleUploadedFile("s.csv", csv_text.encode()), "import-skip_confirmation": "on"},
    )
    report = response.context["report"]
    assert (report.added, report.unchanged) == (2, 1)
    assert [line for line, _ in report.errors] == [4, 5, 6]
    assert "valid email" in report.errors[0][1]
    assert "Unknown component: Nonexistent" in report.errors[1][1]
    assert "unsubscribed" in report.errors[2][1]
    imported = Subscriber.objects.get(page=other_page, email="ann@example.com")
    assert imported.state == "active" and [c.name for c in imported.components.all()] == ["API"]
    assert imported.components.get().page == other_page
    hook = Subscriber.objects.get(page=other_page, kind="webhook")
    assert (hook.endpoint, hook.email) == ("http://127.0.0.1:9/hook", "ops@example.com")
    assert Subscriber.objects.get(page=other_page, email="left@example.com").state == "unsubscribed"


def test_the_export_neutralises_formulas_and_imports_back_unchanged(page, other_page, team, make_component):
    # A component named like a formula would run in a spreadsheet opening the export (CSV injection).
    formula = make_component(page, '=HYPERLINK("http://evil")')
    subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True, components=[formula])
    exported = b"".join(team.client("commander").get(LIST + "export.csv").streaming_content).decode()
    import csv
    import io

    (row,) = list(csv.DictReader(io.StringIO(exported)))
    assert row["components"] == "'" + formula.name

    make_component(other_page, formula.name)
    from statuspage.services import add_member

    add_member(actor=SYSTEM, page=other_page, user=team.commander, role="commander")
    response = team.client("commander").post(
        "/console/globex/subscribers/import/",
        {"import-file": SimpleUploadedFile("s.csv", exported.encode()), "import-skip_confirmation": "on"},
    )
    assert response.context["report"].errors == []
    imported = Subscriber.objects.get(page=other_page, email="ann@example.com")
    assert [c.name for c in imported.components.all()] == [formula.name]


def test_a_file_that_is_not_csv_text_is_refused(page, team):
    response = team.client("commander").post(
        LIST + "import/", {"import-file": SimpleUploadedFile("s.csv", b"\xff\xfe\x00bad")}
    )
    assert response.status_code == 400 and "UTF-8" in response.content.decode()
    response = team.client("commander").post(
        LIST + "import/", {"import-file": SimpleUploadedFile("s.csv", b"name,phone\nann,123\n")}
    )
    assert "must name the columns" in response.context["report"].errors[0][1]
    assert Subscriber.objects.count() == 0


def test_notification_health_and_retrying_dead_deliveries(page, team, http_receiver, worker):
    http_receiver.status = 410
    hook = subscribe(page=page, actor=SYSTEM, endpoint=http_receiver.url)
    with worker():
        incident = create_incident(actor=SYSTEM, page=page, name="Down", body="x")
    assert Delivery.objects.get().state == "dead"
    html = team.client("commander").get("/console/acme/notifications/").content.decode()
    assert "Down" in html and "answered 410" in html and http_receiver.url[:40] in html
    # A viewer sees the counts, not subscriber addresses (personal data) nor the errors that quote them.
    html = team.client("viewer").get("/console/acme/notifications/").content.decode()
    assert "Down" in html and '<strong class="error-text">1</strong>' in html
    assert "answered 410" not in html and "127.0.0.1" not in html
    dashboard = team.client("viewer").get("/console/acme/").context["delivery"]
    assert dashboard["dead"] == 1 and dashboard["quarantined"] == 1

    http_receiver.status = 200
    team.client("commander").post(f"/console/acme/subscribers/{hook.code}/", {"action": "reactivate"})
    event = OutboxEvent.objects.get(incident=incident)
    with worker():
        team.client("commander").post(f"/console/acme/notifications/{event.code}/retry/")
    assert Delivery.objects.get().state == "sent"
    assert len(http_receiver.requests) == 2
