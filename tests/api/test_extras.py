"""Our additions under /pages/{page_id}/ext/: cadence reports, outbox events and their deliveries after a
real incident delivered by the real tasks (to a real SMTP server and HTTP receiver on 127.0.0.1), and the
audit log; each for the right role, and never another page's."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from incidents.services import create_incident
from statuspage.models import AuditEvent
from statuspage.services import SYSTEM
from subscribers.models import Delivery, OutboxEvent
from subscribers.services import subscribe
from tests.conftest import T0

pytestmark = pytest.mark.django_db

DEAD_END = "http://127.0.0.1:9/hook"  # nothing listens: every attempt fails, and is retried


@pytest.fixture(autouse=True)
def clock():
    """Everything here, the pages included, happens on a stopped clock from T0."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def ext(page):
    return f"/api/v1/pages/{page.code}/ext"


@pytest.fixture
def story(page, other_page, client_for, make_component, smtp, http_receiver, worker, clock, setup_committed):
    """An incident opened and updated through the API at T0 and T0+40 min, told to three subscribers: an
    email (sent), a webhook (sent) and a webhook that never answers (retrying). The other page has its own."""
    api = make_component(page, "API")
    ann = subscribe(page=page, actor=SYSTEM, email="ann@example.com", skip_confirmation=True)
    good = subscribe(page=page, actor=SYSTEM, endpoint=http_receiver.url)
    bad = subscribe(page=page, actor=SYSTEM, endpoint=DEAD_END)
    subscribe(page=other_page, actor=SYSTEM, email="secret@example.com", skip_confirmation=True)
    create_incident(actor=SYSTEM, page=other_page, name="Theirs", body="Elsewhere")
    setup_committed()
    client = client_for(page)
    base = f"/api/v1/pages/{page.code}/incidents"
    with worker():
        response = client.post(
            base,
            {
                "incident": {
                    "name": "API errors",
                    "body": "Looking.",
                    "components": {api.code: "major_outage"},
                }
            },
            format="json",
        )
    incident_id = response.json()["id"]
    clock.shift(timedelta(minutes=40))
    with worker():
        client.patch(
            f"{base}/{incident_id}",
            {"incident": {"status": "identified", "body": "Found it."}},
            format="json",
        )
    return {"incident_id": incident_id, "ann": ann, "good": good, "bad": bad, "client": client}


def test_events_newest_first_with_their_deliveries_by_state(page, story, ext):
    client = story["client"]
    events = client.get(f"{ext}/events").json()
    assert events[0]["type"] == "incident.updated"
    assert {e["type"] for e in events[1:]} == {"component.updated", "incident.created"}  # both at T0
    updated = events[0]
    component, created = sorted(events[1:], key=lambda e: e["type"])
    assert updated["incident_id"] == created["incident_id"] == story["incident_id"]
    assert updated["incident_update_id"] is not None and updated["created_at"].endswith("-08:00")
    assert created["deliveries"] == {
        "pending": 0, "sending": 0, "sent": 2, "retrying": 1, "dead": 0, "cancelled": 0,
    }  # fmt: skip
    # A component change goes to webhooks only, with the statuses and the component's public id.
    assert component["data"] == {"old_status": "operational", "new_status": "major_outage"}
    assert (
        component["component_id"]
        == component["component_ids"][0]
        != str(OutboxEvent.objects.first().component_id)
    )
    assert component["deliveries"]["sent"] == 1 and component["deliveries"]["retrying"] == 1
    assert all(
        e["id"] in set(OutboxEvent.objects.for_page(page).values_list("code", flat=True)) for e in events
    )

    assert [e["type"] for e in client.get(f"{ext}/events?type=incident.created").json()] == [
        "incident.created"
    ]
    assert client.get(f"{ext}/events.json?per_page=1&page=2").json() == [events[1]]
    response = client.get(f"{ext}/events?type=incident.exploded")
    assert response.status_code == 400 and "type" in response.json()["errors"]


