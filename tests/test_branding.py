"""Branding assets (issue 14, item 3): logos checked by content and scaled, size
instructions parsed as PDF, stored as public assets, served only when a branding names them."""

from __future__ import annotations

import io
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet
from PIL import Image
from pypdf import PdfWriter

from portalkit import STAFF_PERMISSIONS, FixedClock, Portal, PortalSettings, Staff, System
from portalkit.actors import Member
from portalkit.errors import NotFound, PermissionDenied, ValidationError
from portalkit.mail import SmtpMailer
from portalkit.mail.inline import logo_src
from portalkit.outbox import OutboxStatus
from portalkit.provisioning import AdminRequest, ProvisionRequest
from portalkit.staffrights import CUSTOMERS_PROVISION
from portalkit.storage.base import Storage
from smtpsink import SmtpServer


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


# -- the e-mail logo travels inside the mail (a cid: part), over a real SMTP server ------------


def _smtp_portal(storage: Storage, port: int) -> tuple[Portal, Staff]:
    settings = PortalSettings(
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
    )
    mailer = SmtpMailer("127.0.0.1", port, security="none", timeout=5)
    portal = Portal(storage, mailer, settings=settings, clock=FixedClock())
    vendor = portal.vendors.create(System(), code="v", name="V")
    return portal, Staff(vendor_id=vendor.id, user_id="op", permissions=STAFF_PERMISSIONS)


