"""Webhooks: a JSON POST with a short timeout, signed with the subscriber's secret.

Headers beyond Statuspage's (which sends none of these): `X-Status-Event` (the event type),
`X-Status-Delivery` and `Idempotency-Key` (the delivery's id, the same on every retry, so a receiver can
drop a repeat), `X-Status-Timestamp` and `X-Status-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
The target is checked again at send time after DNS resolution, and after each redirect (subscribers.netguard),
so a name that later points into a private network is refused."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from subscribers import netguard
from subscribers.channels.base import Channel, DeliveryError, Superseded

USER_AGENT = "OpenStatus-Webhooks/1 (+https://github.com/openstatus)"
# Receivers that say the request itself is wrong (or the hook is gone) will not change their mind on a retry.
PERMANENT_STATUSES = {400, 401, 403, 404, 405, 410, 413, 415, 422}


@dataclass
class WebhookContent:
    url: str
    body: bytes
    secret: str
    event_type: str
    delivery_id: str
    headers: dict[str, str] = field(default_factory=dict)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


class WebhookChannel(Channel):
    def __init__(self) -> None:
        self.pool = netguard.ConnectionPool()

    def close(self) -> None:
        self.pool.close()

    def send(self, delivery, content: WebhookContent, commit: Callable[[], bool]) -> None:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Status-Event": content.event_type,
            "X-Status-Delivery": content.delivery_id,
            "Idempotency-Key": content.delivery_id,
            "X-Status-Timestamp": timestamp,
            "X-Status-Signature": sign(content.secret, timestamp, content.body),
            **content.headers,
        }
        try:
            status, reply = netguard.safe_post(
                content.url,
                data=content.body,
                headers=headers,
                timeout=settings.WEBHOOK_TIMEOUT,
                allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
                pool=self.pool,
            )
        except netguard.Unresolvable as exc:
            raise DeliveryError(str(exc)) from exc
        except netguard.UnsafeURL as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        except OSError as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            if not commit():
                raise Superseded()
            return
        snippet = reply[:200].decode("utf-8", "replace").strip()
        raise DeliveryError(
            f"webhook answered {status}{': ' + snippet if snippet else ''}",
            permanent=status in PERMANENT_STATUSES,
        )
