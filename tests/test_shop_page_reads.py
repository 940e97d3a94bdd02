"""The shop's page reads every stored value back as it was stored: on SQLite the catalogue
page and the page's price rules decode ids, timestamps and JSON from their stored text
themselves (``sqlite_page``), and must agree with the one-record read (through the column
types), NULLs, JSON and validity dates included; the rules read for a moment and a
quantity are exactly those valid then and for that many."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portalkit import Portal
from portalkit.catalogue.model import ItemQuery
from portalkit.testing import World

ATTRIBUTES = {"text": 'Grüße — 東京 "quoted" \\ back', "pages": 2500, "duplex": True, "none": 0}


def _world(portal: Portal) -> tuple[World, dict[str, object]]:
    world = World(portal)
    staff, c = world.staff, portal.catalogue
    toner = c.create_category(staff, name="Toner")
    black = c.create_category(staff, name="Black", parent=toner)
    items = {
        "rich": c.create_item(
            staff,
            sku="TN-1",
            name="Toner",
            description="Schwarz, Größe L",
            list_price=Decimal("49.95"),
            currency="EUR",
            category=black,
            attributes=ATTRIBUTES,
        ),
        "bare": c.create_item(staff, sku="A4", name="Paper", list_price="3", currency="EUR"),
    }
    return world, {"toner": toner, "black": black, **items}


def test_the_catalogue_page_holds_what_one_item_reads(portal: Portal) -> None:
    world, made = _world(portal)
    with portal.transaction(read_only=True) as uow:
        page = uow.search_items(world.vendor.id, ItemQuery(), limit=10)
    with portal.transaction(read_only=True) as uow:
        one = [uow.catalogue_items.get(world.vendor.id, item.id) for item in page]
    assert page == one == [made["bare"], made["rich"]]
    rich = page[1]
    assert rich.attributes == ATTRIBUTES and rich.list_price == Decimal("49.95")
    assert rich.created_at.utcoffset() is not None
    assert page[0].category_id is None


def test_the_page_rules_hold_what_one_rule_reads(portal: Portal) -> None:
    world, made = _world(portal)
    p, staff = portal, world.staff
    now = p.clock.now()
    own = p.pricing.create_list(staff, name="Own", currency="EUR")
    rules = [
        p.pricing.add_rule(staff, own, item=made["rich"], kind="fixed", value="39.9"),
        p.pricing.add_rule(
            staff,
            own,
            item=made["rich"],
            kind="fixed",
            value="30",
            min_quantity=10,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=1),
        ),
        p.pricing.add_rule(staff, own, category=made["toner"], kind="percent", value="-2.5"),
        p.pricing.add_rule(
            staff,
            own,
            category=made["black"],
            kind="percent",
            value="10",
            valid_from=now + timedelta(days=1),
        ),
    ]
    ids = [made["rich"].id]  # type: ignore[attr-defined]
    categories = [made["black"].id, made["toner"].id]  # type: ignore[attr-defined]
    with portal.transaction(read_only=True) as uow:
        every = uow.price_rules_for(
            world.vendor.id, [own.id], item_ids=ids, category_ids=categories
        )
        page = uow.price_rules_for(
            world.vendor.id, [own.id], item_ids=ids, category_ids=categories, valid_at=now, up_to=1
        )
    with portal.transaction(read_only=True) as uow:
        one = {r.id: uow.price_rules.get(world.vendor.id, r.id) for r in every}
    assert sorted(every, key=lambda r: str(r.id)) == sorted(rules, key=lambda r: str(r.id))
    assert all(one[r.id] == r for r in every)
    assert {r.id for r in page} == {rules[0].id, rules[2].id}
    timed = next(r for r in every if r.id == rules[1].id)
    assert timed.valid_from is not None and timed.valid_from.utcoffset() is not None
    assert timed.valid_from == now - timedelta(days=1)


def test_a_priced_page_agrees_with_the_price_book_at_every_quantity(portal: Portal) -> None:
    # The page reads only the rules for one piece; a larger quantity asked of the same book
    # afterwards must read its tiers, not answer from the one-piece rules.
    world, made = _world(portal)
    p, staff = portal, world.staff
    customer = world.customer(settings={"shop_enabled": True, "show_prices": True})
    p.assortments.set(staff, customer, mode="all")
    own = p.pricing.create_list(staff, name="Own", currency="EUR", customers=[customer])
    p.pricing.add_rule(staff, own, item=made["rich"], kind="fixed", value="40")
    p.pricing.add_rule(staff, own, item=made["rich"], kind="fixed", value="35", min_quantity=5)
    member = world.member(
        world.membership(
            customer=customer, profile=world.profile(capabilities={"shop.order", "prices.view"})
        )
    )
    page = p.shop.catalogue(member)
    assert {i.sku: i.unit_price for i in page.items} == {  # type: ignore[union-attr]
        "A4": Decimal("3.00"),
        "TN-1": Decimal("40.00"),
    }
    lines = p.shop.lines(member, [(made["rich"], 5), (made["bare"], 1)])
    assert [line.price.unit_price for line in lines] == [  # type: ignore[union-attr]
        Decimal("35.00"),
        Decimal("3.00"),
    ]
    book = p.pricing.book(staff, customer=customer)
    assert book.prices([made["rich"]], 1)[made["rich"].id].unit_price == Decimal("40.00")  # type: ignore[attr-defined, list-item]
    assert book.price(made["rich"], 7).unit_price == Decimal("35.00")  # type: ignore[arg-type]
