"""Vendors are renamed (their code never changes) and default_vendor() takes a name."""

from __future__ import annotations

import pytest

from portalkit import NotFound, PermissionDenied, Portal, System, ValidationError
from portalkit.testing import World


def test_staff_rename_their_own_vendor_and_it_is_audited(world: World) -> None:
    portal = world.portal
    renamed = portal.vendors.rename(world.staff, world.vendor, "Jansen Transport B.V.")
    assert renamed.name == "Jansen Transport B.V." and renamed.code == world.vendor.code
    assert portal.vendors.get(world.staff, world.vendor.id).name == "Jansen Transport B.V."
    (event,) = portal.audit.list(world.staff, action="vendor_renamed")
    assert event.details["before"] == world.vendor.name
    assert event.details["after"] == "Jansen Transport B.V."
    assert portal.vendors.rename(world.staff, world.vendor, "Jansen Transport B.V.") == renamed
    assert len(portal.audit.list(world.staff, action="vendor_renamed")) == 1  # no change


def test_only_the_platform_and_a_vendors_own_staff_rename_it(world: World) -> None:
    portal = world.portal
    other = World(portal, vendor_code="other")
    with pytest.raises(NotFound):
        portal.vendors.rename(world.staff, other.vendor, "Taken over")
    member = world.member(world.membership(profile=world.profile(capabilities={"members.manage"})))
    with pytest.raises(PermissionDenied):
        portal.vendors.rename(member, world.vendor, "By a customer")
    assert portal.vendors.rename(System(), other.vendor, "Renamed by the platform").name == (
        "Renamed by the platform"
    )
    assert portal.vendors.get(world.staff, world.vendor).name == world.vendor.name


@pytest.mark.parametrize("name", ["", "   ", "x" * 10_000, "tab\tbed", "lone \udcff", None])
def test_a_bad_name_changes_nothing(world: World, name: object) -> None:
    with pytest.raises(ValidationError):
        world.portal.vendors.rename(world.staff, world.vendor, name)  # type: ignore[arg-type]
    assert world.portal.vendors.get(world.staff, world.vendor).name == world.vendor.name


def test_default_vendor_takes_its_name_and_keeps_it_current(portal: Portal) -> None:
    first = portal.default_vendor("Van Dijk Logistics")
    assert first.name == "Van Dijk Logistics" and first.code == portal.settings.default_vendor
    assert portal.default_vendor() == first  # without a name: as it is
    again = portal.default_vendor("Van Dijk Logistics B.V.")  # the host's new configured name
    assert again.id == first.id and again.name == "Van Dijk Logistics B.V."
    assert portal.vendors.list(System()) == [again]
