"""The vendor-side permissions a host grants each of its employees (issue 14, item 6).

A :class:`~portalkit.actors.Staff` actor holds some of these names in ``permissions``; every
staff-only call names the one it needs and refuses a Staff without it (deny by default). A
vendor-bound ``System(vendor_id=...)`` actor — the host's own scripts, the command line —
holds them all::

    from portalkit import Staff
    from portalkit.staffrights import CUSTOMERS_PROVISION, LOGINS_MANAGE

    clerk = Staff(vendor_id=vendor.id, user_id="clerk-7",
                  permissions=frozenset({CUSTOMERS_PROVISION, LOGINS_MANAGE}))

A name portalkit does not know is refused when the actor is built (a typo must neither grant
nor deny in silence). ``PORTALKIT_STAFF_PERMISSIONS=legacy`` lets a Staff with *no*
permissions do what every Staff could before permissions existed (:data:`LEGACY`): all of
them but :data:`IMPERSONATE` and :data:`DATA_ERASE`, which always need granting.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias, get_args

__all__ = [
    "ACCESS_REVIEW",
    "AUDIT_READ",
    "CUSTOMERS_PROVISION",
    "DATA_ERASE",
    "DATA_EXPORT",
    "DATA_IMPORT",
    "DATA_PRUNE",
    "DOCUMENTS_MANAGE",
    "IMPERSONATE",
    "INBOX_WORK",
    "LEGACY",
    "LOGINS_MANAGE",
    "MAIL_MANAGE",
    "PROFILES_MANAGE",
    "SHOP_MANAGE",
    "STAFF_MANAGE",
    "STAFF_PERMISSIONS",
    "VENDOR_MANAGE",
    "WHAT_EACH_ALLOWS",
    "StaffPermission",
]

StaffPermission: TypeAlias = Literal[
    "customers.provision",
    "data.import",
    "data.export",
    "profiles.manage",
    "logins.manage",
    "impersonate",
    "audit.read",
    "access.review",
    "shop.manage",
    "inbox.work",
    "documents.manage",
    "staff.manage",
    "mail.manage",
    "vendor.manage",
    "data.prune",
    "data.erase",
]
"""One vendor-side permission's name; mypy refuses a misspelt one at a call site."""

CUSTOMERS_PROVISION: Final = "customers.provision"
"""Create, change, deactivate and reactivate customers, their locations, addresses, contacts
and branding, and copy settings between customers."""
DATA_IMPORT: Final = "data.import"
"""Import customers, locations, contacts and logins from files."""
DATA_EXPORT: Final = "data.export"
"""Export customers, logins and their rights to files."""
PROFILES_MANAGE: Final = "profiles.manage"
"""Create and change permission profiles (and read them)."""
LOGINS_MANAGE: Final = "logins.manage"
"""Accounts, memberships, invitations, password resets, credentials, log-out everywhere and
self-registrations: who may log in, and as what."""
IMPERSONATE: Final = "impersonate"
"""View the portal as one of a customer's members ("view as customer"); with
:data:`LOGINS_MANAGE`, set a member's password (whoever knows it can log in as the member)."""
AUDIT_READ: Final = "audit.read"
"""Read the audit log."""
ACCESS_REVIEW: Final = "access.review"
"""Run the access review: who can do what, and why."""
SHOP_MANAGE: Final = "shop.manage"
"""The catalogue, customer groups, assortments, price lists and the installed base."""
INBOX_WORK: Final = "inbox.work"
"""Work the vendor inbox: orders, quotes, work requests and tickets on the vendor side."""
DOCUMENTS_MANAGE: Final = "documents.manage"
"""Share, change, restrict and delete documents."""
STAFF_MANAGE: Final = "staff.manage"
"""Keep the staff directory and the vendor's inbox address."""
MAIL_MANAGE: Final = "mail.manage"
"""Send mail and notifications as the vendor, read the outbox and retry failed mail."""
VENDOR_MANAGE: Final = "vendor.manage"
"""Change the vendor itself (its display name)."""
DATA_PRUNE: Final = "data.prune"
"""Remove what has outlived its retention period: dead one-time links, old failed-login
counters and the bodies of delivered mail (``portal.retention.prune``)."""
DATA_ERASE: Final = "data.erase"
"""Erase a person: delete its contact, account and logins and pseudonymise its audit entries
(``portal.retention.erase_person``; GDPR article 17)."""

STAFF_PERMISSIONS: Final[frozenset[str]] = frozenset(get_args(StaffPermission))
"""Every vendor-side permission portalkit knows; a Staff actor holds a subset of it."""

LEGACY: Final[frozenset[str]] = STAFF_PERMISSIONS - {IMPERSONATE, DATA_ERASE}
"""What a Staff with no permissions holds when the host opts in to
``PORTALKIT_STAFF_PERMISSIONS=legacy``: everything a Staff could do before permissions were
checked — which never included viewing as a customer, nor erasing a person (that came
later, and cannot be undone)."""

WHAT_EACH_ALLOWS: Final[dict[str, str]] = {
    CUSTOMERS_PROVISION: "create, change and deactivate customers, locations, addresses, "
    "contacts and branding; copy settings between customers",
    DATA_IMPORT: "import customers, locations, contacts and logins",
    DATA_EXPORT: "export customers, logins and their rights",
    PROFILES_MANAGE: "create, change and read permission profiles",
    LOGINS_MANAGE: "accounts, memberships, invitations, resets, credentials, self-registrations",
    IMPERSONATE: "view the portal as a customer's member",
    AUDIT_READ: "read the audit log",
    ACCESS_REVIEW: "run the access review and its explanations",
    SHOP_MANAGE: "catalogue, customer groups, assortments, price lists, installed base",
    INBOX_WORK: "the vendor inbox, orders, quotes, work requests and tickets",
    DOCUMENTS_MANAGE: "share, change, restrict and delete documents",
    STAFF_MANAGE: "the staff directory and the vendor's inbox address",
    MAIL_MANAGE: "send mail and notifications, read and retry the outbox",
    VENDOR_MANAGE: "rename the vendor",
    DATA_PRUNE: "remove expired links, old failed-login counters and delivered mail bodies",
    DATA_ERASE: "erase a person: its contact, account and logins; pseudonymise its audit entries",
}
"""What each permission allows, in a sentence (for a host's settings page)."""
