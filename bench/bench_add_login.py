"""Adding a login: does the answer of ``portal.logins.add()`` take the same time, and the same
number of SQL statements, whether or not the address already has a login at the vendor?

A customer admin adds people to its own customer on a SQLite file (full durability, as
``Portal.from_settings`` makes it). Two cases are interleaved round by round:

- ``new``   an address nobody has;
- ``known`` an address that has a login (with a password) at another customer of the vendor,
            which gets an invitation to join instead of a new account.

Printed: the median time per call of each case, their ratio (aim 0.8–1.25, as for the other
answers an attacker compares), and the SQL statements each call sent. The benchmark checks its
own results: a ``known`` call joined the existing account, a ``new`` one made an account, and
both answered an invited extra membership.

Run from the repository root::

    python bench/bench_add_login.py             # 200 rounds
    python bench/bench_add_login.py --rounds 50
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs
from cryptography.fernet import Fernet
from sqlalchemy import event

from portalkit import STAFF_PERMISSIONS, Member, Portal, PortalSettings, Staff
from portalkit.storage.sqlalchemy import SqlStorage


def build(path: Path, rounds: int) -> tuple[Portal, Member, Any, list[str], Any]:
    storage = SqlStorage(f"sqlite:///{path}")
    storage.upgrade_schema()
    portal = Portal(
        storage,
        settings=PortalSettings(
            base_url="https://portal.example",
            mail_encryption_key=Fernet.generate_key().decode(),
            mail_send_after_commit=False,
        ),
    )
    # Cheap hashing: the known accounts' passwords are set once, outside the measurement.
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="bench", permissions=STAFF_PERMISSIONS)
    here = portal.customers.create(staff, code="HERE", name="Here B.V.")
    there = portal.customers.create(staff, code="THERE", name="There B.V.")
    admin_profile = portal.profiles.create(
        staff, name="Admin", capabilities={"members.manage", "orders.view"}
    )
    reader = portal.profiles.create(staff, name="Reader", capabilities={"orders.view"})

    def login(customer: Any, name: str, profile: Any, kind: str) -> Any:
        account = portal.accounts.create(staff, username=name, email=f"{name}@bench.example")
        person = portal.contacts.create(staff, customer=customer, first_name=name, last_name="B")
        return portal.memberships.create(
            staff,
            account=account,
            customer=customer,
            contact=person,
            profile=profile,
            kind=kind,
            status="active",
        )

    main = login(here, "main", admin_profile, "main")
    admin = Member(
        vendor_id=vendor.id,
        account_id=main.account_id,
        membership_id=main.id,
        customer_id=here.id,
    )
    known = []
    for n in range(rounds):
        m = login(there, f"known{n}", reader, "member")
        known.append(f"known{n}@bench.example")
        # A usable password hash, made without Argon2's cost (the benchmark times add()).
        account = portal.accounts.get(staff, m.account_id)
        with portal.transaction() as uow:
            uow.accounts.update(
                attrs.evolve(
                    account,
                    password_hash="$argon2id$v=19$m=19456,t=2,p=1$x$y",
                    version=account.version + 1,
                ),
                account.version,
            )
    return portal, admin, here, known, reader


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        portal, admin, here, known, reader = build(Path(folder) / "bench.db", args.rounds)
        engine = portal.storage.engine  # type: ignore[attr-defined]
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        times: dict[str, list[float]] = {"new": [], "known": []}
        counts: dict[str, list[int]] = {"new": [], "known": []}
        accounts_before = {
            a.id
            for a in portal.accounts.list(
                Staff(vendor_id=admin.vendor_id, user_id="b", permissions=STAFF_PERMISSIONS),
                limit=1000,
            )
        }
        for n in range(args.rounds):
            order = ("new", "known") if n % 2 == 0 else ("known", "new")
            for case in order:
                email = known[n] if case == "known" else f"new{n}@bench.example"
                statements[0] = 0
                start = time.perf_counter()
                made = portal.logins.add(
                    admin,
                    customer=here,
                    email=email,
                    first_name="P",
                    last_name=str(n),
                    profile=reader,
                )
                times[case].append(time.perf_counter() - start)
                counts[case].append(statements[0])
                # Check: same answer shape; known joined, new made an account.
                assert made.status.value == "invited" and made.kind.value == "extra", made
                assert (made.account_id in accounts_before) == (case == "known"), case
        event.remove(engine, "before_cursor_execute", count)
        portal.close()
    new, old = statistics.median(times["new"]), statistics.median(times["known"])
    print(f"logins.add on SQLite (file), {args.rounds} interleaved rounds, medians")
    print(f"{'case':8} {'ms per call':>12} {'statements':>11}")
    for case in ("new", "known"):
        print(
            f"{case:8} {statistics.median(times[case]) * 1000:12.2f} "
            f"{statistics.median(counts[case]):11.0f}"
        )
    ratio = old / new
    verdict = "within" if 0.8 <= ratio <= 1.25 else "OUTSIDE"
    print(f"known / new: {ratio:.2f} ({verdict} the aim 0.8–1.25)")
    print(f"command: {' '.join(['python', *sys.argv])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
