"""The vendor inbox: one queue of orders, quote requests, registrations, work requests,
tickets and the host's own kinds, with status, assignment, comments, mail — and events for
the host's ERP, stored with each change and delivered after the commit.

Example::

    portal.staff.add(staff, user_id="pia", name="Pia", email="pia@vendor.example")
    page = portal.inbox.list(staff, kind="work_request", status="new")
    item = portal.inbox.claim(staff, page[0])            # exactly one of two staff wins
    portal.inbox.set_status(staff, item, "done")         # the filer is told by mail
    portal.inbox.deliver_events(erp_consumer)            # after the commit, in order
"""

from portalkit.inbox.events import EventReport
from portalkit.inbox.model import (
    TRANSITIONS,
    EventType,
    InboxComment,
    InboxEvent,
    InboxItem,
    InboxStatus,
)
from portalkit.inbox.service import BUILTIN_KINDS, InboxService

__all__ = [
    "BUILTIN_KINDS",
    "TRANSITIONS",
    "EventReport",
    "EventType",
    "InboxComment",
    "InboxEvent",
    "InboxItem",
    "InboxService",
    "InboxStatus",
]
