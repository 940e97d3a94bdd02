"""The branding service (``portal.branding``): a customer's logo, e-mail logo and size
instructions, checked by content and stored as public assets.

Images go through Pillow with its decompression-bomb guard on; the portal logo is scaled to
at most 90 px high, the e-mail logo to at most 60 px high and 300 px wide (aspect ratio kept).
Size instructions are a PDF that pypdf can parse.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING, Any
from uuid import UUID

import attrs
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from portalkit import _validation as v
from portalkit._guard import require_admin
from portalkit._service import load, save
from portalkit.actors import Actor
from portalkit.assets.base import PUBLIC, check_key, vendor_folder
from portalkit.assets.service import CheckedFile
from portalkit.customers.model import Customer
from portalkit.errors import NotFound, Problem, ValidationError
from portalkit.staffrights import CUSTOMERS_PROVISION

if TYPE_CHECKING:
    from portalkit._runtime import Runtime
    from portalkit.assets.service import AssetService

__all__ = ["EMAIL_LOGO_MAX", "IMAGE_MAX_PIXELS", "LOGO_MAX_HEIGHT", "BrandingService"]

LOGO_MAX_HEIGHT = 90

#: The most pixels a branding image may have (a 6000 × 4000 photo has 24 million): checked
#: from the header, before any pixel is decoded, so a small file cannot cost gigabytes.
IMAGE_MAX_PIXELS = 25_000_000

# What makes a PDF do things when opened — scripts, launched programs, embedded files, forms
# that post — rather than show a page; a size chart needs none of it.
_PDF_ACTIVE = frozenset(
    {
        "/JavaScript",
        "/JS",
        "/OpenAction",
        "/AA",
        "/Launch",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/RichMedia",
        "/XFA",
        "/SubmitForm",
        "/ImportData",
        "/GoToR",
        "/GoToE",
    }
)
_PDF_MAX_OBJECTS = 200_000
"""The portal logo's largest height in pixels (the workwear seed)."""

EMAIL_LOGO_MAX = (300, 60)
"""The e-mail logo's largest width and height in pixels."""

_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
_FIELDS = {
    "logo": "logo_asset_id",
    "email_logo": "email_logo_asset_id",
    "size_instructions": "size_instructions_asset_id",
}


class BrandingService:
    """Check and store branding files. Reached as ``portal.branding``.

    Example::

        acme = portal.branding.store(staff, acme, logo=png_bytes)
        acme.branding.logo_asset_id        # 'public/v<vendor>/3f/3fa9….png', ≤ 90 px high
        data, kind = portal.branding.public_asset(vendor_id, acme.branding.logo_asset_id)
    """

    def __init__(self, rt: Runtime, *, assets: AssetService) -> None:
        self._rt = rt
        self._assets = assets

    def check(
        self,
        *,
        logo: bytes | None = None,
        email_logo: bytes | None = None,
        size_instructions: bytes | None = None,
    ) -> dict[str, CheckedFile]:
        """The files as they would be stored (scaled), or ValidationError naming every bad
        one; stores nothing."""
        problems: list[Problem] = []
        found: dict[str, CheckedFile] = {}
        limit = self._rt.settings.branding_max_bytes
        for field, data, box in (
            ("logo", logo, (10_000, LOGO_MAX_HEIGHT)),
            ("email_logo", email_logo, EMAIL_LOGO_MAX),
        ):
            if data is None:
                continue
            if not _sized(problems, field, data, limit):
                continue
            image = _image(problems, field, data, box)
            if image is not None:
                found[field] = image
        if size_instructions is not None and _sized(
            problems, "size_instructions", size_instructions, limit
        ):
            try:
                reader = PdfReader(io.BytesIO(size_instructions), strict=True)
                reader.get_num_pages()
                active = _pdf_is_active(reader)
            except (PyPdfError, ValueError, OSError, KeyError, TypeError, RecursionError):
                problems.append(Problem("size_instructions", "not_pdf", "is not a PDF file"))
            else:
                if active:
                    problems.append(
                        Problem(
                            "size_instructions",
                            "active_pdf",
                            "is a PDF with scripts, actions or embedded files",
                        )
                    )
                else:
                    found["size_instructions"] = CheckedFile(size_instructions, "application/pdf")
        if problems:
            raise ValidationError(problems)
        return found

    def store(
        self,
        actor: Actor,
        customer: Customer | UUID,
        *,
        logo: bytes | None = None,
        email_logo: bytes | None = None,
        size_instructions: bytes | None = None,
    ) -> Customer:
        """Store the given files as new assets and point the customer's branding at them;
        returns the customer. Files are written before the commit and removed on rollback."""
        vendor_id = require_admin(actor, CUSTOMERS_PROVISION)
        files = self.check(logo=logo, email_logo=email_logo, size_instructions=size_instructions)
        with self._rt.transaction() as uow:
            current = load(uow.customers, vendor_id, "customer", customer, "customer")
            folder = vendor_folder(vendor_id)
            keys = {
                _FIELDS[name]: self._assets.put(f, public=True, folder=folder).key
                for name, f in files.items()
            }
            if not keys:
                return current
            saved = save(
                uow.customers,
                current,
                None,
                "customer",
                branding=attrs.evolve(current.branding, **keys),
            )
            self._rt.record(
                uow,
                vendor_id=vendor_id,
                action="branding_changed",
                real=actor,
                customer_id=saved.id,
                target=f"customer:{saved.id}",
                changed=sorted(keys),
            )
            return saved

    def public_asset(self, vendor_id: UUID, asset_id: object) -> tuple[bytes, str]:
        """The bytes and content type of a branding asset of this vendor, for the host's
        public route (a logo on the login page, the size instructions); NotFound for any
        other key — a member-only file's, another vendor's, one branding did not store.

        Reads no records: the key's folder says whose it is (see
        :func:`~portalkit.assets.base.vendor_folder`), so the route costs one read of the
        asset store however many customers the vendor has. A replaced logo stays readable
        by its (unguessable) key, since a copied branding may still name it.
        """
        if not isinstance(vendor_id, UUID):
            raise NotFound("asset", v.shown(asset_id))
        folder = f"{PUBLIC}/{vendor_folder(vendor_id)}/"
        if not isinstance(asset_id, str) or not asset_id.startswith(folder):
            raise NotFound("asset", v.shown(asset_id))
        try:
            check_key(asset_id)
        except ValidationError:
            raise NotFound("asset", v.shown(asset_id)) from None
        return self._assets.read_public(asset_id)


