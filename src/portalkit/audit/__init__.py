"""The audit log: who did what to whom, when, and why — append-only.

Every event names the *real* actor (the person at the keyboard) and, where one acts for
another (view as customer), the *effective* actor too. Events never hold secrets.

Example::

    for event in portal.audit.list(staff, customer=acme):
        print(event.at, event.action, event.real_actor, event.reason)
"""

from portalkit.audit.model import (
    AuditEvent,
    describe,
)
from portalkit.audit.service import (
    AuditService,
)

__all__ = [
    "AuditEvent",
    "AuditService",
    "describe",
]
