"""Customers (customer companies), their locations (sites) and their contacts (people).

A customer's ``code`` is unique per vendor (case-insensitively), at most 50 letters, digits,
``-`` and ``_``, and never changes once created: host apps put it in URLs and order numbers.
A customer may have a parent: an umbrella customer (PestScan's *domein contractant*) whose
members may be granted its child customers.

Example::

    acme = portal.customers.create(staff, code="ACME", name="Acme Transport B.V.")
    depot = portal.locations.create(staff, customer=acme, name="Depot Rotterdam")
    jane = portal.contacts.create(staff, customer=acme, first_name="Jane", last_name="Doe",
                                  email="jane@acme.example")
"""

from portalkit.customers.model import (
    MAX_TREE_DEPTH,
    Address,
    Branding,
    Contact,
    Customer,
    CustomerSettings,
    Location,
)
from portalkit.customers.service import (
    ContactService,
    CustomerService,
    LocationService,
)

__all__ = [
    "MAX_TREE_DEPTH",
    "Address",
    "Branding",
    "Contact",
    "ContactService",
    "Customer",
    "CustomerService",
    "CustomerSettings",
    "Location",
    "LocationService",
]
