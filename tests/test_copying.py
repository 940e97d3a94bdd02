"""Copying settings from one customer to another (issue 14, item 2): the parts, their
independence afterwards, and who may copy what — on memory, SQLite and PostgreSQL."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import attrs
import pytest
from pypdf import PdfWriter
from sqlalchemy import select

from portalkit import Portal
from portalkit.assortments.model import AssortmentMode
from portalkit.copying import (
    ASSORTMENT,
    BRANDING,
    DEFAULT_PARTS,
    NOTIFICATIONS,
    PARTS,
    PRICE_LISTS,
    PROFILES,
    SIZE_INSTRUCTIONS,
)
from portalkit.customers.model import Branding, Customer
from portalkit.errors import NotFound, PermissionDenied, PortalError, ValidationError
from portalkit.staffrights import CUSTOMERS_PROVISION, PROFILES_MANAGE, SHOP_MANAGE
from portalkit.storage.base import Storage
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

# The branding fields that hold the size-instruction document (none until branding assets
# land); the part follows them.
SIZE_FIELDS = [f for f in attrs.fields_dict(Branding) if f.startswith("size_instructions")]


@pytest.fixture
def portal(storage: Storage) -> Portal:
    return Portal(storage)


@pytest.fixture
def world(portal: Portal) -> World:
    return World(portal)


@attrs.define
class Shop:
    """A model customer with everything copying can take, and an empty target."""

    source: Customer
    target: Customer
    parts: dict[str, Any]


def _shop(world: World) -> Shop:
    portal, staff = world.portal, world.staff
    source = world.customer(
        code="MODEL",
        branding={"logo_url": "https://cdn.example/model.png", "template": "workwear"},
        settings={"notification_defaults": ["invoices", "jobs"]},
    )
    target = world.customer(code="ACME")
    workwear = portal.catalogue.create_category(staff, name="Workwear")
    jacket = portal.catalogue.create_item(
        staff, sku="J-1", name="Jacket", list_price="80.00", currency="EUR", category=workwear
    )
    gloves = portal.catalogue.create_item(
        staff, sku="G-1", name="Gloves", list_price="9.00", currency="EUR"
    )
    assortment = portal.assortments.set(
        staff, source, mode="selected", categories=[workwear], items=[gloves], excluded=[jacket]
    )
    retail = portal.pricing.create_list(staff, name="Retail", currency="EUR", customers=[source])
    other = portal.pricing.create_list(staff, name="Other", currency="EUR")
    portal.pricing.add_rule(staff, retail, item=gloves, kind="fixed", value=Decimal("7.50"))
    resellers = portal.groups.create(staff, name="Resellers", customers=[source])
    buyer = world.profile(name="Buyer", capabilities={"orders.view"})
    world.membership(customer=source, profile=buyer)
    world.membership(customer=source)  # no profile: nothing to report for it
    return Shop(
        source,
        target,
        {
            "assortment": assortment,
            "retail": retail,
            "other": other,
            "resellers": resellers,
            "buyer": buyer,
            "gloves": gloves,
            "jacket": jacket,
            "workwear": workwear,
        },
    )


def dump(portal: Portal) -> Any:
    """Every stored row (SQL) or the memory backend's whole state, comparable with ==."""
    storage = portal.storage
    if isinstance(storage, MemoryStorage):
        tables = storage._tables
        return {name: dict(rows) for name, rows in tables.rows.items()}
    engine = storage.engine  # type: ignore[attr-defined]
    metadata = storage.schema.metadata  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


def _without_audit(state: Any) -> Any:
    # A refusal is audited (its own transaction, by design); everything else must stay.
    return {name: rows for name, rows in state.items() if "audit" not in name}


# -- what each part copies ----------------------------------------------------------------------


