"""Delegated administration as a state machine (issue 9, "How we will know"): random customer
admins add, change, invite, set passwords of, deactivate and reactivate random logins — staff's
and richer ones included — while staff change profiles, prices and main accounts underneath.
After every step no login an admin made or touched reaches more than that admin did at the time
(capabilities × scopes × locations × customers × main-account dependence), every refused call
left storage as it was, and no admin set the password of an account that logs in beyond it.

The reach is an oracle of its own, read from the public API only: the access context of each
login, the records of each registered type it lets through ``filter`` out of one fixed list that
spans every customer, location and owner, and ``can(capability, location=…)`` at every location.
An invited or disabled login is measured as it would work once active, inside a transaction that
is rolled back.

``PORTALKIT_STATE_EXAMPLES`` (and ``PORTALKIT_STATE_STEPS``) raise the number of runs for a hunt.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID, uuid4

import attrs
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from portalkit import FixedClock, Member, Membership, Portal, PortalError, PortalSettings
from portalkit.access import ResourceType
from portalkit.mail import MemoryMailer
from portalkit.memberships import MembershipKind, MembershipStatus
from portalkit.passwords import PasswordHasher
from portalkit.profiles import Scope
from portalkit.storage.base import Storage
from portalkit.storage.memory import MemoryStorage
from portalkit.testing import World

GOOD = "correct horse battery staple"
GRANTABLE = (
    "orders.view",
    "orders.create",
    "invoices.view",
    "tickets.view",
    "prices.view",
    "members.manage",
)
# Three registered types with different default scopes, location and owner fields, and one
# type that profiles may name but this process never registers.
TYPES = (
    ResourceType("orders", view="orders.view", location_field="site_id", owner_field="created_by"),
    ResourceType("tickets", view="tickets.view", owner_field="author_id", default_scope=Scope.OWN),
    ResourceType(
        "invoices",
        view="invoices.view",
        location_field="site_id",
        default_scope=Scope.TREE,
        sensitive={"amount": "prices.view"},
    ),
)
SCOPED = ("orders", "tickets", "invoices", "contracts")
SCOPES = [s.value for s in Scope]
OTHER_OWNER = uuid4()  # a record made by someone who is neither of the two compared logins

capability_sets = st.frozensets(st.sampled_from(GRANTABLE), max_size=len(GRANTABLE))
scope_maps = st.dictionaries(st.sampled_from(SCOPED), st.sampled_from(SCOPES), max_size=4)
access_values = st.sampled_from(["read", "write"])


class _Rollback(Exception):
    """Ends the measuring transaction, so nothing it switched on stays."""


@attrs.frozen
class Reach:
    """What one login gets out of the portal, as the oracle measures it."""

    denied: bool
    capabilities: frozenset[str]
    records: dict[str, frozenset[tuple[Any, ...]]]
    hidden: dict[str, frozenset[str]]
    at_locations: frozenset[tuple[str, UUID]]
    managed: frozenset[UUID]

    def beyond(self, admin: Reach) -> list[str]:
        """Everything this login reaches that ``admin`` does not (empty when within)."""
        if self.denied:
            return []
        if admin.denied:
            return ["the admin reaches nothing"]
        found = [f"capability {c}" for c in sorted(self.capabilities - admin.capabilities)]
        for name, seen in self.records.items():
            extra = seen - admin.records[name]
            if extra:
                found.append(f"{len(extra)} {name} records, e.g. {sorted(extra, key=str)[0]}")
            if seen and not self.hidden[name] >= admin.hidden[name]:
                found.append(f"{name} fields {sorted(admin.hidden[name] - self.hidden[name])}")
        found += [f"{c} at {loc}" for c, loc in sorted(self.at_locations - admin.at_locations)]
        if "members.manage" in self.capabilities:
            found += [f"manages {c}" for c in sorted(self.managed - admin.managed, key=str)]
        return found


def _records(
    kind: ResourceType,
    customers: list[UUID],
    locations: list[UUID],
    me: UUID,
    peer: UUID,
) -> list[dict[str, Any]]:
    """One fixed list per type: every customer × every location (and none) × three owners —
    the viewer itself, the login it is compared with, and someone else. Keys name owners by
    role, so that "its own records" compare as the same thing for both logins."""
    places: list[UUID | None] = [*locations, None] if kind.location_field else [None]
    owners = [("me", me), ("peer", peer), ("other", OTHER_OWNER)] if kind.owner_field else []
    out = []
    for c in customers:
        for place in places:
            for role, owner in owners or [("nobody", OTHER_OWNER)]:
                record: dict[str, Any] = {
                    "key": (str(c), str(place), role),
                    "customer_id": c,
                    "amount": 10,
                }
                if kind.location_field:
                    record[kind.location_field] = place
                if kind.owner_field:
                    record[kind.owner_field] = owner
                out.append(record)
    return out


def measure(
    portal: Portal, member: Member, peer: UUID, customers: list[UUID], locations: list[UUID]
) -> Reach:
    """The oracle: a login's reach, from its access context only."""
    ctx = portal.access.context(member)
    if ctx.denied:
        return Reach(True, frozenset(), {}, {}, frozenset(), frozenset())
    records, hidden = {}, {}
    for kind in TYPES:
        rows = _records(kind, customers, locations, member.account_id, peer)
        records[kind.name] = frozenset(r["key"] for r in ctx.filter(rows, kind.name))
        hidden[kind.name] = ctx.hidden_fields(kind.name)
    at = frozenset(
        (cap, place) for cap in GRANTABLE for place in locations if ctx.allows(cap, location=place)
    )
    return Reach(
        False,
        frozenset(ctx.capabilities) & set(GRANTABLE),
        records,
        hidden,
        at,
        ctx.reach("memberships"),
    )


