"""The asset service (``portal.assets``): files written inside the caller's transaction.

It is the one way services store bytes. A file is written before the transaction commits and
removed again if it rolls back (a later step failing, a conflict at commit, the host rolling
back a joined transaction); a file given up with :meth:`AssetService.discard` is removed only
after the commit, so a rolled-back delete leaves it in place.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

import attrs

from portalkit import _validation as v
from portalkit.assets.base import (
    CONTENT_TYPES,
    PRIVATE,
    PUBLIC,
    AssetStore,
    check_key,
    content_type_of_key,
    matches,
    new_key,
    sniff,
)
from portalkit.errors import NotFound, Problem

if TYPE_CHECKING:
    from portalkit._runtime import Runtime

__all__ = ["AssetService", "CheckedFile", "StoredAsset"]

log = logging.getLogger("portalkit")


@attrs.frozen
class CheckedFile:
    """Bytes that passed :meth:`AssetService.check`, with their content type."""

    data: bytes = attrs.field(repr=False)
    content_type: str

    @property
    def size(self) -> int:
        """The length in bytes."""
        return len(self.data)

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes, in hex."""
        return hashlib.sha256(self.data).hexdigest()


@attrs.frozen
class StoredAsset:
    """A file as stored: its key, content type, size and SHA-256 (hex)."""

    key: str
    content_type: str
    size: int
    sha256: str


class AssetService:
    """Store, read and give up files in the configured :class:`~portalkit.assets.base.AssetStore`.
    Reached as ``portal.assets``.

    It checks no actor: the service that owns a file (documents, tickets, branding) decides
    who may store and read it, then calls this one. Host code serves branding assets with
    :meth:`read_public` only; member-only files come from their owning service (a document
    through its signed link), never from a public route.
    """

    def __init__(self, rt: Runtime, store: AssetStore) -> None:
        self._rt = rt
        #: The backend the bytes live in.
        self.store = store

    def check(
        self,
        problems: list[Problem],
        field: str,
        data: object,
        content_type: object = None,
    ) -> CheckedFile | None:
        """Check a file before anything is written: bytes, not empty, at most
        ``PORTALKIT_ASSET_MAX_BYTES``, of an allowed content type
        (:data:`~portalkit.assets.base.CONTENT_TYPES`) that its bytes match. Without
        ``content_type`` the type is taken from the bytes. Problems are added to
        ``problems`` (None returned) so a service reports them with its own."""
        if not isinstance(data, bytes | bytearray | memoryview):
            problems.append(Problem(field, "not_bytes", "must be the file's bytes"))
            return None
        limit = self._rt.settings.asset_max_bytes
        if len(data) > limit:  # before any work proportional to the input
            problems.append(
                Problem(field, "too_large", "must be at most {limit} bytes", {"limit": limit})
            )
            return None
        payload = bytes(data)
        if not payload:
            problems.append(Problem(field, "empty", "is an empty file"))
            return None
        if content_type is None:
            kind = sniff(payload)
            if kind is None:
                problems.append(
                    Problem(field, "unknown_type", "is not a file of a type the portal accepts")
                )
                return None
            return CheckedFile(payload, kind)
        declared = (
            content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else None
        )
        if declared not in CONTENT_TYPES:
            problems.append(
                Problem(
                    "content_type",
                    "unsupported",
                    "{value} is not a content type the portal accepts",
                    {"value": v.shown(content_type)},
                )
            )
            return None
        if not matches(payload, declared):
            problems.append(
                Problem(
                    field,
                    "content_mismatch",
                    "does not look like a file of type {value}",
                    {"value": declared},
                )
            )
            return None
        return CheckedFile(payload, declared)

    def put(self, file: CheckedFile, *, public: bool = False, folder: str = "") -> StoredAsset:
        """Write a checked file under a fresh random key, in the caller's transaction (or
        one of its own): removed again if that transaction rolls back. ``public`` puts it
        in the public space (branding), else the private one; ``folder`` (such as
        :func:`~portalkit.assets.base.vendor_folder`) goes between the space and the key."""
        key = new_key(PUBLIC if public else PRIVATE, file.content_type, folder)
        with self._rt.transaction():
            self.store.put(key, file.data)
            self._rt.on_rollback(lambda: self.store.delete(key))
        return StoredAsset(key, file.content_type, file.size, file.sha256)

    def discard(self, key: str) -> None:
        """Remove the file under ``key`` once the caller's transaction commits (never if it
        rolls back); without a transaction, at once."""
        check_key(key)

        def remove() -> None:
            try:
                self.store.delete(key)
            except Exception:  # the change is committed; a leftover file is only litter
                log.exception("could not remove asset %s after the commit", key)

        if self._rt.in_transaction():
            self._rt.after_commit(remove)
        else:
            remove()

    def read_public(self, key: object) -> tuple[bytes, str]:
        """The bytes and content type of a public asset, for the host's public route.

        Any key outside the public space answers NotFound, exactly like a missing one, so
        the public route can never serve a member-only file.
        """
        if not isinstance(key, str) or not key.startswith(PUBLIC + "/"):
            raise NotFound("asset", v.shown(key))
        check_key(key)
        return self.store.get(key), content_type_of_key(key)

    def read_private(self, key: str) -> bytes:
        """The bytes of a member-only file, for the service that owns it and has checked
        the reader (documents, tickets). Public keys are refused here."""
        if not isinstance(key, str) or not key.startswith(PRIVATE + "/"):
            raise NotFound("asset", v.shown(key))
        check_key(key)
        return self.store.get(key)
