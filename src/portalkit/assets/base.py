"""The asset-store contract: where the bytes of uploaded files live, by key.

A backend stores and returns bytes under keys that portalkit makes; it decides nothing else.
Keys are never a user's file name: :func:`new_key` makes a random one in one of two *spaces*,

- ``public/…`` — branding assets (logos) that anyone may fetch, and
- ``private/…`` — member-only files (documents, ticket attachments), served only after the
  service that owns them checked who asks.

An adapter serves the two spaces by different routes: the public route reads through
:meth:`AssetService.read_public <portalkit.assets.service.AssetService.read_public>`, which
refuses every private key, so no URL on the public route can reach a member-only file.

Every key a backend is handed passes :func:`check_key` first (a backend calls it too, since
a third-party caller may hand it anything): lower-case letters, digits, ``.``, ``_`` and
``-`` in at most four ``/``-separated parts below the space, no part starting with a dot —
so no ``..``, no absolute path, no backslash, no drive letter, no NUL can reach a file system.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from uuid import UUID

from portalkit.errors import ValidationError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = [
    "CONTENT_TYPES",
    "PRIVATE",
    "PUBLIC",
    "AssetStore",
    "check_key",
    "content_type_of_key",
    "new_key",
    "sniff",
    "vendor_folder",
]

PUBLIC = "public"
"""The key space of assets anyone may fetch (branding)."""

PRIVATE = "private"
"""The key space of member-only files (documents, attachments)."""

KEY_MAX = 200

_KEY_RE = re.compile(r"(public|private)(/[a-z0-9][a-z0-9._-]{0,99}){1,4}")

CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "text/plain": "txt",
    "text/csv": "csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
"""The content types portalkit stores, each with the file extension its keys end in.

A file is accepted only when its bytes look like the type (see :func:`sniff`): a PDF starts
with ``%PDF-``, a PNG, JPEG or GIF with its signature, an Office file is a ZIP archive, and
text is UTF-8 without NUL bytes that starts with no tag (after blanks and a byte order mark). Anything else — HTML, SVG, scripts, executables — is
refused, since a browser might run it when the file is opened from the portal's own origin.
"""

_BY_EXTENSION = {ext: kind for kind, ext in CONTENT_TYPES.items()}

# How markup begins: a tag, an end tag, a comment or doctype, a processing instruction.
_TAG_START = re.compile(r"<[a-z!?/]")


def check_key(key: object) -> str:
    """``key`` if it is a well-formed asset key, else ValidationError (code ``invalid_key``).

    What passes cannot leave a store's root directory: see the module's description.
    """
    if (
        not isinstance(key, str)
        or len(key) > KEY_MAX
        or not key.isascii()
        or not _KEY_RE.fullmatch(key)
    ):
        raise ValidationError.single("key", "invalid_key", "is not an asset key")
    return key


def new_key(space: str, content_type: str, folder: str = "") -> str:
    """A fresh random key in ``space`` (:data:`PUBLIC` or :data:`PRIVATE`) for a file of
    ``content_type``: ``private/3f/3fa9…e1.pdf`` (128 random bits; the two-digit folder keeps
    directories small), below ``folder`` when one is given (``public/v<vendor>/3f/…``, see
    :func:`vendor_folder`)."""
    if space not in (PUBLIC, PRIVATE):
        raise ValueError(f"unknown asset space {space!r}")
    if folder and not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", folder):
        raise ValueError(f"not an asset folder: {folder!r}")
    token = secrets.token_hex(16)
    below = f"{folder}/" if folder else ""
    return f"{space}/{below}{token[:2]}/{token}.{CONTENT_TYPES[content_type]}"


def vendor_folder(vendor_id: UUID) -> str:
    """The folder of one vendor's branding assets in the public space: ``v`` and the
    vendor's id in hex. A key says whose it is, so the public route and the mail builder tell
    a vendor's own logo from another's without reading storage."""
    return f"v{vendor_id.hex}"


def content_type_of_key(key: str) -> str:
    """The content type a key was made for (from its extension); ``application/octet-stream``
    for a key of another maker."""
    _, _, extension = key.rpartition(".")
    return _BY_EXTENSION.get(extension, "application/octet-stream")


def sniff(data: bytes) -> str | None:
    """The content type of :data:`CONTENT_TYPES` that ``data`` looks like, or None.

    Text is told apart only as plain text; a caller that declares ``text/csv`` gets it when
    the bytes are text.
    """
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"PK\x03\x04"):
        return None  # a ZIP archive: only a declared Office type says which
    if _is_text(data):
        return "text/plain"
    return None


def matches(data: bytes, content_type: str) -> bool:
    """Whether ``data`` looks like a file of ``content_type`` (one of :data:`CONTENT_TYPES`)."""
    if content_type in ("text/plain", "text/csv"):
        return _is_text(data)
    if content_type.startswith("application/vnd.openxmlformats-officedocument."):
        return data.startswith(b"PK\x03\x04")
    return sniff(data) == content_type


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    # An HTML or SVG file named text would be read as markup by a careless browser, which
    # skips a byte order mark and needs no <html> to run a tag: text starts with no tag.
    head = text.lstrip().lstrip("\ufeff").lstrip()[:2].lower()
    return not _TAG_START.match(head)


@runtime_checkable
class AssetStore(Protocol):
    """Bytes by key. A backend checks every key with :func:`check_key` before it uses it.

    A write must be complete or absent: a reader never sees half a file (write to a
    temporary name, then rename). Keys are written once; ``put`` on a taken key fails.
    """

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under the new ``key`` (Conflict if the key is taken)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (NotFound if there are none)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether something is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove what is stored under ``key``; nothing happens if nothing is."""
        ...


class AssetStoreFactory(Protocol):
    """What ``PORTALKIT_ASSET_STORE`` names: a class with a ``from_settings`` method."""

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> AssetStore:
        """Build the store the settings describe."""
        ...
