"""A separate process that fails to log in, for the cross-process throttling test."""

from __future__ import annotations

from typing import Any
from uuid import UUID


def fail_logins(url: str, vendor_id: str, login: str, times: int, start: Any) -> int:
    """Try ``times`` wrong passwords for ``login`` through a portal of this process's own."""
    from portalkit import AuthenticationFailed, Portal, PortalSettings
    from portalkit.storage.sqlalchemy import SqlStorage

    storage = SqlStorage(url)
    portal = Portal(
        storage, settings=PortalSettings(login_max_failures=20, login_window_seconds=3600)
    )
    start.wait(30)
    failed = 0
    try:
        for _ in range(times):
            try:
                portal.auth.authenticate(UUID(vendor_id), login, "not the password at all")
            except AuthenticationFailed:
                failed += 1
    finally:
        storage.close()
    return failed
