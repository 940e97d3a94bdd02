"""portalkit: customer portals for B2B vendors, as a framework-free library.

The public API is what this module exports; everything else may change between releases.

Example::

    from portalkit import Portal, Staff

    portal = Portal()                       # in memory; Portal.from_settings() for SQLite/PG
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="planner-1")
    acme = portal.customers.create(staff, code="ACME", name="Acme B.V.")
"""

from portalkit.access import AccessContext, Capability, Condition, ResourceType
from portalkit.accounts import SUPPORTED_LANGUAGES, Account, AccountStatus
from portalkit.actors import Actor, Member, Staff, System
from portalkit.clock import Clock, FixedClock, SystemClock
from portalkit.customers import Address, Contact, Customer, CustomerSettings, Location
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    ConfigurationError,
    Conflict,
    ImproperlyInstalled,
    NotFound,
    PermissionDenied,
    PortalError,
    Problem,
    StorageError,
    ValidationError,
)
from portalkit.memberships import (
    Access,
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.portal import Portal
from portalkit.profiles import PermissionProfile, Scope
from portalkit.settings import PortalSettings, load_settings
from portalkit.vendors import Vendor

__version__ = "0.1.0.dev0"

__all__ = [
    "SUPPORTED_LANGUAGES",
    "Access",
    "AccessContext",
    "Account",
    "AccountStatus",
    "Actor",
    "Address",
    "AuthenticationFailed",
    "Capability",
    "Clock",
    "ConcurrentModification",
    "Condition",
    "ConfigurationError",
    "Conflict",
    "Contact",
    "Customer",
    "CustomerSettings",
    "FixedClock",
    "ImproperlyInstalled",
    "Location",
    "LocationGrant",
    "Member",
    "Membership",
    "MembershipKind",
    "MembershipStatus",
    "NotFound",
    "PermissionDenied",
    "PermissionProfile",
    "Portal",
    "PortalError",
    "PortalSettings",
    "Problem",
    "ResourceType",
    "Scope",
    "Staff",
    "StorageError",
    "System",
    "SystemClock",
    "ValidationError",
    "Vendor",
    "load_settings",
]
