"""The 30-minute update cadence, on a controlled clock: reminders, escalations, repetition, silence after an
update, the monitoring cadence, catch-up after beat was down, and concurrent sweeps that send once."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection

from incidents import cadence
from incidents.models import CadenceNotice
from incidents.services import create_incident, post_update
from incidents.tasks import check_cadence_task
from statuspage.services import SYSTEM, Actor, add_member, update_page

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def minutes(n):
    return T + timedelta(minutes=n)


@pytest.fixture
def team(page, other_page):
    ic = User.objects.create_user("ic", "ic@example.com", "pw")
    owner = User.objects.create_user("owner", "owner@example.com", "pw")
    outsider = User.objects.create_user("outsider", "outsider@example.com", "pw")
    add_member(actor=SYSTEM, page=page, user=ic, role="commander")
    add_member(actor=SYSTEM, page=page, user=owner, role="owner")
    add_member(actor=SYSTEM, page=other_page, user=outsider, role="owner")
    return ic, owner


@pytest.fixture
def incident(page, team):
    ic, _ = team
    return create_incident(actor=Actor.of(ic), page=page, name="API errors", body="Looking", at=T)


def run(at):
    with time_machine.travel(at, tick=False):
        return check_cadence_task()


def test_next_update_is_due_one_cadence_after_the_last_update(incident):
    assert incident.next_update_due_at == minutes(30)
    post_update(actor=SYSTEM, incident=incident, status="identified", at=minutes(12))
    incident.refresh_from_db()
    assert incident.next_update_due_at == minutes(42)


def test_commander_is_reminded_exactly_once_at_due_minus_lead(incident, smtp):
    assert run(minutes(24)) == {"recorded": 0, "sent": 0}
    assert run(minutes(25)) == {"recorded": 1, "sent": 1}
    assert run(minutes(26)) == {"recorded": 0, "sent": 0}
    assert run(minutes(29)) == {"recorded": 0, "sent": 0}
    (mail,) = smtp.messages
    assert mail["X-Envelope-To"] == "ic@example.com"
    assert "Update due at 08:30 PDT" in mail["Subject"]  # in the page's zone
    assert f"/console/acme/incidents/{incident.code}/" in mail.get_content()


def test_owners_are_told_when_overdue_and_the_webhook_is_called(incident, page, smtp, http_receiver):
    update_page(actor=SYSTEM, page=page, escalation_webhook_url=http_receiver.url)
    run(minutes(25))
    assert run(minutes(30)) == {"recorded": 1, "sent": 1}
    escalations = smtp.to("owner@example.com")
    assert len(escalations) == 1
    assert "Overdue update: API errors" in escalations[0]["Subject"]
    assert not smtp.to("outsider@example.com")
    (hook,) = http_receiver.requests
    assert hook["json"]["event"] == "incident.update_overdue"
    assert hook["json"]["incident"]["id"] == incident.code


def test_escalation_repeats_once_per_cadence_while_overdue(incident, smtp):
    run(minutes(25))
    run(minutes(30))
    assert run(minutes(45))["recorded"] == 0
    assert run(minutes(59))["recorded"] == 0
    assert run(minutes(60))["recorded"] == 1
    assert run(minutes(61))["recorded"] == 0
    assert len(smtp.to("owner@example.com")) == 2


def test_posting_an_update_silences_reminders_and_escalations(incident, smtp):
    run(minutes(30))
    post_update(actor=SYSTEM, incident=incident, status="identified", body="Found it", at=minutes(31))
    for m in (35, 45, 55):
        assert run(minutes(m))["recorded"] == 0
    assert run(minutes(56))["recorded"] == 1  # the reminder for the new due time, 61 - 5
    assert run(minutes(60))["recorded"] == 0
    assert CadenceNotice.objects.filter(incident=incident, kind="reminder", due_at=minutes(61)).exists()
    assert len(smtp.to("owner@example.com")) == 1  # the escalation before the update, and no other


def test_resolving_stops_it_all(incident, smtp):
    post_update(actor=SYSTEM, incident=incident, status="resolved", at=minutes(10))
    incident.refresh_from_db()
    assert incident.next_update_due_at is None
    for m in (25, 30, 120):
        assert run(minutes(m)) == {"recorded": 0, "sent": 0}
    assert smtp.messages == []


def test_an_update_posted_after_the_notice_was_recorded_but_before_sending_cancels_it(incident, smtp):
    with time_machine.travel(minutes(25), tick=False):
        cadence.sweep()
    post_update(actor=SYSTEM, incident=incident, status="identified", at=minutes(26))
    with time_machine.travel(minutes(26), tick=False):
        assert cadence.deliver_pending() == 0
    assert smtp.messages == []


def test_monitoring_uses_the_longer_cadence(incident, smtp):
    post_update(actor=SYSTEM, incident=incident, status="monitoring", at=minutes(10))
    incident.refresh_from_db()
    assert incident.next_update_due_at == minutes(70)
    assert run(minutes(60))["recorded"] == 0
    assert run(minutes(65))["recorded"] == 1  # reminder, 5 minutes before
    assert run(minutes(70))["recorded"] == 1  # escalation


def test_a_beat_down_for_hours_sends_one_escalation_not_a_burst(incident, smtp):
    assert run(minutes(30 + 6 * 60 + 7)) == {"recorded": 1, "sent": 1}
    notice = CadenceNotice.objects.get()
    assert notice.kind == "escalation"
    assert notice.due_at == minutes(30 + 12 * 30)  # the latest slot, not the first
    assert len(smtp.messages) == 1


def test_a_failed_send_is_kept_with_its_error_and_retried(incident, settings, smtp):
    settings.EMAIL_PORT = 1  # nothing listens there
    assert run(minutes(25)) == {"recorded": 1, "sent": 0}
    notice = CadenceNotice.objects.get()
    assert notice.sent_at is None
    assert notice.attempts == 1
    assert notice.last_error
    settings.EMAIL_PORT = smtp.port
    assert run(minutes(26)) == {"recorded": 0, "sent": 1}
    assert len(smtp.messages) == 1


def test_backfilled_and_other_pages_incidents_are_not_chased(page, other_page, team, smtp):
    create_incident(actor=SYSTEM, page=page, name="Old", body="b", backfilled=True, at=T)
    create_incident(actor=SYSTEM, page=other_page, name="Theirs", body="b", at=T)
    run(minutes(30))
    assert not smtp.to("owner@example.com")
    assert len(smtp.to("outsider@example.com")) == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_send_each_notice_once(page, team, smtp):
    ic, _ = team
    for i in range(5):
        create_incident(actor=Actor.of(ic), page=page, name=f"I{i}", body="b", at=T)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        try:
            barrier.wait()
            with time_machine.travel(minutes(30), tick=False):
                results.append(check_cadence_task())
        finally:
            connection.close()  # each thread has its own real database connection

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(r["recorded"] for r in results) == 5
    assert sum(r["sent"] for r in results) == 5
    assert len(smtp.to("owner@example.com")) == 5


def test_cadence_report_counts_gaps_punctuality_and_notices(incident, smtp):
    run(minutes(25))
    run(minutes(30))
    post_update(actor=SYSTEM, incident=incident, status="identified", at=minutes(40))  # 40 min gap: late
    post_update(actor=SYSTEM, incident=incident, status="monitoring", at=minutes(60))  # 20 min: on time
    post_update(
        actor=SYSTEM, incident=incident, status="resolved", at=minutes(110)
    )  # 50 min while monitoring
    incident.refresh_from_db()
    r = cadence.report(incident)
    assert r.updates == 4
    assert r.longest_gap == timedelta(minutes=50)
    assert r.on_time_share == pytest.approx(2 / 3)
    assert (r.reminders, r.escalations) == (1, 1)
    assert r.time_to_first_update == timedelta(0)
    assert r.time_to_resolve == timedelta(minutes=110)
