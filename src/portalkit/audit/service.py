"""The audit log: who did what to whom, when, and why — append-only.

Every event names the *real* actor (the person at the keyboard) and, where one acts for
another (view as customer), the *effective* actor too. Events never hold secrets.

Example::

    for event in portal.audit.list(staff, customer=acme):
        print(event.at, event.action, event.real_actor, event.reason)
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import ident, page
from portalkit.actors import Actor, Member, Staff
from portalkit.audit.model import AuditEvent, describe
from portalkit.errors import Problem

if TYPE_CHECKING:
    from portalkit.portal import Portal
    from portalkit.storage.base import UnitOfWork


_request_id: ContextVar[str] = ContextVar("portalkit-request-id", default="")
_REQUEST_ID_MAX = 100


def record(
    portal: Portal,
    uow: UnitOfWork,
    *,
    vendor_id: UUID,
    action: str,
    real: Actor,
    effective: Actor | None = None,
    customer_id: UUID | None = None,
    target: str = "",
    reason: str = "",
    outcome: str = "success",
    **details: Any,
) -> AuditEvent:
    """Append an event in the caller's transaction: it commits or rolls back with the change.

    A view-as-customer actor as ``real`` is recorded as what it is: the staff member at the
    keyboard, acting as the member (``effective``).
    """
    if isinstance(real, Member) and real.impersonator is not None and effective is None:
        real, effective = Staff(vendor_id=vendor_id, user_id=real.impersonator), real
    request_id = _request_id.get()
    if request_id:
        details = {**details, "request_id": request_id}
    now = portal.clock.now()
    event = AuditEvent(
        id=_ordered_id(now),
        vendor_id=vendor_id,
        at=now,
        action=action,
        outcome=outcome,
        real_actor=describe(real),
        effective_actor=describe(effective) if effective else "",
        customer_id=customer_id,
        target=target,
        reason=reason,
        details=details,
    )
    uow.audit.add(event)
    return event


_last = [0, 0]  # the last id's millisecond and counter
_last_lock = threading.Lock()


def _ordered_id(now: datetime) -> UUID:
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


class AuditService:
    """Read the audit log (staff only). Reached as ``portal.audit``. There is no way to change
    or delete an event through portalkit."""

    def __init__(self, portal: Portal) -> None:
        self._portal = portal

    @contextmanager
    def correlate(self, request_id: str) -> Iterator[None]:
        """Tag every event recorded inside the block with the host's ``request_id`` (at most
        100 printable characters), so one request's events can be found together::

            with portal.audit.correlate(request.headers.get("X-Request-Id", "")):
                handle(request)

        An empty id tags nothing. Blocks nest; the inner id applies inside the inner block.
        """
        problems: list[Problem] = []
        checked = v.text(
            problems, "request_id", request_id, required=False, max_length=_REQUEST_ID_MAX
        )
        v.raise_if(problems)
        token = _request_id.set(checked)
        try:
            yield
        finally:
            _request_id.reset(token)

    def list(
        self,
        actor: Actor,
        *,
        customer: Any = None,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEvent]:
        """Events of the actor's vendor, oldest first, optionally of one customer or action."""
        vendor_id = require_admin(actor)
        limit, offset = page(limit, offset)
        where: dict[str, object] = {}
        if customer is not None:
            where["customer_id"] = ident("customer", customer)
        if action is not None:
            where["action"] = str(action)
        with self._portal.transaction() as uow:
            return uow.audit.list(vendor_id, where=where, limit=limit, offset=offset)