def _machine(make_storage: Callable[[], Storage]) -> type[RuleBasedStateMachine]:
    class DelegatedAdministration(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.storage = make_storage()
            portal = Portal(
                self.storage,
                MemoryMailer(),
                clock=FixedClock(),
                settings=PortalSettings(
                    mail_from="portal@vendor.example",
                    mail_encryption_key=KEY,
                    base_url="https://portal.vendor.example",
                ),
            )
            portal.hasher = PasswordHasher(iterations=2, lanes=1)
            for kind in TYPES:
                portal.access.register_resource(kind)
            # A type profiles name that this process never registers (a worker's, say).
            portal.access.declare_resource_types("contracts")
            self.p = portal
            self.world = World(portal)
            self.staff = self.world.staff
            self.violations: list[str] = []
            self.touched: dict[UUID, str] = {}  # membership -> what the admin last did to it
            self.order: dict[UUID, int] = {}
            self.n = 0

        def teardown(self) -> None:
            self.storage.close()

        # -- the world ------------------------------------------------------------------
        @initialize(data=st.data())
        def build(self, data: st.DataObject) -> None:
            w, draw = self.world, data.draw
            prices = draw(st.lists(st.booleans(), min_size=4, max_size=4), label="show_prices")
            self.umbrella = w.customer(settings={"show_prices": prices[0]})
            self.child_a = w.customer(parent=self.umbrella, settings={"show_prices": prices[1]})
            self.child_b = w.customer(parent=self.umbrella, settings={"show_prices": prices[2]})
            self.outsider = w.customer(settings={"show_prices": prices[3]})
            self.customers = [self.umbrella, self.child_a, self.child_b, self.outsider]
            self.ids = [c.id for c in self.customers]
            self.sites = {
                c.id: [w.location(c) for _ in range(n)]
                for c, n in zip(self.customers, (2, 2, 1, 1), strict=True)
            }
            self.locations = [loc.id for locs in self.sites.values() for loc in locs]
            self.profiles = [
                w.profile(capabilities=draw(capability_sets), scopes=draw(scope_maps))
                for _ in range(5)
            ]
            self.admin_profiles = [
                w.profile(
                    capabilities={"members.manage", *draw(capability_sets)},
                    scopes=draw(scope_maps),
                )
                for _ in range(3)
            ]
            every_profile = self.profiles + self.admin_profiles
            self.mains = {
                c.id: self.remember(
                    w.membership(
                        customer=c, kind="main", profile=draw(st.sampled_from(every_profile))
                    )
                )
                for c in self.customers
            }
            self.admins: list[Member] = []
            if draw(st.booleans(), label="umbrella main is an admin"):
                self.p.memberships.update(
                    self.staff,
                    self.mains[self.umbrella.id].id,
                    profile=draw(st.sampled_from(self.admin_profiles)),
                )
                self.admins.append(w.member(self.mains[self.umbrella.id]))
            for _ in range(3):
                home = draw(st.sampled_from(self.customers[:3]))
                granted = (
                    draw(st.lists(st.sampled_from([self.child_a, self.child_b]), unique=True))
                    if home is self.umbrella
                    else []
                )
                allowed = [loc for c in [home, *granted] for loc in self.sites[c.id]]
                grants = draw(st.dictionaries(st.sampled_from(allowed), access_values))
                admin = w.membership(
                    customer=home,
                    kind=draw(st.sampled_from(["extra", "member"])),
                    profile=draw(st.sampled_from(self.admin_profiles)),
                    customer_grants=granted,
                    location_grants=grants,
                )
                self.admins.append(w.member(self.remember(admin)))
            # Logins made by staff: richer ones, stand-alone ones, invited ones, and accounts
            # that also log in at a customer outside the umbrella.
            for i in range(4):
                home = draw(st.sampled_from(self.customers[:3]))
                grants = draw(st.dictionaries(st.sampled_from(self.sites[home.id]), access_values))
                made = w.membership(
                    customer=home,
                    kind=draw(st.sampled_from(["extra", "member"])),
                    status=draw(st.sampled_from(["active", "invited"])),
                    profile=draw(st.sampled_from(every_profile)),
                    location_grants=grants,
                )
                self.remember(made)
                if i % 2 == 0:
                    account = self.p.accounts.get(self.staff, made.account_id)
                    self.remember(
                        w.membership(
                            customer=self.outsider,
                            account=account,
                            profile=draw(st.sampled_from(self.profiles)),
                        )
                    )
                if draw(st.booleans(), label="has a password"):
                    self.p.credentials.set_password(
                        self.world.system, made.id, GOOD, must_change=False
                    )

        # -- helpers --------------------------------------------------------------------
        def remember(self, membership: Membership) -> Membership:
            # Storage orders rows by random ids (and one fixed clock time): draws pick from
            # lists in the order things were made, so that a run can be replayed.
            self.order.setdefault(membership.id, len(self.order))
            return membership

        def memberships(self) -> list[Membership]:
            found = [
                m
                for c in self.ids
                for m in self.p.memberships.list(self.staff, customer=c, limit=1000)
            ]
            return sorted(found, key=lambda m: self.order[m.id])

        def snapshot(self) -> tuple[Any, ...]:
            p, staff = self.p, self.staff
            events = []
            offset = 0
            while page := p.audit.list(staff, limit=1000, offset=offset):
                events += [(e.action, e.target) for e in page if e.action != "authz_fail"]
                offset += len(page)
            return (
                sorted(self.memberships(), key=lambda m: str(m.id)),
                sorted(p.accounts.list(staff, limit=1000), key=lambda a: str(a.id)),
                [p.contacts.list(staff, customer=c, limit=1000) for c in self.ids],
                events,
                len(p.mailer.outbox),  # type: ignore[attr-defined]
            )

        def act(self, what: str, call: Callable[[], Any]) -> Any:
            """Run one admin call; a refusal must leave everything as it was."""
            before = self.snapshot()
            try:
                return call()
            except PortalError as exc:
                after = self.snapshot()
                if after != before:
                    self.violations.append(f"{what} refused ({exc!r}) but changed storage")
                return None

        def potential(self, admin: Member, target: Membership) -> tuple[Reach, Reach]:
            """Admin's and login's reach, the login measured as it works once it and its
            customer's main account are on (switched on in a transaction rolled back)."""
            p, staff = self.p, self.staff
            found: list[Reach] = []
            try:
                with p.transaction():
                    current = p.memberships.get(staff, target.id)
                    if current.status is not MembershipStatus.ACTIVE:
                        p.memberships.activate(staff, current.id)
                    if not p.accounts.get(staff, current.account_id).active:
                        p.accounts.reactivate(staff, current.account_id)
                    main = self.mains[current.customer_id]
                    p.memberships.activate(staff, main.id)
                    if not p.accounts.get(staff, main.account_id).active:
                        p.accounts.reactivate(staff, main.account_id)
                    found.append(measure(p, admin, current.account_id, self.ids, self.locations))
                    found.append(
                        measure(
                            p,
                            self.world.member(current),
                            admin.account_id,
                            self.ids,
                            self.locations,
                        )
                    )
                    raise _Rollback
            except _Rollback:
                pass
            return found[0], found[1]

        def check(self, admin: Member, target: Membership, what: str) -> None:
            """The login an admin just made or touched is an extra account within its reach."""
            current = self.p.memberships.get(self.staff, target.id)
            self.touched[current.id] = what
            if current.kind is not MembershipKind.EXTRA:
                self.violations.append(f"{what}: left a {current.kind.value} login")
            mine, theirs = self.potential(admin, current)
            beyond = theirs.beyond(mine)
            if beyond:
                self.violations.append(f"{what}: login {current.id} reaches more: {beyond}")

        def own(self, admin: Member) -> Membership:
            return self.p.memberships.get(self.staff, admin.membership_id)

        def likely(self, data: st.DataObject, label: str) -> bool:
            """Three times in four: a call an admin would make (within its rights, mostly);
            else anything at all, so that the refusals get their share."""
            return data.draw(st.integers(0, 3), label=label) < 3

        def grants(self, data: st.DataObject, admin: Member) -> dict[UUID, str]:
            own = sorted(
                self.own(admin).location_grants, key=lambda g: self.locations.index(g.location_id)
            )
            if own and self.likely(data, "own locations"):
                chosen = data.draw(st.lists(st.sampled_from(own), unique=True, max_size=3))
                return {
                    g.location_id: data.draw(st.sampled_from(["read", g.access.value]))
                    for g in chosen
                }
            return data.draw(
                st.dictionaries(st.sampled_from(self.locations), access_values, max_size=3),
                label="location_grants",
            )

        def customer_grants(self, data: st.DataObject, admin: Member) -> list[UUID]:
            own = sorted(self.own(admin).customer_grants, key=self.ids.index)
            if self.likely(data, "own customer grants"):
                return data.draw(st.lists(st.sampled_from(own), unique=True)) if own else []
            return data.draw(
                st.lists(st.sampled_from(self.ids), unique=True, max_size=2),
                label="customer_grants",
            )

        def profile(self, data: st.DataObject, admin: Member) -> UUID | None:
            every = [self.p.profiles.get(self.staff, pr.id) for pr in self.profiles]
            every += [self.p.profiles.get(self.staff, pr.id) for pr in self.admin_profiles]
            how = data.draw(st.integers(0, 3), label="which profile")
            own_id = self.own(admin).profile_id
            own = self.p.profiles.get(self.staff, own_id) if own_id else None
            near = [
                pr
                for pr in every
                if own is not None
                and "members.manage" not in pr.capabilities
                and pr.capabilities <= own.capabilities
            ]
            if near and how < 2:
                return data.draw(st.sampled_from(near), label="profile").id
            if how < 3:
                return data.draw(st.sampled_from(every), label="profile").id
            return None

        def customer(self, data: st.DataObject, admin: Member) -> UUID:
            if self.likely(data, "own customer"):
                own = self.own(admin)
                granted = sorted(own.customer_grants, key=self.ids.index)
                return data.draw(st.sampled_from([own.customer_id, *granted]))
            return data.draw(st.sampled_from(self.ids), label="customer")

        def target(self, data: st.DataObject, admin: Member) -> Membership:
            every = self.memberships()
            made = [m for m in every if m.id in self.touched]
            mine = [m for m in every if m.customer_id == admin.customer_id]
            how = data.draw(st.integers(0, 3), label="which login")
            if made and how < 2:
                return data.draw(st.sampled_from(made), label="target")
            if mine and how < 3:
                return data.draw(st.sampled_from(mine), label="target")
            return data.draw(st.sampled_from(every), label="target")

        @rule(data=st.data(), source=st.sampled_from(["profiles", "admin_profiles"]))
        def staff_add_profile(self, data: st.DataObject, source: str) -> None:
            """Staff make a profile from another one — some capabilities left out, a scope
            kept, narrowed, widened or left out — so that admins find profiles near theirs."""
            base = data.draw(st.sampled_from(getattr(self, source)))
            base = self.p.profiles.get(self.staff, base.id)
            caps = (
                data.draw(st.sets(st.sampled_from(sorted(base.capabilities))))
                if (base.capabilities)
                else set()
            )
            scopes = {}
            for name in SCOPED:
                how = data.draw(st.sampled_from(["same", "missing", "any"]))
                if how == "same" and name in base.scopes:
                    scopes[name] = base.scopes[name].value
                elif how == "any":
                    scopes[name] = data.draw(st.sampled_from(SCOPES))
            self.profiles.append(self.world.profile(capabilities=caps, scopes=scopes))

        # -- what customer admins do ----------------------------------------------------
        @precondition(lambda self: hasattr(self, "admins") and self.admins)
        @rule(data=st.data())
        def add(self, data: st.DataObject) -> None:
            draw = data.draw
            admin = draw(st.sampled_from(self.admins), label="admin")
            first: dict[UUID, int] = {}
            for n, m in enumerate(self.memberships()):
                first.setdefault(m.account_id, n)
            accounts = sorted(
                self.p.accounts.list(self.staff, limit=1000), key=lambda a: first[a.id]
            )
            known = [a.email for a in accounts]
            self.n += 1
            new = f"new{self.n}@people.example"
            email = new if self.likely(data, "new address") else draw(st.sampled_from(known))
            kind = draw(st.sampled_from([None, "extra", "member", "main"]), label="kind")
            fields: dict[str, Any] = {
                "customer": self.customer(data, admin),
                "email": email,
                "first_name": "Per",
                "last_name": f"Son {self.n}",
                "profile": self.profile(data, admin),
                "location_grants": self.grants(data, admin),
                "customer_grants": self.customer_grants(data, admin),
            }
            if kind is not None:
                fields["kind"] = kind
            if draw(st.booleans(), label="username"):
                fields["username"] = draw(st.sampled_from([a.username for a in accounts]))
            made = self.act("logins.add", lambda: self.p.logins.add(admin, **fields))
            if made is not None:
                self.remember(made)
                self.check(admin, made, f"logins.add by {admin.membership_id}")

        @precondition(lambda self: hasattr(self, "admins") and self.admins)
        @rule(data=st.data())
        def update(self, data: st.DataObject) -> None:
            draw = data.draw
            admin = draw(st.sampled_from(self.admins), label="admin")
            target = self.target(data, admin)
            changes: dict[str, Any] = {}
            for field in draw(
                st.lists(
                    st.sampled_from(["profile", "kind", "location_grants", "customer_grants"]),
                    unique=True,
                    min_size=1,
                ),
                label="fields",
            ):
                if field == "profile":
                    changes["profile"] = self.profile(data, admin)
                elif field == "kind":
                    changes["kind"] = draw(st.sampled_from(["extra", "member", "main"]))
                elif field == "location_grants":
                    changes["location_grants"] = self.grants(data, admin)
                else:
                    changes["customer_grants"] = self.customer_grants(data, admin)
            done = self.act(
                "memberships.update",
                lambda: self.p.memberships.update(admin, target.id, **changes),
            )
            if done is not None:
                self.check(admin, done, f"memberships.update {changes} by {admin.membership_id}")

        @precondition(lambda self: hasattr(self, "admins") and self.admins)
        @rule(
            data=st.data(),
            action=st.sampled_from(["invite", "deactivate", "activate", "set_password"]),
        )
        def credential_or_status(self, data: st.DataObject, action: str) -> None:
            admin = data.draw(st.sampled_from(self.admins), label="admin")
            target = self.target(data, admin)
            p = self.p
            calls: dict[str, Callable[[], Any]] = {
                "invite": lambda: p.credentials.invite(admin, target.id),
                "deactivate": lambda: p.memberships.deactivate(admin, target.id),
                "activate": lambda: p.memberships.activate(admin, target.id),
                "set_password": lambda: (
                    p.credentials.set_password(admin, target.id) or "given"
                    if data.draw(st.booleans(), label="generated")
                    else p.credentials.set_password(admin, target.id, GOOD + " 9") or "given"
                ),
            }
            done = self.act(action, calls[action])
            if done is None:
                return
            what = f"{action} by {admin.membership_id}"
            if action != "set_password":
                self.check(admin, target, what)
                return
            # The password is the account's: every login of it is now in the admin's hands.
            for login in self.p.memberships.list(self.staff, account=target.account_id, limit=1000):
                try:
                    self.p.memberships.list(admin, customer=login.customer_id)
                except PortalError:
                    self.violations.append(
                        f"{what}: set the password of an account that also logs in at "
                        f"customer {login.customer_id}, outside the admin's reach"
                    )
                self.check(admin, login, what)

        # -- what staff change underneath -----------------------------------------------
        @precondition(lambda self: hasattr(self, "admins"))
        @rule(data=st.data(), caps=capability_sets, scopes=scope_maps)
        def staff_change_profile(
            self, data: st.DataObject, caps: frozenset[str], scopes: dict[str, str]
        ) -> None:
            pr = data.draw(st.sampled_from(self.profiles + self.admin_profiles))
            # Which profiles make administrators stays as it was: a login an admin made that
            # staff turn into an administrator is the staff's from then on.
            if pr in self.admin_profiles:
                caps = caps | {"members.manage"}
            else:
                caps = caps - {"members.manage"}
            self.p.profiles.update(self.staff, pr.id, capabilities=caps, scopes=scopes)

        @precondition(lambda self: hasattr(self, "admins"))
        @rule(data=st.data(), on=st.booleans())
        def staff_switch_prices(self, data: st.DataObject, on: bool) -> None:
            c = data.draw(st.sampled_from(self.ids))
            self.p.customers.update(self.staff, c, settings={"show_prices": on})

        @precondition(lambda self: hasattr(self, "admins"))
        @rule(data=st.data(), on=st.booleans(), via=st.sampled_from(["membership", "account"]))
        def staff_switch_main(self, data: st.DataObject, on: bool, via: str) -> None:
            main = self.mains[data.draw(st.sampled_from(self.ids))]
            p = self.p
            if via == "membership":
                (p.memberships.activate if on else p.memberships.deactivate)(self.staff, main.id)
            else:
                (p.accounts.reactivate if on else p.accounts.deactivate)(
                    self.staff, main.account_id
                )

        # -- what must hold -------------------------------------------------------------
        @invariant()
        def nothing_beyond_the_makers_reach(self) -> None:
            assert not self.violations, self.violations

        @invariant()
        def logins_admins_touched_stay_extra_accounts(self) -> None:
            # Staff never change kinds here, so what an admin left must still be an extra.
            for membership_id, what in self.touched.items():
                kind = self.p.memberships.get(self.staff, membership_id).kind
                assert kind is MembershipKind.EXTRA, (what, kind)

    return DelegatedAdministration


KEY = Fernet.generate_key().decode()


def _settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=int(os.environ.get("PORTALKIT_STATE_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("PORTALKIT_STATE_STEPS", steps)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def test_delegated_admins_never_hand_out_more_than_they_hold_in_memory() -> None:
    run_state_machine_as_test(_machine(MemoryStorage), settings=_settings(60, 20))


def test_delegated_admins_never_hand_out_more_than_they_hold_on_sqlite(
    sqlite_template: Path,
) -> None:
    from portalkit.storage.sqlalchemy import SqlStorage

    def storages(folder: str) -> Iterator[SqlStorage]:
        for n in range(100_000):
            path = Path(folder) / f"state{n}.db"
            shutil.copy(sqlite_template, path)
            yield SqlStorage(f"sqlite:///{path}")

    with TemporaryDirectory() as folder:
        made = storages(folder)
        run_state_machine_as_test(
            _machine(lambda: next(made)),
            settings=_settings(int(os.environ.get("PORTALKIT_STATE_SQLITE", 10)), 15),
        )
