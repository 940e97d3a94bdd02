"""The access review (``portal.review``): one row per login with its *effective* rights, for
one customer, an umbrella tree or the whole vendor; staff only; CSV with formulas defused."""

from __future__ import annotations

import csv
import io
import json

import pytest

from portalkit import PermissionDenied, ValidationError
from portalkit.profiles.model import Scope
from portalkit.review import COLUMNS
from portalkit.testing import World


def _tree(world: World) -> dict[str, object]:
    umbrella = world.customer(code="UMB")
    branch = world.customer(code="UMB-1", parent=umbrella)
    other = world.customer(code="ZZZ")
    site = world.location(branch, name="Kitchen")
    main = world.membership(
        customer=umbrella,
        kind="main",
        profile=world.profile(
            capabilities={"logbook.view", "members.manage"},
            scopes={"logbook": Scope.TREE, "memberships": Scope.TREE},
        ),
    )
    extra = world.membership(
        customer=umbrella,
        kind="extra",
        profile=world.profile(capabilities={"logbook.view"}, scopes={"logbook": "location"}),
        customer_grants=[branch],
        location_grants={site: "write"},
    )
    invited = world.membership(customer=branch, profile=world.profile(capabilities={"export"}))
    outsider = world.membership(customer=other, profile=world.profile(capabilities={"export"}))
    return {
        "umbrella": umbrella, "branch": branch, "other": other, "site": site,
        "main": main, "extra": extra, "invited": invited, "outsider": outsider,
    }  # fmt: skip


def test_rows_carry_effective_rights_not_what_is_written(world: World) -> None:
    made = _tree(world)
    rows = {r.membership_id: r for r in world.portal.review.rows(world.staff)}
    main, extra = rows[made["main"].id], rows[made["extra"].id]  # type: ignore[attr-defined]
    assert main.capabilities == ("logbook.view", "members.manage") and main.denied == ""
    assert main.other_customers == ("UMB-1",)
    assert extra.locations == (("Kitchen", "write"),) and extra.depends_on_main_account
    # The main account switched off: the extra account's profile still says logbook.view,
    # but it can do nothing now, and the review says so.
    world.portal.memberships.deactivate(world.staff, made["main"].id)  # type: ignore[attr-defined]
    rows = {r.membership_id: r for r in world.portal.review.rows(world.staff)}
    extra = rows[made["extra"].id]  # type: ignore[attr-defined]
    assert extra.capabilities == () and extra.denied != ""
    # A switched-off site no longer counts among its locations.
    world.portal.memberships.activate(world.staff, made["main"].id)  # type: ignore[attr-defined]
    world.portal.locations.deactivate(world.staff, made["site"])
    rows = {r.membership_id: r for r in world.portal.review.rows(world.staff)}
    assert rows[made["extra"].id].locations == ()  # type: ignore[attr-defined]


def test_one_customer_a_tree_or_the_whole_vendor(world: World) -> None:
    made = _tree(world)
    review = world.portal.review
    codes = lambda rows: sorted({r.customer_code for r in rows})  # noqa: E731
    assert codes(review.rows(world.staff, customer=made["umbrella"])) == ["UMB"]
    assert codes(review.rows(world.staff, customer=made["umbrella"], tree=True)) == ["UMB", "UMB-1"]
    assert codes(review.rows(world.staff)) == ["UMB", "UMB-1", "ZZZ"]


def test_only_staff_review_and_only_their_vendor(world: World) -> None:
    made = _tree(world)
    with pytest.raises(PermissionDenied):
        world.portal.review.rows(world.member(made["main"]))
    other = World(world.portal)
    assert other.portal.review.rows(other.staff) == []
    with pytest.raises(Exception) as caught:
        other.portal.review.rows(other.staff, customer=made["umbrella"])
    assert type(caught.value).__name__ == "NotFound"
    with pytest.raises(ValidationError):
        world.portal.review.rows(world.staff, tree="yes")  # type: ignore[arg-type]


def test_csv_and_json_hold_the_same_rows_with_formulas_defused(world: World) -> None:
    made = _tree(world)
    world.portal.contacts.update(  # a name a spreadsheet would run
        world.staff,
        made["outsider"].contact_id,
        first_name="=HYPERLINK(x)",  # type: ignore[attr-defined]
    )
    stream = io.StringIO()
    count = world.portal.review.write_csv(world.staff, stream)
    table = list(csv.reader(io.StringIO(stream.getvalue())))
    assert tuple(table[0]) == COLUMNS and len(table) == count + 1 == 5
    names = [row[COLUMNS.index("contact_name")] for row in table[1:]]
    assert any(n.startswith("'=HYPERLINK") for n in names)
    as_json = json.loads(world.portal.review.to_json(world.staff))
    assert [r["membership_id"] for r in as_json] == [
        row[COLUMNS.index("membership_id")] for row in table[1:]
    ]


def test_explain_says_what_decides_for_one_login(world: World) -> None:
    made = _tree(world)
    said = world.portal.review.explain(world.staff, made["main"], "logbook.view")
    assert isinstance(said, str) and said
    world.portal.memberships.deactivate(world.staff, made["main"].id)  # type: ignore[attr-defined]
    assert world.portal.review.explain(world.staff, made["main"], "logbook.view") != said
