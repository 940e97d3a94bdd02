"""The storage contract suite: every backend must pass it unchanged.

A third-party backend subclasses :class:`StorageContract` in its own tests and overrides one
fixture, ``storage``, returning a fresh, empty, schema-ready instance::

    import pytest
    from portalkit.testing.contract import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        def storage(self):
            store = MyStorage("…")
            store.upgrade_schema()
            yield store
            store.close()

The tests go through the public :class:`~portalkit.Portal` API, so they check what users rely
on: round trips, ordering, uniqueness, tenant isolation, atomic transactions and lost-update
protection. This module needs pytest (``pip install "portalkit[test]"``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid4

import attrs
import pytest

from portalkit.actors import Staff
from portalkit.clock import FixedClock
from portalkit.customers.model import Address, CustomerSettings
from portalkit.errors import (
    ConcurrentModification,
    Conflict,
    NotFound,
    PortalError,
    ValidationError,
)
from portalkit.mail.memory import MemoryMailer
from portalkit.memberships.model import Access, MembershipKind, MembershipStatus
from portalkit.portal import Portal
from portalkit.profiles.model import Scope
from portalkit.staffrights import STAFF_PERMISSIONS
from portalkit.storage.base import Storage
from portalkit.testing import World

__all__ = ["StorageContract"]


class StorageContract:
    """Tests every storage backend must pass; override the ``storage`` fixture."""

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        """Override: yield a fresh, empty storage whose schema is ready."""
        pytest.fail("override the `storage` fixture to return the backend under test")
        yield  # pragma: no cover

    @pytest.fixture
    def portal(self, storage: Storage) -> Portal:
        """A portal on the storage under test, with a fixed clock."""
        return Portal(storage, MemoryMailer(), clock=FixedClock())

    @pytest.fixture
    def world(self, portal: Portal) -> World:
        """One vendor with its staff actor."""
        return World(portal)

    @pytest.fixture
    def other(self, portal: Portal) -> World:
        """A second vendor on the same portal."""
        return World(portal)

    # -- round trips ----------------------------------------------------------------------
    def test_every_record_reads_back_as_written(self, world: World) -> None:
        p, staff = world.portal, world.staff
        parent = world.customer()
        customer = world.customer(
            code="Acme-1",
            name="Acme Transport B.V.",
            erp_reference="ERP-77",
            settings={
                "show_prices": False,
                "shop_enabled": True,
                "notification_defaults": ["invoices", "jobs"],
            },
            addresses=[
                {
                    "street": "Kade 1",
                    "postal_code": "3011 AA",
                    "city": "Rotterdam",
                    "country": "nl",
                    "default_delivery": True,
                },
                Address(street="Weg 2", postal_code="1000", city="Brussel", label="Office"),
            ],
            parent=parent,
        )
        site = world.location(
            customer,
            code="RTM",
            address={"street": "Haven 5", "postal_code": "3089", "city": "Rotterdam"},
        )
        person = world.contact(
            customer, job_title="Planner", department="Logistics", phone="+31 10 123 45 67"
        )
        account = world.account(language="nl")
        profile = world.profile(
            capabilities={"orders.view", "invoices.view"},
            scopes={"orders": "location", "invoices": Scope.CUSTOMER},
        )
        membership = world.membership(
            customer=parent,
            account=account,
            contact=world.contact(parent),
            kind="main",
            profile=profile,
            customer_grants=[customer],
            location_grants={site: "write"},
            subscriptions=["invoices", "jobs"],
        )
        assert p.customers.get(staff, customer.id) == customer
        assert customer.settings == CustomerSettings(
            show_prices=False,
            shop_enabled=True,
            notification_defaults=frozenset({"invoices", "jobs"}),
        )
        assert customer.default_delivery_address is not None
        assert customer.default_delivery_address.country == "NL"
        assert p.locations.get(staff, site.id) == site
        assert p.contacts.get(staff, person.id) == person
        assert p.accounts.get(staff, account.id) == account
        assert p.profiles.get(staff, profile.id) == profile
        assert p.memberships.get(staff, membership.id) == membership
        assert membership.location_grants[0].access is Access.WRITE
        assert p.vendors.get(staff, world.vendor.id) == world.vendor
        for record in (customer, site, person, account, profile, membership):
            assert record.created_at.tzinfo is not None
            assert record.created_at.utcoffset() == UTC.utcoffset(None)

    def test_a_vendor_is_renamed_in_its_transaction_and_only_it(self, world: World) -> None:
        p = world.portal
        other = World(p, vendor_code="other-vendor").vendor
        with p.transaction() as uow:
            renamed = uow.vendors.rename(world.vendor.id, "Jansen Transport B.V.")
            assert renamed is not None and renamed.name == "Jansen Transport B.V."
            assert uow.vendors.get(world.vendor.id) == renamed  # seen inside at once
            assert uow.vendors.rename(uuid4(), "Nobody") is None
        with p.transaction(read_only=True) as uow:
            stored = uow.vendors.get_by_code(world.vendor.code)
            assert stored == renamed and stored.code == world.vendor.code
            assert uow.vendors.get(other.id) == other
        try:
            with p.transaction() as uow:
                uow.vendors.rename(world.vendor.id, "Rolled back")
                raise LookupError("abort")
        except LookupError:
            pass
        with p.transaction(read_only=True) as uow:
            assert [v.name for v in uow.vendors.list() if v.id == world.vendor.id] == [
                "Jansen Transport B.V."
            ]

    def test_reads_in_a_new_transaction_see_committed_changes(self, world: World) -> None:
        customer = world.customer()
        changed = world.portal.customers.update(world.staff, customer, name="Renamed")
        assert changed.version == customer.version + 1
        again = world.portal.customers.get(world.staff, customer.id)
        assert (again.name, again.version) == ("Renamed", changed.version)

    def test_lists_are_oldest_first_filtered_and_paged(self, world: World) -> None:
        clock = world.portal.clock
        assert isinstance(clock, FixedClock)
        made = []
        for _ in range(5):
            made.append(world.customer())
            clock.advance(seconds=1)
        world.portal.customers.deactivate(world.staff, made[1])
        listed = world.portal.customers.list(world.staff)
        assert [c.id for c in listed] == [c.id for c in made]
        page = world.portal.customers.list(world.staff, limit=2, offset=1)
        assert [c.id for c in page] == [made[1].id, made[2].id]
        inactive = world.portal.customers.list(world.staff, active=False)
        assert [c.id for c in inactive] == [made[1].id]
        child = world.customer(parent=made[0])
        assert [c.id for c in world.portal.customers.list(world.staff, parent=made[0])] == [
            child.id
        ]

    def test_memberships_list_by_customer_account_and_status(self, world: World) -> None:
        customer = world.customer()
        first = world.membership(customer=customer)
        second = world.membership(customer=customer, status="invited")
        elsewhere = world.membership(
            account=world.portal.accounts.get(world.staff, first.account_id)
        )
        p = world.portal
        assert {m.id for m in p.memberships.list(world.staff, customer=customer)} == {
            first.id,
            second.id,
        }
        assert {m.id for m in p.memberships.list(world.staff, account=first.account_id)} == {
            first.id,
            elsewhere.id,
        }
        invited = p.memberships.list(world.staff, customer=customer, status="invited")
        assert [m.id for m in invited] == [second.id]

    # -- uniqueness -----------------------------------------------------------------------
    def test_customer_codes_are_unique_per_vendor_ignoring_case(
        self, world: World, other: World
    ) -> None:
        world.customer(code="ACME")
        with pytest.raises(Conflict) as caught:
            world.customer(code="acme")
        assert caught.value.field == "code"
        assert other.customer(code="ACME").code == "ACME"  # another vendor may use it
        assert world.portal.customers.get_by_code(world.staff, "aCmE").code == "ACME"

    def test_usernames_and_emails_are_unique_per_vendor(self, world: World, other: World) -> None:
        world.account(username="Alice", email="alice@example.com")
        with pytest.raises(Conflict) as caught:
            world.account(username="ALICE")
        assert caught.value.field == "username"
        with pytest.raises(Conflict) as caught:
            world.account(email="Alice@EXAMPLE.com")
        assert caught.value.field == "email"
        # A look-alike (dotless ı) is another address, not a duplicate.
        world.account(email="alıce@example.com")
        other.account(username="alice", email="alice@example.com")
        found = world.portal.accounts.get_by_username(world.staff, "aLiCe")
        assert found.email == "alice@example.com"
        assert world.portal.accounts.get_by_email(world.staff, "ALICE@example.COM") == found

    def test_an_account_joins_a_customer_once(self, world: World) -> None:
        membership = world.membership()
        p = world.portal
        account = p.accounts.get(world.staff, membership.account_id)
        customer = p.customers.get(world.staff, membership.customer_id)
        with pytest.raises(Conflict) as caught:
            world.membership(customer=customer, account=account)
        assert caught.value.field == "account"

    def test_a_customer_has_at_most_one_main_account(self, world: World) -> None:
        customer = world.customer()
        with pytest.raises(ValidationError) as refused:
            world.membership(customer=customer, kind="extra")
        assert refused.value.code == "no_main_account"
        world.membership(customer=customer, kind="main")
        with pytest.raises(Conflict) as caught:
            world.membership(customer=customer, kind="main")
        assert caught.value.field == "kind"
        extra = world.membership(customer=customer, kind="extra")
        assert extra.kind is MembershipKind.EXTRA
        with pytest.raises(Conflict):
            world.portal.memberships.update(world.staff, extra, kind="main")

    def test_profile_names_are_unique_per_vendor(self, world: World) -> None:
        world.profile(name="Read only")
        with pytest.raises(Conflict) as caught:
            world.profile(name="READ ONLY")
        assert caught.value.field == "name"

    def test_a_clash_inside_a_large_batch_stores_nothing(self, world: World) -> None:
        p = world.portal
        with pytest.raises(Conflict), p.transaction():
            for n in range(1200):
                world.customer(code=f"BATCH{n}")
            world.customer(code="batch7")
        assert p.customers.list(world.staff) == []

    def test_a_clash_with_committed_rows_inside_a_batch_stores_nothing(self, world: World) -> None:
        world.account(username="taken")
        p = world.portal
        with pytest.raises(Conflict), p.transaction():
            for n in range(50):
                world.account(username=f"fresh{n}")
            world.account(username="TAKEN")
        assert len(p.accounts.list(world.staff)) == 1

    # -- tenant isolation -----------------------------------------------------------------
    def test_another_vendors_records_are_not_found(self, world: World, other: World) -> None:
        membership = world.membership(profile=world.profile())
        p, outsider = world.portal, other.staff
        customer = p.customers.get(world.staff, membership.customer_id)
        site = world.location(customer)
        targets: list[tuple[Any, Any]] = [
            (p.customers, customer),
            (p.locations, site),
            (p.contacts, p.contacts.get(world.staff, membership.contact_id)),
            (p.accounts, p.accounts.get(world.staff, membership.account_id)),
            (p.memberships, membership),
            # world.membership(profile=...) set it, so it is not None.
            (p.profiles, p.profiles.get(world.staff, cast(UUID, membership.profile_id))),
        ]
        for service, record in targets:
            with pytest.raises(NotFound):
                service.get(outsider, record.id)
            with pytest.raises(NotFound):
                service.update(outsider, record.id)
            if hasattr(service, "deactivate"):
                with pytest.raises(NotFound):
                    service.deactivate(outsider, record.id)
            assert service.get(world.staff, record.id) == record
        assert p.customers.list(outsider) == []
        assert p.accounts.list(outsider) == []
        with pytest.raises(NotFound):
            p.locations.list(outsider, customer=customer)
        with pytest.raises(NotFound):
            p.locations.create(outsider, customer=customer, name="Sneaky")
        with pytest.raises(NotFound):
            p.customers.create(outsider, code="X", name="X", parent=customer)
        with pytest.raises(NotFound):
            p.vendors.get(outsider, world.vendor.id)

    def test_a_membership_cannot_point_into_another_vendor(
        self, world: World, other: World
    ) -> None:
        customer = world.customer()
        with pytest.raises(NotFound):
            world.membership(customer=customer, profile=other.profile())
        with pytest.raises(NotFound):
            world.membership(customer=customer, account=other.account())
        with pytest.raises(NotFound):
            world.membership(customer=customer, location_grants={other.location(): "read"})
        assert world.portal.memberships.list(world.staff, customer=customer) == []

    def test_a_membership_fits_its_customer(self, world: World) -> None:
        umbrella = world.customer()
        child = world.customer(parent=umbrella)
        stranger = world.customer()
        with pytest.raises(ValidationError) as caught:
            world.membership(customer=umbrella, contact=world.contact(stranger))
        assert caught.value.field == "contact"
        with pytest.raises(ValidationError) as caught:
            world.membership(customer=umbrella, location_grants={world.location(stranger): "read"})
        assert caught.value.field == "location_grants"
        with pytest.raises(ValidationError) as caught:
            world.membership(customer=child, customer_grants=[umbrella])
        assert caught.value.code == "outside_tree"
        fine = world.membership(
            customer=umbrella,
            customer_grants=[child],
            location_grants={world.location(child): "read"},
        )
        assert fine.customer_grants == frozenset({child.id})

    # -- transactions ---------------------------------------------------------------------
    def test_a_failed_transaction_leaves_no_row_behind(self, world: World) -> None:
        p = world.portal

        class Boom(Exception):
            pass

        with pytest.raises(Boom), p.transaction():
            customer = world.customer(code="GONE")
            world.location(customer)
            contact = world.contact(customer)
            account = world.account(username="gone")
            world.membership(customer=customer, account=account, contact=contact, kind="main")
            world.profile(name="Gone")
            raise Boom
        assert p.customers.list(world.staff) == []
        assert p.accounts.list(world.staff) == []
        assert p.profiles.list(world.staff) == []
        with pytest.raises(NotFound):
            p.customers.get_by_code(world.staff, "GONE")
        # The same names are free again: nothing half-written holds them.
        customer = world.customer(code="GONE")
        assert world.account(username="gone").username == "gone"
        assert p.customers.get(world.staff, customer.id) == customer

    def test_a_conflict_spoils_the_transaction_even_when_caught(self, world: World) -> None:
        world.customer(code="TAKEN")
        p = world.portal
        with pytest.raises(PortalError), p.transaction():
            world.customer(code="KEPT?")
            with pytest.raises(Conflict):
                world.customer(code="taken")
                p.customers.list(world.staff)  # a backend may report the clash here
        assert [c.code for c in p.customers.list(world.staff)] == ["TAKEN"]

    def test_a_validation_error_inside_a_transaction_keeps_it_usable(self, world: World) -> None:
        p = world.portal
        with p.transaction():
            kept = world.customer(code="KEPT")
            with pytest.raises(ValidationError):
                world.customer(code="not valid!")
        assert p.customers.get(world.staff, kept.id) == kept

    def test_a_stale_update_is_refused(self, world: World) -> None:
        p = world.portal
        customer = world.customer()
        first = p.customers.update(world.staff, customer, name="First")
        with pytest.raises(ConcurrentModification):
            p.customers.update(world.staff, customer, name="Second")  # based on a stale read
        assert p.customers.get(world.staff, customer.id) == first
        membership = world.membership()
        p.memberships.update(world.staff, membership, subscriptions=["jobs"])
        with pytest.raises(ConcurrentModification):
            p.memberships.update(world.staff, membership, subscriptions=["invoices"])
        profile = world.profile()
        p.profiles.update(world.staff, profile, capabilities={"orders.view"})
        with pytest.raises(ConcurrentModification):
            p.profiles.update(world.staff, profile, capabilities={"invoices.view"})
        assert p.profiles.get(world.staff, profile.id).capabilities == {"orders.view"}

    # -- records ----------------------------------------------------------------------
    def test_returned_records_cannot_change_what_is_stored(self, world: World) -> None:
        profile = world.profile(scopes={"orders": "own"})
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            profile.name = "hacked"  # type: ignore[misc]
        with pytest.raises(TypeError):
            profile.scopes["orders"] = Scope.TREE  # type: ignore[index]
        stored = world.portal.profiles.get(world.staff, profile.id)
        assert stored.scopes == {"orders": Scope.OWN}

    def test_status_changes_are_stored(self, world: World) -> None:
        p, staff = world.portal, world.staff
        membership = world.membership(status="invited")
        assert membership.status is MembershipStatus.INVITED
        assert p.memberships.activate(staff, membership).status is MembershipStatus.ACTIVE
        assert p.memberships.deactivate(staff, membership.id).status is MembershipStatus.DISABLED
        assert p.memberships.get(staff, membership.id).status is MembershipStatus.DISABLED
        account = p.accounts.get(staff, membership.account_id)
        disabled = p.accounts.deactivate(staff, account)
        assert not disabled.active
        assert disabled.session_stamp != account.session_stamp
        assert p.accounts.reactivate(staff, account.id).active
        services: list[tuple[Any, Any]] = [
            (p.customers, world.customer()),
            (p.locations, world.location()),
            (p.contacts, world.contact()),
        ]
        for service, record in services:
            assert not service.deactivate(staff, record).active
            assert not service.get(staff, record.id).active
            assert service.reactivate(staff, record.id).active

    def test_umbrella_trees_refuse_cycles_and_excess_depth(self, world: World) -> None:
        from portalkit.customers.model import MAX_TREE_DEPTH

        chain = [world.customer()]
        for _ in range(MAX_TREE_DEPTH - 1):
            chain.append(world.customer(parent=chain[-1]))
        with pytest.raises(ValidationError) as caught:
            world.customer(parent=chain[-1])
        assert caught.value.code == "too_deep"
        with pytest.raises(ValidationError) as caught:
            world.portal.customers.update(world.staff, chain[0], parent=chain[3])
        assert caught.value.code == "cycle"
        loose = world.customer()
        with pytest.raises(ValidationError) as caught:
            world.portal.customers.update(world.staff, loose, parent=chain[-1])
        assert caught.value.code == "too_deep"
        moved = world.portal.customers.update(world.staff, loose, parent=chain[0])
        assert moved.parent_id == chain[0].id
        assert world.portal.customers.update(world.staff, moved, parent=None).parent_id is None

    def test_staff_of_a_vendor_work_only_in_it(self, world: World) -> None:
        ghost = Staff(
            vendor_id=world.vendor.id.__class__(int=0),
            user_id="ghost",
            permissions=STAFF_PERMISSIONS,
        )
        assert world.portal.customers.list(ghost) == []

    # -- access facts and the audit log -------------------------------------------------
    def test_member_facts_carry_tree_locations_and_main_account(self, world: World) -> None:
        p = world.portal
        umbrella = world.customer()
        child = world.customer(parent=umbrella)
        grandchild = world.customer(parent=child)
        site, closed = world.location(child), world.location(umbrella)
        p.locations.deactivate(world.staff, closed)
        profile = world.profile(capabilities={"orders.view"}, scopes={"orders": "tree"})
        main = world.membership(customer=umbrella, kind="main", profile=profile)
        extra = world.membership(
            customer=umbrella,
            kind="extra",
            profile=profile,
            customer_grants=[child],
            location_grants={site: "write", closed: "read"},
        )
        ctx = p.access.context(world.member(extra))
        assert ctx.reach("orders") == {umbrella.id, child.id, grandchild.id}
        assert ctx.location_read == frozenset({site.id})  # the closed one no longer counts
        assert ctx.location_write == frozenset({site.id})
        with p.transaction(read_only=True) as uow:
            facts = uow.member_facts(world.vendor.id, extra.id)
            account = uow.accounts.get(world.vendor.id, extra.account_id)
        assert facts is not None and account is not None
        assert facts.membership.id == extra.id and facts.customer.id == umbrella.id
        assert facts.account_session_stamp == account.session_stamp != ""
        p.memberships.deactivate(world.staff, main)
        assert p.access.context(world.member(extra)).denied is not None

    def test_every_rights_change_moves_the_rights_generation_on(
        self, world: World, other: World
    ) -> None:
        """Facts are reused while the number stays: every committed change of a rights table
        draws a number never seen before, and only in its own vendor."""
        p, staff = world.portal, world.staff

        def number(of: World = world) -> int | None:
            with p.transaction(read_only=True) as uow:
                return uow.rights_generation(of.vendor.id)

        seen = [number()]
        assert seen[0] is not None
        theirs = number(other)
        customer = world.customer()
        site = world.location(customer)
        profile = world.profile(capabilities={"orders.view"})
        membership = world.membership(customer=customer, profile=profile)
        for change in (
            lambda: p.locations.deactivate(staff, site.id),
            lambda: p.profiles.update(staff, profile.id, capabilities={"invoices.view"}),
            lambda: p.memberships.deactivate(staff, membership.id),
            lambda: p.accounts.deactivate(staff, membership.account_id),
            lambda: p.customers.deactivate(staff, customer.id),
        ):
            change()
            now = number()
            assert now is not None and now not in seen
            seen.append(now)
        assert number(other) == theirs  # another vendor's facts stay good
        # A change rolled back leaves the number as it was, or at a new one.
        with pytest.raises(RuntimeError), p.transaction():
            p.customers.reactivate(staff, customer.id)
            with p.transaction(read_only=True) as uow:
                inside = uow.rights_generation(world.vendor.id)
            # Facts this unit of work reads are its own: no number of before stands for them.
            assert inside is None or inside not in seen
            raise RuntimeError("undo")
        after = number()
        assert after == seen[-1] or after not in seen

    def test_audit_events_read_back_in_order(self, world: World) -> None:
        from portalkit.actors import Staff as StaffActor

        p = world.portal
        membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
        helpdesk = StaffActor(
            vendor_id=world.vendor.id, user_id="h", permissions=frozenset({"impersonate"})
        )
        sessions = [p.access.view_as(helpdesk, membership, reason=f"r{n}") for n in range(3)]
        for session in sessions:
            p.access.end_view_as(session)
        events = p.audit.list(world.staff, customer=membership.customer_id)
        events = [e for e in events if e.action != "customer_created"]
        assert events[0].action == "membership_created"
        events = events[1:]
        assert [e.reason for e in events[:3]] == ["r0", "r1", "r2"]
        assert [e.action for e in events] == ["impersonation_start"] * 3 + ["impersonation_end"] * 3
        assert all(e.vendor_id == world.vendor.id for e in events)

    def test_outbox_claims_are_exclusive_and_leases_expire(self, world: World) -> None:
        from datetime import timedelta

        from portalkit.settings import PortalSettings

        p = world.portal
        p.settings = PortalSettings(mail_send_after_commit=False)
        queued = [
            p.mail.enqueue(world.staff, to=f"m{n}@customer.example", subject="s", text="t")
            for n in range(3)
        ]
        now = p.clock.now()
        with p.transaction() as uow:
            first = uow.claim_outbox(now, 2, now + timedelta(minutes=5))
        with p.transaction() as uow:
            second = uow.claim_outbox(now, 10, now + timedelta(minutes=5))
            again = uow.claim_outbox(now, 10, now + timedelta(minutes=5))
        assert [m.id for m in first] == [q.id for q in queued[:2]]  # oldest first
        assert [m.id for m in second] == [queued[2].id]
        assert again == []  # nothing is handed out twice
        later = now + timedelta(minutes=6)
        with p.transaction() as uow:
            reclaimed = uow.claim_outbox(later, 10, later + timedelta(minutes=5))
        assert sorted(m.id for m in reclaimed) == sorted(q.id for q in queued)

    def test_outbox_outcomes_are_recorded_unless_another_worker_took_over(
        self, world: World
    ) -> None:
        from datetime import timedelta

        import attrs

        from portalkit.outbox.model import OutboxStatus
        from portalkit.settings import PortalSettings

        p = world.portal
        p.settings = PortalSettings(mail_send_after_commit=False)
        for n in range(3):
            p.mail.enqueue(world.staff, to=f"m{n}@customer.example", subject="s", text="t")
        now = p.clock.now()
        lease = now + timedelta(minutes=5)
        with p.transaction() as uow:
            mine = uow.claim_outbox(now, 3, lease)
        assert [m.status for m in mine] == [OutboxStatus.SENDING] * 3
        later = now + timedelta(minutes=6)  # our lease ran out: another worker takes one
        with p.transaction() as uow:
            (theirs, *_) = uow.claim_outbox(later, 1, later + timedelta(minutes=5))
        outcomes = [
            attrs.evolve(
                m,
                status=OutboxStatus.SENT,
                claimed_until=None,
                sent_at=later,
                attempts=m.attempts + 1,
                version=m.version + 1,
            )
            for m in mine
        ]
        with p.transaction() as uow:
            recorded = uow.settle_outbox(outcomes)
        assert recorded == {m.id for m in mine} - {theirs.id}
        stored = {m.id: m for m in p.mail.list(world.staff)}
        assert stored[theirs.id].status is OutboxStatus.SENDING  # the other worker's state
        assert stored[theirs.id].claimed_until == later + timedelta(minutes=5)
        for m in mine:
            if m.id != theirs.id:
                assert stored[m.id].status is OutboxStatus.SENT
                assert stored[m.id].attempts == 1 and stored[m.id].sent_at == later
                assert stored[m.id].text == "t"  # a plain body is kept

    def test_jobs_are_claimed_once_leases_expire_and_deletes_are_conditional(
        self, world: World
    ) -> None:
        from datetime import timedelta
        from uuid import uuid4

        from portalkit.jobs.model import Job

        p = world.portal
        now = p.clock.now()
        jobs = [
            Job(
                id=uuid4(),
                vendor_id=world.vendor.id,
                kind="k",
                created_at=now,
                due_at=now + timedelta(seconds=n),
                payload=f"p{n}",
            )
            for n in range(3)
        ]
        with p.transaction() as uow:
            uow.jobs.add_many(jobs)
        lease = now + timedelta(minutes=5)
        with pytest.raises(RuntimeError), p.transaction() as uow:
            uow.claim_jobs(now + timedelta(seconds=2), 10, lease)
            raise RuntimeError("roll back")
        later = now + timedelta(seconds=1)
        with p.transaction() as uow:
            first = uow.claim_jobs(later, 10, lease)  # due so far: the first two
            again = uow.claim_jobs(later, 10, lease)
        assert [j.id for j in first] == [j.id for j in jobs[:2]]  # oldest due first
        assert again == []  # nothing is handed out twice
        assert all(j.due_at == lease and j.version == 2 for j in first)
        assert first[0].payload == "p0"
        with p.transaction() as uow:
            assert not uow.delete_job(world.vendor.id, first[0].id, 1)  # stale version
        other = World(p)
        with p.transaction() as uow:
            assert not uow.delete_job(other.vendor.id, first[0].id, 2)  # another vendor's
            assert uow.delete_job(world.vendor.id, first[0].id, 2)
            assert not uow.delete_job(world.vendor.id, first[0].id, 2)  # gone
        after = lease + timedelta(seconds=1)
        with p.transaction() as uow:
            reclaimed = uow.claim_jobs(after, 10, after + timedelta(minutes=5))
        # jobs[2] was due at +2 s, jobs[1] when its lease ran out: oldest due first
        assert [j.id for j in reclaimed] == [jobs[2].id, jobs[1].id]
        with p.transaction() as uow:
            assert uow.jobs.get(world.vendor.id, first[0].id) is None
            assert uow.jobs.get(other.vendor.id, jobs[1].id) is None

    def test_documents_read_back_stay_in_their_vendor_and_delete_conditionally(
        self, world: World, other: World
    ) -> None:
        from uuid import uuid4

        from portalkit.documents.model import Document

        p = world.portal
        customer = world.customer()
        site = world.location(customer)
        member = world.membership(customer)
        now = p.clock.now()
        document = Document(
            id=uuid4(),
            vendor_id=world.vendor.id,
            customer_id=customer.id,
            name="Keuringsrapport — Übersicht.pdf",
            content_type="application/pdf",
            size=1234,
            sha256="ab" * 32,
            asset_key="private/ab/" + "ab" * 16 + ".pdf",
            uploaded_by="staff:planner",
            created_at=now,
            location_id=site.id,
            restricted=True,
            members=frozenset({member.id, uuid4()}),
        )
        with p.transaction() as uow:
            uow.documents.add(document)
        with p.transaction() as uow:
            assert uow.documents.get(world.vendor.id, document.id) == document
            assert uow.documents.get(other.vendor.id, document.id) is None
            assert uow.documents.list(world.vendor.id, where={"customer_id": customer.id}) == [
                document
            ]
            assert uow.documents.list(other.vendor.id) == []
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.delete_document(world.vendor.id, document.id, 1)
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert not uow.delete_document(world.vendor.id, document.id, 2)  # stale version
            assert not uow.delete_document(other.vendor.id, document.id, 1)  # another vendor's
            assert uow.delete_document(world.vendor.id, document.id, 1)
            assert uow.documents.get(world.vendor.id, document.id) is None
            assert not uow.delete_document(world.vendor.id, document.id, 1)  # gone
        with p.transaction() as uow:
            assert uow.documents.get(world.vendor.id, document.id) is None

    def _token(self, world: World, purpose: Any, digest: str, **fields: Any) -> Any:
        from datetime import timedelta
        from uuid import uuid4

        from portalkit.tokens import Token

        now = world.portal.clock.now()
        return Token(
            id=uuid4(),
            vendor_id=fields.pop("vendor_id", world.vendor.id),
            purpose=purpose,
            digest=digest,
            email="a@customer.example",
            created_at=now,
            expires_at=now + timedelta(hours=1),
            **fields,
        )

    def test_a_token_is_consumed_once_only_by_its_own_purpose_and_vendor(
        self, world: World
    ) -> None:
        from datetime import timedelta

        from portalkit.tokens import TokenPurpose

        p = world.portal
        account = world.account()
        other = World(p, vendor_code="other")
        with p.transaction() as uow:
            uow.tokens.add(self._token(world, TokenPurpose.RESET, "d1", account_id=account.id))
            uow.tokens.add(self._token(world, TokenPurpose.RESET, "d2", account_id=account.id))
        now = p.clock.now()
        with p.transaction() as uow:
            assert uow.consume_token(world.vendor.id, TokenPurpose.INVITE, "d1", now) is None
            assert uow.consume_token(other.vendor.id, TokenPurpose.RESET, "d1", now) is None
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "zz", now) is None
            late = now + timedelta(hours=1)  # valid while now < expires_at
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "d2", late) is None
            used = uow.consume_token(world.vendor.id, TokenPurpose.RESET, "d1", now)
            assert used is not None and used.used_at == now and used.account_id == account.id
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "d1", now) is None

    def test_revoking_tokens_takes_only_the_outstanding_ones_asked_for(self, world: World) -> None:
        from portalkit.tokens import TokenPurpose

        p = world.portal
        mine, theirs = world.account(), world.account()
        now = p.clock.now()
        with p.transaction() as uow:
            for digest, purpose, owner in [
                ("r1", TokenPurpose.RESET, mine),
                ("i1", TokenPurpose.INVITE, mine),
                ("u1", TokenPurpose.RESET, mine),
                ("r2", TokenPurpose.RESET, theirs),
            ]:
                uow.tokens.add(self._token(world, purpose, digest, account_id=owner.id))
        with p.transaction() as uow:
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "u1", now) is not None
        with p.transaction() as uow:
            revoked = uow.revoke_tokens(
                world.vendor.id, now, account_id=mine.id, purposes=[TokenPurpose.RESET]
            )
        assert revoked == 1  # r1; u1 was used already; i1 is another purpose
        with p.transaction() as uow:
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "r1", now) is None
            assert uow.consume_token(world.vendor.id, TokenPurpose.RESET, "r2", now) is not None
            assert uow.revoke_tokens(world.vendor.id, now, account_id=mine.id) == 1  # i1

    def test_revoking_the_tokens_of_one_membership_leaves_the_accounts_others(
        self, world: World
    ) -> None:
        from portalkit.tokens import TokenPurpose

        p = world.portal
        account = world.account()
        here = world.membership(account=account)
        there = world.membership(account=account)
        now = p.clock.now()
        with p.transaction() as uow:
            for digest, membership in [("h1", here), ("t1", there), ("a1", None)]:
                uow.tokens.add(
                    self._token(
                        world,
                        TokenPurpose.INVITE,
                        digest,
                        account_id=account.id,
                        membership_id=membership.id if membership else None,
                    )
                )
        with p.transaction() as uow:
            assert uow.revoke_tokens(world.vendor.id, now, membership_id=here.id) == 1
        with p.transaction() as uow:
            assert uow.consume_token(world.vendor.id, TokenPurpose.INVITE, "h1", now) is None
            assert uow.consume_token(world.vendor.id, TokenPurpose.INVITE, "t1", now) is not None
            assert uow.consume_token(world.vendor.id, TokenPurpose.INVITE, "a1", now) is not None

    def test_access_tokens_read_back_update_and_stay_in_their_vendor(self, world: World) -> None:
        from datetime import timedelta

        from portalkit.accesstokens.model import AccessToken

        p = world.portal
        other = World(p, vendor_code="tokens-other")
        here, there = world.membership(), world.membership()
        now = p.clock.now()
        token = AccessToken(
            id=uuid4(),
            vendor_id=world.vendor.id,
            account_id=here.account_id,
            membership_id=here.id,
            customer_id=here.customer_id,
            name="ERP",
            capabilities=frozenset({"orders.view", "invoices.view"}),
            digest="d" * 64,
            stamps="s" * 64,
            created_at=now,
            expires_at=now + timedelta(days=30),
            created_by="staff:contract",
        )
        second = attrs.evolve(
            token, id=uuid4(), membership_id=there.id, account_id=there.account_id
        )
        with p.transaction() as uow:
            uow.access_tokens.add(token)
            uow.access_tokens.add(second)
        with p.transaction() as uow:
            assert uow.access_tokens.get(world.vendor.id, token.id) == token
            assert uow.access_tokens.get(other.vendor.id, token.id) is None
            found = uow.access_tokens.list(world.vendor.id, where={"membership_id": here.id})
            assert found == [token]
            assert uow.access_tokens.list(other.vendor.id) == []
            used = attrs.evolve(token, last_used_at=now, revoked_at=now, version=2)
            uow.access_tokens.update(used, 1)
        with p.transaction() as uow:
            assert uow.access_tokens.get(world.vendor.id, token.id) == used
            with pytest.raises(ConcurrentModification):
                uow.access_tokens.update(attrs.evolve(used, version=3), 1)

    def test_number_counters_count_per_vendor_and_scope_and_roll_back(self, world: World) -> None:
        p = world.portal
        other = World(p, vendor_code="counter-other")
        with p.transaction() as uow:
            assert [uow.next_number(world.vendor.id, "order/a") for _ in range(3)] == [1, 2, 3]
            assert uow.next_number(world.vendor.id, "order/b") == 1
            assert uow.next_number(other.vendor.id, "order/a") == 1
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.next_number(world.vendor.id, "order/a") == 4
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert uow.next_number(world.vendor.id, "order/a") == 4  # the rollback took it back

    def test_throttle_counts_per_key_restart_after_the_window_and_roll_back(
        self, world: World
    ) -> None:
        from datetime import timedelta

        p = world.portal
        now = p.clock.now()
        window = timedelta(minutes=15)
        with p.transaction() as uow:
            assert [uow.throttle_hit("a", now, now - window) for _ in range(3)] == [1, 2, 3]
            assert uow.throttle_hit("b", now, now - window) == 1
        with p.transaction() as uow:
            assert uow.throttle_count(["a", "b", "c"], now - window) == 3
            assert uow.throttle_count(["c"], now - window) == 0
        with pytest.raises(RuntimeError), p.transaction() as uow:
            uow.throttle_hit("a", now, now - window)
            raise RuntimeError("roll back")
        later = now + window
        with p.transaction() as uow:
            assert uow.throttle_count(["a"], now - window) == 3  # the rollback took it back
            assert uow.throttle_count(["a"], later - window) == 0  # the window has ended
            assert uow.throttle_hit("a", later, later - window) == 1  # a new window
            uow.throttle_clear(["a", "b"])
            assert uow.throttle_count(["a", "b"], now - window) == 0

    def test_throttle_strikes_count_lock_windows_restart_when_old_and_roll_back(
        self, world: World
    ) -> None:
        from datetime import timedelta

        p = world.portal
        now = p.clock.now()
        day = timedelta(days=1)
        with p.transaction() as uow:
            assert uow.throttle_get("s") is None
            assert uow.throttle_strike("s", now, now - day) == 1
            assert uow.throttle_strike("s", now + day / 2, now - day) == 2
            assert uow.throttle_get("s") == (2, now + day / 2)  # the newest lock's start
        with pytest.raises(RuntimeError), p.transaction() as uow:
            uow.throttle_strike("s", now, now - day)
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert uow.throttle_get("s") == (2, now + day / 2)  # the rollback took it back
            later = now + 3 * day
            assert uow.throttle_strike("s", later, later - day) == 1  # forgotten: anew
            uow.throttle_clear(["s"])
            assert uow.throttle_get("s") is None

    def test_a_read_only_transaction_reads_and_refuses_every_write(self, world: World) -> None:
        p = world.portal
        customer = world.customer()
        with p.transaction(read_only=True) as uow:
            assert uow.customers.get(world.vendor.id, customer.id) == customer
        changed = attrs.evolve(customer, name="Changed", version=customer.version + 1)
        with pytest.raises(PortalError, match="read-only"), p.transaction(read_only=True) as uow:
            uow.customers.update(changed, customer.version)
        with pytest.raises(PortalError, match="read-only"), p.transaction(read_only=True) as uow:
            uow.throttle_hit("k", p.clock.now(), p.clock.now())
        with pytest.raises(PortalError, match="read-only"), p.transaction(read_only=True):
            world.customer()  # a service's write inside it is refused too
        assert p.customers.get(world.staff, customer.id).name == customer.name

    def test_an_umbrella_members_reach_follows_moves_and_rollbacks(self, world: World) -> None:
        p = world.portal
        umbrella, other = world.customer(), world.customer()
        child = world.customer(parent=umbrella)
        profile = world.profile(capabilities={"orders.view"}, scopes={"orders": "tree"})
        member = world.member(world.membership(customer=umbrella, profile=profile))
        assert child.id in p.access.context(member).reach("orders")
        p.customers.update(world.staff, child.id, parent=other)
        assert child.id not in p.access.context(member).reach("orders")
        with pytest.raises(RuntimeError), p.transaction():
            p.customers.update(world.staff, child.id, parent=umbrella)
            assert child.id in p.access.context(member).reach("orders")  # seen inside
            raise RuntimeError("roll back")
        assert child.id not in p.access.context(member).reach("orders")
        late = world.customer(parent=umbrella)
        assert late.id in p.access.context(member).reach("orders")

    # -- the vendor inbox -------------------------------------------------------------------
    def _items(self, world: World, count: int, **fields: Any) -> list[Any]:
        from datetime import timedelta

        from portalkit.inbox.model import InboxItem

        clock = cast("FixedClock", world.portal.clock)
        made = []
        with world.portal.transaction() as uow:
            for n in range(count):
                now = clock.now() + timedelta(seconds=n)
                item = InboxItem(
                    id=uuid4(),
                    vendor_id=world.vendor.id,
                    kind=fields.get("kind", ("order", "ticket")[n % 2]),
                    reference=uuid4(),
                    title=f"Item {n}",
                    created_at=now,
                    updated_at=now,
                    **{k: v for k, v in fields.items() if k != "kind"},
                )
                uow.inbox_items.add(item)
                made.append(item)
        return made

    def test_recent_pages_newest_first_with_equal_and_among_filters(
        self, world: World, other: World
    ) -> None:
        from portalkit.inbox.model import InboxStatus

        items = self._items(world, 7)
        self._items(other, 2)
        newest = sorted(items, key=lambda i: (i.created_at, i.id), reverse=True)
        with world.portal.transaction(read_only=True) as uow:
            page = uow.recent("inbox_items", world.vendor.id, limit=3, offset=1)
            assert page == newest[1:4]
            tickets = uow.recent("inbox_items", world.vendor.id, where={"kind": "ticket"}, limit=50)
            assert tickets == [i for i in newest if i.kind == "ticket"]
            both = uow.recent(
                "inbox_items",
                world.vendor.id,
                among={"kind": ["order", "ticket"], "status": [InboxStatus.NEW]},
                limit=50,
            )
            assert both == newest
            assert uow.recent("inbox_items", world.vendor.id, among={"kind": []}, limit=5) == []
            nobody = uow.recent(
                "inbox_items", world.vendor.id, where={"customer_id": None}, limit=2
            )
            assert nobody == newest[:2]
            with pytest.raises(PortalError):
                uow.recent("accounts", world.vendor.id, limit=5)

    def test_an_inbox_reference_is_unique_per_kind_and_vendor(self, world: World) -> None:
        (item,) = self._items(world, 1, kind="order")
        twin = attrs.evolve(item, id=uuid4())
        with pytest.raises(Conflict), world.portal.transaction() as uow:
            uow.inbox_items.add(twin)
        with world.portal.transaction() as uow:
            uow.inbox_items.add(attrs.evolve(twin, kind="ticket"))
            found = uow.inbox_items.get_by(world.vendor.id, "reference", (item.reference, "order"))
            assert found == item

    def test_inbox_events_are_claimed_first_of_their_item_once_and_in_order(
        self, world: World
    ) -> None:
        from datetime import timedelta

        from portalkit.inbox.model import EventType, InboxEvent

        first, second = self._items(world, 2)
        now = world.portal.clock.now()

        def event(item: Any, sequence: int) -> InboxEvent:
            return InboxEvent(
                id=uuid4(),
                vendor_id=world.vendor.id,
                item_id=item.id,
                sequence=sequence,
                type=EventType.CHANGED,
                payload={"n": sequence},
                created_at=now,
                next_attempt_at=now + timedelta(seconds=sequence),
            )

        events = [event(first, 1), event(first, 2), event(second, 1)]
        with world.portal.transaction() as uow:
            uow.inbox_events.add_many(events)
        later = now + timedelta(minutes=1)
        lease = later + timedelta(minutes=5)
        with world.portal.transaction() as uow:
            claimed = uow.claim_inbox_events(later, 10, lease)
        # The heads of both items, not the second event of the first.
        assert {(e.item_id, e.sequence) for e in claimed} == {(first.id, 1), (second.id, 1)}
        assert all(e.claimed_until == lease and e.version == 2 for e in claimed)
        with world.portal.transaction() as uow:
            assert uow.claim_inbox_events(later, 10, lease) == []  # leased
        head = next(e for e in claimed if e.item_id == first.id)
        with world.portal.transaction() as uow:
            uow.inbox_events.update(
                attrs.evolve(head, delivered_at=later, claimed_until=None, version=3), 2
            )
        with world.portal.transaction() as uow:
            (following,) = uow.claim_inbox_events(later, 10, lease)
        assert (following.item_id, following.sequence) == (first.id, 2)
        # A lease that ran out makes the event due again.
        with world.portal.transaction() as uow:
            again = uow.claim_inbox_events(
                lease + timedelta(seconds=1), 10, lease + timedelta(minutes=9)
            )
        assert {(e.item_id, e.sequence) for e in again} == {(first.id, 2), (second.id, 1)}
        with pytest.raises(Conflict), world.portal.transaction() as uow:
            uow.inbox_events.add(attrs.evolve(events[0], id=uuid4()))

    # -- the shop's catalogue and prices ---------------------------------------------------
    def _catalogue(self, world: World) -> dict[str, Any]:
        p, staff = world.portal, world.staff
        toner = p.catalogue.create_category(staff, name="Toner")
        black = p.catalogue.create_category(staff, name="Black", parent=toner)
        paper = p.catalogue.create_category(staff, name="Paper")
        made = {
            "toner": toner,
            "black": black,
            "paper": paper,
            "tn": p.catalogue.create_item(
                staff,
                sku="TN-2420",
                name="Toner Schwarz",
                description="Größe XL, 3000 Seiten",
                list_price=Decimal("49.9000"),
                currency="EUR",
                category=black,
                attributes={"page_yield": 3000, "colour": "black", "original": True},
            ),
            "dr": p.catalogue.create_item(
                staff,
                sku="dr-2400",
                name="Drum kit",
                list_price=Decimal("120"),
                currency="EUR",
                category=toner,
            ),
            "a4": p.catalogue.create_item(
                staff,
                sku="A4_100",
                name="Paper A4 (100% recycled)",
                list_price=Decimal("0.0450"),
                currency="EUR",
                category=paper,
            ),
            "old": p.catalogue.create_item(
                staff,
                sku="TN-1000",
                name="Old toner",
                list_price=Decimal("10"),
                currency="JPY",
                category=black,
                active=False,
            ),
        }
        return made

    def _skus(self, world: World, **query: Any) -> list[str]:
        from portalkit.catalogue.model import ItemQuery

        limit = query.pop("limit", 100)
        offset = query.pop("offset", 0)
        with world.portal.transaction(read_only=True) as uow:
            found = uow.search_items(
                world.vendor.id, ItemQuery(**query), limit=limit, offset=offset
            )
        return [item.sku for item in found]

    def test_catalogue_items_read_back_exactly(self, world: World) -> None:
        made = self._catalogue(world)
        with world.portal.transaction(read_only=True) as uow:
            tn = uow.catalogue_items.get(world.vendor.id, made["tn"].id)
            a4 = uow.catalogue_items.get_by(world.vendor.id, "sku", "a4_100")
        assert tn == made["tn"]
        assert tn is not None and str(tn.list_price) == "49.9000"
        assert dict(tn.attributes) == {"page_yield": 3000, "colour": "black", "original": True}
        assert a4 is not None and a4.list_price == Decimal("0.0450")

    def test_skus_are_unique_per_vendor_ignoring_case(self, world: World, other: World) -> None:
        self._catalogue(world)
        with pytest.raises(Conflict) as caught:
            world.portal.catalogue.create_item(
                world.staff, sku="tn-2420", name="Copy", list_price=1, currency="EUR"
            )
        assert caught.value.field == "sku"
        other.portal.catalogue.create_item(
            other.staff, sku="TN-2420", name="Theirs", list_price=1, currency="EUR"
        )

    def test_catalogue_search_by_text_sku_and_category_sorted_and_paged(
        self, world: World, other: World
    ) -> None:
        made = self._catalogue(world)
        other.portal.catalogue.create_item(
            other.staff, sku="TN-9", name="Toner of another vendor", list_price=1, currency="EUR"
        )
        assert self._skus(world) == ["A4_100", "dr-2400", "TN-1000", "TN-2420"]
        assert self._skus(world, text="TONER") == ["TN-1000", "TN-2420"]
        assert self._skus(world, text="grösse") == ["TN-2420"]  # in the description, folded
        # LIKE's wildcards in the text are only themselves.
        assert self._skus(world, text="0%") == ["A4_100"]
        assert self._skus(world, text="r_a") == []
        assert self._skus(world, text="_") == ["A4_100"]
        assert self._skus(world, sku="tn-2420") == ["TN-2420"]
        assert self._skus(world, sku="tn-24") == []
        assert self._skus(world, active_only=True) == ["A4_100", "dr-2400", "TN-2420"]
        black = made["black"].id
        assert self._skus(world, categories=frozenset({black})) == ["TN-1000", "TN-2420"]
        assert self._skus(world, ids=frozenset({made["dr"].id, made["a4"].id})) == [
            "A4_100",
            "dr-2400",
        ]
        assert self._skus(world, limit=2, offset=1) == ["dr-2400", "TN-1000"]
        assert self._skus(world, offset=10) == []

    def test_catalogue_search_applies_an_assortment(self, world: World) -> None:
        made = self._catalogue(world)
        paper, dr, tn = made["paper"].id, made["dr"].id, made["tn"].id
        assert self._skus(
            world, allowed_categories=frozenset({paper}), allowed_ids=frozenset({dr})
        ) == ["A4_100", "dr-2400"]
        assert self._skus(world, allowed_categories=frozenset(), allowed_ids=frozenset()) == []
        assert self._skus(world, allowed_ids=frozenset({tn})) == ["TN-2420"]
        assert self._skus(
            world, allowed_categories=frozenset({made["black"].id}), excluded=frozenset({tn})
        ) == ["TN-1000"]
        assert self._skus(world, excluded=frozenset({tn, dr}), text="e") == ["A4_100", "TN-1000"]

    def test_price_rules_for_reads_only_the_moment_and_tiers_asked(self, world: World) -> None:
        from datetime import timedelta

        p, staff = world.portal, world.staff
        made = self._catalogue(world)
        now = p.clock.now()
        day = timedelta(days=1)
        mine = p.pricing.create_list(staff, name="Mine", currency="EUR")
        rules: dict[str, dict[str, Any]] = {
            "always": {},
            "tier": {"min_quantity": 10},
            "started": {"valid_from": now - day},
            "starts_now": {"valid_from": now},
            "future": {"valid_from": now + day},
            "ends_now": {"valid_until": now},
            "ended": {"valid_until": now - day},
            "running": {"valid_from": now - day, "valid_until": now + day},
        }
        ids = {
            name: p.pricing.add_rule(
                staff, mine, item=made["tn"], kind="fixed", value="9", **fields
            ).id
            for name, fields in rules.items()
        }
        by_cat = p.pricing.add_rule(
            staff, mine, category=made["toner"], kind="fixed", value="8", min_quantity=5
        )

        def read(**limits: Any) -> set[UUID]:
            with p.transaction(read_only=True) as uow:
                found = uow.price_rules_for(
                    world.vendor.id,
                    [mine.id],
                    item_ids=[made["tn"].id],
                    category_ids=[made["toner"].id],
                    **limits,
                )
            return {r.id for r in found}

        every = set(ids.values()) | {by_cat.id}
        assert read() == every
        assert read(valid_at=None, up_to=None) == every
        valid = {ids[n] for n in ("always", "tier", "started", "starts_now", "running")}
        assert read(valid_at=now) == valid | {by_cat.id}
        assert read(up_to=1) == every - {ids["tier"], by_cat.id}
        assert read(up_to=5) == every - {ids["tier"]}
        assert read(valid_at=now, up_to=9) == valid - {ids["tier"]} | {by_cat.id}
        later = {"always", "tier", "started", "starts_now", "future"}
        assert read(valid_at=now + 2 * day, up_to=10) == {ids[n] for n in later} | {by_cat.id}

    def test_price_rules_are_read_for_a_page_and_deleted_in_their_transaction(
        self, world: World, other: World
    ) -> None:
        p, staff = world.portal, world.staff
        made = self._catalogue(world)
        mine = p.pricing.create_list(staff, name="Mine", currency="EUR")
        second = p.pricing.create_list(staff, name="Second", currency="EUR")
        by_item = p.pricing.add_rule(staff, mine, item=made["tn"], kind="fixed", value="39.9")
        by_cat = p.pricing.add_rule(
            staff, mine, category=made["toner"], kind="percent", value="-2.5", min_quantity=3
        )
        p.pricing.add_rule(staff, mine, item=made["dr"], kind="fixed", value="100")
        p.pricing.add_rule(staff, second, item=made["tn"], kind="fixed", value="1")
        theirs = other.portal.pricing.create_list(other.staff, name="Theirs", currency="EUR")
        with p.transaction(read_only=True) as uow:
            found = uow.price_rules_for(
                world.vendor.id,
                [mine.id, theirs.id],
                item_ids=[made["tn"].id],
                category_ids=[made["toner"].id, made["black"].id],
            )
            none = uow.price_rules_for(
                world.vendor.id, [], item_ids=[made["tn"].id], category_ids=[]
            )
        assert {r.id for r in found} == {by_item.id, by_cat.id}
        assert none == []
        assert {r.id: r for r in found}[by_cat.id] == by_cat
        assert by_cat.value == Decimal("-2.5")
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.delete_price_rule(world.vendor.id, by_item.id)
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert not uow.delete_price_rule(other.vendor.id, by_item.id)
            assert uow.delete_price_rule(world.vendor.id, by_item.id)
            assert not uow.delete_price_rule(world.vendor.id, by_item.id)
        assert [r.id for r in p.pricing.rules(staff, mine)] == [
            r.id for r in p.pricing.rules(staff, mine) if r.id != by_item.id
        ]
        assert by_item.id not in {r.id for r in p.pricing.rules(staff, mine)}

    def test_shop_records_read_back_and_keep_their_unique_keys(self, world: World) -> None:
        p, staff = world.portal, world.staff
        made = self._catalogue(world)
        acme = world.customer()
        site = world.location(acme)
        group = p.groups.create(staff, name="Resellers", customers=[acme])
        with pytest.raises(Conflict):
            p.groups.create(staff, name="RESELLERS")
        assortment = p.assortments.set(
            staff, acme, mode="selected", categories=[made["toner"]], excluded=[made["dr"]]
        )
        model = p.devices.create_model(staff, name="HL-L2350DW", accessories=[made["tn"]])
        device = p.devices.add(staff, customer=acme, model=model, serial="E78", location=site)
        with pytest.raises(Conflict):
            p.devices.add(staff, customer=acme, model=model, serial="e78")
        with p.transaction(read_only=True) as uow:
            vid = world.vendor.id
            assert uow.customer_groups.get(vid, group.id) == group
            assert uow.assortments.get_by(vid, "customer", acme.id) == assortment
            assert uow.device_models.get(vid, model.id) == model
            assert uow.devices.get(vid, device.id) == device

    # -- retention and erasure ------------------------------------------------------------
    def test_the_audit_log_refuses_every_change_and_delete(self, world: World) -> None:
        from portalkit.storage.base import APPEND_ONLY

        p = world.portal
        world.customer()
        event = p.audit.list(world.staff)[0]
        changed = attrs.evolve(event, action="nothing_happened", reason="forged")
        with pytest.raises(PortalError, match="append-only"), p.transaction() as uow:
            uow.audit.update(changed, 1)
        with pytest.raises(PortalError, match="append-only"), p.transaction() as uow:
            uow.erase(world.vendor.id, "audit_events", [event.id])
        with pytest.raises(PortalError, match="not erased"), p.transaction() as uow:
            uow.erase(world.vendor.id, "customers", [event.customer_id or uuid4()])
        with pytest.raises(PortalError, match="pseudonym"), p.transaction() as uow:
            uow.pseudonymise_audit(world.vendor.id, [event.id], {"customer": "forged"})
        # An add with a stored id replaces nothing, committed or rolled back.
        with pytest.raises(Conflict), p.transaction() as uow:
            uow.audit.add(changed)
        assert p.audit.list(world.staff)[0] == event
        assert "append-only" in APPEND_ONLY

    def test_pruning_takes_only_dead_links_old_counters_and_old_delivered_bodies(
        self, world: World
    ) -> None:
        from datetime import timedelta

        from portalkit.outbox.model import OutboxMessage, OutboxStatus
        from portalkit.tokens import TokenPurpose

        p = world.portal
        other = World(p, vendor_code="prune-other")
        now = p.clock.now()
        old, recent = now - timedelta(days=40), now - timedelta(days=2)
        cutoff = now - timedelta(days=30)
        reset = TokenPurpose.RESET
        with p.transaction() as uow:
            uow.tokens.add(self._token(world, reset, "live"))
            uow.tokens.add(self._token(world, reset, "used-old", used_at=old))
            uow.tokens.add(self._token(world, reset, "used-new", used_at=recent))
            uow.tokens.add(self._token(world, reset, "revoked-old", revoked_at=old))
            expired = self._token(world, reset, "expired-old")
            uow.tokens.add(attrs.evolve(expired, created_at=old, expires_at=old))
            theirs = self._token(other, reset, "theirs", used_at=old, vendor_id=other.vendor.id)
            uow.tokens.add(theirs)
            uow.throttle_hit("old", old, old - timedelta(minutes=15))
            uow.throttle_hit("new", now, now - timedelta(minutes=15))
            for n, (status, created) in enumerate(
                [
                    (OutboxStatus.SENT, old),
                    (OutboxStatus.DEAD, old),
                    (OutboxStatus.PENDING, old),
                    (OutboxStatus.SENT, recent),
                ]
            ):
                uow.outbox.add(
                    OutboxMessage(
                        id=uuid4(),
                        vendor_id=world.vendor.id,
                        created_at=created,
                        message_id=f"<m{n}-{uuid4()}@portal.example>",
                        to=f"m{n}@customer.example",
                        subject=f"s{n}",
                        next_attempt_at=created,
                        text="body",
                        html="<p>body</p>",
                        status=status,
                    )
                )
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.prune_tokens(world.vendor.id, cutoff) == 3
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert uow.prune_tokens(world.vendor.id, cutoff) == 3
            assert uow.prune_throttles(now - timedelta(days=1)) == 1
            assert uow.purge_outbox(world.vendor.id, cutoff) == 2
        with p.transaction(read_only=True) as uow:
            left = {t.digest for t in uow.tokens.list(world.vendor.id)}
            assert left == {"live", "used-new"}
            assert [t.digest for t in uow.tokens.list(other.vendor.id)] == ["theirs"]
            assert uow.throttle_count(["old"], old - timedelta(minutes=15)) == 0
            assert uow.throttle_count(["new"], now - timedelta(minutes=15)) == 1
            bodies = {
                m.subject: (m.status, m.text, m.html) for m in uow.outbox.list(world.vendor.id)
            }
        assert bodies == {
            "s0": (OutboxStatus.SENT, "", ""),
            "s1": (OutboxStatus.DEAD, "", ""),
            "s2": (OutboxStatus.PENDING, "body", "<p>body</p>"),
            "s3": (OutboxStatus.SENT, "body", "<p>body</p>"),
        }
        with p.transaction() as uow:
            assert uow.prune_tokens(world.vendor.id, cutoff) == 0
            assert uow.purge_outbox(world.vendor.id, cutoff) == 0

    def test_erasing_deletes_only_the_vendors_records_and_rolls_back(
        self, world: World, other: World
    ) -> None:
        p = world.portal
        membership = world.membership()
        theirs = other.membership()
        vid = world.vendor.id
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.erase(vid, "memberships", [membership.id]) == 1
            raise RuntimeError("roll back")
        assert p.memberships.get(world.staff, membership.id) == membership
        with p.transaction() as uow:
            assert uow.erase(vid, "memberships", [theirs.id]) == 0
            assert uow.erase(vid, "memberships", [membership.id, membership.id]) == 1
            assert uow.erase(vid, "contacts", [membership.contact_id]) == 1
            assert uow.erase(vid, "accounts", [membership.account_id]) == 1
        with p.transaction(read_only=True) as uow:
            assert uow.memberships.get(vid, membership.id) is None
            assert uow.contacts.get(vid, membership.contact_id) is None
            assert uow.accounts.get(vid, membership.account_id) is None
            assert uow.memberships.get(other.vendor.id, theirs.id) == theirs
        # The erased account's username and address are free again, as its membership's key.
        account = p.accounts.get(other.staff, theirs.account_id)
        again = world.account(username=account.username, email=account.email)
        assert again.username == account.username

    def test_pseudonymising_rewrites_only_the_text_of_the_events_named(
        self, world: World, other: World
    ) -> None:
        p = world.portal
        pseudonym = "erased-0123456789abcdef"
        customer = world.customer()
        account = world.account(username="zora.q", email="zora@customer.example")
        other.account(username="zora.q", email="zora@customer.example")
        from portalkit.audit.model import AuditEvent

        event = AuditEvent(
            id=uuid4(),
            vendor_id=world.vendor.id,
            at=p.clock.now(),
            action="note",
            outcome="success",
            real_actor="staff:s1",
            customer_id=customer.id,
            target=f"account:{account.id}",
            reason="Zora asked; ZORA@customer.example confirmed",
            details={"nested": {"who": ["zora.q", 3], "zorah": "Zoraida"}},
        )
        with p.transaction() as uow:
            uow.audit.add(event)
        before = p.audit.list(world.staff)
        theirs = p.audit.list(other.staff)
        needles = {"zora@customer.example": pseudonym, "Zora": pseudonym, "zora.q": pseudonym}
        with pytest.raises(RuntimeError), p.transaction() as uow:
            uow.pseudonymise_audit(world.vendor.id, [event.id], needles)
            raise RuntimeError("roll back")
        assert p.audit.list(world.staff) == before
        with p.transaction() as uow:
            assert uow.pseudonymise_audit(other.vendor.id, [event.id], needles) == 0
            assert uow.pseudonymise_audit(world.vendor.id, [event.id], needles) == 1
        after = p.audit.list(world.staff)
        assert [(e.id, e.at, e.action, e.outcome, e.customer_id) for e in after] == [
            (e.id, e.at, e.action, e.outcome, e.customer_id) for e in before
        ]
        rewritten = next(e for e in after if e.id == event.id)
        assert rewritten.reason == f"{pseudonym} asked; {pseudonym} confirmed"
        assert rewritten.details == {"nested": {"who": [pseudonym, 3], "zorah": "Zoraida"}}
        assert rewritten.target == event.target  # the id was not asked for
        assert [e for e in after if e.id != event.id] == [e for e in before if e.id != event.id]
        assert p.audit.list(other.staff) == theirs

    def test_look_ups_of_many_values_answer_as_one_look_up_each(
        self, world: World, other: World
    ) -> None:
        p, vendor_id = world.portal, world.vendor.id
        alice = world.account(username="Alice", email="alice@example.com")
        bob = world.account(username="bob", email="bob@example.com")
        other.account(username="carol", email="carol@example.com")
        acme, beta = world.customer(code="ACME"), world.customer(code="BETA")
        clock = p.clock
        assert isinstance(clock, FixedClock)
        second = world.contact(beta, email="kim@beta.example")
        clock.advance(seconds=1)
        first = world.contact(acme, email="kim@acme.example")
        theirs = other.contact(email="kim@other.example")
        with p.transaction(read_only=True) as uow:
            asked = ["ALICE@example.COM", "alice@example.com", "carol@example.com", "x@y.z"]
            assert uow.accounts.get_many_by(vendor_id, "email", asked) == {
                "ALICE@example.COM": alice,
                "alice@example.com": alice,
            }
            assert uow.accounts.get_many_by(vendor_id, "username", ["BOB", "carol"]) == {"BOB": bob}
            assert uow.accounts.get_many_by(vendor_id, "username", []) == {}
            for value in (*asked, "BOB", "carol"):  # the same as one get_by each
                key = "email" if "@" in value else "username"
                assert uow.accounts.get_by(vendor_id, key, value) == (
                    uow.accounts.get_many_by(vendor_id, key, [value]).get(value)
                )
            ids = [beta.id, acme.id, theirs.customer_id, None]
            assert uow.contacts.list_in(vendor_id, "customer_id", ids) == [second, first]
            assert uow.contacts.list_in(vendor_id, "email", ["kim@beta.example"]) == [second]
            assert uow.contacts.list_in(vendor_id, "customer_id", []) == []
        # Records added in the transaction and not yet written are found as well.
        with pytest.raises(RuntimeError), p.transaction() as uow:
            dave = p.accounts.create(world.staff, username="dave", email="dave@example.com")
            found = uow.accounts.get_many_by(vendor_id, "email", ["DAVE@example.com"])
            assert found == {"DAVE@example.com": dave}
            clock.advance(seconds=1)
            third = p.contacts.create(
                world.staff, customer=acme, first_name="Jo", last_name="Dee", email="jo@a.example"
            )
            assert uow.contacts.list_in(vendor_id, "customer_id", [acme.id]) == [first, third]
            raise RuntimeError("roll back")

    def test_sso_domains_are_one_customers_and_a_sign_in_is_spent_once(
        self, world: World, other: World
    ) -> None:
        from datetime import timedelta

        from portalkit.sso.model import SsoAttempt, SsoConfig, SsoDomain

        p = world.portal
        vendor_id = world.vendor.id
        acme, beta = world.customer(), world.customer()
        now = p.clock.now()
        config = SsoConfig(
            uuid4(), vendor_id, acme.id, now, "https://idp.example", "client", "sealed",
            ("acme.example",), True, None, True, None, True,
        )  # fmt: skip
        with p.transaction() as uow:
            uow.sso_configs.add(config)
            uow.sso_domains.add(SsoDomain(uuid4(), vendor_id, acme.id, "acme.example", now))
        with pytest.raises(Conflict) as caught, p.transaction() as uow:
            uow.sso_domains.add(SsoDomain(uuid4(), vendor_id, beta.id, "acme.example", now))
        assert caught.value.field == "domain"
        with pytest.raises(Conflict), p.transaction() as uow:
            uow.sso_configs.add(attrs.evolve(config, id=uuid4()))
        # Another vendor's customer may use the same domain in its own portal.
        theirs = other.customer()
        with p.transaction() as uow:
            uow.sso_domains.add(SsoDomain(uuid4(), other.vendor.id, theirs.id, "acme.example", now))
        attempt = SsoAttempt(
            uuid4(), vendor_id, acme.id, "d" * 64, "sealed", "https://h.example/back", now,
            now + timedelta(minutes=10),
        )  # fmt: skip
        with p.transaction() as uow:
            uow.sso_attempts.add(attempt)
        with p.transaction(read_only=True) as uow:
            assert uow.sso_configs.get_by(vendor_id, "customer_id", acme.id) == config
            assert uow.sso_configs.list_in(vendor_id, "customer_id", [acme.id, beta.id]) == [config]
            assert uow.sso_domains.get_by(vendor_id, "domain", "acme.example").customer_id == (  # type: ignore[union-attr]
                acme.id
            )
            found = uow.sso_attempts.get_by(vendor_id, "digest", "d" * 64)
            assert found == attempt
            assert uow.sso_attempts.get_by(other.vendor.id, "digest", "d" * 64) is None
        spent = attrs.evolve(attempt, used_at=now, version=2)
        with p.transaction() as uow:
            uow.sso_attempts.update(spent, 1)
        with pytest.raises(ConcurrentModification), p.transaction() as uow:
            uow.sso_attempts.update(attrs.evolve(spent, version=3), 1)  # a second spender
        # Pruning takes the vendor's expired sign-ins only, and a rollback keeps them.
        theirs_attempt = attrs.evolve(attempt, id=uuid4(), vendor_id=other.vendor.id)
        with p.transaction() as uow:
            uow.sso_attempts.add(theirs_attempt)
        with pytest.raises(RuntimeError), p.transaction() as uow:
            assert uow.prune_sso_attempts(vendor_id, attempt.expires_at + timedelta(seconds=1))
            raise RuntimeError("roll back")
        with p.transaction() as uow:
            assert uow.prune_sso_attempts(vendor_id, attempt.expires_at) == 0  # not yet expired
            assert uow.prune_sso_attempts(vendor_id, attempt.expires_at + timedelta(seconds=1)) == 1
        with p.transaction(read_only=True) as uow:
            assert uow.sso_attempts.get_by(vendor_id, "digest", "d" * 64) is None
            assert uow.sso_attempts.list(other.vendor.id) == [theirs_attempt]

    def test_passkeys_read_back_with_credential_ids_unique_per_vendor(
        self, world: World, other: World
    ) -> None:
        from portalkit.passkeys.model import Passkey

        p = world.portal
        clock = cast(FixedClock, p.clock)
        mine, theirs = world.account(), other.account()

        def passkey(owner: World, account: UUID, credential: str, **fields: Any) -> Passkey:
            clock.advance(seconds=1)
            return Passkey(
                id=uuid4(),
                vendor_id=owner.vendor.id,
                account_id=account,
                created_at=p.clock.now(),
                credential_id=credential,
                public_key="pQECAyYgASFYIA",
                user_handle="aGFuZGxl",
                name="Work laptop",
                **fields,
            )

        first = passkey(world, mine.id, "Y3JlZC0x", transports=("hybrid", "internal"))
        second = passkey(world, mine.id, "Y3JlZC0y", sign_count=2**32 - 1, backed_up=True)
        same_id_elsewhere = passkey(other, theirs.id, "Y3JlZC0x")
        with p.transaction() as uow:
            uow.passkeys.add(first)
            uow.passkeys.add(second)
            uow.passkeys.add(same_id_elsewhere)
        with pytest.raises(Conflict), p.transaction() as uow:
            uow.passkeys.add(passkey(world, mine.id, "Y3JlZC0x"))
        with p.transaction() as uow:
            assert uow.passkeys.get_by(world.vendor.id, "credential_id", "Y3JlZC0x") == first
            assert uow.passkeys.get_by(world.vendor.id, "credential_id", "y3jlzc0x") is None
            assert uow.passkeys.get(other.vendor.id, first.id) is None
            assert uow.passkeys.list(world.vendor.id, where={"account_id": mine.id}) == [
                first,
                second,
            ]
            used = attrs.evolve(second, sign_count=2**32, last_used_at=p.clock.now(), version=2)
            uow.passkeys.update(used, 1)
        with p.transaction(read_only=True) as uow:
            assert uow.passkeys.get(world.vendor.id, second.id) == used
            assert uow.passkeys.get(other.vendor.id, same_id_elsewhere.id) == same_id_elsewhere

    def test_a_second_factor_rule_is_one_per_vendor_and_reads_back(
        self, world: World, other: World
    ) -> None:
        from portalkit.secondfactor.model import SecondFactorRule

        p = world.portal
        profile = world.profile(capabilities={"orders.view"})

        def rule(owner: World, **fields: Any) -> SecondFactorRule:
            return SecondFactorRule(
                id=uuid4(), vendor_id=owner.vendor.id, created_at=p.clock.now(), **fields
            )

        mine = rule(world, capabilities=frozenset({"members.manage", "prices.view"}))
        theirs = rule(other, profile_ids=frozenset({profile.id}))
        with p.transaction() as uow:
            uow.second_factor_rules.add(mine)
            uow.second_factor_rules.add(theirs)
        with pytest.raises(Conflict), p.transaction() as uow:
            uow.second_factor_rules.add(rule(world))
        with p.transaction() as uow:
            assert uow.second_factor_rules.get_by(world.vendor.id, "vendor", None) == mine
            assert uow.second_factor_rules.get(other.vendor.id, mine.id) is None
            wider = attrs.evolve(mine, profile_ids=frozenset({profile.id}), version=2)
            uow.second_factor_rules.update(wider, 1)
        with pytest.raises(ConcurrentModification), p.transaction() as uow:
            uow.second_factor_rules.update(attrs.evolve(wider, version=3), 1)
        with p.transaction(read_only=True) as uow:
            assert uow.second_factor_rules.get_by(world.vendor.id, "vendor", None) == wider
            assert uow.second_factor_rules.get_by(other.vendor.id, "vendor", None) == theirs

    def test_sessions_read_back_per_vendor_and_prune_only_the_dead(
        self, world: World, other: World
    ) -> None:
        from datetime import timedelta

        from portalkit.sessions.model import SessionRecord

        p = world.portal
        clock = cast(FixedClock, p.clock)
        mine = world.membership()
        theirs = other.membership()

        def session(owner: World, membership: Any, **fields: Any) -> SessionRecord:
            clock.advance(seconds=1)
            now = p.clock.now()
            fields.setdefault("last_seen_at", now)
            fields.setdefault("client_key", "203.0.113.7")
            return SessionRecord(
                id=uuid4(),
                vendor_id=owner.vendor.id,
                account_id=membership.account_id,
                membership_id=membership.id,
                created_at=now,
                digest="d" * 64,
                stamps="s" * 64,
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0 — ü",
                **fields,
            )

        first, second = session(world, mine), session(world, mine, client_key="")
        elsewhere = session(other, theirs)
        with p.transaction() as uow:
            uow.sessions.add(first)
            uow.sessions.add(second)
            uow.sessions.add(elsewhere)
        with p.transaction() as uow:
            assert uow.sessions.get(world.vendor.id, first.id) == first
            assert uow.sessions.get(other.vendor.id, first.id) is None
            assert uow.sessions.list(world.vendor.id, where={"account_id": mine.account_id}) == [
                first,
                second,
            ]
            ended = attrs.evolve(first, ended_at=p.clock.now(), version=2)
            uow.sessions.update(ended, 1)
        with pytest.raises(ConcurrentModification), p.transaction() as uow:
            uow.sessions.update(attrs.evolve(first, last_seen_at=p.clock.now(), version=2), 1)
        clock.advance(seconds=10)
        cutoff = p.clock.now()
        live = session(world, mine, last_seen_at=cutoff + timedelta(seconds=1))
        with p.transaction() as uow:
            uow.sessions.add(live)
        with p.transaction() as uow:
            # The ended one and the one last seen before the cut-off; not the live one, nor
            # another vendor's.
            assert uow.prune_sessions(world.vendor.id, cutoff) == 2
        with p.transaction(read_only=True) as uow:
            assert uow.sessions.list(world.vendor.id, where={"account_id": mine.account_id}) == [
                live
            ]
            assert uow.sessions.get(other.vendor.id, elsewhere.id) == elsewhere
