"""``portal.locations.reachable()``: the sites a member may pick for a resource type — an
umbrella's branches for its main account, only the granted sites for an extra account (the
pest-control seed), never another customer's, on every backend."""

from __future__ import annotations

import pytest

from portalkit import ValidationError
from portalkit.profiles.model import Scope
from portalkit.testing import World


def _umbrella(world: World) -> dict[str, object]:
    umbrella = world.customer()
    east, west = world.customer(parent=umbrella), world.customer(parent=umbrella)
    stranger = world.customer()
    sites = {
        "kitchen": world.location(east),
        "store": world.location(east),
        "cellar": world.location(west),
        "head office": world.location(umbrella),
        "theirs": world.location(stranger),
    }
    main = world.membership(
        customer=umbrella,
        kind="main",
        profile=world.profile(capabilities={"logbook.view"}, scopes={"logbook": Scope.TREE}),
    )
    extra = world.membership(
        customer=umbrella,
        kind="extra",
        profile=world.profile(capabilities={"logbook.view"}, scopes={"logbook": "location"}),
        customer_grants=[east],
        location_grants={sites["kitchen"]: "write"},
    )
    return {"sites": sites, "main": main, "extra": extra, "stranger": stranger}


def _names(world: World, found: list[object], sites: dict[str, object]) -> set[str]:
    by_id = {site.id: name for name, site in sites.items()}  # type: ignore[attr-defined]
    return {by_id[site.id] for site in found}  # type: ignore[attr-defined]


def test_the_main_account_reaches_every_site_below_the_umbrella(world: World) -> None:
    made = _umbrella(world)
    sites = made["sites"]
    found = world.portal.locations.reachable(world.member(made["main"]), "logbook")
    assert _names(world, found, sites) == {"kitchen", "store", "cellar", "head office"}


def test_an_extra_account_reaches_its_granted_sites_only(world: World) -> None:
    made = _umbrella(world)
    sites = made["sites"]
    extra = world.member(made["extra"])
    assert _names(world, world.portal.locations.reachable(extra, "logbook"), sites) == {"kitchen"}
    # A site switched off is no longer offered.
    world.portal.locations.deactivate(world.staff, sites["kitchen"])
    assert world.portal.locations.reachable(extra, "logbook") == []


def test_a_member_of_another_customer_reaches_none_of_these_sites(world: World) -> None:
    made = _umbrella(world)
    outsider = world.membership(
        customer=made["stranger"],
        profile=world.profile(capabilities={"logbook.view"}, scopes={"logbook": Scope.TREE}),
    )
    found = world.portal.locations.reachable(world.member(outsider), "logbook")
    assert _names(world, found, made["sites"]) == {"theirs"}


def test_a_member_without_the_capability_or_with_no_login_reaches_nothing(world: World) -> None:
    made = _umbrella(world)
    world.portal.memberships.deactivate(world.staff, made["main"])
    assert world.portal.locations.reachable(world.member(made["main"]), "logbook") == []


def test_a_registered_type_needs_its_view_capability(world: World) -> None:
    from portalkit import ResourceType

    made = _umbrella(world)
    world.portal.access.register_capability("visits.view", "see visit reports")
    world.portal.access.register_resource(
        ResourceType("visits", view="visits.view", location_field="location_id")
    )
    main = world.member(made["main"])
    assert world.portal.locations.reachable(main, "visits") == []
    assert world.portal.locations.reachable(main, "logbook") != []


def test_staff_reach_every_active_site_of_their_vendor_only(world: World) -> None:
    made = _umbrella(world)
    other = World(world.portal)
    other.location(other.customer())
    found = world.portal.locations.reachable(world.staff, "logbook")
    assert _names(world, found, made["sites"]) == set(made["sites"])


@pytest.mark.parametrize("bad", ["logbok", "", "\udcff", "x" * 1_000_000, None, ["logbook"]])
def test_an_unknown_resource_type_is_an_error(world: World, bad: object) -> None:
    made = _umbrella(world)
    with pytest.raises(ValidationError):
        world.portal.locations.reachable(world.member(made["main"]), bad)  # type: ignore[arg-type]
