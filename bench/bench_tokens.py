"""Access tokens per request: ``portal.auth.authenticate_token(vendor, value, client_key=ip)`` beside a
session check, ``portal.auth.session_context(vendor, session_value)``, in µs per request, in
one run (issue 18).

Both answer the question every request of a host asks ("who is this, and what may it do?")
and both hand back the access context the request's calls reuse. The token's check does more
on purpose: it reads the token's row and the client key's count of bad values (one read-only
transaction), then the same membership facts a session check reads (reused while the
vendor's rights generation stands, as for sessions). "Last used" is written at most once per
``PORTALKIT_ACCESS_TOKEN_USE_SECONDS``; the clock here moves 1 s per round, so a write falls
due every 300 rounds, as it would for an integration calling once a second.

Every round times ``--calls`` requests of each kind, the kind measured first alternating per
round; the table shows medians over rounds of the per-request time and the ratio of the
medians. Checks, each failing the run: every answer is the expected membership's context; the
token's holds exactly its own capabilities of the membership's; the session's holds the
membership's; at the end a revoked token and an ended session are both refused, and the
token's "last used" was written, but not on every request.

Run from the repository root::

    python bench/bench_tokens.py                   # memory and SQLite, 200 rounds
    python bench/bench_tokens.py --rounds 30 --calls 20 --backends sqlite
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from portalkit import Portal
from portalkit.auth import member_of
from portalkit.clock import FixedClock
from portalkit.errors import AuthenticationFailed
from portalkit.settings import PortalSettings
from portalkit.testing import World

GOOD = "correct horse battery staple"
CAPS = {"orders.view", "invoices.view", "prices.view"}
TOKEN_CAPS = {"orders.view"}


def fail(message: str) -> None:
    print(f"CHECK FAILED: {message}")
    sys.exit(1)


def build(backend: str, tmp: Path) -> tuple[Portal, FixedClock]:
    clock = FixedClock()
    settings = PortalSettings(
        _env_file=None,
        database_url=f"sqlite:///{tmp / f'tokens-{backend}.db'}",
        storage="sqlalchemy" if backend == "sqlite" else "memory",
        mail_backend="memory",
    )
    return Portal.from_settings(settings, clock=clock), clock


def run(backend: str, rounds: int, calls: int, tmp: Path) -> tuple[float, float]:
    portal, clock = build(backend, tmp)
    world = World(portal)
    customer = world.customer()
    membership = world.membership(
        customer=customer, kind="main", profile=world.profile(capabilities=CAPS)
    )
    portal.credentials.set_password(world.system, membership, GOOD, must_change=False)
    account = portal.accounts.get(world.staff, membership.account_id)
    login = portal.auth.authenticate(world.vendor, account.email, GOOD, client_key="10.0.0.1")
    session = login.session
    member = member_of(membership)
    issued = portal.access_tokens.create(
        member,
        membership,
        name="ERP",
        capabilities=TOKEN_CAPS,
        expires_at=clock.now() + timedelta(days=365),
    )
    value, vendor = issued.value, world.vendor.id

    def by_session() -> None:
        ctx = portal.auth.session_context(vendor, session)
        if ctx.actor.membership_id != membership.id or ctx.capabilities != CAPS:
            fail("a session check answered another context")

    def by_token() -> None:
        ctx = portal.auth.authenticate_token(vendor, value, client_key="10.0.0.1")
        actor = ctx.actor
        if actor.membership_id != membership.id or actor.token_id != issued.token.id:
            fail("a token check answered another actor")
        if ctx.capabilities != TOKEN_CAPS:
            fail("a token's context holds more or less than its own capabilities")

    kinds = {"session": by_session, "token": by_token}
    for check in kinds.values():
        check()  # warm: the facts are read once, as on a running server
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for n in range(rounds):
        order = list(kinds) if n % 2 == 0 else list(reversed(kinds))
        gc.collect()
        gc.disable()
        try:
            for name in order:
                call = kinds[name]
                start = time.perf_counter()
                for _ in range(calls):
                    call()
                times[name].append((time.perf_counter() - start) / calls * 1e6)
        finally:
            gc.enable()
        clock.advance(seconds=1)
    (token,) = portal.access_tokens.list(member)
    if token.last_used_at is None or token.version > 2 + rounds // 300:
        fail(f"'last used' written {token.version - 1} times in {rounds} rounds")
    portal.access_tokens.revoke(member, issued.token)
    portal.auth.end_sessions(member, member.account_id)
    for name, call in kinds.items():
        try:
            call()
        except AuthenticationFailed:
            continue
        fail(f"a {name} was accepted after it ended")
    portal.storage.close()
    return statistics.median(times["session"]), statistics.median(times["token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50, help="requests per kind per round")
    parser.add_argument("--backends", default="memory,sqlite")
    args = parser.parse_args()
    print(f"access token check beside a session check: {args.rounds} rounds x {args.calls}")
    print(f"{'backend':<8} {'session µs':>11} {'token µs':>10} {'token/session':>14}")
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends.split(","):
            session, token = run(backend, args.rounds, args.calls, Path(folder))
            print(f"{backend:<8} {session:>11.1f} {token:>10.1f} {token / session:>14.2f}")
    print("checks passed")


if __name__ == "__main__":
    main()
