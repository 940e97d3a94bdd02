"""A failure at any statement of a provisioning transaction leaves no row behind (E1).

Provisioning here is the whole of giving a login: customer, site, contact, account, profile,
membership, and the invitation with its token, its queued mail and its audit events.

The SQL backends get a ``before_cursor_execute`` hook that raises at the k-th statement, for
every k a dry run showed; the memory backend gets the same through ``fail_after(k)``.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from portalkit import Portal, PortalError, Staff, System
from portalkit.staffrights import STAFF_PERMISSIONS
from portalkit.storage.memory import MemoryStorage


def _provision(portal: Portal, staff: Staff) -> None:
    with portal.transaction():
        customer = portal.customers.create(staff, code="ACME", name="Acme")
        site = portal.locations.create(staff, customer=customer, name="Depot")
        contact = portal.contacts.create(
            staff,
            customer=customer,
            first_name="Jane",
            last_name="Visser",
            email="jane@acme.example",
        )
        account = portal.accounts.create(staff, username="jane", email="jane@acme.example")
        profile = portal.profiles.create(staff, name="Planner", capabilities={"orders.view"})
        login = portal.memberships.create(
            staff,
            account=account,
            customer=customer,
            contact=contact,
            kind="main",
            profile=profile,
            location_grants={site: "read"},
        )
        portal.credentials.invite(staff, login)


def _portal(storage: Any) -> Portal:
    from cryptography.fernet import Fernet

    from portalkit import PortalSettings

    # Delivery after the commit is another transaction (its failures leave the mail queued,
    # as test_mail shows); here only the provisioning transaction counts.
    return Portal(
        storage,
        settings=PortalSettings(
            mail_encryption_key=Fernet.generate_key().decode(), mail_send_after_commit=False
        ),
    )


def _nothing_stored(portal: Portal, staff: Staff) -> bool:
    return (
        portal.customers.list(staff) == []
        and portal.accounts.list(staff) == []
        and portal.profiles.list(staff) == []
        and portal.mail.list(staff) == []
        and portal.audit.list(staff) == []
    )


def _sql_statements(portal: Portal, staff: Staff) -> int:
    seen = []

    def count(*_args: Any) -> None:
        seen.append(1)

    engine = portal.storage.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", count)
    _provision(portal, staff)
    event.remove(engine, "before_cursor_execute", count)
    return len(seen)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_failure_at_any_sql_statement_stores_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    from conftest import make_storage

    (tmp_path / "dry").mkdir()
    dry = _portal(make_storage(backend, request, tmp_path / "dry"))
    dry_staff = Staff(
        vendor_id=dry.vendors.create(System(), code="v", name="V").id,
        user_id="s",
        permissions=STAFF_PERMISSIONS,
    )
    statements = _sql_statements(dry, dry_staff)
    dry.close()
    assert statements >= 6
    for k in range(1, statements + 1):
        (tmp_path / str(k)).mkdir()
        portal = _portal(make_storage(backend, request, tmp_path / str(k)))
        staff = Staff(
            vendor_id=portal.vendors.create(System(), code="v", name="V").id,
            user_id="s",
            permissions=STAFF_PERMISSIONS,
        )
        calls = {"n": 0}

        def fail_at_k(*_args: Any, k: int = k, calls: dict[str, int] = calls) -> None:
            calls["n"] += 1
            if calls["n"] == k:
                raise OperationalError("injected", {}, Exception(f"statement {k}"))

        engine = portal.storage.engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", fail_at_k)
        with pytest.raises((OperationalError, PortalError)):
            _provision(portal, staff)
        event.remove(engine, "before_cursor_execute", fail_at_k)
        assert _nothing_stored(portal, staff), f"rows left after a failure at statement {k}"
        portal.close()


def test_a_failure_at_any_memory_operation_stores_nothing() -> None:
    storage = MemoryStorage()
    portal = _portal(storage)
    staff = Staff(
        vendor_id=portal.vendors.create(System(), code="v", name="V").id,
        user_id="s",
        permissions=STAFF_PERMISSIONS,
    )
    k = 1
    while True:
        storage.fail_after(k)
        try:
            _provision(portal, staff)
        except PortalError:
            assert _nothing_stored(portal, staff), f"rows left after a failure at operation {k}"
            k += 1
            continue
        storage.fail_after(None)
        break
    assert k > 10  # the loop really failed at many points before one run got through
    assert len(portal.customers.list(staff)) == 1
    assert [m.kind for m in portal.mail.list(staff)] == ["invitation"]
