"""The default asset store: one file per key below a root folder.

A key becomes a path below the root only after :func:`~portalkit.assets.base.check_key`
accepted it, and no symbolic link is followed on the way — not a folder, not the file — so
nothing stored can be read from, or written to, outside the root, even by someone who can
place links inside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from portalkit.assets.base import check_key
from portalkit.errors import Conflict, NotFound, StorageError

if TYPE_CHECKING:
    from portalkit.settings import PortalSettings

__all__ = ["FilesystemAssetStore", "default_asset_dir"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def default_asset_dir(database_url: str) -> str:
    """Where assets go without ``PORTALKIT_ASSET_DIR``: ``assets`` beside a SQLite file,
    else ``portalkit-assets`` in the working directory."""
    prefix = "sqlite:///"
    if database_url.startswith(prefix):
        path = database_url[len(prefix) :].partition("?")[0]
        if path and path != ":memory:":
            return str(Path(path).parent / "assets")
    return "portalkit-assets"


class FilesystemAssetStore:
    """Files below ``root``: ``private/3f/3fa9….pdf`` is ``<root>/private/3f/3fa9….pdf``.

    Each file is written under a temporary name and then linked to its key in one step, so
    a reader sees a whole file or none, and two writers of one key cannot both win.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        #: The folder every file lives below (made when the first file is written).
        self.root = Path(os.path.abspath(root))

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> FilesystemAssetStore:
        """Below ``PORTALKIT_ASSET_DIR`` (``PORTALKIT_ASSET_STORE=filesystem``)."""
        return cls(settings.asset_dir or default_asset_dir(settings.database_url))

    def _folder(self, key: str, *, create: bool) -> Path | None:
        """The folder a key's file lives in, checked to be a real folder at every step
        (None if it does not exist and ``create`` is off)."""
        parts = key.split("/")[:-1]
        current = self.root
        if create:
            current.mkdir(parents=True, exist_ok=True)
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                if not create:
                    return None
                with contextlib.suppress(FileExistsError):
                    os.mkdir(current)
                info = os.lstat(current)
            if not stat.S_ISDIR(info.st_mode):  # a link or a file where a folder belongs
                raise StorageError(
                    "the asset store holds something else than a folder at {key}", key=key
                )
        return current

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` under ``key``."""
        check_key(key)
        payload = bytes(data)
        try:
            folder = self._folder(key, create=True)
            assert folder is not None
            target = folder / key.rpartition("/")[2]
            partial = folder / f".{target.name}.{os.getpid()}.{id(payload):x}.tmp"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _BINARY, 0o640)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(payload)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    # A hard link fails if the key is taken: no check-then-write race.
                    os.link(partial, target, follow_symlinks=False)
                except FileExistsError:
                    raise Conflict("key", "an asset with this key exists already") from None
            finally:
                os.unlink(partial)
        except OSError as exc:
            raise StorageError(
                "the asset store cannot write {key}: {error}",
                key=key,
                error=exc.strerror or "error",
            ) from None

    def get(self, key: str) -> bytes:
        """The bytes under ``key``."""
        check_key(key)
        try:
            folder = self._folder(key, create=False)
            if folder is None:
                raise NotFound("asset", key)
            fd = os.open(folder / key.rpartition("/")[2], os.O_RDONLY | _NOFOLLOW | _BINARY)
        except FileNotFoundError:
            raise NotFound("asset", key) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StorageError(
                    "the asset store holds a link at {key}; links are never followed", key=key
                ) from None
            raise StorageError(
                "the asset store cannot read {key}: {error}", key=key, error=exc.strerror or "error"
            ) from None
        with os.fdopen(fd, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise NotFound("asset", key)
            return source.read()

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        check_key(key)
        folder = self._folder(key, create=False)
        if folder is None:
            return False
        try:
            info = os.lstat(folder / key.rpartition("/")[2])
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode)

    def delete(self, key: str) -> None:
        """Remove the file under ``key`` (a link there is removed, never what it points to)."""
        check_key(key)
        folder = self._folder(key, create=False)
        if folder is None:
            return
        try:
            os.unlink(folder / key.rpartition("/")[2])
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(
                "the asset store cannot delete {key}: {error}",
                key=key,
                error=exc.strerror or "error",
            ) from None
