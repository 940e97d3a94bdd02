"""A customer's notification defaults (issue 14, item 2): the kinds its new logins start
subscribed to when their creator names none — checked as a login's own subscriptions are,
stored with the customer, and given to logins made by staff, by the customer's own admin,
by provisioning and by a CSV import — on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.fernet import Fernet

from portalkit import Portal, PortalSettings
from portalkit.customers.model import CustomerSettings
from portalkit.errors import ValidationError
from portalkit.provisioning.model import AdminRequest, ProvisionRequest
from portalkit.testing import World


@pytest.fixture
def world(portal: Portal) -> World:
    # Logins added by a customer admin are invited by mail: the portal must be able to send it.
    portal.settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
    )
    return World(portal)


def test_a_customer_keeps_its_notification_defaults(world: World) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(settings={"notification_defaults": ["invoices", "jobs", "jobs"]})
    assert customer.settings.notification_defaults == {"invoices", "jobs"}
    assert portal.customers.get(staff, customer.id).settings.notification_defaults == {
        "invoices",
        "jobs",
    }
    # Settings are replaced as a whole; the other settings keep their defaults.
    assert portal.customers.get(staff, customer.id).settings == CustomerSettings(
        notification_defaults=frozenset({"invoices", "jobs"})
    )
    assert world.customer().settings.notification_defaults == frozenset()


def test_a_change_of_the_defaults_is_audited_from_what_to_what(world: World) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(settings={"notification_defaults": ["jobs"]})
    portal.customers.update(
        staff, customer.id, settings={"notification_defaults": ["quotes", "invoices"]}
    )
    event = [e for e in portal.audit.list(staff) if e.action == "customer_updated"][-1]
    assert event.details["settings"] == {
        "notification_defaults": [["jobs"], ["invoices", "quotes"]]
    }


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (["invoices", "Invoices"], "invalid_name"),
        (["invoices", ""], "invalid_name"),
        ([1], "invalid_name"),
        (["x" * 101], "invalid_name"),
        ("invoices", "not_list"),
        (b"invoices", "not_list"),
        ({"invoices": True}, "not_list"),
        (7, "not_list"),
        ([f"kind_{n}" for n in range(101)], "too_many"),
    ],
)
def test_bad_notification_defaults_are_refused_and_nothing_is_written(
    world: World, value: Any, code: str
) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(settings={"notification_defaults": ["jobs"]})
    with pytest.raises(ValidationError) as refused:
        portal.customers.create(
            staff, code="NEW", name="New", settings={"notification_defaults": value}
        )
    assert refused.value.field == "settings.notification_defaults"
    assert refused.value.code == code
    with pytest.raises(ValidationError):
        portal.customers.update(staff, customer.id, settings={"notification_defaults": value})
    assert portal.customers.get(staff, customer.id) == customer
    assert [c.code for c in portal.customers.list(staff)] == [customer.code]


def test_a_settings_record_built_by_hand_is_checked_too(world: World) -> None:
    portal, staff = world.portal, world.staff
    forged = CustomerSettings(notification_defaults=frozenset({"ok", "DROP TABLE"}))
    with pytest.raises(ValidationError) as refused:
        portal.customers.create(staff, code="NEW", name="New", settings=forged)
    assert refused.value.field == "settings.notification_defaults"
    good = CustomerSettings(show_prices=False, notification_defaults=frozenset({"jobs"}))
    assert portal.customers.create(staff, code="NEW", name="New", settings=good).settings == good


def test_the_refusal_is_translated(world: World) -> None:
    with pytest.raises(ValidationError) as refused:
        world.portal.customers.create(
            world.staff, code="NEW", name="New", settings={"notification_defaults": "invoices"}
        )
    assert refused.value.text("nl") != refused.value.text("en")
    assert refused.value.text("de") != refused.value.text("en")


# -- new logins ---------------------------------------------------------------------------------


def test_a_new_login_starts_with_its_customers_defaults(world: World) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(settings={"notification_defaults": ["invoices", "jobs"]})
    login = world.membership(customer=customer)
    assert login.subscriptions == {"invoices", "jobs"}
    assert portal.memberships.get(staff, login.id).subscriptions == {"invoices", "jobs"}
    # Its own afterwards: changing the defaults leaves the logins that exist.
    portal.customers.update(staff, customer.id, settings={"notification_defaults": ["quotes"]})
    assert portal.memberships.get(staff, login.id).subscriptions == {"invoices", "jobs"}
    assert world.membership(customer=customer).subscriptions == {"quotes"}


def test_subscriptions_named_at_creation_are_taken_as_given(world: World) -> None:
    customer = world.customer(settings={"notification_defaults": ["invoices", "jobs"]})
    assert world.membership(customer=customer, subscriptions=["quotes"]).subscriptions == {"quotes"}
    assert world.membership(customer=customer, subscriptions=[]).subscriptions == frozenset()
    with pytest.raises(ValidationError) as refused:
        world.membership(customer=customer, subscriptions="invoices")
    assert refused.value.field == "subscriptions"


def test_logins_a_customer_admin_adds_get_the_defaults_too(world: World) -> None:
    portal = world.portal
    customer = world.customer(settings={"notification_defaults": ["invoices"]})
    world.membership(customer=customer, kind="main", subscriptions=[])
    profile = world.profile(capabilities={"members.manage", "orders.view"})
    admin = world.member(world.membership(customer=customer, profile=profile))
    added = portal.logins.add(
        admin, customer=customer, email="new@customer.example", first_name="N", last_name="L"
    )
    # A subscription grants nothing (notify() asks the access context), so the defaults are
    # given whether or not the admin could read invoices itself.
    assert added.subscriptions == {"invoices"}
    chosen = portal.logins.add(
        admin,
        customer=customer,
        email="own@customer.example",
        first_name="O",
        last_name="L",
        subscriptions=[],
    )
    assert chosen.subscriptions == frozenset()


def test_a_login_started_with_the_defaults_is_notified(world: World) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(settings={"notification_defaults": ["invoices"]})
    reader = world.profile(capabilities={"invoices.view"})
    subscribed = world.membership(customer=customer, profile=reader)
    world.membership(customer=customer, profile=reader, subscriptions=[])
    told = portal.mail.notify(staff, customer, "invoices", title="F-1", link="https://x.example/1")
    account = portal.accounts.get(staff, subscribed.account_id)
    assert [m.to for m in told] == [account.email]


def test_a_provisioned_customers_admin_gets_the_defaults_it_was_given(world: World) -> None:
    portal, staff = world.portal, world.staff
    request = ProvisionRequest(
        code="ACME",
        name="Acme",
        settings={"notification_defaults": ["jobs"]},
        admin=AdminRequest(username="acme-admin", email="it@acme.example"),
    )
    summary = portal.provisioning.provision(staff, request)
    assert summary.admin_membership is not None
    assert summary.admin_membership.subscriptions == {"jobs"}
    assert portal.memberships.get(staff, summary.admin_membership.id).subscriptions == {"jobs"}


def test_a_provisioned_customers_admin_gets_the_copied_defaults(world: World) -> None:
    portal, staff = world.portal, world.staff
    world.customer(code="MODEL", settings={"notification_defaults": ["invoices", "quotes"]})
    request = ProvisionRequest(
        code="ACME",
        name="Acme",
        copy_from="MODEL",
        copy_parts=["notifications"],
        admin=AdminRequest(username="acme-admin", email="it@acme.example"),
    )
    summary = portal.provisioning.provision(staff, request)
    acme = portal.customers.get_by_code(staff, "ACME")
    assert acme.settings.notification_defaults == {"invoices", "quotes"}
    assert summary.admin_membership is not None
    assert summary.admin_membership.subscriptions == {"invoices", "quotes"}


def test_logins_a_csv_import_creates_get_the_defaults(world: World) -> None:
    portal, staff = world.portal, world.staff
    customer = world.customer(code="ACME", settings={"notification_defaults": ["jobs"]})
    csv = "customer,email,first_name,last_name\nACME,anna@acme.example,Anna,Jansen\n"
    report = portal.imports.load(staff, "logins", io.StringIO(csv))
    assert not report.problems
    [login] = portal.memberships.list(staff, customer=customer)
    assert login.subscriptions == {"jobs"}
