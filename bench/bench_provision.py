"""Provisioning one customer end to end: what do the steps, the progress reports and the
checks of ``portal.provisioning.provision()`` cost beside the same work done by hand?

Each round creates one customer with an address and two locations, its customer admin
(account, contact, main membership with the "Customer admin" profile) and the admin's
invitation (token and queued mail), on a SQLite file (full durability, as
``Portal.from_settings`` makes it). Two variants are interleaved round by round:

- ``provision``  ``portal.provisioning.provision(staff, request, progress=...)``;
- ``services``   the same service calls, one after another, in one ``portal.transaction()``.

Printed: the median and 90th percentile milliseconds per customer of each variant and their
ratio. The benchmark checks its own results: every round made its customer, two locations,
an invited main membership and one queued invitation, in both variants alike.

Run from the repository root::

    python bench/bench_provision.py             # 100 rounds
    python bench/bench_provision.py --rounds 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet

from portalkit import STAFF_PERMISSIONS, Portal, PortalSettings, Staff
from portalkit.provisioning import AdminRequest, ProvisionRequest, Step, StepStatus
from portalkit.storage.sqlalchemy import SqlStorage

ADDRESS = {"street": "Kade 1", "postal_code": "1011 AA", "city": "Amsterdam", "country": "NL"}


def build(path: Path) -> tuple[Portal, Staff]:
    storage = SqlStorage(f"sqlite:///{path}")
    storage.upgrade_schema()
    portal = Portal(
        storage,
        settings=PortalSettings(
            base_url="https://portal.example",
            mail_encryption_key=Fernet.generate_key().decode(),
            # Delivery is the outbox's business, after the commit; not measured here.
            mail_send_after_commit=False,
        ),
    )
    staff = Staff(
        vendor_id=portal.default_vendor().id, user_id="bench", permissions=STAFF_PERMISSIONS
    )
    # The admin profile exists, as it does after a vendor's first customer.
    portal.provisioning.provision(staff, request("WARMUP", "warmup"))
    return portal, staff


def request(code: str, admin: str) -> ProvisionRequest:
    return ProvisionRequest(
        code=code,
        name=f"Customer {code}",
        erp_reference=f"D-{code}",
        addresses=[ADDRESS],
        locations=[{"name": "Depot", "code": "DEP"}, {"name": "Office"}],
        admin=AdminRequest(username=admin, email=f"{admin}@bench.example"),
    )


def by_provision(portal: Portal, staff: Staff, code: str, admin: str) -> None:
    seen: list[Step] = []
    summary = portal.provisioning.provision(staff, request(code, admin), progress=seen.append)
    assert summary.invitation is not None
    assert seen[-1].status is StepStatus.DONE


def by_services(portal: Portal, staff: Staff, code: str, admin: str) -> None:
    profile = portal.profiles.get_by_name(staff, "Customer admin")
    with portal.transaction():
        customer = portal.customers.create(
            staff, code=code, name=f"Customer {code}", erp_reference=f"D-{code}",
            addresses=[ADDRESS],
        )  # fmt: skip
        portal.locations.create(staff, customer=customer, name="Depot", code="DEP")
        portal.locations.create(staff, customer=customer, name="Office")
        account = portal.accounts.create(staff, username=admin, email=f"{admin}@bench.example")
        contact = portal.contacts.create(
            staff, customer=customer, first_name=admin, last_name=customer.name, email=account.email
        )
        membership = portal.memberships.create(
            staff, account=account, customer=customer, contact=contact, kind="main",
            status="invited", profile=profile,
        )  # fmt: skip
        portal.credentials.invite(staff, membership)


VARIANTS: dict[str, Callable[[Portal, Staff, str, str], None]] = {
    "provision": by_provision,
    "services": by_services,
}


def check(portal: Portal, staff: Staff, codes: dict[str, list[str]]) -> None:
    """Every round of every variant made the same records."""
    invited: set[str] = set()
    offset = 0
    while page := portal.mail.list(staff, limit=1000, offset=offset):
        invited |= {m.to for m in page if m.kind == "invitation"}
        offset += len(page)
    for name, made in codes.items():
        for code in made:
            customer = portal.customers.get_by_code(staff, code)
            sites = portal.locations.list(staff, customer=customer)
            assert len(sites) == 2, (name, code)
            logins = portal.memberships.list(staff, customer=customer)
            assert [(m.kind.value, m.status.value) for m in logins] == [("main", "invited")]
            account = portal.accounts.get(staff, logins[0].account_id)
            assert account.email in invited, (name, code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        portal, staff = build(Path(folder) / "bench.db")
        times: dict[str, list[float]] = {name: [] for name in VARIANTS}
        codes: dict[str, list[str]] = {name: [] for name in VARIANTS}
        for i in range(args.rounds):
            for n, (name, run) in enumerate(VARIANTS.items()):
                code = f"C{i}-{n}"
                started = time.perf_counter()
                run(portal, staff, code, f"admin-{i}-{n}")
                times[name].append((time.perf_counter() - started) * 1000)
                codes[name].append(code)
        check(portal, staff, codes)
        portal.close()
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"Provisioning one customer with admin and invitation, SQLite, {args.rounds} rounds")
    print(f"{'variant':<12}{'median ms':>12}{'p90 ms':>10}")
    for name, t in times.items():
        p90 = statistics.quantiles(t, n=10)[-1] if len(t) > 1 else t[0]
        print(f"{name:<12}{medians[name]:>12.2f}{p90:>10.2f}")
    print(f"ratio provision/services: {medians['provision'] / medians['services']:.2f}")
    print("checked: every round made its customer, 2 locations, an invited main login, its mail")
    return 0


if __name__ == "__main__":
    sys.exit(main())
