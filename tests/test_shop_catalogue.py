"""The shop's catalogue side, scenario by scenario from the seeds, on every backend:

- the service desk (004): the online shop and the printer shop — a customer sees only the
  accessories of its own printers, at the locations it may see; prices shown or hidden;
- the workwear shop (003): per-customer assortments, inherited from an umbrella;
- the transport portal (000): a limited member never sees a rate — its views have no price
  field at all.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from portalkit import NotFound, PermissionDenied, ValidationError, presets
from portalkit.clock import FixedClock
from portalkit.errors import Conflict
from portalkit.shop import CheckoutMode, HiddenPrice, PricedShopItem, ShopItem, VisiblePrice
from portalkit.testing import World

SHOP = {"shop_enabled": True, "show_prices": True}


def _member(world: World, customer: Any, capabilities: set[str], **fields: Any) -> Any:
    profile = world.profile(capabilities=capabilities)
    return world.member(world.membership(customer=customer, profile=profile, **fields))


@pytest.fixture
def shop(world: World) -> dict[str, Any]:
    """A service desk's catalogue: toner and drums for two printer models, paper, a mouse."""
    p, staff = world.portal, world.staff
    supplies = p.catalogue.create_category(staff, name="Supplies")
    toner = p.catalogue.create_category(staff, name="Toner", parent=supplies)
    paper = p.catalogue.create_category(staff, name="Paper", parent=supplies)
    input_devices = p.catalogue.create_category(staff, name="Input devices")

    def item(sku: str, price: str, category: Any, **more: Any) -> Any:
        return p.catalogue.create_item(
            staff,
            sku=sku,
            name=f"Item {sku}",
            list_price=Decimal(price),
            currency="EUR",
            category=category,
            **more,
        )

    made = {
        "supplies": supplies,
        "toner_cat": toner,
        "paper_cat": paper,
        "input_cat": input_devices,
        "tn2420": item("TN-2420", "4711.13", toner, attributes={"page_yield": 3000}),
        "dr2400": item("DR-2400", "4722.27", toner),
        "tn3480": item("TN-3480", "4733.39", toner),
        "tnold": item("TN-0001", "4744.41", toner, active=False),
        "a4": item("A4-500", "4755.53", paper),
        "mouse": item("MOUSE-1", "4766.67", input_devices),
    }
    made["hl"] = p.devices.create_model(
        staff, name="HL-L2350DW", accessories=[made["tn2420"], made["dr2400"], made["tnold"]]
    )
    made["mfc"] = p.devices.create_model(staff, name="MFC-L5700", accessories=[made["tn3480"]])
    return made