def test_an_events_deliveries_with_their_state_attempts_and_errors(page, story, ext):
    client = story["client"]
    created = client.get(f"{ext}/events?type=incident.created").json()[0]
    deliveries = client.get(f"{ext}/events/{created['id']}/deliveries").json()
    by_subscriber = {d["subscriber_id"]: d for d in deliveries}
    assert set(by_subscriber) == {story["ann"].code, story["good"].code, story["bad"].code}
    sent = by_subscriber[story["ann"].code]
    assert (sent["channel"], sent["state"], sent["attempts"], sent["event_id"]) == (
        "email",
        "sent",
        1,
        created["id"],
    )
    assert sent["sent_at"] is not None and sent["next_attempt_at"] is None and sent["last_error"] is None
    failing = by_subscriber[story["bad"].code]
    assert (failing["channel"], failing["state"], failing["attempts"]) == ("webhook", "retrying", 1)
    assert failing["last_error"] and failing["next_attempt_at"] > failing["created_at"]
    assert failing["id"] == Delivery.objects.get(subscriber=story["bad"], event__code=created["id"]).pk
    retrying = client.get(f"{ext}/events/{created['id']}/deliveries?state=retrying").json()
    assert [d["subscriber_id"] for d in retrying] == [story["bad"].code]
    response = client.get(f"{ext}/events/{created['id']}/deliveries?state=lost")
    assert response.status_code == 400 and "state" in response.json()["errors"]


def test_an_incidents_deliveries_and_their_counts(page, story, ext):
    client = story["client"]
    answer = client.get(f"{ext}/incidents/{story['incident_id']}/deliveries").json()
    assert answer["incident_id"] == story["incident_id"]
    # incident.created and incident.updated, three each (the component change is the component's event)
    counts = {"pending": 0, "sending": 0, "sent": 4, "retrying": 2, "dead": 0, "cancelled": 0}
    assert answer["counts"] == counts and len(answer["deliveries"]) == 6
    assert [d["event_type"] for d in answer["deliveries"]][:3] == ["incident.created"] * 3
    only = client.get(f"{ext}/incidents/{story['incident_id']}/deliveries?state=sent&per_page=2").json()
    assert only["counts"] == answer["counts"] and [d["state"] for d in only["deliveries"]] == ["sent", "sent"]


def test_the_cadence_of_one_incident_and_of_the_page(page, story, ext, clock):
    client = story["client"]
    one = client.get(f"{ext}/incidents/{story['incident_id']}/cadence").json()
    assert one["incident"]["id"] == story["incident_id"] and one["incident"]["status"] == "identified"
    assert one["updates"] == 2 and one["on_time_share"] == 0.0  # 40 minutes against a 30-minute cadence
    assert one["longest_gap_seconds"] == 40 * 60 and one["time_to_first_update_seconds"] == 0
    assert one["time_to_resolve_seconds"] is None and one["cadence_minutes"] == 30
    assert one["due_state"] == "ok" and one["next_update_due_at"].startswith("2026-03-01T05:10:00.000-08:00")

    report = client.get(f"{ext}/cadence").json()
    assert report["incidents"] == 1 and report["updates"] == 2  # the other page's incident is not counted
    assert [row["incident"]["id"] for row in report["rows"]] == [story["incident_id"]]
    assert report["rows"][0]["longest_gap_seconds"] == 40 * 60 and report["longest_gap_seconds"] == 40 * 60
    assert report["until"] == "2026-03-01T04:40:00.000-08:00"  # now, in the page's zone
    assert report["since"] == "2026-01-30T04:40:00.000-08:00"  # 30 days before
    assert client.get(f"{ext}/cadence?since=2026-03-01T12:01Z").json()["incidents"] == 0
    assert (
        client.get(f"{ext}/cadence?since=2026-02-01&until=2026-03-01").json()["incidents"] == 1
    )  # whole day
    assert client.get(f"{ext}/cadence?until=2026-02-28").json()["incidents"] == 0
    assert (
        client.get(f"{ext}/cadence?since=2026-03-01T12:00:00Z&until=2026-03-01T12:01Z").json()["incidents"]
        == 1
    )
    for query, field in [
        ("since=yesterday", "since"),
        ("until=2026-02-30", "until"),
        ("since=2026-03-02&until=2026-03-01", "until"),
        ("since=2026-03-02", "since"),  # after now, the default until
        ("since=0001-01-01", "since"),
        ("until=9999-12-31", "until"),
        ("until=9999-12-31T23:59:59%2B14:00", "until"),
        ("since=2024-01-01&until=2026-01-01", "since"),
    ]:
        response = client.get(f"{ext}/cadence?{query}")
        assert response.status_code == 400 and field in response.json()["errors"], query


