"""portalkit's quick start: a transport firm gives a customer's planner a login.

Run it with ``python examples/quickstart.py``. It uses the embedded SQLite database
(``portalkit.db`` in the current folder, created on first use); run it again and it finds the
customer it made before instead of failing.
"""

from __future__ import annotations

from portalkit import STAFF_PERMISSIONS, AuthenticationFailed, NotFound, Portal, Staff, presets


def main() -> None:
    """Set up one customer with a site, a contact and a login, show what is stored, then log
    in with a generated password and change it, as the transport seed's planner would."""
    portal = Portal.from_settings()  # SQLite file portalkit.db, schema created on the spot
    vendor = portal.default_vendor()
    staff = Staff(
        vendor_id=vendor.id, user_id="planner-1", name="Planner", permissions=STAFF_PERMISSIONS
    )

    try:
        acme = portal.customers.get_by_code(staff, "ACME")
        print(f"Found customer {acme.code} ({acme.name}) from an earlier run.")
    except NotFound:
        # One transaction: the customer, its depot, its contact and the login appear together.
        with portal.transaction():
            acme = portal.customers.create(
                staff,
                code="ACME",
                name="Acme Transport B.V.",
                settings={"show_prices": False},
                addresses=[
                    {
                        "street": "Kade 1",
                        "postal_code": "3011 AA",
                        "city": "Rotterdam",
                        "country": "NL",
                        "default_delivery": True,
                    },
                ],
            )
            depot = portal.locations.create(staff, customer=acme, name="Depot Rotterdam")
            jane = portal.contacts.create(
                staff,
                customer=acme,
                first_name="Jane",
                last_name="Visser",
                email="jane.visser@acme.example",
                job_title="Planner",
            )
            account = portal.accounts.create(
                staff, username="jane.visser", email="Jane.Visser@ACME.example", language="nl"
            )
            full = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
            portal.memberships.create(
                staff,
                account=account,
                customer=acme,
                contact=jane,
                kind="main",
                status="active",
                profile=full,  # deny by default: a login without a profile sees nothing
                location_grants={depot: "write"},
            )
        print(f"Created customer {acme.code} ({acme.name}).")

    for membership in portal.memberships.list(staff, customer=acme):
        account = portal.accounts.get(staff, membership.account_id)
        contact = portal.contacts.get(staff, membership.contact_id)
        print(
            f"  login {account.username} <{account.email}> for {contact.full_name}: "
            f"{membership.kind.value}, {membership.status.value}, "
            f"{len(membership.location_grants)} location grant(s)"
        )

    # "Generate new password": the planner copies it to Jane, who must change it at first login.
    (jane_login,) = portal.memberships.list(staff, customer=acme)
    generated = portal.credentials.set_password(staff, jane_login)
    assert generated is not None
    print(f"Generated a password for jane.visser ({len(generated)} characters).")
    login = portal.auth.authenticate(vendor, "Jane.Visser@acme.example", generated)
    print(f"Logged in as {login.account.username}; must change password: "
          f"{login.must_change_password}")  # fmt: skip
    portal.credentials.change_password(login.actor, current=generated, new="harbour cranes at dawn")
    try:
        portal.auth.validate_session(vendor, login.session)
    except AuthenticationFailed:
        print("The old session ended with the password change; log in again:")
    again = portal.auth.authenticate(vendor, "jane.visser", "harbour cranes at dawn")
    print(f"  session valid: {portal.auth.validate_session(vendor, again.session) == again.actor}")
    portal.close()


if __name__ == "__main__":
    main()
