"""A Flask request with ``Authorization: Bearer pkat_…`` beside the same request with a session
cookie, in µs per request, measured side by side in one run (issue 18: tokens in the adapters).

One Flask application on SQLite (``PORTALKIT_ACCEPT_TOKENS=True``) serves ``/whoami`` behind
``@requires("orders.view")``; one test client holds a logged-in session, the other sends an
access token of the same membership. Every round times ``--calls`` requests of each kind, the
kind measured first alternating per round; the table shows medians over rounds and the ratio.
Checks, each failing the run: every answer is 200 and names the membership; a token's answer
sets no cookie; a revoked token's is 401 with ``WWW-Authenticate: Bearer``.

Run from the repository root::

    python bench/bench_bearer_web.py                  # 40 rounds of 50 calls
    python bench/bench_bearer_web.py --rounds 10 --calls 20
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from flask import Flask
from portalkit_flask import Portalkit, current_portal, get_member, requires

from portalkit import Member, Staff, presets
from portalkit.staffrights import STAFF_PERMISSIONS

PASSWORD = "cargo bicycle tulip harbour"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def fail(message: str) -> None:
    print(f"CHECK FAILED: {message}")
    sys.exit(1)


def build(tmp: Path) -> tuple[Flask, str, str, Member]:
    app = Flask("bench", root_path=str(tmp))
    app.config.update(
        SECRET_KEY="a bench secret that is long enough",
        PORTALKIT_DATABASE_URL=f"sqlite:///{tmp / 'portal.db'}",
        PORTALKIT_MAIL_BACKEND="memory",
        PORTALKIT_MAIL_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PORTALKIT_SECRET_KEY="another long bench secret for throttles",
        PORTALKIT_ACCEPT_TOKENS=True,
    )
    Portalkit(app)

    @app.get("/whoami")
    @requires("orders.view")
    def whoami() -> str:
        member = get_member()
        assert member is not None
        return str(member.membership_id)

    with app.app_context():
        portal = current_portal._get_current_object()  # type: ignore[attr-defined]
    vendor = portal.default_vendor()
    staff = Staff(vendor_id=vendor.id, user_id="bench", permissions=STAFF_PERMISSIONS)
    profile = portal.profiles.create_from(staff, presets.TRANSPORT_FULL)
    customer = portal.customers.create(staff, code="ACME", name="Acme")
    contact = portal.contacts.create(staff, customer=customer, first_name="Jane", last_name="B")
    account = portal.accounts.create(staff, username="jane", email="jane@example.com")
    membership = portal.memberships.create(
        staff, account=account, customer=customer, contact=contact, kind="main", profile=profile
    )
    portal.credentials.set_password(staff, membership, PASSWORD, must_change=False)
    member = Member(
        vendor_id=vendor.id,
        account_id=account.id,
        membership_id=membership.id,
        customer_id=customer.id,
    )
    issued = portal.access_tokens.create(
        member,
        membership,
        name="bench",
        capabilities={"orders.view"},
        expires_at=portal.clock.now() + timedelta(days=30),
    )
    return app, issued.value, str(membership.id), member


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app, value, expected, member = build(Path(folder))
        browser = app.test_client()
        page = browser.get("/login").get_data(as_text=True)
        token = CSRF.search(page)
        if token is None:
            fail("no CSRF token on /login")
        logged = browser.post(
            "/login", data={"login": "jane", "password": PASSWORD, "csrf_token": token.group(1)}
        )
        if logged.status_code != 302:
            fail(f"log-in answered {logged.status_code}")
        api = app.test_client()
        headers = {"Authorization": f"Bearer {value}"}

        def session_call() -> None:
            answer = browser.get("/whoami")
            if answer.status_code != 200 or answer.get_data(as_text=True) != expected:
                fail(f"session request answered {answer.status_code}")

        def token_call() -> None:
            answer = api.get("/whoami", headers=headers)
            if answer.status_code != 200 or answer.get_data(as_text=True) != expected:
                fail(f"token request answered {answer.status_code}")
            if "Set-Cookie" in answer.headers:
                fail("a token request set a cookie")

        kinds = {"session cookie": session_call, "bearer token": token_call}
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(3):  # warm both paths (rights read once per process)
            session_call()
            token_call()
        for round_ in range(args.rounds):
            order = list(kinds) if round_ % 2 == 0 else list(reversed(kinds))
            for name in order:
                call = kinds[name]
                started = time.perf_counter()
                for _ in range(args.calls):
                    call()
                times[name].append((time.perf_counter() - started) / args.calls * 1e6)
        with app.app_context():
            portal = current_portal._get_current_object()  # type: ignore[attr-defined]
            (token_record,) = portal.access_tokens.list(member)
            portal.access_tokens.revoke(member, token_record.id)
        refused = api.get("/whoami", headers=headers)
        if refused.status_code != 401 or not refused.headers.get("WWW-Authenticate", "").startswith(
            "Bearer"
        ):
            fail(f"a revoked token answered {refused.status_code}")
    base = statistics.median(times["session cookie"])
    print(f"{'request':<16} {'median µs':>10} {'ratio':>7}")
    for name, found in times.items():
        median = statistics.median(found)
        print(f"{name:<16} {median:>10.0f} {median / base:>7.2f}")
    print(f"({args.rounds} rounds of {args.calls} calls each; checks passed)")


if __name__ == "__main__":
    main()