def _parsed(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _inline_images(parsed: EmailMessage) -> dict[str, EmailMessage]:
    return {
        str(part["Content-ID"]).strip().strip("<>"): part
        for part in parsed.walk()
        if isinstance(part, EmailMessage) and part.get_content_maintype() == "image"
    }


def test_invitation_carries_the_email_logo_inline(storage: Storage) -> None:
    with SmtpServer() as server:
        portal, staff = _smtp_portal(storage, server.port)
        summary = portal.provisioning.provision(
            staff,
            ProvisionRequest(
                code="ACME",
                name="Acme",
                email_logo=_png(900, 300),
                admin=AdminRequest(username="acme-admin", email="it@acme.example"),
            ),
        )
        stored, _ = portal.branding.public_asset(
            staff.vendor_id, summary.customer.branding.email_logo_asset_id
        )
        assert [m.status for m in portal.mail.list(staff)] == [OutboxStatus.SENT]
        [(recipients, raw)] = server.sink.raw
    assert recipients == ["it@acme.example"]
    parsed = _parsed(raw)
    html = parsed.get_body(("html",))
    assert html is not None
    found = re.search(r'<img src="cid:([^"]+)"', html.get_content())
    assert found is not None
    images = _inline_images(parsed)
    assert list(images) == [found[1]]
    part = images[found[1]]
    assert part.get_content_type() == "image/png"
    assert part.get_content_disposition() == "inline"
    assert part.get_content() == stored
    assert Image.open(io.BytesIO(stored)).size == (180, 60)  # sized for mail
    # The HTML and its image are one multipart/related inside the alternative.
    assert [p.get_content_type() for p in parsed.iter_parts()] == [
        "text/plain",
        "multipart/related",
    ]
    plain = parsed.get_body(("plain",))
    assert plain is not None and "cid:" not in plain.get_content()


def test_mail_without_an_email_logo_has_no_image_part(storage: Storage) -> None:
    with SmtpServer() as server:
        portal, staff = _smtp_portal(storage, server.port)
        portal.provisioning.provision(
            staff,
            ProvisionRequest(
                code="ACME",
                name="Acme",
                logo=_png(100, 100),
                admin=AdminRequest(username="acme-admin", email="it@acme.example"),
            ),
        )
        [(_, raw)] = server.sink.raw
    parsed = _parsed(raw)
    assert _inline_images(parsed) == {}
    html = parsed.get_body(("html",))
    assert html is not None and "cid:" not in html.get_content()


def test_a_message_carries_no_other_vendors_logo(storage: Storage) -> None:
    with SmtpServer() as server:
        portal, staff = _smtp_portal(storage, server.port)
        other = Staff(
            vendor_id=portal.vendors.create(System(), code="w", name="W").id,
            user_id="x",
            permissions=STAFF_PERMISSIONS,
        )
        theirs = portal.branding.store(
            other, portal.customers.create(other, code="B", name="B"), email_logo=_png(50, 20)
        )
        ours = portal.branding.store(
            staff, portal.customers.create(staff, code="A", name="A"), email_logo=_png(50, 20)
        )
        # Staff that can send mail names both logos by Content-ID in its own HTML.
        html = "".join(f'<img src="{logo_src(c.branding)}">' for c in (theirs, ours))
        portal.mail.enqueue(staff, to="a@b.example", subject="Hi", text="Hi", html=html)
        [(_, raw)] = server.sink.raw
    images = _inline_images(_parsed(raw))
    assert list(images) == [logo_src(ours.branding).removeprefix("cid:")]


def test_a_missing_logo_does_not_stop_the_mail(storage: Storage) -> None:
    with SmtpServer() as server:
        portal, staff = _smtp_portal(storage, server.port)
        acme = portal.branding.store(
            staff, portal.customers.create(staff, code="A", name="A"), email_logo=_png(50, 20)
        )
        portal.assets.store.delete(acme.branding.email_logo_asset_id)
        html = f'<img src="{logo_src(acme.branding)}">'
        portal.mail.enqueue(staff, to="a@b.example", subject="Hi", text="Hi", html=html)
        assert [m.status for m in portal.mail.list(staff)] == [OutboxStatus.SENT]
        [(_, raw)] = server.sink.raw
    assert _inline_images(_parsed(raw)) == {}


def test_branding_names_only_its_own_vendors_branding_assets(portal: Portal) -> None:
    staff, acme = _setup(portal)
    other = Staff(
        vendor_id=portal.vendors.create(System(), code="w", name="W").id,
        user_id="x",
        permissions=STAFF_PERMISSIONS,
    )
    theirs = portal.branding.store(
        other, portal.customers.create(other, code="B", name="B"), logo=_png(10, 10)
    )
    ours = portal.branding.store(staff, acme, logo=_png(10, 10))
    checked = portal.assets.check([], "f", _pdf())
    assert checked is not None
    for key in (
        theirs.branding.logo_asset_id,
        portal.assets.put(checked).key,  # a member-only file
        "public/" + ours.branding.logo_asset_id.partition("/")[2].replace("/", "/../", 1),
        # Well-formed in the vendor's folder, but not a key branding's store ever makes.
        ours.branding.logo_asset_id.rsplit(".", 1)[0] + ".html",
        ours.branding.logo_asset_id.rsplit("/", 1)[0] + "/x",
        ours.branding.logo_asset_id.rsplit(".", 1)[0] + ".pdf",  # a PDF is no logo
    ):
        with pytest.raises(ValidationError) as caught:
            portal.customers.update(staff, ours, branding={"logo_asset_id": key})
        assert caught.value.problems[0].code == "invalid_key"
    # Its own key is fine: a copy of another of its customers' branding names it.
    beta = portal.customers.create(staff, code="BETA", name="Beta", branding=ours.branding)
    assert beta.branding.logo_asset_id == ours.branding.logo_asset_id


def test_the_logo_goes_inline_to_an_international_address_too(storage: Storage) -> None:
    with SmtpServer() as server:
        portal, staff = _smtp_portal(storage, server.port)
        acme = portal.branding.store(
            staff, portal.customers.create(staff, code="A", name="A"), email_logo=_jpeg(80, 40)
        )
        html = f'<p><img src="{logo_src(acme.branding)}" alt="A"></p>'
        portal.mail.enqueue(
            staff, to="jürgen@müller.example", subject="Grüße", text="Hallo", html=html
        )
        [(recipients, raw)] = server.sink.raw
    assert recipients == ["jürgen@müller.example"]
    parsed = _parsed(raw)
    [(cid, part)] = _inline_images(parsed).items()
    assert f'src="cid:{cid}"' in html
    assert part.get_content_type() == "image/jpeg"
    assert Image.open(io.BytesIO(part.get_content())).size == (80, 40)


def test_a_notification_carries_the_email_logo_inline() -> None:
    from portalkit import presets
    from portalkit.mail import MemoryMailer
    from portalkit.testing import World

    mailer = MemoryMailer()
    world = World(Portal(mailer=mailer, clock=FixedClock()))
    portal = world.portal
    staff = Staff(vendor_id=world.vendor.id, user_id="op", permissions=STAFF_PERMISSIONS)
    customer = portal.branding.store(
        staff,
        world.customer(name="Bakker", branding={"email_logo_url": "https://cdn.example/b.png"}),
        email_logo=_png(120, 30),
    )
    full = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
    world.membership(customer=customer, profile=full, subscriptions=["invoices"])
    portal.mail.notify(staff, customer, "invoices", title="F-1", link="https://p.example/1")
    (mail,) = mailer.outbox
    html = mail.get_body(("html",))
    assert html is not None
    content = html.get_content()
    # The stored logo wins over the hosted one: no remote image to block.
    assert "https://cdn.example/b.png" not in content
    [(cid, part)] = _inline_images(mail).items()
    assert f'<img src="cid:{cid}"' in content
    assert (
        part.get_content()
        == portal.branding.public_asset(staff.vendor_id, customer.branding.email_logo_asset_id)[0]
    )


def test_an_image_just_under_pillows_bomb_limit_is_refused_before_decoding(
    portal: Portal,
) -> None:
    """Red team: 88 million pixels pass Pillow's guard yet cost gigabytes to decode; the
    branding limit is read from the header."""
    out = io.BytesIO()
    Image.new("1", (6000, 4200)).save(out, format="PNG")  # 25.2 million pixels, a few KB
    with pytest.raises(ValidationError) as caught:
        portal.branding.check(logo=out.getvalue(), email_logo=None, size_instructions=None)
    assert caught.value.problems[0].code == "too_large"
    portal.branding.check(logo=_png(5000, 5000), email_logo=None, size_instructions=None)


def test_only_the_pixels_of_an_upload_are_stored(portal: Portal) -> None:
    """Red team: a JPEG comment holding HTML survived re-encoding and was served publicly."""
    staff, acme = _setup(portal)
    out = io.BytesIO()
    Image.new("RGB", (300, 120), "blue").save(
        out, format="JPEG", comment=b"<html><script>alert(1)</script>"
    )
    assert b"<script>" in out.getvalue()
    saved = portal.branding.store(staff, acme, logo=out.getvalue())
    data, kind = portal.branding.public_asset(staff.vendor_id, saved.branding.logo_asset_id)
    assert kind == "image/jpeg" and b"<script>" not in data
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.height == 90 and "comment" not in stored.info


def _active_pdf(extra: dict[str, Any]) -> bytes:
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    action = DictionaryObject(
        {NameObject(k): (NameObject(v) if v.startswith("/") else TextStringObject(v))
         for k, v in extra.items()}
    )  # fmt: skip
    writer._root_object[NameObject("/OpenAction")] = action
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_pdf_that_runs_scripts_or_launches_programs_is_refused(portal: Portal) -> None:
    """Red team: a size chart with an OpenAction script was stored and served inline."""
    staff, acme = _setup(portal)
    for extra in (
        {"/S": "/JavaScript", "/JS": "app.alert(1)"},
        {"/S": "/Launch", "/F": "calc.exe"},
    ):
        with pytest.raises(ValidationError) as caught:
            portal.branding.store(staff, acme, size_instructions=_active_pdf(extra))
        assert caught.value.problems[0].code == "active_pdf"
    assert portal.assets.store.keys == frozenset()  # type: ignore[attr-defined]
