"""`Idempotency-Key` on POST: a client that retries a create after a timeout gets the first answer back
instead of making a second incident.

The first request with a key claims it (a row, unique per API key) before it runs; a success is stored
with the row and replayed to every retry with the same key and the same request, marked
`Idempotent-Replayed: true`. A failure releases the key, so a corrected request may reuse it. The same key
with a different request is refused (422), and a retry while the first is still running is told to wait
(409). Keys live for 24 hours.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError

from statuspage.models import APIKey, IdempotentRequest

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
# A claim this old whose request never finished (its process died) may be taken over.
ABANDONED_AFTER = timedelta(minutes=5)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "A request with this Idempotency-Key is still running; retry in a moment."
    default_code = "idempotency_conflict"


class Mismatch(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "This Idempotency-Key was already used for a different request."
    default_code = "idempotency_mismatch"


class Replay(Exception):
    """Raised before the handler runs when a stored answer is to be sent instead."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\0" + request.path.encode() + b"\0")
    digest.update(request._request.body)
    return digest.hexdigest()


def _replay(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status_code, content_type="application/json")
    response["Idempotent-Replayed"] = "true"
    return response


def claim(request, key: APIKey) -> IdempotentRequest | None:
    """The claim for this request's Idempotency-Key, or None when it sent none. Raises Replay with the
    stored answer, Conflict while the first request runs, Mismatch for a different request."""
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    value = raw.strip()
    if not value or len(value) > 255 or not value.isprintable() or not value.isascii():
        raise ValidationError({HEADER: ["Send 1 to 255 printable ASCII characters."]})
    fingerprint = _fingerprint(request)
    now = timezone.now()
    IdempotentRequest.objects.filter(api_key=key, created_at__lt=now - TTL).delete()
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    api_key=key, key=value, fingerprint=fingerprint, created_at=now
                )
        except IntegrityError:
            pass
        row = IdempotentRequest.objects.filter(api_key=key, key=value).first()
        if row is None:
            continue  # released between our insert and our read: claim it again
        if row.fingerprint != fingerprint:
            raise Mismatch()
        if row.status_code is not None:
            raise Replay(_replay(row))
        if row.created_at > now - ABANDONED_AFTER:
            raise Conflict()
        # Abandoned by a process that died mid-request: take it over if nobody else just did.
        if IdempotentRequest.objects.filter(pk=row.pk, created_at=row.created_at).update(created_at=now):
            row.created_at = now
            return row
        raise Conflict()
    raise Conflict()


def settle(row: IdempotentRequest, response) -> None:
    """Keep a success for replay; release the key after a failure so a corrected request can use it."""
    if 200 <= response.status_code < 300:
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
        IdempotentRequest.objects.filter(pk=row.pk).update(
            status_code=response.status_code, body=bytes(response.content)
        )
    else:
        release(row)


def release(row: IdempotentRequest) -> None:
    IdempotentRequest.objects.filter(pk=row.pk, status_code__isnull=True).delete()
