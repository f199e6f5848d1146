"""Signed subscriber links: the fast token maker makes Django's own signed tokens, byte for byte, so links
in emails already sent keep working and `signing.loads` checks them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import signing

from subscribers import links
from subscribers.services import subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber(page):
    return subscribe(page=page, email="ana@example.com")


@pytest.mark.parametrize("purpose", ["confirm", "manage", "unsubscribe"])
def test_tokens_are_djangos_signed_tokens(subscriber, purpose, settings):
    with time_machine.travel(datetime(2026, 11, 23, 12, 0, tzinfo=UTC), tick=False):
        token = links.make_token(subscriber, purpose)
        assert token == signing.dumps([subscriber.code, purpose], salt=links.SALT, compress=False)
        assert links.read_token(token, purpose) == subscriber.code
    settings.SECRET_KEY = "another-secret-key-for-this-test-0123456789abcdef"
    with pytest.raises(links.BadLink):
        links.read_token(token, purpose)  # a new secret: old links stop, new ones work
    assert links.read_token(links.make_token(subscriber, purpose), purpose) == subscriber.code


def test_a_token_is_for_one_purpose_and_expires(subscriber):
    start = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        confirm = links.make_token(subscriber, "confirm")
        with pytest.raises(links.BadLink, match="not valid"):
            links.read_token(confirm, "unsubscribe")
        clock.move_to(start + timedelta(days=8))
        with pytest.raises(links.BadLink, match="expired"):
            links.read_token(confirm, "confirm")


def test_a_tampered_token_is_refused(subscriber):
    token = links.make_token(subscriber, "manage")
    with pytest.raises(links.BadLink):
        links.read_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1], "manage")
