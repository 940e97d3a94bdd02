"""Images sent inside a mail as ``cid:`` parts: the customer's e-mail logo.

Many mail programs block remote images until the reader allows them; an image carried in
the message itself (a ``multipart/related`` part with a ``Content-ID``, shown by
``<img src="cid:…">``) is shown at once. A template does not know about parts: it gets
``logo_url`` from :func:`logo_src`, which is ``cid:`` and a Content-ID naming the stored
e-mail logo when the customer has one, and the outbox, when it builds the message, attaches
the asset each such Content-ID names (:func:`inline_keys`).

A Content-ID names a branding asset of one vendor in the public space (see
:func:`portalkit.assets.base.vendor_folder`); the outbox attaches it only to mail of that
vendor, so a message can carry no other vendor's file, and never a member-only one.
"""

from __future__ import annotations

import re
from uuid import UUID

from portalkit.assets.base import PUBLIC, vendor_folder
from portalkit.customers.model import Branding

__all__ = ["INLINE_MAX", "content_id", "inline_keys", "logo_src"]

INLINE_MAX = 3
"""The most images one message carries inline; further ``cid:`` references stay as they are."""

# What branding stores: public/v<vendor>/<2 hex>/<32 hex>.png|jpg (assets.base.new_key).
_KEY = re.compile(r"public/v([0-9a-f]{32})/([0-9a-f]{2})/([0-9a-f]{32})\.(png|jpg)")
_CID = re.compile(r"cid:logo\.([0-9a-f]{32})\.(png|jpg)\.v([0-9a-f]{32})@portalkit")


def content_id(key: str) -> str | None:
    """The Content-ID (without angle brackets) that stands for the branding asset ``key``,
    or None for a key branding did not make."""
    found = _KEY.fullmatch(key) if isinstance(key, str) else None
    if found is None or found[3][:2] != found[2]:
        return None
    vendor, _, token, ext = found.groups()
    return f"logo.{token}.{ext}.v{vendor}@portalkit"


def logo_src(branding: Branding) -> str:
    """What a mail's logo ``<img src>`` shows: ``cid:`` and the stored e-mail logo's
    Content-ID, else the customer's hosted ``email_logo_url`` (may be empty)."""
    cid = content_id(branding.email_logo_asset_id) if branding.email_logo_asset_id else None
    return f"cid:{cid}" if cid else branding.email_logo_url


def inline_keys(html: str, vendor_id: UUID) -> dict[str, str]:
    """The images ``html`` shows by Content-ID that belong to ``vendor_id``: Content-ID →
    asset key, in order of first use, at most :data:`INLINE_MAX`."""
    found: dict[str, str] = {}
    for match in _CID.finditer(html):
        token, ext, vendor = match.groups()
        cid = match[0][len("cid:") :]
        if cid in found or vendor != vendor_id.hex:
            continue
        if len(found) == INLINE_MAX:
            break
        found[cid] = f"{PUBLIC}/{vendor_folder(vendor_id)}/{token[:2]}/{token}.{ext}"
    return found
