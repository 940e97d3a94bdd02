"""E-mail change requests take the same time whether or not the new address is taken.

``portal.accounts.request_email_change(member, new_email, password=...)`` for one member,
to a free address and to an address another login has, interleaved round-robin (the start
rotating) with real Argon2id parameters, on the memory backend and on SQLite. The clock moves an
hour between rounds, so the per-account throttle never answers. Each call's background job is
waited for outside the timed region.

The table shows median ms, quartiles, the ratio of the medians to the free address (with a 95 %
bootstrap interval) and the median of the per-round paired ratios; the aim is a ratio within
[0.8, 1.25], as for log-ins (security.md A6/B6). Afterwards the benchmark checks what happened:
one link per free-address request, one ``address_taken`` refusal per taken-address request,
and no link ever mailed to the taken address.

    python bench/bench_email_change.py                  # 200 rounds per backend
    python bench/bench_email_change.py --rounds 20 --backends memory
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from portalkit import FixedClock, Portal, PortalSettings
from portalkit.testing import World

GOOD = "correct horse battery staple"
FREE = "free.address@elsewhere.example"
TAKEN = "taken.address@elsewhere.example"
AIM = (0.8, 1.25)


def build(backend: str, tmp: Path) -> tuple[Portal, Any, Any]:
    settings = PortalSettings(
        _env_file=None,
        database_url=f"sqlite:///{tmp / f'email-{backend}.db'}",
        storage="sqlalchemy" if backend == "sqlite" else "memory",
        mail_backend="memory",
        mail_from="portal@vendor.example",
        mail_encryption_key=Fernet.generate_key().decode(),
        base_url="https://portal.vendor.example",
        request_max_per_hour=100,
    )
    portal = Portal.from_settings(settings, clock=FixedClock())
    world = World(portal)
    profile = world.profile(capabilities={"orders.view"})
    owner = world.account(username="owner", email=TAKEN)
    world.membership(account=owner, profile=profile)
    asking = world.membership(
        account=world.account(username="asking", email="asking@customer.example"),
        profile=profile,
    )
    portal.credentials.set_password(world.system, asking, GOOD, must_change=False)
    return portal, world, world.member(asking)


def measure(backend: str, rounds: int, warmup: int, tmp: Path) -> dict[str, list[float]]:
    portal, world, member = build(backend, tmp)
    clock = portal.clock
    assert isinstance(clock, FixedClock)
    calls = {"free address": FREE, "taken address": TAKEN}
    names = list(calls)
    times: dict[str, list[float]] = {n: [] for n in names}
    request = portal.accounts.request_email_change
    gc.collect()
    gc.disable()
    try:
        for r in range(-warmup, rounds):
            k = r % len(names)
            for name in names[k:] + names[:k]:
                t0 = time.perf_counter()
                answer = request(member, calls[name], password=GOOD)
                elapsed = time.perf_counter() - t0
                if answer is not None:
                    sys.exit(f"{backend}: {name} answered {answer!r}")
                if r >= 0:
                    times[name].append(elapsed)
                portal.mail.wait()
            clock.advance(hours=1, seconds=1)
            gc.collect()
    finally:
        gc.enable()
    check(portal, world, backend, rounds + warmup)
    portal.close()
    return times


def check(portal: Portal, world: Any, backend: str, n: int) -> None:
    """Every free-address request issued a link, every taken-address one was refused as such,
    and no link went to the taken address."""
    events = portal.audit.list(world.staff, limit=1000)
    issued = [e for e in events if e.action == "email_change_requested"]
    refused = [e for e in events if e.action == "email_change_refused"]
    mailer: Any = portal.mailer
    to_taken = [m for m in mailer.outbox if m["To"] == TAKEN]
    links = [m for m in mailer.outbox if m["To"] == FREE]
    problems = []
    if len(issued) != n or len(links) != n:
        problems.append(f"{len(issued)} links issued, {len(links)} mailed, expected {n}")
    if len(refused) != n or {e.reason for e in refused} != {"address_taken"}:
        problems.append(f"refusals: {sorted({e.reason for e in refused})} x{len(refused)}")
    if len(to_taken) != n or any(
        "token=" in m.get_body(("plain",)).get_content() for m in to_taken
    ):
        problems.append("the taken address got a link, or not one notice per request")
    if problems:
        sys.exit(f"{backend}: " + "; ".join(problems))


def table(backend: str, times: dict[str, list[float]], seed: int) -> bool:
    rng = random.Random(seed)
    base = times["free address"]
    print(f"\n{backend}: request_email_change, {len(base)} rounds")
    head = f"{'variant':<24}{'median ms':>10}{'p25':>9}{'p75':>9}{'x free':>9}{'95% CI':>13}"
    head += f"{'paired':>8}  in [{AIM[0]}, {AIM[1]}]"
    print(head)
    print("-" * len(head))
    ok = True
    for name, values in times.items():
        q1, med, q3 = statistics.quantiles(values, n=4, method="inclusive")
        ratio = med / statistics.median(base)
        paired = statistics.median(a / b for a, b in zip(values, base, strict=True))
        line = f"{name:<24}{med * 1e3:>10.2f}{q1 * 1e3:>9.2f}{q3 * 1e3:>9.2f}{ratio:>9.2f}"
        if name == "free address":
            print(line + f"{'':>13}{paired:>8.2f}  (ref)")
            continue
        boots = sorted(
            statistics.median(rng.choices(values, k=len(values)))
            / statistics.median(rng.choices(base, k=len(base)))
            for _ in range(1000)
        )
        met = AIM[0] <= ratio <= AIM[1]
        ok = ok and met
        ci = f"{boots[25]:.2f}-{boots[974]:.2f}"
        print(line + f"{ci:>13}{paired:>8.2f}  {'met' if met else 'MISSED'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--backends", nargs="+", default=["memory", "sqlite"])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for backend in args.backends:
            times = measure(backend, args.rounds, args.warmup, Path(folder))
            table(backend, times, args.seed)
    # A missed aim is printed, not failed: these machines are shared and noisy.


if __name__ == "__main__":
    main()
