"""Customers, their locations and their contacts as records: what the storage keeps."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

MAX_TREE_DEPTH = 8
"""How many levels an umbrella tree may have (a customer with no parent is level 1)."""


@attrs.frozen
class CustomerSettings:
    """What a customer's portal offers: prices shown at all, the online shop switched on, the
    order approval limit and the notifications its new logins start with.

    ``approval_above``: orders whose total is above this amount (in the order's currency)
    wait in the customer's approval list until a member holding ``orders.approve`` approves
    them; None (the default) means no order needs approval.

    ``notification_defaults``: the notification kinds (``"invoices"``, ``"jobs"``...) a new
    login of this customer is subscribed to when whoever creates it names none; each login's
    subscriptions are its own afterwards.
    """

    show_prices: bool = True
    shop_enabled: bool = False
    approval_above: Decimal | None = None
    notification_defaults: frozenset[str] = frozenset()


@attrs.frozen
class Branding:
    """How a customer's portal and mail look: its logo, the logo in mail, a template name.

    The ``*_asset_id`` fields are asset keys (public space) stored by ``portal.branding``;
    assets are immutable, so two customers may share one (a copy) and a new logo is a new
    asset. ``logo_url``/``email_logo_url`` remain for logos hosted elsewhere.
    """

    logo_url: str = ""
    email_logo_url: str = ""
    template: str = ""
    logo_asset_id: str = ""
    email_logo_asset_id: str = ""
    size_instructions_asset_id: str = ""


@attrs.frozen
class Address:
    """A postal address of a customer; one of them may be the default delivery address."""

    street: str
    postal_code: str
    city: str
    country: str = ""
    label: str = ""
    default_delivery: bool = False


@attrs.frozen
class Customer:
    """A customer company of a vendor."""

    id: UUID
    vendor_id: UUID
    code: str
    name: str
    created_at: datetime
    erp_reference: str = ""
    active: bool = True
    settings: CustomerSettings = CustomerSettings()
    branding: Branding = Branding()
    addresses: tuple[Address, ...] = ()
    parent_id: UUID | None = None
    version: int = 1

    @property
    def default_delivery_address(self) -> Address | None:
        """The address marked as default delivery address, if any."""
        return next((a for a in self.addresses if a.default_delivery), None)


@attrs.frozen
class Location:
    """A site of a customer: the unit of per-location rights and of work-request addresses."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    name: str
    created_at: datetime
    code: str = ""
    address: Address | None = None
    active: bool = True
    version: int = 1


@attrs.frozen
class Contact:
    """A person at a customer. A login (membership) is always one of the customer's contacts."""

    id: UUID
    vendor_id: UUID
    customer_id: UUID
    first_name: str
    last_name: str
    created_at: datetime
    email: str = ""
    job_title: str = ""
    department: str = ""
    phone: str = ""
    active: bool = True
    version: int = 1

    @property
    def full_name(self) -> str:
        """First and last name, as a person would write them."""
        return f"{self.first_name} {self.last_name}".strip()
