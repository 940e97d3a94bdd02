"""Session stamps: the random values whose change ends every session made before it.

They live low in the layers, apart from the records that carry them (accounts and
memberships), so that every service that ends sessions can make one.
"""

from __future__ import annotations

import secrets

__all__ = ["new_session_stamp"]


def new_session_stamp() -> str:
    """A fresh random session stamp; host apps keep it in the session to detect stale logins."""
    return secrets.token_urlsafe(16)
