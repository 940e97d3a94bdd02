"""The asset store: the contract suite on both shipped stores, the filesystem store's walls,
the content checks, and the transaction hooks that write and take back files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portalkit import Portal
from portalkit.assets.base import PRIVATE, PUBLIC, check_key, new_key
from portalkit.assets.filesystem import FilesystemAssetStore, default_asset_dir
from portalkit.assets.memory import MemoryAssetStore
from portalkit.errors import (
    ConfigurationError,
    Conflict,
    NotFound,
    Problem,
    StorageError,
    ValidationError,
)
from portalkit.settings import load_settings
from portalkit.testing.assets import AssetStoreContract


class TestMemoryAssetStore(AssetStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MemoryAssetStore]:
        yield MemoryAssetStore()


class TestFilesystemAssetStore(AssetStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[FilesystemAssetStore]:
        yield FilesystemAssetStore(tmp_path / "assets")


# -- the filesystem store's walls -------------------------------------------------------------
def test_files_land_below_the_root_under_their_key(tmp_path: Path) -> None:
    store = FilesystemAssetStore(tmp_path / "root")
    key = new_key(PRIVATE, "application/pdf")
    store.put(key, b"%PDF-1.7")
    assert (tmp_path / "root" / key).read_bytes() == b"%PDF-1.7"
    # No temporary file is left beside it.
    assert os.listdir((tmp_path / "root" / key).parent) == [key.rpartition("/")[2]]


def test_a_linked_folder_inside_the_root_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"outside the root")
    root = tmp_path / "root"
    (root / "private").mkdir(parents=True)
    os.symlink(outside, root / "private" / "ab")
    key = "private/ab/secret.txt"
    with pytest.raises(StorageError):
        store_get(root, key)
    with pytest.raises(StorageError):
        FilesystemAssetStore(root).put("private/ab/new.txt", b"x")
    with pytest.raises(StorageError):
        FilesystemAssetStore(root).delete(key)
    assert not (outside / "new.txt").exists()
    assert (outside / "secret.txt").exists()


def test_a_linked_file_inside_the_root_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"outside the root")
    root = tmp_path / "root"
    (root / "private" / "ab").mkdir(parents=True)
    os.symlink(outside, root / "private" / "ab" / "abc.txt")
    store = FilesystemAssetStore(root)
    with pytest.raises(StorageError):
        store.get("private/ab/abc.txt")
    assert not store.exists("private/ab/abc.txt")
    with pytest.raises(Conflict):  # the link holds the key: never written through
        store.put("private/ab/abc.txt", b"overwritten?")
    store.delete("private/ab/abc.txt")  # removes the link, not its target
    assert outside.read_bytes() == b"outside the root"


def store_get(root: Path, key: str) -> bytes:
    return FilesystemAssetStore(root).get(key)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(r"(public|private)/[a-z0-9./_-]{0,40}", fullmatch=True))
def test_every_key_that_passes_stays_below_the_root(key: str) -> None:
    root = Path("/srv/assets")
    try:
        check_key(key)
    except ValidationError:
        return
    resolved = Path(os.path.normpath(root / key))
    assert resolved.is_relative_to(root / "public") or resolved.is_relative_to(root / "private")
    assert ".." not in key.split("/") and "\\" not in key and "\x00" not in key


def test_the_default_folder_sits_beside_the_sqlite_file() -> None:
    assert default_asset_dir("sqlite:///data/portal.db") == "data/assets"
    assert default_asset_dir("sqlite:////var/lib/portal.db") == "/var/lib/assets"
    assert default_asset_dir("sqlite:///:memory:") == "portalkit-assets"
    assert default_asset_dir("postgresql://db/portal") == "portalkit-assets"


# -- choosing a store by settings -------------------------------------------------------------
def test_the_store_is_chosen_by_name_or_dotted_path(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'portal.db'}"
    portal = Portal.from_settings(load_settings(database_url=url, mail_backend="memory"))
    assert isinstance(portal.assets.store, FilesystemAssetStore)
    assert portal.assets.store.root == tmp_path / "assets"
    portal.close()
    portal = Portal.from_settings(
        load_settings(
            database_url=url,
            mail_backend="memory",
            asset_store="portalkit.assets.memory.MemoryAssetStore",
        )
    )
    assert isinstance(portal.assets.store, MemoryAssetStore)
    portal.close()
    with pytest.raises(ConfigurationError, match="PORTALKIT_ASSET_STORE"):
        Portal.from_settings(
            load_settings(database_url=url, mail_backend="memory", asset_store="s3")
        )


# -- what the service accepts -----------------------------------------------------------------
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
DOCX = b"PK\x03\x04" + b"\x00" * 30


def check(portal: Portal, data: object, content_type: object = None) -> tuple[object, list[str]]:
    problems: list[Problem] = []
    checked = portal.assets.check(problems, "file", data, content_type)
    return checked, [p.code for p in problems]


def test_content_types_are_taken_from_the_bytes_or_checked_against_them() -> None:
    portal = Portal()
    assert check(portal, PDF)[0].content_type == "application/pdf"  # type: ignore[attr-defined]
    assert check(portal, PNG, "image/png")[1] == []
    assert (
        check(
            portal, DOCX, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        )[1]
        == []
    )
    assert check(portal, "naïve;text".encode(), "text/csv; charset=utf-8")[1] == []
    # A text file renamed to PDF, a PNG declared as JPEG, HTML as text: refused.
    assert check(portal, b"just text", "application/pdf")[1] == ["content_mismatch"]
    assert check(portal, PNG, "image/jpeg")[1] == ["content_mismatch"]
    assert check(portal, b"<html><script>alert(1)</script>", "text/plain")[1] == [
        "content_mismatch"
    ]
    assert check(portal, b"<svg onload=alert(1)>")[1] == ["unknown_type"]
    assert check(portal, b"MZ\x90\x00\x03")[1] == ["unknown_type"]
    assert check(portal, DOCX)[1] == ["unknown_type"]  # a ZIP says not which Office type
    assert check(portal, PDF, "text/html")[1] == ["unsupported"]
    assert check(portal, PDF, "application/x-" + "a" * 1_000_000)[1] == ["unsupported"]
    assert check(portal, PDF, "\ud800")[1] == ["unsupported"]
    assert check(portal, b"")[1] == ["empty"]
    assert check(portal, "text, not bytes")[1] == ["not_bytes"]


def test_files_over_the_size_limit_are_refused_before_anything_else() -> None:
    portal = Portal(settings=load_settings(asset_max_bytes=1000))
    assert check(portal, b"%PDF-" + b"x" * 995)[1] == []
    assert check(portal, b"%PDF-" + b"x" * 996)[1] == ["too_large"]


def test_the_public_read_never_reaches_a_private_file() -> None:
    portal = Portal()
    logo = portal.assets.put(check(portal, PNG)[0], public=True)  # type: ignore[arg-type]
    secret = portal.assets.put(check(portal, PDF)[0])  # type: ignore[arg-type]
    assert logo.key.startswith("public/") and secret.key.startswith("private/")
    assert portal.assets.read_public(logo.key) == (PNG, "image/png")
    for key in (secret.key, "public/../" + secret.key, "public/" + secret.key, None, 7):
        with pytest.raises((NotFound, ValidationError)):
            portal.assets.read_public(key)
    assert portal.assets.read_private(secret.key) == PDF
    with pytest.raises(NotFound):
        portal.assets.read_private(logo.key)


def test_keys_are_random_and_never_the_users_file_name() -> None:
    keys = {new_key(PRIVATE, "application/pdf") for _ in range(100)}
    assert len(keys) == 100
    assert all(check_key(k) == k and k.endswith(".pdf") for k in keys)
    assert new_key(PUBLIC, "image/png").startswith("public/")


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_file_written_in_a_joined_host_transaction_follows_the_hosts_end(
    tmp_path: Path, ending: str
) -> None:
    from sqlalchemy.orm import Session

    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(f"sqlite:///{tmp_path / 'portal.db'}")
    storage.upgrade_schema()
    store = MemoryAssetStore()
    portal = Portal(storage, assets=store)
    checked = check(portal, PDF)[0]
    with Session(storage.engine) as session:
        with portal.transaction(session=session):
            stored = portal.assets.put(checked)  # type: ignore[arg-type]
        assert store.exists(stored.key)  # the block is over, the host's transaction is not
        session.commit() if ending == "commit" else session.rollback()
    assert store.exists(stored.key) is (ending == "commit")
    storage.close()