def test_the_audit_log_is_for_owner_keys_newest_first_and_filtered(
    page, other_page, client_for, story, ext, clock
):
    assert client_for(page, "commander").get(f"{ext}/audit-events").status_code == 403
    assert client_for(page, "viewer").get(f"{ext}/audit-events").status_code == 403
    owner = client_for(page, "owner")
    events = owner.get(f"{ext}/audit-events?per_page=100").json()
    expected = list(
        AuditEvent.objects.for_page(page).order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    assert [e["id"] for e in events] == expected
    assert not set(AuditEvent.objects.for_page(other_page).values_list("pk", flat=True)) & {
        e["id"] for e in events
    }
    # The keys made above are the newest (12:40, after the update); the update comes next.
    assert [e["action"] for e in events[:4]] == ["api_key.created"] * 3 + ["incident.updated"]
    latest = owner.get(f"{ext}/audit-events?object_type=incident").json()[0]
    assert latest["action"] == "incident.updated" and latest["actor"].startswith("API key deploys")
    assert latest["description"] == "posted an update"
    assert latest["created_at"] == "2026-03-01T04:40:00.000-08:00"  # the page's zone
    assert latest["object_id"] == story["incident_id"] and latest["before"]["status"] == "investigating"
    assert len(owner.get(f"{ext}/audit-events?object_type=incident").json()) == 2
    assert [
        e["action"] for e in owner.get(f"{ext}/audit-events?object_id={story['incident_id']}").json()
    ] == [
        "incident.updated",
        "incident.created",
    ]
    added = owner.get(f"{ext}/audit-events?action=subscriber.added").json()
    assert sorted(e["after"]["address"] for e in added) == sorted(
        ["ann@example.com", story["good"].endpoint, DEAD_END]
    )
    recent = owner.get(f"{ext}/audit-events?since=2026-03-01T12:30:00Z").json()
    assert {e["action"] for e in recent} == {"api_key.created", "incident.updated"}
    earlier = owner.get(f"{ext}/audit-events?until=2026-03-01T12:30Z&per_page=100").json()
    assert {e["id"] for e in earlier} == {e["id"] for e in events} - {e["id"] for e in recent}
    assert owner.get(f"{ext}/audit-events?until=2026-02-28").json() == []
    assert owner.get(f"{ext}/audit-events?since=soon").status_code == 400
    response = owner.get(f"{ext}/audit-events?action=incident%00created")
    assert response.status_code == 400 and "action" in response.json()["errors"]
    assert len(owner.get(f"{ext}/audit-events?per_page=2").json()) == 2


def test_viewers_read_cadence_and_events_but_not_deliveries(page, client_for, story, ext):
    viewer = client_for(page, "viewer")
    event = story["client"].get(f"{ext}/events").json()[0]
    assert viewer.get(f"{ext}/cadence").status_code == 200
    assert viewer.get(f"{ext}/incidents/{story['incident_id']}/cadence").status_code == 200
    assert viewer.get(f"{ext}/events").status_code == 200
    assert viewer.get(f"{ext}/events/{event['id']}/deliveries").status_code == 403
    assert viewer.get(f"{ext}/incidents/{story['incident_id']}/deliveries").status_code == 403


def test_another_pages_incidents_and_events_are_not_found(page, other_page, client_for, story, ext):
    client = client_for(page, "owner")
    theirs = OutboxEvent.objects.for_page(other_page).get()
    assert client.get(f"{ext}/events/{theirs.code}/deliveries").status_code == 404
    assert theirs.code not in [e["id"] for e in client.get(f"{ext}/events").json()]
    incident = theirs.incident.code
    assert client.get(f"{ext}/incidents/{incident}/cadence").status_code == 404
    assert client.get(f"{ext}/incidents/{incident}/deliveries").status_code == 404
    assert client_for(other_page, "owner").get(f"{ext}/events").status_code == 404  # not that key's page