def _sized(problems: list[Problem], field: str, data: object, limit: int) -> bool:
    if not isinstance(data, bytes) or not data:
        problems.append(Problem(field, "not_bytes", "must be the file's contents"))
        return False
    if len(data) > limit:
        problems.append(
            Problem(field, "too_large", "must be at most {limit} bytes", {"limit": limit})
        )
        return False
    return True


def _image(
    problems: list[Problem], field: str, data: bytes, box: tuple[int, int]
) -> CheckedFile | None:
    try:
        with warnings.catch_warnings():
            # A bomb warning is an error here: a huge image is refused, never decoded.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                pixels = probe.size[0] * probe.size[1]
                if pixels > IMAGE_MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{pixels} pixels")
                probe.verify()
            image: Any = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        problems.append(Problem(field, "too_large", "is too large an image"))
        return None
    except Exception:  # Pillow raises many kinds for a file that is not an image
        problems.append(Problem(field, "not_image", "is not a PNG or JPEG image"))
        return None
    if kind not in _FORMATS:
        problems.append(Problem(field, "not_image", "is not a PNG or JPEG image"))
        return None
    width, height = image.size
    scale = min(1.0, box[0] / width, box[1] / height)
    if scale < 1.0:
        image = image.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    if kind == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    # Only the pixels travel on: comments, EXIF and profiles are bytes of the uploader's
    # choosing that the public route and mail would otherwise serve as they came.
    image.info = {k: val for k, val in image.info.items() if k == "transparency"}
    image.save(out, format=kind)
    return CheckedFile(out.getvalue(), _FORMATS[kind])


def _pdf_is_active(reader: PdfReader) -> bool:
    """Whether anything reachable from the document's catalogue is a script, an action,
    an embedded file or a posting form (:data:`_PDF_ACTIVE`), as a key or as an action type."""
    seen: set[tuple[int, int]] = set()
    todo: list[Any] = [reader.trailer["/Root"]]
    visited = 0
    while todo:
        node = todo.pop()
        if isinstance(node, IndirectObject):
            ref = (node.idnum, node.generation)
            if ref in seen:
                continue
            seen.add(ref)
            node = node.get_object()
        visited += 1
        if visited > _PDF_MAX_OBJECTS:
            return True  # a size chart is small; a maze of objects is refused, not walked
        if isinstance(node, DictionaryObject):
            for key, value in node.items():
                if key in _PDF_ACTIVE:
                    return True
                if key == "/S" and isinstance(value, NameObject) and value in _PDF_ACTIVE:
                    return True
                if key != "/Parent":  # the page tree's way back up
                    todo.append(value)
        elif isinstance(node, ArrayObject):
            todo.extend(node)
    return False
