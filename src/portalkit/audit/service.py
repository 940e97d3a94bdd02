"""The audit-log service (``portal.audit``): reading the log and tagging a request's events;
:mod:`portalkit.audit` describes the log, ``model.py`` its events. Events are recorded through
the runtime (:meth:`portalkit._runtime.Runtime.record`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import ident, page
from portalkit.actors import Actor
from portalkit.audit.model import AuditEvent
from portalkit.errors import Problem

if TYPE_CHECKING:
    from portalkit._runtime import Runtime


_REQUEST_ID_MAX = 100


class AuditService:
    """Read the audit log (staff only). Reached as ``portal.audit``. There is no way to change
    or delete an event through portalkit."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

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
        with self._rt.tagged(checked):
            yield

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
        with self._rt.transaction() as uow:
            return uow.audit.list(vendor_id, where=where, limit=limit, offset=offset)
