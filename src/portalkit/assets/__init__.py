"""The asset store: where the bytes of documents, attachments and logos live.

A protocol (:class:`~portalkit.assets.base.AssetStore`) with a filesystem default
(``PORTALKIT_ASSET_STORE=filesystem``, below ``PORTALKIT_ASSET_DIR``) and a memory backend
for tests; a host plugs in object storage by a dotted path to its own class, which passes
the contract suite :class:`portalkit.testing.assets.AssetStoreContract`. Services write
through :class:`~portalkit.assets.service.AssetService` (``portal.assets``), inside their
transaction.
"""

from portalkit.assets.base import CONTENT_TYPES, PRIVATE, PUBLIC, AssetStore, check_key
from portalkit.assets.service import AssetService, CheckedFile, StoredAsset

__all__ = [
    "CONTENT_TYPES",
    "PRIVATE",
    "PUBLIC",
    "AssetService",
    "AssetStore",
    "CheckedFile",
    "StoredAsset",
    "check_key",
]
