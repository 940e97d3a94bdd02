"""Delivering inbox events to the host: the transactional outbox's worker side.

An event is stored in the transaction that changed its item, so it exists exactly when the
change does. :func:`deliver` claims due events (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so workers side by side never take the same one), hands each to the host's consumer after
the claim committed, and records the outcome: delivered, or due again after a back-off when
the consumer raised. Only the first undelivered event of an item is ever claimed, so one
item's events reach the consumer in order, one after the other. Delivery is at least once (a
worker that dies after its consumer ran and before it recorded that runs it again when the
lease ends): a consumer skips an :attr:`~portalkit.inbox.model.InboxEvent.key` it has seen.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import attrs

from portalkit.errors import ConcurrentModification, ValidationError
from portalkit.inbox.model import InboxEvent

if TYPE_CHECKING:
    from portalkit._runtime import Runtime

__all__ = ["LEASE_SECONDS", "RETRY_MAX_SECONDS", "RETRY_SECONDS", "Consumer", "EventReport"]

log = logging.getLogger("portalkit.inbox")

Consumer = Callable[[InboxEvent], object]
"""The host's function taking one event; raising means "not taken, try again later"."""

RETRY_SECONDS = 5.0
"""The first back-off after a consumer raised; it doubles with each attempt."""

RETRY_MAX_SECONDS = 3600.0
"""The longest back-off. Events are never given up: a later event of the item would
overtake one given up, and an ERP must not miss a change."""

LEASE_SECONDS = 300.0
"""How long a worker holds the events it claimed before another may take them over."""


@attrs.frozen
class EventReport:
    """What one delivery run did: events the consumer took, and events to retry."""

    delivered: int = 0
    retrying: int = 0


def deliver(
    rt: Runtime,
    consumer: Consumer,
    *,
    limit: int | None = None,
    batch: int = 50,
    lease_seconds: float = LEASE_SECONDS,
) -> EventReport:
    """Claim and deliver due events until none is due (or ``limit`` were handled)."""
    if not callable(consumer):
        raise ValidationError.single("consumer", "not_callable", "must be callable")
    for name, value in (("batch", batch), ("limit", limit)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValidationError.single(name, "out_of_range", "must be 1 or more")
    rt.standalone("inbox.deliver_events()")
    delivered = retrying = 0
    while limit is None or delivered + retrying < limit:
        size = batch if limit is None else min(batch, limit - delivered - retrying)
        now = rt.clock.now()
        with rt.transaction() as uow:
            claimed = uow.claim_inbox_events(now, size, now + timedelta(seconds=lease_seconds))
        if not claimed:
            break
        for event in claimed:
            try:
                consumer(event)
                error: Exception | None = None
            except Exception as exc:  # the host's code: any failure means "try again"
                error = exc
            outcome = _outcome(rt, event, error)
            try:
                with rt.transaction() as uow:
                    uow.inbox_events.update(outcome, event.version)
            except ConcurrentModification:
                continue  # our lease ran out and another worker took the event over
            if error is None:
                delivered += 1
            else:
                retrying += 1
                log.warning("inbox event %s failed, retrying: %r", event.key, error)
    return EventReport(delivered, retrying)


def _outcome(rt: Runtime, event: InboxEvent, error: Exception | None) -> InboxEvent:
    now = rt.clock.now()
    attempts = event.attempts + 1
    if error is None:
        return attrs.evolve(
            event,
            attempts=attempts,
            delivered_at=now,
            claimed_until=None,
            last_error="",
            version=event.version + 1,
        )
    jitter = 1 + random.random() * 0.2  # noqa: S311 - spreads retries, not security relevant
    delay = min(RETRY_SECONDS * 2 ** (attempts - 1) * jitter, RETRY_MAX_SECONDS)
    return attrs.evolve(
        event,
        attempts=attempts,
        claimed_until=None,
        next_attempt_at=now + timedelta(seconds=delay),
        last_error=repr(error)[:500],
        version=event.version + 1,
    )
