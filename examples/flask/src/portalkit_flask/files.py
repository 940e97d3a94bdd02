"""Serving a member's files: the one way a portalkit document leaves a Flask app.

``docs/documents.md`` sets the rule for adapters: member-only files are served only after
``portal.documents.open()`` (or ``download()``) checked the member, by their own route, never by
the route of public branding assets, and never cached where another person could get them.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, send_file

__all__ = ["document_response"]


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
