"""The asset-store contract suite: every :class:`~portalkit.assets.base.AssetStore` must pass it.

A third-party store (object storage, say) subclasses :class:`AssetStoreContract` in its own
tests and overrides one fixture, ``store``, returning a fresh, empty instance::

    import pytest
    from portalkit.testing.assets import AssetStoreContract

    class TestMyStore(AssetStoreContract):
        @pytest.fixture
        def store(self):
            return MyStore(bucket="test-…")

The suite checks round trips, write-once keys, deletes, hostile keys, and that a portal on
the store takes a file back when its transaction rolls back. It needs pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from portalkit.assets.base import PRIVATE, PUBLIC, AssetStore, new_key, vendor_folder
from portalkit.clock import FixedClock
from portalkit.errors import Conflict, NotFound, ValidationError
from portalkit.mail.memory import MemoryMailer
from portalkit.portal import Portal
from portalkit.storage.memory import MemoryStorage

__all__ = ["HOSTILE_KEYS", "AssetStoreContract"]

HOSTILE_KEYS: tuple[object, ...] = (
    "",
    "private",
    "private/",
    "../etc/passwd",
    "/etc/passwd",
    "private/../../etc/passwd",
    "private/ab/../../../x.pdf",
    "private/ab/..",
    "private/./a.pdf",
    "private/.hidden",
    "private//a.pdf",
    "private\\ab\\a.pdf",
    "private/ab\\..\\..\\a.pdf",
    "C:\\Windows\\win.ini",
    "c:/windows/win.ini",
    "private/c:/a.pdf",
    "private/a\x00.pdf",
    "private/a\n.pdf",
    "private/A.PDF",
    "other/ab/a.pdf",
    "PRIVATE/ab/a.pdf",
    "private/a/b/c/d/e.pdf",
    "private/" + "a" * 300,
    "private/\ud800.pdf",
    "private/ａ.pdf",
    "private/a b.pdf",
    None,
    b"private/ab/a.pdf",
    42,
)
"""Keys every store must refuse with ValidationError: traversal, absolute paths, drive
letters, backslashes, NUL and control characters, other spaces, upper case, over-long
keys, lone surrogates, look-alike Unicode and values that are no text at all."""


class AssetStoreContract:
    """Tests every asset store must pass; override the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Iterator[AssetStore]:
        """Override: yield a fresh, empty store."""
        pytest.fail("override the `store` fixture to return the asset store under test")
        yield  # pragma: no cover

    @pytest.fixture
    def portal(self, store: AssetStore) -> Portal:
        """A memory portal whose files go to the store under test."""
        return Portal(MemoryStorage(), MemoryMailer(), clock=FixedClock(), assets=store)

    def test_bytes_read_back_as_written(self, store: AssetStore) -> None:
        every_byte = bytes(range(256)) * 4096  # 1 MiB with every byte value
        key = new_key(PRIVATE, "application/pdf")
        assert not store.exists(key)
        store.put(key, every_byte)
        assert store.exists(key)
        assert store.get(key) == every_byte

    def test_what_was_put_cannot_be_changed_through_the_callers_buffer(
        self, store: AssetStore
    ) -> None:
        buffer = bytearray(b"%PDF-1.7 original")
        key = new_key(PRIVATE, "application/pdf")
        store.put(key, buffer)  # type: ignore[arg-type]
        buffer[:] = b"changed"
        assert store.get(key) == b"%PDF-1.7 original"

    def test_a_key_below_a_vendor_folder_reads_back(self, store: AssetStore) -> None:
        # Branding keys have one folder more (public/v<vendor>/3f/…): a store keeps any depth
        # that check_key allows.
        key = new_key(PUBLIC, "image/png", vendor_folder(uuid4()))
        store.put(key, b"\x89PNG logo")
        assert store.exists(key)
        assert store.get(key) == b"\x89PNG logo"
        store.delete(key)
        assert not store.exists(key)

    def test_a_missing_key_is_not_found(self, store: AssetStore) -> None:
        key = new_key(PUBLIC, "image/png")
        with pytest.raises(NotFound):
            store.get(key)
        assert not store.exists(key)

    def test_a_key_is_written_once(self, store: AssetStore) -> None:
        key = new_key(PRIVATE, "text/plain")
        store.put(key, b"first")
        with pytest.raises(Conflict):
            store.put(key, b"second")
        assert store.get(key) == b"first"

    def test_delete_removes_and_is_idempotent(self, store: AssetStore) -> None:
        keep, gone = new_key(PRIVATE, "text/plain"), new_key(PRIVATE, "text/plain")
        store.put(keep, b"keep")
        store.put(gone, b"gone")
        store.delete(gone)
        store.delete(gone)
        store.delete(new_key(PRIVATE, "text/plain"))  # never stored
        assert not store.exists(gone)
        assert store.get(keep) == b"keep"

    def test_the_two_spaces_are_apart(self, store: AssetStore) -> None:
        private = new_key(PRIVATE, "application/pdf")
        public = PUBLIC + private[len(PRIVATE) :]
        store.put(private, b"member only")
        assert not store.exists(public)
        with pytest.raises(NotFound):
            store.get(public)

    @pytest.mark.parametrize("key", HOSTILE_KEYS, ids=repr)
    def test_hostile_keys_are_refused_by_every_call(self, store: AssetStore, key: object) -> None:
        with pytest.raises(ValidationError):
            store.put(key, b"x")  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.get(key)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.exists(key)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.delete(key)  # type: ignore[arg-type]

    def test_a_rolled_back_transaction_takes_its_file_back(
        self, store: AssetStore, portal: Portal
    ) -> None:
        problems: list[object] = []
        checked = portal.assets.check(problems, "file", b"%PDF-1.7 contract")  # type: ignore[arg-type]
        assert checked is not None and not problems
        written = []
        with pytest.raises(RuntimeError), portal.transaction():
            written.append(portal.assets.put(checked))
            assert store.exists(written[0].key)  # written before the commit
            raise RuntimeError("a later step fails")
        assert not store.exists(written[0].key)
        kept = portal.assets.put(checked)
        assert store.get(kept.key) == b"%PDF-1.7 contract"

    def test_a_discarded_file_goes_only_when_the_transaction_commits(
        self, store: AssetStore, portal: Portal
    ) -> None:
        problems: list[object] = []
        checked = portal.assets.check(problems, "file", b"plain text")  # type: ignore[arg-type]
        assert checked is not None
        stored = portal.assets.put(checked)
        with pytest.raises(RuntimeError), portal.transaction():
            portal.assets.discard(stored.key)
            raise RuntimeError("the delete is rolled back")
        assert store.exists(stored.key)
        with portal.transaction():
            portal.assets.discard(stored.key)
            assert store.exists(stored.key)  # still there until the commit
        assert not store.exists(stored.key)
