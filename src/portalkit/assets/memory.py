"""An asset store in process memory, for tests and demos."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from portalkit.assets.base import check_key
from portalkit.errors import Conflict, NotFound

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["MemoryAssetStore"]


class MemoryAssetStore:
    """Keeps every file in a dict (thread-safe); nothing survives the process.

    :attr:`keys` lists what is stored, so tests can see that a rollback took a file back.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> MemoryAssetStore:
        """An empty store (``PORTALKIT_ASSET_STORE=memory``)."""
        return cls()

    @property
    def keys(self) -> frozenset[str]:
        """Every key stored."""
        with self._lock:
            return frozenset(self._files)

    def put(self, key: str, data: bytes) -> None:
        """Keep a copy of ``data`` under ``key``."""
        check_key(key)
        with self._lock:
            if key in self._files:
                raise Conflict("key", "an asset with this key exists already")
            self._files[key] = bytes(data)

    def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        check_key(key)
        with self._lock:
            found = self._files.get(key)
        if found is None:
            raise NotFound("asset", key)
        return found

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""
        check_key(key)
        with self._lock:
            return key in self._files

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        check_key(key)
        with self._lock:
            self._files.pop(key, None)
