"""Sign-in throttling on the cache (Redis in production, the file cache under `make run`).

Failed passwords and failed second-factor codes count against the username typed and against the client's
address. LOGIN_FAILURES_PER_USERNAME failures for a username, or LOGIN_FAILURES_PER_ADDRESS from one address,
lock it for LOGIN_LOCKOUT_MINUTES; while locked, nothing is checked (so the lock cannot be extended or used to
test passwords), and the form says until when. The username is counted whether or not an account has it, so
the answer never tells whether it exists. A complete sign-in clears the username's count; the address's count
is left to run out, so one valid account cannot be used to reset an address that is guessing at others.

The end of a lock is stored as a time in the value and compared with the clock here, rather than left to the
cache's expiry alone: the rule then reads the same on every cache backend and under a test's travelling clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone


@dataclass(frozen=True)
class Lockout:
    until: datetime

    @property
    def message(self) -> str:
        minutes = max(1, -(-int((self.until - timezone.now()).total_seconds()) // 60))
        when = self.until.astimezone(UTC).strftime("%H:%M UTC")
        unit = "minute" if minutes == 1 else "minutes"
        return (
            f"Too many failed attempts to sign in. Try again after {when} (in {minutes} {unit}), "
            "or reset your password."
        )


def _subjects(username: str, address: str) -> list[tuple[str, int]]:
    subjects = []
    name = (username or "").strip().lower()
    if name:
        subjects.append((_digest("user", name), settings.LOGIN_FAILURES_PER_USERNAME))
    if address:
        subjects.append((_digest("addr", address), settings.LOGIN_FAILURES_PER_ADDRESS))
    return subjects


def _digest(kind: str, value: str) -> str:
    return f"login:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def locked(*, username: str, address: str) -> Lockout | None:
    """The lock that applies to this username or address now, if any (the later one if both)."""
    now = timezone.now().timestamp()
    ends = cache.get_many([subject + ":lock" for subject, _ in _subjects(username, address)])
    latest = max((end for end in ends.values() if end > now), default=None)
    return Lockout(datetime.fromtimestamp(latest, UTC)) if latest is not None else None


def record_failure(*, username: str, address: str) -> Lockout | None:
    """Count one failed password or code; returns the lock this failure starts, if it reaches a limit."""
    window = settings.LOGIN_LOCKOUT_MINUTES * 60
    for subject, limit in _subjects(username, address):
        count_key = subject + ":count"
        cache.add(count_key, 0, timeout=window)
        try:
            count = cache.incr(count_key)
        except ValueError:  # expired between add and incr
            cache.set(count_key, 1, timeout=window)
            count = 1
        if count >= limit:
            end = timezone.now() + timedelta(seconds=window)
            cache.set(subject + ":lock", end.timestamp(), timeout=window + 60)
            cache.delete(count_key)
    return locked(username=username, address=address)


def record_success(*, username: str) -> None:
    """A complete sign-in: forget the username's failures (not the address's)."""
    for subject, _ in _subjects(username, ""):
        cache.delete_many([subject + ":count", subject + ":lock"])
