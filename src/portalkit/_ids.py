"""Record ids that sort in the order they were made (audit events, background jobs, mail)."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime
from uuid import UUID

__all__ = ["ordered_id"]

_last = [0, 0]  # the last id's millisecond and counter
_last_lock = threading.Lock()


def ordered_id(now: datetime) -> UUID:
    """A UUIDv7 (RFC 9562) with a counter: ids sort in the order events were recorded, also
    within one millisecond, so the log reads in order on every backend."""
    ms = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    with _last_lock:
        if ms <= _last[0]:
            ms, counter = _last[0], _last[1] + 1
            if counter >= 1 << 12:
                ms, counter = ms + 1, 0
        else:
            counter = 0
        _last[0], _last[1] = ms, counter
    tail = secrets.randbits(62)
    return UUID(int=(ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail)
