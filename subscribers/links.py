"""Signed links for subscribers: confirm, manage, one-click unsubscribe. A link carries the subscriber's
public code and what it may do, signed with the installation's secret and a purpose-specific salt, so a
confirmation link cannot unsubscribe and a manage link cannot be forged from a subscriber code."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time

from django.conf import settings
from django.core import signing

from subscribers.models import Subscriber

SALT = "subscribers.link"
# A confirmation is asked for now and answered soon; manage and unsubscribe links sit in old emails and must
# keep working for months (RFC 8058 asks unsubscribe to work well after the message was sent).
MAX_AGE = {"confirm": 7 * 24 * 3600, "manage": 180 * 24 * 3600, "unsubscribe": 365 * 24 * 3600}


class BadLink(Exception):
    """The link is malformed, forged, for another purpose, or expired. The message says which, plainly."""


def make_token(subscriber: Subscriber, purpose: str) -> str:
    """Exactly `signing.dumps([code, purpose], salt=SALT)`, made with a keyed HMAC derived once instead of
    per call: every email carries two links, and this sits on the fan-out's hot path."""
    assert purpose in MAX_AGE
    payload = signing.b64_encode(json.dumps([subscriber.code, purpose], separators=(",", ":")).encode())
    value = f"{payload.decode()}:{signing.b62_encode(int(time.time()))}"
    mac = _keyed(settings.SECRET_KEY).copy()
    mac.update(value.encode())
    return f"{value}:{signing.b64_encode(mac.digest()).decode()}"


@functools.cache
def _keyed(secret: str) -> hmac.HMAC:
    """Django's salted_hmac for our salt (SHA-256 of salt + "signer" + secret as the HMAC key), ready to
    copy."""
    key = hashlib.sha256(f"{SALT}signer{secret}".encode()).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def read_token(token: str, purpose: str) -> str:
    """The subscriber code a token names, if it is genuine, for `purpose` and not expired."""
    try:
        code, got = signing.loads(token, salt=SALT, max_age=MAX_AGE[purpose])
    except signing.SignatureExpired:
        raise BadLink("This link has expired.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise BadLink("This link is not valid.") from None
    if got != purpose:
        raise BadLink("This link is not valid.")
    return code


def url(subscriber: Subscriber, purpose: str, *, page_url: str | None = None) -> str:
    """The absolute address a subscriber opens, on the page's public site (`page_url`, when the caller
    has it already: a fan-out makes two links for each of 100,000 subscribers of one page)."""
    page_url = page_url or subscriber.page.public_url
    path = {"confirm": "confirm", "manage": "manage", "unsubscribe": "unsubscribe"}[purpose]
    return f"{page_url}subscriptions/{path}/{make_token(subscriber, purpose)}"
