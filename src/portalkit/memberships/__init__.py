"""Memberships: an account's access to one customer, as one of that customer's contacts.

A membership carries its status (invited, active, disabled), its kind, its permission profile,
location grants (read or write; write implies read), customer grants inside an umbrella, and the
notifications it subscribes to. A customer may have any number of memberships.

Kinds, from the seeds:

- ``member`` (default): a login standing on its own (transport, field-service, workwear seeds).
- ``main``: the customer's main account; at most one per customer.
- ``extra``: an extra account; it works only while its customer's main account is active
  (pest-control seed), so an extra can only be created once the customer has a main account.

Example::

    m = portal.memberships.create(staff, account=alice, customer=acme, contact=jane,
                                  kind="main", location_grants={depot: "write"})
"""

from portalkit.memberships.model import (
    MAX_GRANTS as MAX_GRANTS,
)
from portalkit.memberships.model import (
    SUBSCRIPTION_RE as SUBSCRIPTION_RE,
)
from portalkit.memberships.model import (
    Access,
    LocationGrant,
    Membership,
    MembershipKind,
    MembershipStatus,
)
from portalkit.memberships.service import (
    MembershipService,
)
from portalkit.memberships.service import (
    end_logins_of_customer as end_logins_of_customer,
)

__all__ = [
    "Access",
    "LocationGrant",
    "Membership",
    "MembershipKind",
    "MembershipService",
    "MembershipStatus",
]
