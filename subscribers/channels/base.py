"""What every channel shares: the error it raises and the shape it offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable


class DeliveryError(Exception):
    """A failed send. `permanent` failures (a rejected address, a receiver that says 410 Gone) go dead at
    once; transient ones (a timeout, a 503, a refused connection) are retried with backoff."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Superseded(Exception):
    """The delivery's claim was lost before the send completed (a sweeper resumed it meanwhile): the
    message was abandoned before the point of no return, so nothing was sent."""


class Channel(ABC):
    """One connection's worth of sending. `commit()` is called at the last moment before the point of no
    return and says whether this worker still owns the delivery; a channel that can hold the message back
    until then (SMTP's final dot) sends exactly once even if the worker dies."""

    def open(self) -> None:  # noqa: B027 - optional: a channel without a connection has nothing to open
        """Connect ahead of the first send (optional; `send` connects when it must)."""

    def close(self) -> None:  # noqa: B027 - optional, as open()
        """Let go of the connection, if any."""

    @abstractmethod
    def send(self, delivery, content, commit: Callable[..., bool]) -> None:
        """Send `content` for `delivery`; call `commit()` (or `commit(final)`) at the point of no return.
        Raise DeliveryError on failure, Superseded if `commit` says the delivery is no longer ours."""