def test_copy_settings_copies_the_default_parts(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    report = portal.copying.copy_settings(staff, source="MODEL", target=shop.target)
    assert report.parts == DEFAULT_PARTS
    assert NOTIFICATIONS in report.parts
    target = portal.customers.get(staff, shop.target.id)
    assert target.branding == shop.source.branding
    assert target.settings.notification_defaults == {"invoices", "jobs"}
    assert report.target == target
    own = portal.assortments.get(staff, target)
    assert own is not None and own.id != shop.parts["assortment"].id
    assert own.mode is AssortmentMode.SELECTED
    assert own.category_ids == {shop.parts["workwear"].id}
    assert own.item_ids == {shop.parts["gloves"].id}
    assert own.excluded_ids == {shop.parts["jacket"].id}
    book = portal.pricing.book(staff, customer=target)
    assert book.price(shop.parts["gloves"]).unit_price == Decimal("7.50")
    lists = {pl.name: pl for pl in portal.pricing.lists(staff)}
    assert target.id in lists["Retail"].customer_ids
    assert target.id not in lists["Other"].customer_ids
    assert target.id in portal.groups.get(staff, shop.parts["resellers"]).customer_ids
    assert [p.name for p in report.profiles] == ["Buyer"]
    assert [pl.name for pl in report.price_lists] == ["Retail"]
    assert [g.name for g in report.groups] == ["Resellers"]
    event = [e for e in portal.audit.list(staff) if e.action == "settings_copied"][-1]
    assert event.customer_id == target.id
    assert event.details["source"] == f"customer:{shop.source.id}"
    assert event.details["parts"] == list(DEFAULT_PARTS)


def test_only_the_chosen_parts_are_copied(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    report = portal.copying.copy_settings(
        staff, source=shop.source, target=shop.target.id, parts=[PRICE_LISTS, BRANDING]
    )
    assert report.parts == (BRANDING, PRICE_LISTS)  # in copying order
    assert portal.customers.get(staff, shop.target.id).branding.template == "workwear"
    assert portal.assortments.get(staff, shop.target) is None
    assert report.profiles == ()


def test_copies_are_independent_of_the_source_afterwards(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    portal.copying.copy_settings(staff, source=shop.source, target=shop.target)
    copied = portal.customers.get(staff, shop.target.id)
    # branding
    portal.customers.update(staff, shop.source.id, branding={"template": "changed"})
    assert portal.customers.get(staff, shop.target.id).branding == copied.branding
    # assortment
    before = portal.assortments.get(staff, shop.target)
    portal.assortments.set(staff, shop.source, mode="all")
    assert portal.assortments.get(staff, shop.target) == before
    # price lists and groups: taking the source off leaves the target on
    retail = next(pl for pl in portal.pricing.lists(staff) if pl.name == "Retail")
    portal.pricing.update_list(staff, retail, customers=retail.customer_ids - {shop.source.id})
    resellers = portal.groups.get(staff, shop.parts["resellers"])
    portal.groups.update(staff, resellers, customers=resellers.customer_ids - {shop.source.id})
    lists = portal.pricing.lists(staff)
    assert [pl.customer_ids for pl in lists if pl.name == "Retail"] == [{shop.target.id}]
    assert portal.groups.get(staff, resellers).customer_ids == {shop.target.id}
    # and the other way round: changing the target leaves the source as it was
    portal.customers.update(staff, shop.target.id, branding={"template": "acme"})
    assert portal.customers.get(staff, shop.source.id).branding.template == "changed"


def test_notification_defaults_are_copied_and_stay_the_targets_own(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    subscribed = world.membership(customer=shop.target, subscriptions=["quotes"])
    clerk = world.staff_holding(CUSTOMERS_PROVISION)  # what the rest of the settings need
    report = portal.copying.copy_settings(
        clerk, source=shop.source, target=shop.target, parts=[NOTIFICATIONS]
    )
    assert report.parts == (NOTIFICATIONS,)
    target = portal.customers.get(staff, shop.target.id)
    assert target.settings.notification_defaults == {"invoices", "jobs"}
    assert target.branding == shop.target.branding  # nothing else came along
    # The target's new logins start with them; its existing ones keep their own.
    assert world.membership(customer=target).subscriptions == {"invoices", "jobs"}
    assert portal.memberships.get(staff, subscribed.id).subscriptions == {"quotes"}
    # Independent both ways.
    portal.customers.update(staff, shop.source.id, settings={"notification_defaults": []})
    assert portal.customers.get(staff, target.id).settings.notification_defaults == {
        "invoices",
        "jobs",
    }
    portal.customers.update(staff, target.id, settings={"notification_defaults": ["quotes"]})
    assert portal.customers.get(staff, shop.source.id).settings.notification_defaults == set()


def test_copying_notification_defaults_keeps_the_targets_other_settings(world: World) -> None:
    portal, staff = world.portal, world.staff
    source = world.customer(settings={"notification_defaults": ["jobs"], "show_prices": True})
    target = world.customer(
        settings={"show_prices": False, "shop_enabled": True, "approval_above": "250.00"}
    )
    portal.copying.copy_settings(staff, source=source, target=target, parts=[NOTIFICATIONS])
    settings = portal.customers.get(staff, target.id).settings
    assert settings.notification_defaults == {"jobs"}
    assert (settings.show_prices, settings.shop_enabled) == (False, True)
    assert settings.approval_above == Decimal("250.00")


def test_profiles_are_the_vendors_so_copying_creates_none(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    before = portal.profiles.list(staff)
    report = portal.copying.copy_settings(
        staff, source=shop.source, target=shop.target, parts=[PROFILES]
    )
    assert report.profiles == (shop.parts["buyer"],)
    assert portal.profiles.list(staff) == before
    # One profile for every customer's logins: a change reaches them all (docs say so).
    login = world.membership(customer=shop.target, profile=report.profiles[0])
    portal.profiles.update(staff, shop.parts["buyer"], capabilities={"orders.view", "quotes.view"})
    assert login.profile_id == shop.parts["buyer"].id
    assert portal.profiles.get(staff, login.profile_id).capabilities == {
        "orders.view",
        "quotes.view",
    }


def test_a_source_without_an_assortment_of_its_own_leaves_the_target_inheriting(
    world: World,
) -> None:
    portal, staff = world.portal, world.staff
    source, target = world.customer(), world.customer()
    portal.assortments.set(staff, target, mode="all")
    report = portal.copying.copy_settings(staff, source=source, target=target, parts=[ASSORTMENT])
    assert report.assortment is None
    own = portal.assortments.get(staff, target)
    assert own is not None and own.mode is AssortmentMode.INHERIT
    # Nothing of its own on either side: nothing written.
    bare = world.customer()
    portal.copying.copy_settings(staff, source=source, target=bare, parts=[ASSORTMENT])
    assert portal.assortments.get(staff, bare) is None


def test_size_instructions_follow_the_branding_field(world: World) -> None:
    portal, staff = world.portal, world.staff
    source, target = world.customer(), world.customer()
    assert SIZE_FIELDS and SIZE_INSTRUCTIONS in DEFAULT_PARTS
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    pdf = io.BytesIO()
    writer.write(pdf)
    stored = portal.branding.store(staff, source, size_instructions=pdf.getvalue())
    chart = {f: getattr(stored.branding, f) for f in SIZE_FIELDS}
    assert all(chart.values())
    portal.customers.update(
        staff, source.id, branding=attrs.evolve(stored.branding, template="workwear")
    )
    portal.copying.copy_settings(staff, source=source, target=target, parts=[SIZE_INSTRUCTIONS])
    copied = portal.customers.get(staff, target.id).branding
    assert {f: getattr(copied, f) for f in SIZE_FIELDS} == chart
    assert copied.template == ""  # the rest of the branding is its own part
    other = world.customer()
    portal.copying.copy_settings(staff, source=source, target=other, parts=[BRANDING])
    kept = portal.customers.get(staff, other.id).branding
    assert kept.template == "workwear"
    assert all(getattr(kept, f) == "" for f in SIZE_FIELDS)


# -- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "code"),
    [
        ([], "empty"),
        (["branding", "colours"], "unknown_part"),
        (["Branding"], "unknown_part"),
        ([1], "unknown_part"),
        ("branding", "not_list"),
        ({"branding": True}, "not_list"),
    ],
)
def test_bad_parts_are_refused_and_nothing_is_written(world: World, parts: Any, code: str) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    before = dump(portal)
    with pytest.raises(ValidationError) as refused:
        portal.copying.check(staff, source=shop.source, parts=parts)
    assert refused.value.field == "parts" and code in {p.code for p in refused.value.problems}
    with pytest.raises(ValidationError):
        portal.copying.copy_settings(staff, source=shop.source, target=shop.target, parts=parts)
    assert dump(portal) == before


def test_every_part_has_a_name_and_the_default_set_is_what_can_be_copied() -> None:
    assert set(PARTS) == {
        BRANDING,
        SIZE_INSTRUCTIONS,
        PROFILES,
        NOTIFICATIONS,
        ASSORTMENT,
        PRICE_LISTS,
    }
    assert {BRANDING, PROFILES, NOTIFICATIONS, ASSORTMENT, PRICE_LISTS} <= set(DEFAULT_PARTS)


def test_a_customer_cannot_copy_onto_itself(world: World) -> None:
    shop = _shop(world)
    before = dump(world.portal)
    with pytest.raises(ValidationError) as refused:
        world.portal.copying.copy_settings(world.staff, source="MODEL", target=shop.source.id)
    assert refused.value.code == "same_customer"
    assert dump(world.portal) == before


def test_a_customer_of_another_vendor_is_not_found(world: World) -> None:
    portal, staff = world.portal, world.staff
    shop = _shop(world)
    other = World(portal, vendor_code="other")
    theirs = other.customer(code="THEIRS", branding={"template": "secret"})
    before = dump(portal)
    for source, target in ((theirs, shop.target), (shop.source, theirs), ("THEIRS", shop.target)):
        with pytest.raises(NotFound):
            portal.copying.copy_settings(staff, source=source, target=target)
    with pytest.raises(NotFound):
        portal.copying.check(staff, source=theirs.id)
    assert dump(portal) == before
    # Nor can the other vendor's staff read ours through a copy.
    with pytest.raises(NotFound):
        portal.copying.copy_settings(other.staff, source=shop.source.id, target=theirs)
    assert portal.customers.get(other.staff, theirs.id).branding.template == "secret"


@pytest.mark.parametrize(
    ("holding", "parts"),
    [
        ((SHOP_MANAGE, PROFILES_MANAGE), [BRANDING]),
        ((CUSTOMERS_PROVISION, PROFILES_MANAGE), [BRANDING, ASSORTMENT]),
        ((CUSTOMERS_PROVISION, PROFILES_MANAGE), [PRICE_LISTS]),
        ((CUSTOMERS_PROVISION, SHOP_MANAGE), [BRANDING, PROFILES]),
        ((CUSTOMERS_PROVISION,), None),
        ((SHOP_MANAGE, PROFILES_MANAGE), [NOTIFICATIONS]),
    ],
    ids=[
        "no provision",
        "assortment no shop",
        "prices no shop",
        "profiles no right",
        "default",
        "notifications no provision",
    ],
)
def test_an_employee_lacking_a_needed_permission_is_refused_and_nothing_is_written(
    world: World, holding: tuple[str, ...], parts: list[str] | None
) -> None:
    portal = world.portal
    shop = _shop(world)
    clerk = world.staff_holding(*holding)
    before = dump(portal)
    # check() writes nothing, so the refusal there can only come from copying's own rule.
    with pytest.raises(PermissionDenied):
        portal.copying.check(clerk, source=shop.source, parts=parts)
    with pytest.raises(PermissionDenied):
        portal.copying.copy_settings(clerk, source=shop.source, target=shop.target, parts=parts)
    assert _without_audit(dump(portal)) == _without_audit(before)
    assert [e.action for e in portal.audit.list(world.staff)][-1] == "authz_fail"


def test_an_employee_holding_what_the_parts_need_may_copy(world: World) -> None:
    shop = _shop(world)
    clerk = world.staff_holding(CUSTOMERS_PROVISION)
    world.portal.copying.copy_settings(
        clerk, source=shop.source, target=shop.target, parts=[BRANDING]
    )
    assert world.portal.customers.get(clerk, shop.target.id).branding.template == "workwear"


def test_a_member_even_a_customer_admin_cannot_copy(world: World) -> None:
    portal = world.portal
    shop = _shop(world)
    admin = world.profile(capabilities={"members.manage"})
    login = world.membership(customer=shop.target, profile=admin, kind="main")
    member = world.member(login)
    before = dump(portal)
    for parts in ([BRANDING], None):
        with pytest.raises(PermissionDenied):
            portal.copying.copy_settings(
                member, source=shop.source, target=shop.target, parts=parts
            )
        with pytest.raises(PermissionDenied):
            portal.copying.check(member, source=shop.source, parts=parts)
    assert _without_audit(dump(portal)) == _without_audit(before)


def test_a_copy_that_fails_half_way_leaves_the_target_as_it_was() -> None:
    storage = MemoryStorage()
    world = World(Portal(storage))
    shop = _shop(world)
    before = dump(world.portal)
    k = 1
    while True:
        storage.fail_after(k)
        try:
            world.portal.copying.copy_settings(world.staff, source=shop.source, target=shop.target)
        except PortalError:
            storage.fail_after(None)
            # Refusals are audited after the fact; no copied row may be left.
            assert _without_audit(dump(world.portal)) == _without_audit(before), k
            k += 1
            continue
        storage.fail_after(None)
        break
    assert k > 10  # the copy is many operations, each one tried
    assert world.portal.customers.get(world.staff, shop.target.id).branding.template == "workwear"


def test_the_refusal_says_why_in_the_operators_language(world: World) -> None:
    source = world.customer()
    with pytest.raises(ValidationError) as refused:
        world.portal.copying.check(world.staff, source=source, parts=[NOTIFICATIONS, "colours"])
    assert "is geen onderdeel dat gekopieerd kan worden" in refused.value.text("nl")
    assert "ist kein Teil, der kopiert werden kann" in refused.value.text("de")
