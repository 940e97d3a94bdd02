"""The public route of branding assets in portalkit-flask, on real SQLite and a filesystem
asset store: the right content type, never sniffed, cacheable, 404 for anything else."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask, url_for
from PIL import Image
from portalkit_flask import Portalkit, current_portal
from pypdf import PdfWriter

from portalkit import Portal, Staff
from portalkit.staffrights import STAFF_PERMISSIONS


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "green").save(out, format="PNG")
    return out.getvalue()


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = Flask("host", root_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="a test secret that is long enough",
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}",
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_SECRET_KEY="another long test secret for throttles",
        PORTALKIT_ASSET_STORE="filesystem",
        PORTALKIT_ASSET_DIR=str(tmp_path / "assets"),
    )
    Portalkit(app)
    yield app
    with app.app_context():
        current_portal.close()


def _portal(app: Flask) -> tuple[Portal, Staff]:
    with app.app_context():
        portal: Portal = current_portal._get_current_object()  # type: ignore[attr-defined]
    staff = Staff(vendor_id=portal.default_vendor().id, user_id="op", permissions=STAFF_PERMISSIONS)
    return portal, staff


def _url(app: Flask, key: str) -> str:
    with app.test_request_context():
        return url_for("portalkit.branding_asset", asset_id=key)


def test_a_logo_is_served_with_its_type_nosniff_and_caching(app: Flask) -> None:
    portal, staff = _portal(app)
    acme = portal.customers.create(staff, code="ACME", name="Acme")
    acme = portal.branding.store(staff, acme, logo=_png(300, 300), size_instructions=_pdf())
    client = app.test_client()
    answer = client.get(_url(app, acme.branding.logo_asset_id))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "sandbox" in answer.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in answer.headers
    assert Image.open(io.BytesIO(answer.data)).size == (90, 90)
    # A cache that has it asks again with its ETag and gets no body.
    again = client.get(
        _url(app, acme.branding.logo_asset_id),
        headers={"If-None-Match": answer.headers["ETag"]},
    )
    assert again.status_code == 304 and again.data == b""
    pdf = client.get(_url(app, acme.branding.size_instructions_asset_id))
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")


@pytest.mark.parametrize(
    "key",
    [
        "public/v0/ab/nothing.png",
        "../portal.db",
        "private/ab/0123456789abcdef0123456789abcdef.pdf",
        "public/ab/0123456789abcdef0123456789abcdef.png",
    ],
)
def test_anything_but_a_branding_asset_of_the_vendor_is_404(app: Flask, key: str) -> None:
    _portal(app)
    assert app.test_client().get(f"/branding/{key}").status_code == 404


def test_a_member_only_file_is_not_served_by_the_public_route(app: Flask) -> None:
    portal, staff = _portal(app)
    acme = portal.customers.create(staff, code="ACME", name="Acme")
    checked = portal.assets.check([], "file", _pdf())
    assert checked is not None
    private = portal.assets.put(checked)
    loose = portal.assets.put(checked, public=True)
    client = app.test_client()
    assert client.get(_url(app, private.key)).status_code == 404
    assert client.get(_url(app, loose.key)).status_code == 404  # no vendor's branding
    # A key of this vendor's folder that branding never stored is missing, not an error.
    stored = portal.branding.store(staff, acme, logo=_png(10, 10))
    gone = stored.branding.logo_asset_id
    portal.assets.store.delete(gone)
    assert client.get(_url(app, gone)).status_code == 404


def test_another_vendors_logo_is_404(app: Flask) -> None:
    from portalkit import System

    portal, _ = _portal(app)
    other_vendor = portal.vendors.create(System(), code="other", name="Other")
    other = Staff(vendor_id=other_vendor.id, user_id="x", permissions=STAFF_PERMISSIONS)
    theirs = portal.branding.store(
        other, portal.customers.create(other, code="B", name="B"), logo=_png(10, 10)
    )
    answer: Any = app.test_client().get(_url(app, theirs.branding.logo_asset_id))
    assert answer.status_code == 404
