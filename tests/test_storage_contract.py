"""The shipped storage contract suite, run against memory, SQLite and PostgreSQL (the last
two also with a table prefix, PostgreSQL also in a schema of portalkit's own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import BACKENDS, IN_SCHEMA, PREFIXED, make_storage
from portalkit.storage.base import Storage
from portalkit.testing.contract import StorageContract


class TestStorageContract(StorageContract):
    """Every backend portalkit ships passes the same suite, unchanged, also with its tables
    under a prefix or in a PostgreSQL schema of their own."""

    @pytest.fixture(params=BACKENDS + PREFIXED + IN_SCHEMA)
    def storage(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
        store = make_storage(request.param, request, tmp_path)
        yield store
        store.close()
