"""Documents: files the vendor's staff share with a customer, optionally only with chosen
members, downloaded through links signed for one member that expire.

The record lives in :mod:`portalkit.documents.model`, the service (``portal.documents``) in
:mod:`portalkit.documents.service`; the bytes in the asset store (:mod:`portalkit.assets`).
"""

from portalkit.documents.model import Document
from portalkit.documents.service import DocumentService

__all__ = ["Document", "DocumentService"]
