"""Delivery channels: small strategy classes behind one registry (STYLE.md practice 11). Each offers
`open()`, `send(delivery, content, commit)` and `close()`; adding a channel is one module, one entry here and
one test file."""

from __future__ import annotations

from subscribers.channels.base import Channel, DeliveryError
from subscribers.channels.email import EmailChannel
from subscribers.channels.webhook import WebhookChannel

CHANNELS: dict[str, type[Channel]] = {"email": EmailChannel, "webhook": WebhookChannel}

__all__ = ["CHANNELS", "Channel", "DeliveryError"]
