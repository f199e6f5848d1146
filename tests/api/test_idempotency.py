"""`Idempotency-Key` on POST: a retried create returns the first result instead of a second incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from incidents.models import Incident
from statuspage.api import idempotency
from statuspage.models import APIKey, IdempotentRequest

pytestmark = pytest.mark.django_db

BODY = {"incident": {"name": "Checkout errors", "status": "investigating", "body": "Looking into it."}}


def post(client, page, body=BODY, key="deploy-4711", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/v1/pages/{page.code}/incidents", body, format="json", **headers, **extra)


def test_a_retried_create_returns_the_first_incident(page, client_for):
    client = client_for(page)
    first = post(client, page)
    again = post(client, page)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == "application/json"
    assert "Idempotent-Replayed" not in first
    assert Incident.objects.for_page(page).count() == 1


def test_without_the_header_each_post_creates(page, client_for):
    client = client_for(page)
    post(client, page, key=None)
    post(client, page, key=None)
    assert Incident.objects.for_page(page).count() == 2


def test_the_same_key_with_another_request_is_refused(page, client_for):
    client = client_for(page)
    post(client, page)
    other = post(client, page, body={"incident": {"name": "Another", "status": "identified"}})
    assert other.status_code == 422
    assert "different request" in other.json()["message"]
    assert Incident.objects.for_page(page).count() == 1


def test_a_failed_request_frees_its_key_for_the_corrected_one(page, client_for):
    client = client_for(page)
    bad = post(client, page, body={"incident": {"name": "", "status": "investigating"}})
    assert bad.status_code == 400
    assert IdempotentRequest.objects.count() == 0
    good = post(client, page)
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good
    assert post(client, page).json()["id"] == good.json()["id"]


def test_keys_belong_to_one_api_key(page, client_for):
    one, two = client_for(page), client_for(page)
    assert post(one, page).json()["id"] != post(two, page).json()["id"]
    assert Incident.objects.for_page(page).count() == 2


def test_a_retry_while_the_first_runs_is_told_to_wait_and_an_abandoned_claim_is_taken_over(page, client_for):
    client = client_for(page)
    # A first request with this key is in flight: its claim is written, its answer is not yet.
    key = APIKey.objects.for_page(page).get()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        request = APIRequestFactory().post(
            f"/api/v1/pages/{page.code}/incidents", BODY, format="json", HTTP_IDEMPOTENCY_KEY="deploy-4711"
        )
        idempotency.claim(Request(request), key)
        waiting = post(client, page)
        assert waiting.status_code == 409
        assert "still running" in waiting.json()["message"]
        assert Incident.objects.for_page(page).count() == 0
        clock.shift(timedelta(minutes=6))  # the process that claimed it died
        taken = post(client, page)
    assert taken.status_code == 201
    assert post(client, page).json()["id"] == taken.json()["id"]
    assert Incident.objects.for_page(page).count() == 1


def test_keys_expire_after_a_day(page, client_for):
    client = client_for(page)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        first = post(client, page).json()["id"]
        clock.shift(timedelta(hours=23))
        assert post(client, page).json()["id"] == first
        clock.shift(timedelta(hours=2))
        assert post(client, page).json()["id"] != first
    assert Incident.objects.for_page(page).count() == 2


def test_form_encoded_creates_are_idempotent_too(page, client_for):
    client = client_for(page)
    form = {"incident[name]": "Login failing", "incident[status]": "investigating"}
    first = client.post(f"/api/v1/pages/{page.code}/incidents", form, HTTP_IDEMPOTENCY_KEY="k1")
    again = client.post(f"/api/v1/pages/{page.code}/incidents", form, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201 and again.json() == first.json()
    assert Incident.objects.for_page(page).count() == 1


@pytest.mark.parametrize("value", ["", " ", "x" * 256, "naïve"])
def test_a_malformed_key_is_a_field_error(page, client_for, value):
    response = post(client_for(page), page, key=value)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["errors"]
    assert Incident.objects.for_page(page).count() == 0


def test_another_pages_key_cannot_replay_or_claim(page, other_page, client_for):
    mine = post(client_for(page), page)
    assert mine.status_code == 201
    theirs = post(client_for(other_page), page)
    assert theirs.status_code == 404
    assert "Idempotent-Replayed" not in theirs
