"""Customer groups: named sets of a vendor's customers that price lists are assigned to."""

from portalkit.groups.model import CustomerGroup
from portalkit.groups.service import GroupService

__all__ = ["CustomerGroup", "GroupService"]
