"""Branding assets (issue 14, item 3): logos checked by content and scaled, size
instructions parsed as PDF, stored as public assets, served only when a branding names them."""

from __future__ import annotations

import io
from typing import Any
from uuid import uuid4

import pytest
from PIL import Image
from pypdf import PdfWriter

from portalkit import Portal, Staff, System
from portalkit.actors import Member
from portalkit.errors import NotFound, PermissionDenied, ValidationError
from portalkit.staffrights import CUSTOMERS_PROVISION


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, format="PNG")
    return out.getvalue()


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(out, format="JPEG")
    return out.getvalue()


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _setup(portal: Portal) -> tuple[Staff, Any]:
    vendor = portal.vendors.create(System(), code="v", name="V")
    staff = Staff(vendor_id=vendor.id, user_id="op", permissions=frozenset({CUSTOMERS_PROVISION}))
    return staff, portal.customers.create(staff, code="ACME", name="Acme")


def test_logo_is_scaled_to_90_px_and_served(portal: Portal) -> None:
    staff, acme = _setup(portal)
    saved = portal.branding.store(staff, acme, logo=_png(600, 300), email_logo=_jpeg(900, 100))
    data, kind = portal.branding.public_asset(staff.vendor_id, saved.branding.logo_asset_id)
    assert kind == "image/png"
    assert Image.open(io.BytesIO(data)).size == (180, 90)
    mail, kind = portal.branding.public_asset(staff.vendor_id, saved.branding.email_logo_asset_id)
    assert kind == "image/jpeg"
    assert Image.open(io.BytesIO(mail)).size == (300, 33)
    assert saved.branding.logo_asset_id.startswith("public/")


def test_content_not_name_decides(portal: Portal) -> None:
    staff, acme = _setup(portal)
    with pytest.raises(ValidationError) as caught:
        portal.branding.store(staff, acme, logo=b"just some text, renamed logo.png")
    assert caught.value.problems[0].code == "not_image"
    # A PNG is a PNG whatever the host called the file.
    saved = portal.branding.store(staff, acme, logo=_png(10, 10))
    assert saved.branding.logo_asset_id.endswith(".png")


def test_image_bomb_refused(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    staff, acme = _setup(portal)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ValidationError) as caught:
        portal.branding.store(staff, acme, logo=_png(100, 100))
    assert caught.value.problems[0].code == "too_large"
    assert portal.assets.store.keys == frozenset()  # type: ignore[attr-defined]


def test_size_instructions_must_parse_as_pdf(portal: Portal) -> None:
    staff, acme = _setup(portal)
    with pytest.raises(ValidationError):
        portal.branding.store(staff, acme, size_instructions=b"%PDF-1.4 not really")
    saved = portal.branding.store(staff, acme, size_instructions=_pdf())
    data, kind = portal.branding.public_asset(
        staff.vendor_id, saved.branding.size_instructions_asset_id
    )
    assert kind == "application/pdf" and data.startswith(b"%PDF-")


def test_public_asset_only_for_branding_of_that_vendor(portal: Portal) -> None:
    staff, acme = _setup(portal)
    other = Staff(vendor_id=portal.vendors.create(System(), code="w", name="W").id, user_id="x")
    saved = portal.branding.store(staff, acme, logo=_png(10, 10))
    with pytest.raises(NotFound):
        portal.branding.public_asset(other.vendor_id, saved.branding.logo_asset_id)
    checked = portal.assets.check([], "f", _png(5, 5))
    assert checked is not None
    loose = portal.assets.put(checked, public=True)
    with pytest.raises(NotFound):
        portal.branding.public_asset(staff.vendor_id, loose.key)


def test_member_may_not_store(portal: Portal) -> None:
    staff, acme = _setup(portal)
    member = Member(
        vendor_id=staff.vendor_id, account_id=uuid4(), membership_id=uuid4(), customer_id=acme.id
    )
    with pytest.raises(PermissionDenied):
        portal.branding.store(member, acme, logo=_png(10, 10))


def test_staff_without_provision_permission_may_not_store(portal: Portal) -> None:
    staff, acme = _setup(portal)
    clerk = Staff(vendor_id=staff.vendor_id, user_id="clerk", permissions=frozenset({"inbox.work"}))
    with pytest.raises(PermissionDenied):
        portal.branding.store(clerk, acme, logo=_png(10, 10))
    assert portal.customers.get(staff, acme.id).branding.logo_asset_id == ""
