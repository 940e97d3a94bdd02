"""portalkit: customer portals for B2B vendors, as a framework-free library.

The public API is what this module exports; everything else may change between releases.

Example::

    from portalkit import Portal, Staff
    from portalkit.staffrights import CUSTOMERS_PROVISION

    portal = Portal()                       # in memory; Portal.from_settings() for SQLite/PG
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="planner-1", permissions={CUSTOMERS_PROVISION})
    acme = portal.customers.create(staff, code="ACME", name="Acme B.V.")
"""

from portalkit.access import AccessContext, Capability, Condition, ResourceType
from portalkit.accounts import SUPPORTED_LANGUAGES, Account, AccountStatus
from portalkit.actors import Actor, Member, Staff, System
from portalkit.assets import AssetStore
from portalkit.auth import Enrolled, Login
from portalkit.clock import Clock, FixedClock, SystemClock
from portalkit.customers import Address, Contact, Customer, CustomerSettings, Location
from portalkit.documents import Document
from portalkit.errors import (
    AuthenticationFailed,
    ConcurrentModification,
    ConfigurationError,
    Conflict,
    ImproperlyInstalled,
    InvalidToken,
    NotFound,
    PasswordExpired,
    PasswordRejected,
    PermissionDenied,
    PortalError,
    Problem,
    RateLimited,
    SecondFactorEnrolmentRequired,
    SecondFactorRequired,
    StorageError,
    ValidationError,
)
from portalkit.links import safe_redirect
from portalkit.memberships import (
    Access,
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.passwords import PasswordHasher, PasswordPolicy, generate_password
from portalkit.portal import Portal
from portalkit.profiles import PermissionProfile, Scope
from portalkit.registrations import Registration, RegistrationStatus
from portalkit.settings import PortalSettings, load_settings
from portalkit.staffrights import STAFF_PERMISSIONS, StaffPermission
from portalkit.tokens import Token, TokenPurpose
from portalkit.vendors import Vendor

__version__ = "0.1.0.dev0"

__all__ = [
    "STAFF_PERMISSIONS",
    "SUPPORTED_LANGUAGES",
    "Access",
    "AccessContext",
    "Account",
    "AccountStatus",
    "Actor",
    "Address",
    "AssetStore",
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
    "Document",
    "Enrolled",
    "FixedClock",
    "ImproperlyInstalled",
    "InvalidToken",
    "Location",
    "LocationGrant",
    "Login",
    "Member",
    "Membership",
    "MembershipKind",
    "MembershipStatus",
    "NotFound",
    "PasswordExpired",
    "PasswordHasher",
    "PasswordPolicy",
    "PasswordRejected",
    "PermissionDenied",
    "PermissionProfile",
    "Portal",
    "PortalError",
    "PortalSettings",
    "Problem",
    "RateLimited",
    "Registration",
    "RegistrationStatus",
    "ResourceType",
    "Scope",
    "SecondFactorEnrolmentRequired",
    "SecondFactorRequired",
    "Staff",
    "StaffPermission",
    "StorageError",
    "System",
    "SystemClock",
    "Token",
    "TokenPurpose",
    "ValidationError",
    "Vendor",
    "generate_password",
    "load_settings",
    "safe_redirect",
]
