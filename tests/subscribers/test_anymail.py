"""Email through django-anymail, the road to any provider's HTTP API: anymail's own test backend stands in
for the provider. Without a final "." to hold back, the channel sends, then records: at least once, with the
delivery's stable Message-ID for the provider and the reader to recognise a repeat."""

from __future__ import annotations

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError
from anymail.message import AnymailRecipientStatus
from django.core import mail

from incidents.services import create_incident, post_update
from statuspage.services import SYSTEM
from subscribers.models import Delivery, DeliveryState

pytestmark = pytest.mark.django_db


class Provider(AnymailTestBackend):
    """A provider that refuses addresses at bounce.example and fails with a 503 for flaky.example."""

    def post_to_esp(self, payload, message):
        (to,) = message.to
        if to.endswith("@flaky.example"):
            raise AnymailAPIError("503 Service Unavailable", email_message=message, payload=payload)
        if to.endswith("@bounce.example"):
            message.anymail_test_response = {
                "recipient_status": {to: AnymailRecipientStatus(message_id=None, status="rejected")}
            }
        return super().post_to_esp(payload, message)


@pytest.fixture
def provider(settings):
    settings.EMAIL_BACKEND = f"{__name__}.Provider"
    settings.ANYMAIL = {}
    mail.outbox = []
    return mail.outbox


def test_an_update_goes_through_the_provider_once_per_subscriber(page, provider, worker, subscribed):
    subscribed(email="ann@example.com")
    subscribed(email="bob@example.com")
    with worker():
        incident = create_incident(actor=SYSTEM, page=page, name="API errors", body="Investigating.")
    with worker():
        post_update(actor=SYSTEM, incident=incident, status="identified", body="A bad deploy.")

    assert sorted(m.to[0] for m in provider) == ["ann@example.com"] * 2 + ["bob@example.com"] * 2
    first, second = [m for m in provider if m.to == ["ann@example.com"]]
    assert first.subject == "[Acme] API errors"
    assert first.extra_headers["Message-ID"].startswith(f"<incident.{incident.code}.")
    assert second.extra_headers["In-Reply-To"] == first.extra_headers["Message-ID"]
    assert "List-Unsubscribe" in first.extra_headers
    assert first.alternatives and "text/html" in first.alternatives[0][1]
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


def test_a_refused_address_is_dead_and_a_provider_outage_is_retried(page, provider, worker, subscribed):
    subscribed(email="gone@bounce.example")
    subscribed(email="someone@flaky.example")
    with worker():
        create_incident(actor=SYSTEM, page=page, name="API errors", body="Investigating.")

    refused = Delivery.objects.get(subscriber__email="gone@bounce.example")
    assert refused.state == DeliveryState.DEAD
    assert "rejected" in refused.last_error.lower() or "refused" in refused.last_error.lower()
    outage = Delivery.objects.get(subscriber__email="someone@flaky.example")
    assert outage.state == DeliveryState.RETRYING
    assert "503" in outage.last_error
    assert outage.next_attempt_at > outage.created_at
