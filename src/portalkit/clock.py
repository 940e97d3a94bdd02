"""Time as a dependency: every timestamp portalkit writes comes from a :class:`Clock`.

Tests pass a :class:`FixedClock` to move time by hand; production uses :class:`SystemClock`.
All times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Something that tells the current time, timezone-aware, in UTC."""

    def now(self) -> datetime:
        """Return the current time (tz-aware, UTC)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved; for tests.

    Example::

        clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
        clock.advance(hours=24)
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """Return the clock's current time."""
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward by ``timedelta(**delta)`` and return the new time."""
        self._now += timedelta(**delta)
        return self._now