# -- the printer shop (004) -------------------------------------------------------------------
def test_the_printer_shop_lists_accessories_of_the_customers_own_printers_at_its_locations(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer(settings=SHOP)
    other = world.customer(settings=SHOP)
    berlin, hamburg = world.location(acme), world.location(acme)
    p.assortments.set(staff, acme, mode="all")
    p.assortments.set(staff, other, mode="all")
    p.devices.add(staff, customer=acme, model=shop["hl"], serial="E1", location=berlin)
    p.devices.add(staff, customer=acme, model=shop["mfc"], serial="E2", location=hamburg)
    p.devices.add(staff, customer=other, model=shop["mfc"], serial="X9")
    retired = p.devices.add(staff, customer=acme, model=shop["mfc"], serial="E3")
    p.devices.update(staff, retired, active=False)

    everyone = _member(world, acme, {"shop.order"})
    seen = p.shop.printer_shop(everyone)
    assert [(d.serial, [a.sku for a in d.accessories]) for d in seen] == [
        ("E1", ["DR-2400", "TN-2420"]),  # the inactive TN-0001 is not offered
        ("E2", ["TN-3480"]),
    ]
    berliner = _member(world, acme, {"shop.order"}, location_grants={berlin.id: "read"})
    assert [(d.serial, d.location_id) for d in p.shop.printer_shop(berliner)] == [("E1", berlin.id)]
    # Another customer's member sees its own printer only.
    assert [d.serial for d in p.shop.printer_shop(_member(world, other, {"quotes.request"}))] == [
        "X9"
    ]


def test_the_printer_shop_offers_only_accessories_in_the_assortment(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer(settings=SHOP)
    p.devices.add(staff, customer=acme, model=shop["hl"], serial="E1")
    p.assortments.set(staff, acme, mode="all", excluded=[shop["dr2400"]])
    member = _member(world, acme, {"shop.order"})
    (printer,) = p.shop.printer_shop(member)
    assert [a.sku for a in printer.accessories] == ["TN-2420"]


def test_a_device_is_placed_only_at_its_own_customers_location(
    world: World, shop: dict[str, Any]
) -> None:
    acme, other = world.customer(), world.customer()
    with pytest.raises(ValidationError):
        world.portal.devices.add(
            world.staff,
            customer=acme,
            model=shop["hl"],
            serial="E1",
            location=world.location(other),
        )
    assert world.portal.devices.list(world.staff, customer=acme) == []


# -- assortments (003) ------------------------------------------------------------------------
def test_an_item_outside_the_assortment_is_not_listed_nor_orderable(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer(settings=SHOP)
    p.assortments.set(
        staff,
        acme,
        mode="selected",
        categories=[shop["supplies"]],
        items=[shop["mouse"]],
        excluded=[shop["tn3480"]],
    )
    member = _member(world, acme, {"shop.order", "prices.view"})
    page = p.shop.catalogue(member)
    assert [i.sku for i in page.items] == ["A4-500", "DR-2400", "MOUSE-1", "TN-2420"]
    assert [i.sku for i in p.shop.catalogue(member, category=shop["toner_cat"]).items] == [
        "DR-2400",
        "TN-2420",
    ]
    assert [i.sku for i in p.shop.catalogue(member, text="tn-").items] == ["TN-2420"]
    for outside in (shop["tn3480"], shop["tnold"]):
        with pytest.raises(NotFound):
            p.shop.lines(member, [(shop["a4"], 1), (outside, 1)])
        with pytest.raises(NotFound):
            p.shop.item(member, outside)
    page1 = p.shop.catalogue(member, limit=3)
    page2 = p.shop.catalogue(member, limit=3, offset=3)
    assert page1.more and not page2.more
    assert [i.sku for i in page1.items + page2.items] == [i.sku for i in page.items]


def test_an_umbrellas_assortment_is_inherited_unless_a_child_has_its_own(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    umbrella = world.customer(settings=SHOP)
    child = world.customer(parent=umbrella, settings=SHOP)
    grandchild = world.customer(parent=child, settings=SHOP)
    own = world.customer(parent=umbrella, settings=SHOP)
    p.assortments.set(staff, umbrella, mode="selected", categories=[shop["paper_cat"]])
    p.assortments.set(staff, own, mode="selected", items=[shop["mouse"]])
    p.assortments.set(staff, child, mode="inherit")

    def skus(customer: Any) -> list[str]:
        return [i.sku for i in p.shop.catalogue(_member(world, customer, {"shop.order"})).items]

    assert skus(grandchild) == ["A4-500"]
    assert skus(child) == ["A4-500"]
    assert skus(own) == ["MOUSE-1"]
    assert p.assortments.effective(staff, grandchild).source == umbrella.id
    # Without an assortment anywhere up the tree a customer may order nothing.
    assert skus(world.customer(settings=SHOP)) == []


# -- prices -----------------------------------------------------------------------------------
def test_tiers_validity_and_precedence_decide_the_price(world: World, shop: dict[str, Any]) -> None:
    p, staff = world.portal, world.staff
    clock = FixedClock(datetime(2027, 3, 1, tzinfo=UTC))
    p.clock = clock
    acme = world.customer(settings=SHOP)
    resellers = p.groups.create(staff, name="Resellers", customers=[acme])
    own = p.pricing.create_list(staff, name="Acme", currency="EUR", customers=[acme])
    group = p.pricing.create_list(staff, name="Resellers", currency="EUR", groups=[resellers])
    dollars = p.pricing.create_list(staff, name="USD", currency="USD", customers=[acme])
    tn, a4, dr = shop["tn2420"], shop["a4"], shop["dr2400"]
    add = p.pricing.add_rule
    add(staff, own, item=tn, kind="fixed", value="4000")
    add(staff, own, item=tn, kind="fixed", value="3900", min_quantity=10)
    add(staff, own, item=tn, kind="fixed", value="3800", min_quantity=50)
    add(staff, own, category=shop["supplies"], kind="percent", value="50")  # tn has its own
    add(staff, own, category=shop["toner_cat"], kind="percent", value="10")  # nearer: wins
    add(staff, group, item=tn, kind="fixed", value="1")  # the group's list comes second
    add(staff, group, item=shop["mouse"], kind="percent", value="25")
    add(staff, dollars, item=a4, kind="fixed", value="1")  # another currency: ignored
    may = datetime(2027, 5, 1, tzinfo=UTC)
    add(staff, own, item=a4, kind="fixed", value="100", valid_from=may)
    book = p.pricing.book(staff, acme)
    assert [book.price(tn, q).unit_price for q in (1, 9, 10, 49, 50)] == [
        Decimal("4000.00"),
        Decimal("4000.00"),
        Decimal("3900.00"),
        Decimal("3900.00"),
        Decimal("3800.00"),
    ]
    assert book.price(dr).unit_price == Decimal("4250.04")  # 10 % off, rounded to cents
    assert "10 percent off" in book.explain(dr)
    assert book.price(shop["mouse"]).unit_price == Decimal("3575.00")
    assert "group Resellers" in book.explain(shop["mouse"])
    assert book.price(a4).unit_price == Decimal("2377.77")  # the supplies rule; May not yet
    assert book.price(tn, 10).rule is not None and book.price(tn, 10).rule.min_quantity == 10
    clock.advance(days=61)
    assert clock.now() == may
    later = p.pricing.book(staff, acme)
    assert later.price(a4).unit_price == Decimal("100.00")
    assert later.explain(a4).startswith("a fixed price for the item in price list Acme")
    stranger = world.customer()
    assert p.pricing.book(staff, stranger).price(tn).unit_price == Decimal("4711.13")
    assert "list price" in p.pricing.book(staff, stranger).explain(tn)


def test_a_member_sees_the_effective_price_only_where_prices_are_shown(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer(settings=SHOP)
    p.assortments.set(staff, acme, mode="all")
    own = p.pricing.create_list(staff, name="Acme", currency="EUR", customers=[acme])
    p.pricing.add_rule(staff, own, item=shop["tn2420"], kind="fixed", value="10", min_quantity=5)
    buyer = _member(world, acme, {"shop.order", "prices.view"})
    item = p.shop.item(buyer, shop["tn2420"])
    assert isinstance(item, PricedShopItem) and item.unit_price == Decimal("4711.13")
    price = p.shop.visible_price(buyer, shop["tn2420"], 5)
    assert price == VisiblePrice(shop["tn2420"].id, 5, Decimal("10.00"), "EUR", Decimal("50.00"))
    assert p.shop.checkout_mode(buyer) is CheckoutMode.ORDER
    assert p.pricing.book(buyer).price(shop["tn2420"], 5).unit_price == Decimal("10.00")


# -- prices that never leak (000, 004) -------------------------------------------------------
_WORLD_PRICES = ("4711", "4722", "4733", "4744", "4755", "4766", "1234", "Secret list")


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _leaks(value: Any) -> list[str]:
    shown = repr(value) + json.dumps(
        attrs.asdict(value) if attrs.has(type(value)) else value, default=str
    )
    # Record ids are random hex: one may hold "4766" by chance, which is no price.
    shown = _UUID.sub("<id>", shown)
    return [price for price in _WORLD_PRICES if price in shown]


@pytest.mark.parametrize("case", ["limited_transport", "prices_switched_off"])
def test_a_member_who_may_not_see_prices_gets_views_without_any_price_field(
    world: World, shop: dict[str, Any], case: str
) -> None:
    p, staff = world.portal, world.staff
    if case == "limited_transport":
        acme = world.customer(settings=SHOP)
        capabilities = set(presets.TRANSPORT_LIMITED.capabilities) | {"shop.order"}
    else:
        acme = world.customer(settings={"shop_enabled": True, "show_prices": False})
        capabilities = set(presets.TRANSPORT_FULL.capabilities) | {"shop.order", "quotes.request"}
    p.assortments.set(staff, acme, mode="all")
    secret = p.pricing.create_list(staff, name="Secret list", currency="EUR", customers=[acme])
    p.pricing.add_rule(staff, secret, item=shop["tn2420"], kind="fixed", value="1234.56")
    p.devices.add(staff, customer=acme, model=shop["hl"], serial="E1")
    member = _member(world, acme, capabilities)

    page = p.shop.catalogue(member)
    assert not page.prices_shown and page.items
    outputs: list[Any] = [page, *page.items, p.shop.item(member, shop["tn2420"])]
    outputs += p.shop.lines(member, [(shop["tn2420"], 10), (shop["a4"], 1)])
    outputs += p.shop.printer_shop(member)
    outputs.append(p.shop.visible_price(member, shop["tn2420"], 3))
    for view in outputs:
        assert _leaks(view) == [], view
    for item in page.items:
        assert type(item) is ShopItem
        assert not {"unit_price", "list_price", "currency", "price"} & set(
            attrs.fields_dict(type(item))
        )
    assert isinstance(p.shop.visible_price(member, shop["tn2420"], 3), HiddenPrice)
    assert not hasattr(p.shop.visible_price(member, shop["tn2420"], 3), "unit_price")
    with pytest.raises(PermissionDenied) as refused:
        p.pricing.book(member)
    assert _leaks(str(refused.value)) == []
    with pytest.raises(NotFound) as missing:
        p.shop.item(member, shop["tnold"])
    assert _leaks(str(missing.value)) == []
    if case == "prices_switched_off":
        assert p.shop.checkout_mode(member) is CheckoutMode.QUOTE_REQUEST
    else:
        with pytest.raises(PermissionDenied):
            p.shop.checkout_mode(member)  # neither an order (no prices) nor quotes.request


def test_attributes_can_carry_no_price(world: World) -> None:
    create = world.portal.catalogue.create_item
    for attributes in (
        {"unit_price": "12.00"},
        {"dealer_cost": 3},
        {"colour": Decimal("1.5")},
        {"colour": 1.5},
        {"colour": {"price": 3}},
        {"Colour": "x"},
        {f"k{n}": n for n in range(31)},
    ):
        with pytest.raises(ValidationError):
            create(
                world.staff,
                sku="X-1",
                name="X",
                list_price=1,
                currency="EUR",
                attributes=attributes,
            )
    assert world.portal.catalogue.search(world.staff) == []


# -- who may browse -------------------------------------------------------------------------
def test_the_shop_needs_the_switch_a_capability_and_a_member(
    world: World, shop: dict[str, Any]
) -> None:
    p, staff = world.portal, world.staff
    closed = world.customer(settings={"shop_enabled": False})
    p.assortments.set(staff, closed, mode="all")
    with pytest.raises(PermissionDenied):
        p.shop.catalogue(_member(world, closed, {"shop.order", "prices.view"}))
    acme = world.customer(settings=SHOP)
    p.assortments.set(staff, acme, mode="all")
    with pytest.raises(PermissionDenied):
        p.shop.catalogue(_member(world, acme, {"orders.view", "prices.view"}))
    assert p.shop.catalogue(_member(world, acme, {"quotes.request"})).items
    with pytest.raises(PermissionDenied):
        p.shop.catalogue(staff)
    refusals = p.audit.list(staff, action="authz_fail", limit=100)
    assert len(refusals) >= 3


# -- staff side -----------------------------------------------------------------------------
def test_another_vendors_records_are_not_found(world: World, shop: dict[str, Any]) -> None:
    p = world.portal
    other = World(p)
    theirs = other.portal.catalogue.create_item(
        other.staff, sku="T-1", name="Theirs", list_price=1, currency="EUR"
    )
    their_list = other.portal.pricing.create_list(other.staff, name="L", currency="EUR")
    their_customer = other.customer()
    mine = p.pricing.create_list(world.staff, name="Mine", currency="EUR")
    attempts = [
        lambda: p.catalogue.update_item(world.staff, theirs, name="Mine now"),
        lambda: p.catalogue.get_item(world.staff, theirs.id),
        lambda: p.pricing.add_rule(world.staff, their_list, item=shop["a4"], kind="fixed", value=1),
        lambda: p.pricing.add_rule(world.staff, mine, item=theirs, kind="fixed", value=1),
        lambda: p.pricing.update_list(world.staff, mine, customers=[their_customer]),
        lambda: p.assortments.set(world.staff, their_customer, mode="all"),
        lambda: p.assortments.set(world.staff, world.customer(), mode="selected", items=[theirs]),
        lambda: p.devices.create_model(world.staff, name="M", accessories=[theirs]),
        lambda: p.groups.create(world.staff, name="G", customers=[their_customer]),
        lambda: p.pricing.book(world.staff, their_customer),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            attempt()
    assert other.portal.catalogue.get_item(other.staff, theirs).name == "Theirs"
    assert p.pricing.rules(world.staff, mine) == []


def test_price_list_and_assortment_changes_are_audited(world: World, shop: dict[str, Any]) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer()
    group = p.groups.create(staff, name="Public sector", customers=[acme])
    prices = p.pricing.create_list(staff, name="2027", currency="EUR", groups=[group])
    rule = p.pricing.add_rule(staff, prices, item=shop["a4"], kind="percent", value="5")
    p.pricing.update_list(staff, prices, active=False)
    p.pricing.remove_rule(staff, rule)
    p.assortments.set(staff, acme, mode="selected", items=[shop["a4"]])
    actions = [e.action for e in p.audit.list(staff, limit=100)]
    for action in (
        "customer_group_created",
        "price_list_created",
        "price_rule_added",
        "price_list_updated",
        "price_rule_removed",
        "assortment_set",
    ):
        assert action in actions
    (added,) = p.audit.list(staff, action="price_rule_added")
    assert added.details["rule"]["value"] == "5"


def test_bad_input_is_refused_with_every_problem_and_stores_nothing(world: World) -> None:
    p, staff = world.portal, world.staff
    with pytest.raises(ValidationError) as caught:
        p.catalogue.create_item(
            staff, sku="bad sku", name="", list_price=0.1, currency="EURO", unit="x" * 21
        )
    assert {pr.field for pr in caught.value.problems} == {
        "sku",
        "name",
        "list_price",
        "currency",
        "unit",
    }
    for price in ("1e400", "NaN", "-1", "1.00001", "x" * 10_000_000, True):
        with pytest.raises(ValidationError):
            p.catalogue.create_item(staff, sku="A-1", name="A", list_price=price, currency="EUR")
    item = p.catalogue.create_item(staff, sku="A-1", name="A", list_price="1.5", currency="EUR")
    with pytest.raises(Conflict):
        p.catalogue.create_item(staff, sku="a-1", name="B", list_price=1, currency="EUR")
    prices = p.pricing.create_list(staff, name="L", currency="EUR")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for bad in (
        {
            "kind": "fixed",
            "value": "1",
            "item": item,
            "category": p.catalogue.create_category(staff, name="C"),
        },
        {"kind": "fixed", "value": "1"},
        {"kind": "percent", "value": "101", "item": item},
        {"kind": "gift", "value": "1", "item": item},
        {"kind": "fixed", "value": "1", "item": item, "min_quantity": 0},
        {"kind": "fixed", "value": "1", "item": item, "valid_from": now, "valid_until": now},
        {"kind": "fixed", "value": "1", "item": item, "valid_from": datetime(2027, 1, 1)},
    ):
        with pytest.raises(ValidationError):
            p.pricing.add_rule(staff, prices, **bad)
    assert p.pricing.rules(staff, prices) == []
    with pytest.raises(ValidationError):
        p.pricing.book(staff, world.customer()).price(item, 0)


def test_the_category_tree_refuses_cycles(world: World) -> None:
    p, staff = world.portal, world.staff
    top = p.catalogue.create_category(staff, name="Top")
    middle = p.catalogue.create_category(staff, name="Middle", parent=top)
    low = p.catalogue.create_category(staff, name="Low", parent=middle)
    for parent in (low, middle, top):
        with pytest.raises(ValidationError):
            p.catalogue.update_category(staff, top, parent=parent)
    chain = low
    for n in range(7):
        chain = p.catalogue.create_category(staff, name=f"Deep {n}", parent=chain)
    with pytest.raises(ValidationError):
        p.catalogue.create_category(staff, name="Too deep", parent=chain)
    moved = p.catalogue.update_category(staff, low, parent=None)
    assert moved.parent_id is None
    assert p.catalogue.search(staff, category=top) == []


def test_a_staff_view_as_the_customer_browses_read_only(world: World, shop: dict[str, Any]) -> None:
    p, staff = world.portal, world.staff
    acme = world.customer(settings=SHOP)
    p.assortments.set(staff, acme, mode="all")
    profile = world.profile(capabilities={"shop.order"})
    membership = world.membership(customer=acme, profile=profile)
    viewer = attrs.evolve(staff, permissions=frozenset({"impersonate"}))
    seen_as = p.access.view_as(viewer, membership, reason="support call 17")
    assert p.shop.catalogue(seen_as).items
    with pytest.raises(PermissionDenied):
        p.shop.checkout_mode(seen_as)  # ordering is a write: refused while viewing


def test_a_price_is_asked_for_a_whole_quantity(world: World, shop: dict[str, Any]) -> None:
    p = world.portal
    acme = world.customer(settings=SHOP)
    p.assortments.set(world.staff, acme, mode="all")
    member = _member(world, acme, {"shop.order"})
    for quantity in (0, -1, 1.5, True, "2", 10**7):
        with pytest.raises(ValidationError):
            p.shop.lines(member, [(shop["a4"], quantity)])
    assert p.shop.lines(member, []) == []
