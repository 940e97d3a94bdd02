"""The vendor's staff directory: the people the inbox assigns work to and mails, known by
the host's user id (the ``Staff`` actor's), and the vendor's inbox address."""

from portalkit.staff.model import InboxAddress, StaffMember
from portalkit.staff.service import StaffService

__all__ = ["InboxAddress", "StaffMember", "StaffService"]
