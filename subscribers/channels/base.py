"""What every channel shares: the error it raises and the shape it offers."""

from __future__ import annotations

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


class Channel:
    """One connection's worth of sending. `commit()` is called at the last moment before the point of no
    return and says whether this worker still owns the delivery; a channel that can hold the message back
    until then (SMTP's final dot) sends exactly once even if the worker dies."""

    def open(self) -> None:  # pragma: no cover - trivial defaults
        pass

    def close(self) -> None:  # pragma: no cover
        pass

    def send(self, delivery, content, commit: Callable[[], bool]) -> None:
        raise NotImplementedError
