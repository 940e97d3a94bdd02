"""The host's own events in the audit log: validated, bounded, never a secret, never one of
portalkit's own actions, tagged with the request id, and part of the caller's transaction."""

from __future__ import annotations

from typing import Any

import pytest

from portalkit import NotFound, PermissionDenied, System, ValidationError
from portalkit.audit.service import DETAILS_MAX
from portalkit.testing import World


def _member(world: World) -> Any:
    membership = world.membership(profile=world.profile(capabilities={"orders.view"}))
    return membership, world.member(membership)


def test_staff_and_members_record_their_events_with_the_request_id(world: World) -> None:
    portal = world.portal
    membership, member = _member(world)
    with portal.audit.correlate("req-42"):
        placed = portal.audit.record(
            member,
            "order.placed",
            target="order:4711",
            details={"lines": 3, "total_known": True, "shipping": "express", "note": None},
        )
    shipped = portal.audit.record(
        world.staff,
        "order.shipped",
        target="order:4711",
        customer=membership.customer_id,
        reason="picked up by the carrier",
    )
    refused = portal.audit.record(
        portal.access.context(member), "document.downloaded", outcome="failure"
    )
    found = portal.audit.list(world.staff, customer=membership.customer_id)
    mine = [e for e in found if "." in e.action]
    assert [e.id for e in mine] == [placed.id, shipped.id, refused.id]
    first = mine[0]
    assert first.customer_id == membership.customer_id
    assert first.real_actor == f"member:{membership.id}"
    assert first.request_id == "req-42" and first.target == "order:4711"
    assert first.details["lines"] == 3 and first.details["shipping"] == "express"
    assert mine[1].real_actor.startswith("staff:") and mine[1].request_id == ""
    assert mine[2].outcome == "failure"
    assert [e.id for e in portal.audit.list(world.staff, action="order.shipped")] == [shipped.id]


@pytest.mark.parametrize(
    "action",
    [
        "impersonation_end",  # portalkit's own: no host event may pass for it
        "login_success",
        "authz_fail",
        "Order.Placed",
        "order.",
        ".placed",
        "order..placed",
        "order placed",
        "a.b.c.d.e",
        "order.placed\n",
        "order.pl\udcffaced",
        "x" * 1_000_000,
        "",
        None,
        7,
    ],
)
def test_actions_are_dotted_lowercase_words(world: World, action: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        world.portal.audit.record(world.staff, action)
    assert caught.value.field == "action"


@pytest.mark.parametrize(
    "details",
    [
        {"password": "hunter2"},
        {"reset_token": "abc"},
        {"session": "x"},
        {"api_key": "k"},
        {"card_number": "4111"},
        {"new_pin": "1234"},
        {"request_id": "forged"},
        {"Note": "upper case"},
        {"nested": {"a": 1}},
        {"items": [1, 2]},
        {"note": "x" * 501},
        {"note": "line\x00break"},
        {"ratio": float("nan")},
        {"ratio": float("inf")},
        {"big": 2**60},
        {f"k{n}": n for n in range(DETAILS_MAX + 1)},
        ["not", "a", "mapping"],
    ],
)
def test_details_are_few_small_plain_and_never_a_secret(world: World, details: Any) -> None:
    with pytest.raises(ValidationError):
        world.portal.audit.record(world.staff, "order.placed", details=details)
    assert [e for e in world.portal.audit.list(world.staff) if e.action == "order.placed"] == []


def test_words_that_only_contain_a_secret_word_pass(world: World) -> None:
    event = world.portal.audit.record(
        world.staff,
        "order.placed",
        details={"shipping": "x", "author": "y", "discard": True, "hashtag_count": 2},
    )
    assert event.details["shipping"] == "x"


def test_a_member_records_for_its_own_customer_only(world: World) -> None:
    _membership, member = _member(world)
    other = world.customer()
    with pytest.raises(ValidationError) as caught:
        world.portal.audit.record(member, "order.placed", customer=other)
    assert caught.value.field == "customer"


def test_staff_name_customers_of_their_own_vendor_only(world: World) -> None:
    portal = world.portal
    stranger = World(portal, vendor_code="other").customer()
    with pytest.raises(NotFound):
        portal.audit.record(world.staff, "order.placed", customer=stranger)
    with pytest.raises(PermissionDenied):
        portal.audit.record(System(), "order.placed")


def test_an_event_vanishes_with_the_transaction_it_was_recorded_in(world: World) -> None:
    portal = world.portal
    with pytest.raises(RuntimeError), portal.transaction():
        portal.audit.record(world.staff, "order.placed", target="order:1")
        raise RuntimeError("the host's order failed")
    with portal.transaction():
        portal.audit.record(world.staff, "order.placed", target="order:2")
    kept = [e.target for e in portal.audit.list(world.staff) if e.action == "order.placed"]
    assert kept == ["order:2"]


def test_a_login_that_no_longer_works_records_nothing(world: World) -> None:
    portal = world.portal
    membership, member = _member(world)
    portal.memberships.deactivate(world.staff, membership.id)
    with pytest.raises(PermissionDenied):
        portal.audit.record(member, "order.placed")
    with pytest.raises(PermissionDenied):
        portal.audit.record(portal.access.context(member), "order.placed")
    assert [e for e in portal.audit.list(world.staff) if e.action == "order.placed"] == []


@pytest.mark.parametrize(
    "name",
    [
        *("sessionid", "accesstoken", "secretkey", "passcode", "pw", "jwt", "bearer"),
        *("user_pwd", "old_password_hash", "x_api_key", "authorization_header", "card"),
        *("iban", "otp_code"),
    ],
)
def test_joined_and_short_secret_names_are_refused(world: World, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        world.portal.audit.record(world.staff, "order.placed", details={name: "x"})
    assert caught.value.code == "secret"
