"""Serving files: the one way a portalkit document or branding asset leaves a Flask app.

``docs/documents.md`` sets the rule for adapters: member-only files are served only after
``portal.documents.open()`` (or ``download()``) checked the member, by their own route, never by
the route of public branding assets, and never cached where another person could get them.
Branding assets (``docs/branding.md``) are public and never change under their key, so any
cache may keep them.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, send_file

__all__ = ["BRANDING_MAX_AGE", "branding_response", "document_response"]

BRANDING_MAX_AGE = 365 * 24 * 3600
"""How long a cache keeps a branding asset, in seconds: a year, since a key's bytes never
change (a new logo is a new key)."""


def document_response(document: Any, content: bytes) -> Response:
    """The response for a document ``portal.documents.open()`` or ``download()`` handed out,
    or a ticket's file from ``portal.tickets.attachment()``:
    always a download (``Content-Disposition: attachment`` with the document's name, safely
    encoded), never stored by a browser or shared cache (``Cache-Control: private,
    no-store``), never content-sniffed, and sandboxed should a browser render it anyway."""
    response = send_file(
        io.BytesIO(content),
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def branding_response(key: str, content: bytes, content_type: str) -> Response:
    """The response for a branding asset ``portal.branding.public_asset()`` returned: its
    content type as portalkit checked it, never content-sniffed, sandboxed should a browser
    open it as a page, shown in place (a logo, the size-instruction PDF), and cacheable by
    anyone for :data:`BRANDING_MAX_AGE` (the key names these bytes for good)."""
    response = Response(content, mimetype=content_type)
    response.headers["Cache-Control"] = f"public, max-age={BRANDING_MAX_AGE}, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = "inline"
    # The key is the asset's identity, so it is its validator too.
    response.set_etag(key.rpartition("/")[2])
    return response
