"""A9: an extra account works only while it, its customer's main account and the customer are
all active — evaluated live, whatever happened before (a stateful hypothesis test)."""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from portalkit import AuthenticationFailed, FixedClock, Portal, PortalSettings
from portalkit.storage.base import Storage
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

PASSWORD = "correct horse battery staple"
PARTS = ["customer", "main_membership", "main_account", "extra_membership", "extra_account"]


def _machine(make_storage: Any) -> type[RuleBasedStateMachine]:
    class LoginStates(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.storage: Storage = make_storage()
            portal = Portal(self.storage, clock=FixedClock(), settings=PortalSettings())
            self.world = world = World(portal)
            self.customer = world.customer()
            profile = world.profile(capabilities={"orders.view"})
            self.main = world.membership(customer=self.customer, kind="main", profile=profile)
            self.extra = world.membership(customer=self.customer, kind="extra", profile=profile)
            self.active = dict.fromkeys(PARTS, True)

        def teardown(self) -> None:
            # The live rule and the login agree, once per run (a login costs an Argon2 check).
            portal = self.world.portal
            portal.credentials.set_password(
                self.world.system, self.extra.id, PASSWORD, must_change=False
            )
            account = portal.accounts.get(self.world.staff, self.extra.account_id)
            try:
                portal.auth.authenticate(self.world.vendor, account.username, PASSWORD)
                logged_in = True
            except AuthenticationFailed:
                logged_in = False
            assert logged_in == self._expected()
            self.storage.close()

        def _expected(self) -> bool:
            return all(self.active.values())

        @rule(part=st.sampled_from(PARTS), on=st.booleans())
        def switch(self, part: str, on: bool) -> None:
            portal, staff = self.world.portal, self.world.staff
            if part == "customer":
                (portal.customers.reactivate if on else portal.customers.deactivate)(
                    staff, self.customer.id
                )
            elif part.endswith("membership"):
                target = self.main if part.startswith("main") else self.extra
                (portal.memberships.activate if on else portal.memberships.deactivate)(
                    staff, target.id
                )
            else:
                target = self.main if part.startswith("main") else self.extra
                (portal.accounts.reactivate if on else portal.accounts.deactivate)(
                    staff, target.account_id
                )
            self.active[part] = on

        @invariant()
        def extra_works_exactly_when_everything_it_hangs_on_is_active(self) -> None:
            member = self.world.member(self.extra)
            context = self.world.portal.access.context(member)
            assert (not context.denied) == self._expected(), (self.active, context.denied)

    return LoginStates


def test_extra_accounts_follow_their_main_account_and_customer_in_memory() -> None:
    run_state_machine_as_test(
        _machine(MemoryStorage),
        settings=settings(max_examples=40, stateful_step_count=12, deadline=None),
    )


def test_extra_accounts_follow_their_main_account_and_customer_on_sqlite(
    sqlite_template: Path,
) -> None:
    import shutil

    from portalkit.storage.sqlalchemy import SqlStorage

    with TemporaryDirectory() as folder:
        counter = iter(range(10_000))

        def make() -> SqlStorage:
            path = Path(folder) / f"state{next(counter)}.db"
            shutil.copy(sqlite_template, path)
            return SqlStorage(f"sqlite:///{path}")

        run_state_machine_as_test(
            _machine(make),
            settings=settings(
                max_examples=15,
                stateful_step_count=10,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
