"""Helpers for testing code that uses portalkit: an in-memory portal and small builders.

Example (in a host app's tests)::

    from portalkit.testing import World

    def test_acme_member_sees_only_acme():
        world = World()                      # in-memory portal, one vendor, one staff actor
        acme = world.customer(code="ACME")
        login = world.membership(customer=acme, kind="main")
        assert login.customer_id == acme.id

Builders fill every required field with a unique, readable value; pass any keyword of the
matching service's ``create`` to choose it yourself. :func:`seed_login` makes logins with known
passwords for demo and test data (only where a setting allows it). The storage contract suite
for third-party backends lives in :mod:`portalkit.testing.contract` (it needs pytest), the
conformance check for the host's own resource types, :func:`check_resource_type`, in
:mod:`portalkit.testing.conformance` (it needs hypothesis).
"""

from __future__ import annotations

import itertools
from typing import Any

from portalkit.accounts.model import Account
from portalkit.actors import Member, Staff, System
from portalkit.clock import Clock, FixedClock
from portalkit.customers.model import Contact, Customer, Location
from portalkit.mail.memory import MemoryMailer
from portalkit.memberships.model import Membership
from portalkit.portal import Portal
from portalkit.profiles.model import PermissionProfile
from portalkit.staffrights import LEGACY, StaffPermission
from portalkit.storage.memory import MemoryStorage
from portalkit.testing.seeding import seed_login
from portalkit.vendors.model import Vendor

__all__ = ["World", "check_resource_type", "memory_portal", "seed_login"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the conformance check needs SQLAlchemy and hypothesis, the
    # builders neither.
    if name == "check_resource_type":
        from portalkit.testing.conformance import check_resource_type

        return check_resource_type
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def memory_portal(*, clock: Clock | None = None) -> Portal:
    """A portal on fresh in-memory storage with a memory mailer and (by default) a fixed clock."""
    return Portal(MemoryStorage(), MemoryMailer(), clock=clock or FixedClock())


class World:
    """A vendor with a staff actor on a portal, and builders for everything below it.

    ``World()`` makes an in-memory portal; ``World(portal)`` builds on yours (any backend).
    ``World(portal, vendor_code="other")`` adds a second vendor to the same portal.
    """

    _serial = itertools.count(1)

    def __init__(self, portal: Portal | None = None, *, vendor_code: str | None = None) -> None:
        portal = portal if portal is not None else memory_portal()
        self.portal = portal
        code = vendor_code or f"vendor-{self._next()}"
        self.vendor: Vendor = portal.vendors.create(System(), code=code, name=f"Vendor {code}")
        # The world's employee holds every staff permission but "impersonate", which a test of
        # view-as grants on purpose (staff_holding), as a host would.
        self.staff = self.staff_holding(*LEGACY, user_id=f"staff-{code}")
        self.system = System(vendor_id=self.vendor.id)

    def staff_holding(self, *permissions: StaffPermission | str, user_id: str = "") -> Staff:
        """An employee of the world's vendor holding just ``permissions`` (names from
        :mod:`portalkit.staffrights`): ``world.staff_holding("inbox.work")``."""
        return Staff(
            vendor_id=self.vendor.id,
            user_id=user_id or f"staff-{self._next()}",
            name="Staff",
            permissions=frozenset(permissions),
        )

    def _next(self) -> int:
        return next(self._serial)

    def customer(self, **fields: Any) -> Customer:
        """A customer (``code`` and ``name`` made up unless given)."""
        n = self._next()
        fields.setdefault("code", f"C{n:05d}")
        fields.setdefault("name", f"Customer {n}")
        return self.portal.customers.create(self.staff, **fields)

    def location(self, customer: Customer | None = None, **fields: Any) -> Location:
        """A location of ``customer`` (a new customer unless given)."""
        fields.setdefault("name", f"Site {self._next()}")
        return self.portal.locations.create(
            self.staff, customer=customer or self.customer(), **fields
        )

    def contact(self, customer: Customer | None = None, **fields: Any) -> Contact:
        """A contact person of ``customer`` (a new customer unless given)."""
        n = self._next()
        fields.setdefault("first_name", "Kim")
        fields.setdefault("last_name", f"Jansen {n}")
        fields.setdefault("email", f"kim.jansen{n}@customer.example")
        return self.portal.contacts.create(
            self.staff, customer=customer or self.customer(), **fields
        )

    def account(self, **fields: Any) -> Account:
        """An account with a made-up unique username and e-mail unless given."""
        n = self._next()
        fields.setdefault("username", f"user{n}")
        fields.setdefault("email", f"user{n}@customer.example")
        return self.portal.accounts.create(self.staff, **fields)

    def profile(self, **fields: Any) -> PermissionProfile:
        """A permission profile (empty unless capabilities are given)."""
        fields.setdefault("name", f"Profile {self._next()}")
        return self.portal.profiles.create(self.staff, **fields)

    def membership(
        self,
        customer: Customer | None = None,
        account: Account | None = None,
        contact: Contact | None = None,
        **fields: Any,
    ) -> Membership:
        """A membership; the customer, account and contact are made when not given.

        ``status`` defaults to ``"active"`` here (the service's default is ``"invited"``);
        pass a ``profile`` too for a login that may see anything (deny by default).
        """
        customer = customer or self.customer()
        fields.setdefault("status", "active")
        return self.portal.memberships.create(
            self.staff,
            customer=customer,
            account=account or self.account(),
            contact=contact or self.contact(customer),
            **fields,
        )

    def member(self, membership: Membership) -> Member:
        """The actor of a membership, as a host app would build it after log-in."""
        return Member(
            vendor_id=membership.vendor_id,
            account_id=membership.account_id,
            membership_id=membership.id,
            customer_id=membership.customer_id,
        )
