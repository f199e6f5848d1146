"""The bulk subscriber commands (unsubscribe_many, reactivate_many, resend_confirmations and the one-off
resend_confirmation): only the page's rows, each audited, idempotent, in batches for large pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from statuspage.models import AuditEvent
from statuspage.services import SYSTEM
from subscribers import services
from subscribers.models import Subscriber
from tests.conftest import T0

pytestmark = pytest.mark.django_db


def many(page, n, **fields):
    Subscriber.objects.bulk_create(
        [Subscriber(page=page, kind="email", email=f"p{i}@{page.slug}.example", **fields) for i in range(n)]
    )


def test_unsubscribe_many_touches_only_the_pages_rows_in_batches_each_audited(page, other_page):
    many(page, 1_200, state="active")
    many(other_page, 3, state="active")
    everyone = Subscriber.objects.all()  # the other page's too: the command must ignore them
    assert services.unsubscribe_many(page=page, subscribers=everyone, actor=SYSTEM) == 1_200
    assert set(Subscriber.objects.for_page(page).values_list("state", flat=True)) == {"unsubscribed"}
    assert set(Subscriber.objects.for_page(other_page).values_list("state", flat=True)) == {"active"}
    audited = AuditEvent.objects.filter(action="subscriber.unsubscribed")
    assert audited.count() == 1_200 and set(audited.values_list("page", flat=True)) == {page.pk}
    one = audited.first()
    assert (one.object_type, one.before, one.after) == (
        "subscriber",
        {"state": "active"},
        {"state": "unsubscribed"},
    )
    assert Subscriber.objects.for_page(page).filter(unsubscribed_at__isnull=True).count() == 0
    assert services.unsubscribe_many(page=page, subscribers=everyone, actor=SYSTEM) == 0  # idempotent
    assert audited.count() == 1_200


def test_reactivate_many_puts_only_quarantined_subscribers_back(page):
    sick = Subscriber.objects.create(
        page=page, kind="webhook", endpoint="http://127.0.0.1:9/a", state="quarantined", failures=4,
        last_error="boom", quarantined_at=timezone.now(),
    )  # fmt: skip
    gone = Subscriber.objects.create(page=page, kind="email", email="gone@example.com", state="unsubscribed")
    assert services.reactivate_many(page=page, subscribers=Subscriber.objects.all(), actor=SYSTEM) == 1
    sick.refresh_from_db()
    assert (sick.state, sick.failures, sick.last_error, sick.quarantined_at) == ("active", 0, "", None)
    assert Subscriber.objects.get(pk=gone.pk).state == "unsubscribed"
    assert AuditEvent.objects.get(action="subscriber.reactivated").object_id == sick.code


def test_resend_confirmations_asks_unconfirmed_addresses_at_most_every_ten_minutes(page, smtp, worker):
    with time_machine.travel(T0, tick=False) as clock:
        bob = Subscriber.objects.create(page=page, kind="email", email="bob@example.com")
        recent = Subscriber.objects.create(
            page=page,
            kind="email",
            email="recent@example.com",
            confirmation_sent_at=T0 - timedelta(minutes=5),
        )
        Subscriber.objects.create(page=page, kind="email", email="ann@example.com", state="active")
        Subscriber.objects.create(page=page, kind="webhook", endpoint="http://127.0.0.1:9/a")
        with worker():
            n = services.resend_confirmations(page=page, subscribers=Subscriber.objects.all(), actor=SYSTEM)
        assert n == 1
        assert [m["X-Envelope-To"] for m in smtp.messages] == ["bob@example.com"]
        bob.refresh_from_db()
        assert bob.confirmation_sent_at == T0 and bob.state == "unconfirmed"
        assert AuditEvent.objects.filter(action="subscriber.confirmation_resent").count() == 1

        with pytest.raises(ValidationError, match="less than 10 minutes"):
            services.resend_confirmation(subscriber=recent, actor=SYSTEM)
        clock.shift(timedelta(minutes=6))
        with worker():
            services.resend_confirmation(subscriber=recent, actor=SYSTEM)
        assert [m["X-Envelope-To"] for m in smtp.messages] == ["bob@example.com", "recent@example.com"]
        with pytest.raises(ValidationError, match="webhook"):
            services.resend_confirmation(subscriber=Subscriber.objects.get(kind="webhook"), actor=SYSTEM)
        with pytest.raises(ValidationError, match="active"):
            services.resend_confirmation(subscriber=Subscriber.objects.get(state="active"), actor=SYSTEM)
