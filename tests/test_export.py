"""CSV export (issue 14, item 4): customers and logins with their rights, streamed a page at a
time, formula-looking cells defused as ``ctx.export`` does; an export imports again as a no-op.
"""

from __future__ import annotations

import csv
import io
import types

import pytest

from portalkit.errors import PermissionDenied, ValidationError
from portalkit.testing import World


def _table(world: World, kind: str) -> list[dict[str, str]]:
    text = "".join(world.portal.exports.lines(world.staff, kind))
    return list(csv.DictReader(io.StringIO(text)))


def test_customers_are_exported_with_parent_and_delivery_address(world: World) -> None:
    hgz = world.customer(
        code="HGZ",
        name="Hoogezand",
        erp_reference="D-1",
        addresses=[
            {
                "street": "Stationsweg 1",
                "postal_code": "9601 AB",
                "city": "Hoogezand",
                "country": "nl",
                "default_delivery": True,
            }
        ],
    )
    world.customer(code="HGZ-N", name="Noord", parent=hgz)

    rows = sorted(_table(world, "customers"), key=lambda r: r["code"])

    assert [r["code"] for r in rows] == ["HGZ", "HGZ-N"]
    assert rows[0]["city"] == "Hoogezand" and rows[0]["country"] == "NL"
    assert rows[1]["parent"] == "HGZ" and rows[1]["active"] == "true"


def test_logins_are_exported_with_their_rights(world: World) -> None:
    customer = world.customer(code="HGZ")
    north = world.location(customer, name="Noord", code="NORTH")
    profile = world.profile(name="Buyer", capabilities={"orders.view"})
    membership = world.membership(
        customer,
        account=world.account(username="anna", email="anna@hgz.example"),
        contact=world.contact(customer, first_name="Anna", last_name="Smit"),
        profile=profile,
        location_grants={north: "write"},
    )

    (row,) = _table(world, "logins")

    assert row["customer"] == "HGZ" and row["email"] == "anna@hgz.example"
    assert (row["username"], row["first_name"], row["last_name"]) == ("anna", "Anna", "Smit")
    assert (row["profile"], row["capabilities"]) == ("Buyer", "orders.view")
    assert row["locations"] == "NORTH:write"
    assert (row["status"], row["kind"]) == (membership.status.value, membership.kind.value)


def test_formula_looking_cells_are_defused(world: World) -> None:
    world.customer(code="EVIL", name='=HYPERLINK("https://evil.example","click")')
    world.customer(code="PLUS", name="+31 50 123", erp_reference="@SUM(A1)")

    rows = sorted(_table(world, "customers"), key=lambda r: r["code"])

    assert rows[0]["name"] == '\'=HYPERLINK("https://evil.example","click")'
    assert (rows[1]["name"], rows[1]["erp_reference"]) == ("'+31 50 123", "'@SUM(A1)")


def test_an_export_imports_again_as_a_no_op(world: World) -> None:
    parent = world.customer(code="HGZ", name="Hoogezand")
    world.customer(code="HGZ-N", name="=1+1", parent=parent)
    customer = world.customer(code="ACME")
    world.location(customer, name="Noord", code="NORTH")
    world.membership(customer, profile=world.profile(name="Reader"))
    for kind in ("customers", "logins"):
        text = "".join(world.portal.exports.lines(world.staff, kind))
        if kind == "customers":
            # The apostrophe of a defused cell is the spreadsheet's; its reader drops it.
            text = text.replace("'=1+1", "=1+1")

        report = world.portal.imports.load(world.staff, kind, io.StringIO(text))

        assert report.ok, report.problems
        assert report.unchanged == report.read and report.written == 0


def test_the_export_is_streamed_a_page_at_a_time(world: World) -> None:
    for n in range(1_203):
        world.portal.customers.create(world.staff, code=f"C{n:05d}", name=f"Customer {n}")

    rows = world.portal.exports.rows(world.staff, "customers")

    assert isinstance(rows, types.GeneratorType)
    assert next(rows)[0] == "code"
    assert sum(1 for _ in rows) == 1_203


def test_an_export_is_recorded_in_the_audit_log(world: World) -> None:
    world.portal.exports.rows(world.staff, "logins")

    (event,) = world.portal.audit.list(world.staff, action="data_exported")
    assert event.details["kind"] == "logins"


def test_only_staff_export_and_only_known_kinds(world: World) -> None:
    member = world.member(world.membership())

    with pytest.raises(PermissionDenied):
        world.portal.exports.rows(member, "logins")
    with pytest.raises(ValidationError) as refused:
        world.portal.exports.rows(world.staff, "passwords")
    assert refused.value.field == "kind"


def test_another_vendors_records_are_not_exported(world: World) -> None:
    other = World(world.portal)
    other.membership(other.customer(code="THEIRS"))
    world.customer(code="OURS")

    assert [r["code"] for r in _table(world, "customers")] == ["OURS"]
    assert _table(world, "logins") == []
